"""Bodies as they arrive: content decoding under a size limit, and whether a body is whole and data.

Pure but for the small decoder object; ``attempt.read_body`` feeds it the bytes
it reads. Two exceptions say what went wrong: ``Broken`` (the body is not whole
or does not decode: worth another try) and ``Refused`` (no retry will mend it).
"""

from __future__ import annotations

import zlib

ENCODINGS = ("gzip", "x-gzip", "deflate", "identity", "")
MARKUP_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml")


class Broken(Exception):
    """A body that is not whole or does not decode: the page is tried again."""


class Refused(Exception):
    """An answer that another try will not mend (too large, an unknown encoding, not data).

    ``status`` is the answer's status, when there was one.
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def too_large(limit: int) -> Refused:
    """The error of a page past ``max_page_bytes``."""
    return Refused(
        f"the page is larger than max_page_bytes ({limit:,} bytes decoded): a decompression bomb or an "
        "endless body? Raise max_page_bytes if the pages really are this large"
    )


def compressed(encoding: str) -> bool:
    """Whether a Content-Encoding value names a compression.

    >>> compressed("gzip"), compressed(" Identity "), compressed("")
    (True, False, False)
    """
    return encoding.strip().lower() not in ("identity", "")


def zlib_wbits(encoding: str, first: bytes) -> int:
    """zlib's ``wbits`` for a stream: gzip, zlib-wrapped deflate, or raw deflate (sent by some servers).

    >>> zlib_wbits("gzip", b"\\x1f\\x8b"), zlib_wbits("deflate", zlib.compress(b"x")[:2]), zlib_wbits("deflate", b"\\xcb\\x00")
    (31, 15, -15)
    """
    if encoding in ("gzip", "x-gzip"):
        return 31
    zlib_header = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    return 15 if zlib_header else -15


class Decoder:
    """Undoes a Content-Encoding (gzip, deflate or none) chunk by chunk, never past ``limit`` bytes.

    ``feed`` returns the decoded bytes of a chunk; ``finish`` checks that a
    compressed stream reached its end marker. A gzip body may hold several
    members, one after another.

    >>> import gzip
    >>> body = gzip.compress(b"time,x\\n1,2\\n")
    >>> d = Decoder("gzip", 100); d.feed(body[:10]) + d.feed(body[10:]), d.finish()
    (b'time,x\\n1,2\\n', None)
    >>> d = Decoder("gzip", 100); _ = d.feed(body[:-8]); d.finish()
    Traceback (most recent call last):
    ...
    runeq_fn.http.body.Broken: the gzip stream ended before its end marker: the body was cut short
    >>> Decoder("gzip", 5).feed(body)
    Traceback (most recent call last):
    ...
    runeq_fn.http.body.Refused: the page is larger than max_page_bytes (5 bytes decoded): ...
    """

    def __init__(self, encoding: str, limit: int) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ENCODINGS:
            raise Refused(f"the body is encoded as {encoding!r}, which runeq-fn does not decode (gzip and deflate)")
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.stream: zlib._Decompress | None = None  # the member being decoded
        self.ended = False  # the last member reached its end marker

    @property
    def compressed(self) -> bool:
        """Whether there is a compressed stream to undo."""
        return compressed(self.encoding)

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next chunk of the body."""
        if not self.compressed:
            return self.count(data)
        out = []
        while data:
            if self.stream is None:
                if self.ended and self.encoding not in ("gzip", "x-gzip"):
                    raise Broken(f"the {self.encoding} stream has bytes after its end marker")
                self.stream = zlib.decompressobj(zlib_wbits(self.encoding, data))
                self.ended = False
            try:
                out.append(self.count(self.stream.decompress(data, self.limit - self.size + 1)))
            except zlib.error as exc:
                raise Broken(f"the {self.encoding} body does not decode ({exc})") from None
            data = b""
            if self.stream.eof:
                data, self.stream, self.ended = self.stream.unused_data, None, True
        return b"".join(out)

    def count(self, decoded: bytes) -> bytes:
        """Decoded bytes, checked against the limit."""
        self.size += len(decoded)
        if self.size > self.limit:
            raise too_large(self.limit)
        return decoded

    def finish(self) -> None:
        """Raise ``Broken`` when a compressed body stopped before its stream's end marker."""
        if self.stream is not None:
            raise Broken(f"the {self.encoding} stream ended before its end marker: the body was cut short")


def whole_by_shape(body: bytes, kind: str) -> bool:
    """Whether a body that came without a length (closed connection) looks whole for its route.

    A CSV page ends with a line break, a JSON page with its object's ``}``; a
    cut that lands exactly there cannot be seen (only a Content-Length, chunked
    framing or a compressed stream's end marker proves a body whole).

    >>> whole_by_shape(b"time,x\\n1,2\\n", "csv"), whole_by_shape(b"time,x\\n1,2\\n3,", "csv"), whole_by_shape(b"", "csv")
    (True, False, True)
    >>> whole_by_shape(b'{"result": {}}\\n', "json"), whole_by_shape(b'{"result": {', "json")
    (True, False)
    """
    if not body:
        return True
    if kind == "csv":
        return body.endswith(b"\n")
    if kind == "json":
        return body.rstrip().endswith(b"}")
    return True


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower case ('' when none).

    >>> media_type("Text/HTML; charset=utf-8"), media_type(None)
    ('text/html', '')
    """
    return (content_type or "").split(";", 1)[0].strip().lower()


def not_data(kind: str, content_type: str | None, body: bytes) -> str | None:
    """What arrived instead of a CSV or JSON page, or None when it may be one.

    An HTML or XML Content-Type says it; without one (or with a vague one), a
    body that starts with ``<`` is markup: a proxy's or a captive portal's page.

    >>> not_data("csv", "text/html; charset=utf-8", b"<html>Sign in</html>")
    "an HTML page (Content-Type text/html): '<html>Sign in</html>'"
    >>> not_data("json", None, b"  <!DOCTYPE html><title>Login</title>")
    "an HTML page (no Content-Type; the body starts with '<'): '<!DOCTYPE html><title>Login</title>'"
    >>> not_data("csv", "text/csv", b"time,x\\n"), not_data("json", None, b'{"result": 1}')
    (None, None)
    """
    if kind not in ("csv", "json"):
        return None
    found = media_type(content_type)
    start = body[:200].strip().decode("utf-8", errors="replace")
    if found in MARKUP_TYPES:
        what = "an HTML page" if "html" in found else "an XML document"
        return f"{what} (Content-Type {found}): {start[:120]!r}"
    if start.startswith("<"):
        why = f"Content-Type {found}" if found else "no Content-Type"
        return f"an HTML page ({why}; the body starts with '<'): {start[:120]!r}"
    return None
