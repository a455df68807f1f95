"""Faults as data: what to break, for how many requests, on which paths.

Kinds: ``status`` (an error envelope with ``status``, plus ``Retry-After`` if given), ``html``
(a gateway's or captive portal's HTML page with ``status``, e.g. 200; ``content_type`` replaces
its ``text/html``, "" sends none), ``empty_error`` (``status`` with an empty body), ``drop`` (close
the connection without answering), ``truncate`` (full Content-Length, half the body, then close),
``bad_gzip`` (a corrupted gzip body of the right length), ``repeat_token`` (the page's marker points
back at the page just asked for), ``redirect`` (``status`` if 3xx else 302, to ``location`` plus
the original path and query) and ``slow`` (sleep ``seconds``, then answer normally).

Bodies framed and encoded otherwise: ``chunked`` (Transfer-Encoding: chunked, in four chunks) and
``close_delimited`` (no length: the body ends when the connection closes, as in HTTP/1.0), each
cut after the share ``cut`` of the body when given (the connection then closes); ``compressed``
(the body in ``encoding``, gzip or deflate, whatever the client accepts; with ``cut``, the
compressed stream stops early but its Content-Length matches what is sent); ``trickle`` (one byte
every ``seconds``); ``bomb`` (a gzip body that decodes to ``size`` bytes); ``endless`` (a chunked
CSV body that never ends, until the client hangs up).

Bodies changed: ``header_change`` (a CSV page with its columns in reverse order, header included),
``non_utf8`` (a ``note`` column, or JSON key, holding "café" encoded in ``charset``, declared in
the Content-Type; without ``charset``, Latin-1 bytes under the usual Content-Type, which declares
UTF-8 for CSV and nothing for JSON).
"""

from __future__ import annotations

import csv
import io
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

KINDS = (
    "status",
    "html",
    "empty_error",
    "drop",
    "truncate",
    "bad_gzip",
    "repeat_token",
    "redirect",
    "slow",
    "chunked",
    "close_delimited",
    "compressed",
    "trickle",
    "bomb",
    "endless",
    "header_change",
    "non_utf8",
)
STREAMED = ("trickle", "bomb", "endless")
"""Kinds whose body is written as it is made, not from a payload built first."""


@dataclass(frozen=True)
class Fault:
    """A fault for the next ``times`` requests whose path starts with ``path`` (any when None).

    ``params`` narrows it to requests whose query holds those parameters (compared as text: one
    window of a sharded pull, say), and ``after`` lets that many matching requests through first.
    """

    kind: str
    times: int = 1
    status: int = 503
    retry_after: int | float | str | None = None
    path: str | None = None
    seconds: float = 0.0
    location: str | None = None
    cut: float | None = None
    encoding: str = "gzip"
    size: int = 2**30
    charset: str | None = None
    content_type: str | None = None
    params: Mapping[str, Any] | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")
        if self.cut is not None and not 0.0 <= self.cut < 1.0:
            raise ValueError("cut must be within [0, 1): the share of the body sent before the connection closes")
        if self.encoding not in ("gzip", "deflate"):
            raise ValueError("encoding must be gzip or deflate")
        if self.after < 0:
            raise ValueError("after must be at least 0")

    def matches(self, path: str, pairs: Iterable[tuple[str, str]] = ()) -> bool:
        """Whether the fault applies to a request's path and query.

        >>> Fault("drop", path="/v1/accel").matches("/v1/accel.csv"), Fault("drop").matches("/x")
        (True, True)
        >>> window = Fault("drop", params={"start_time": 3})
        >>> window.matches("/v1/accel.csv", [("start_time", "3")]), window.matches("/v1/accel.csv", [("start_time", "4")])
        (True, False)
        """
        query = dict(pairs)
        return (self.path is None or path.startswith(self.path)) and all(
            query.get(key) == str(value) for key, value in (self.params or {}).items()
        )


class FaultQueue:
    """Pending faults in injection order, each with its remaining uses; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list] = []

    def push(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._pending.append([fault, fault.times, fault.after])

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._pending.clear()

    def take(self, path: str, pairs: Iterable[tuple[str, str]] = ()) -> Fault | None:
        """Use up one application of the first pending fault matching the path and query.

        >>> q = FaultQueue(); q.push(Fault("drop", times=2, path="/v1"))
        >>> [q.take(p) is not None for p in ("/cognito/", "/v1/a", "/v1/a", "/v1/a")]
        [False, True, True, False]
        >>> q.push(Fault("drop", after=1))
        >>> [q.take("/v1/a") is not None for _ in range(3)]
        [False, True, False]
        """
        pairs = list(pairs)
        with self._lock:
            for entry in self._pending:
                fault, left, skip = entry
                if not fault.matches(path, pairs):
                    continue
                if skip > 0:  # this request goes through, answered normally
                    entry[2] = skip - 1
                    return None
                if left <= 1:
                    self._pending.remove(entry)
                else:
                    entry[1] = left - 1
                return fault
        return None


def error_type(status: int) -> str:
    """The envelope's error type for a status: its reason phrase in CamelCase.

    >>> error_type(503), error_type(429), error_type(599)
    ('ServiceUnavailable', 'TooManyRequests', 'HTTPError')
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "HTTPError"
    return "".join(word.capitalize() if word.islower() else word for word in phrase.replace("-", " ").split())


def reason(status: int) -> str:
    """The reason phrase of a status, or a generic one.

    >>> reason(502), reason(599)
    ('Bad Gateway', 'Error')
    """
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def html_page(status: int) -> bytes:
    """A gateway's HTML error page.

    >>> html_page(502)
    b'<html><body><h1>502 Bad Gateway</h1></body></html>'
    """
    return f"<html><body><h1>{status} {reason(status)}</h1></body></html>".encode()


def corrupt_gzip(compressed: bytes) -> bytes:
    """A gzip body of the same length that no decoder accepts: wrong magic, inverted data.

    >>> import gzip
    >>> body = corrupt_gzip(gzip.compress(b"time,x\\n1,2\\n"))
    >>> len(body) == len(gzip.compress(b"time,x\\n1,2\\n"))
    True
    >>> gzip.decompress(body)
    Traceback (most recent call last):
    ...
    gzip.BadGzipFile: Not a gzipped file (b'\\x1f\\x8a')
    """
    return compressed[:1] + bytes([compressed[1] ^ 0x01]) + bytes(b ^ 0xFF for b in compressed[2:])


def compress(body: bytes, encoding: str) -> bytes:
    """A body in a Content-Encoding: ``gzip`` or ``deflate`` (zlib-wrapped, as RFC 9110 names it).

    >>> import gzip
    >>> gzip.decompress(compress(b"abc", "gzip")), zlib.decompress(compress(b"abc", "deflate"))
    (b'abc', b'abc')
    """
    packer = zlib.compressobj(6, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return packer.compress(body) + packer.flush()


def cut_at(body: bytes, cut: float | None) -> int:
    """How many bytes of a body to send: all, or the share ``cut`` (at least one byte short).

    >>> cut_at(b"abcd", None), cut_at(b"abcd", 0.5), cut_at(b"abcd", 0.0)
    (4, 2, 0)
    """
    return len(body) if cut is None else min(int(len(body) * cut), max(0, len(body) - 1))


def chunks(body: bytes, pieces: int = 4) -> list[bytes]:
    """A body split into ``pieces`` chunks of nearly equal size (none empty).

    >>> chunks(b"abcdefghij")
    [b'abc', b'def', b'ghi', b'j']
    """
    size = max(1, -(-len(body) // pieces))
    return [body[at : at + size] for at in range(0, len(body), size)]


def chunked(body: bytes, sent: int) -> bytes:
    """A body in chunked transfer coding, cut after ``sent`` body bytes (no last chunk then).

    >>> chunked(b"abcdefgh", 8)
    b'2\\r\\nab\\r\\n2\\r\\ncd\\r\\n2\\r\\nef\\r\\n2\\r\\ngh\\r\\n0\\r\\n\\r\\n'
    >>> chunked(b"abcdefgh", 3)
    b'2\\r\\nab\\r\\n2\\r\\nc'
    """
    out, left = [], sent
    for piece in chunks(body):
        part = piece[:left]
        if not part:
            break
        out.append(b"%x\r\n" % len(piece) + part + (b"\r\n" if part == piece else b""))
        left -= len(part)
    if sent >= len(body):
        out.append(b"0\r\n\r\n")
    return b"".join(out)


def reverse_columns(body: bytes) -> bytes:
    """A CSV body with its columns in reverse order, header included: same data, another header.

    >>> reverse_columns(b"time,x\\n1,2\\n")
    b'x,time\\n2,1\\n'
    """
    rows = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(row[::-1] for row in rows)
    return out.getvalue().encode("utf-8")


def with_note(body: bytes, fmt: str, charset: str) -> bytes:
    """A body with a non-ASCII text ("café") added, encoded in ``charset``: a ``note`` column or JSON key.

    >>> with_note(b"time,x\\n1,2\\n", "csv", "latin-1")
    b'time,x,note\\n1,2,caf\\xe9\\n'
    >>> with_note(b'{"result": {}}', "json", "latin-1")
    b'{"note": "caf\\xe9", "result": {}}'
    """
    text = body.decode("utf-8")
    if fmt == "csv":
        lines = text.split("\n")
        noted = [line + (",note" if n == 0 else ",café") if line else line for n, line in enumerate(lines)]
        return "\n".join(noted).encode(charset)
    return ('{"note": "café", ' + text[1:]).encode(charset)


def bomb(size: int, piece: int = 2**20) -> Iterator[bytes]:
    """A gzip stream, made piece by piece, that decodes to ``size`` bytes of ``0``.

    >>> import gzip
    >>> len(gzip.decompress(b"".join(bomb(3000, piece=1000))))
    3000
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * piece
    for at in range(0, size, piece):
        yield packer.compress(zeros[: min(piece, size - at)])
    yield packer.flush()


def endless_csv() -> Iterator[bytes]:
    """A CSV body that never ends: a header, then the same rows forever.

    >>> from itertools import islice
    >>> [len(piece) for piece in islice(endless_csv(), 3)]
    [11, 23000, 23000]
    """
    yield b"time,x,y,z\n"
    rows = b"1609491600,0.1,0.2,0.3\n" * 1000
    while True:
        yield rows
