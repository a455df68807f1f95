"""A fully read HTTP response as data, with the surface of runeq's response objects."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any

from ..errors import APIError, ParseError

TOKEN_HEADER = "X-Rune-Next-Page-Token"


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively, as HTTP names are.

    >>> h = Headers({"X-Rune-Next-Page-Token": "abc"})
    >>> h["x-rune-next-page-token"], h.get("Content-Type")
    ('abc', None)
    """

    def __init__(self, items: Mapping[str, str] = ()) -> None:  # type: ignore[assignment]
        self._items = {k.lower(): (k, v) for k, v in dict(items).items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type value, lower case, or None.

    >>> charset('text/csv; charset="ISO-8859-1"'), charset("application/json"), charset(None)
    ('iso-8859-1', None, None)
    """
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip().lower() or None
    return None


def decode_body(content: bytes, content_type: str | None = None, where: str = "") -> str:
    """A body as text, by the charset its Content-Type declares (UTF-8 when none).

    A UTF-8 byte-order mark is dropped. Bytes that do not decode, or a charset
    Python does not know, raise ``ParseError`` naming the charset and the place:
    never replacement characters.

    >>> decode_body(b"\\xef\\xbb\\xbftime,x\\n"), decode_body(b"caf\\xe9", "text/csv; charset=latin-1")
    ('time,x\\n', 'café')
    >>> decode_body(b"caf\\xe9\\n", "text/csv", "http://h/v1/accel.csv")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ParseError: the body of http://h/v1/accel.csv is not valid utf-8 (none declared, so UTF-8 was expected): byte 3 is b'\\xe9'
    """
    declared = charset(content_type)
    name = declared or "utf-8"
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise ParseError(
            f"the body of {where or 'a response'} declares charset {declared!r}, which Python does not know"
        ) from None
    try:
        return content.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
    except UnicodeDecodeError as exc:
        why = "as declared" if declared else "none declared, so UTF-8 was expected"
        raise ParseError(
            f"the body of {where or 'a response'} is not valid {name} ({why}): "
            f"byte {exc.start} is {content[exc.start:exc.end]!r}"
        ) from None
    except LookupError:  # a codec that is not a text encoding (rot13, base64)
        raise ParseError(
            f"the body of {where or 'a response'} declares charset {declared!r}, which is not a text encoding"
        ) from None


@dataclass(frozen=True)
class Response:
    """Status, headers and the whole (decoded) body of one answer.

    >>> r = Response(200, Headers({"Content-Type": "application/json"}), b'{"success": true, "result": {}}')
    >>> r.ok, r.json()["success"], r.next_page_token
    (True, True, None)
    """

    status_code: int
    headers: Headers = field(default_factory=Headers)
    content: bytes = b""
    url: str = field(default="", repr=False)
    resume: dict | None = field(default=None, repr=False, compare=False)
    """The query parameters that fetch this page again and go on from it (set by ``pages``)."""
    wire_bytes: int = field(default=0, repr=False, compare=False)
    """Bytes read off the socket for the final try (compressed, as sent)."""
    attempts: int = field(default=1, repr=False, compare=False)
    """Tries this page took."""
    retry_wait: float = field(default=0.0, repr=False, compare=False)
    """Seconds slept between this page's tries (backoff and ``Retry-After``)."""
    throttled: int = field(default=0, repr=False, compare=False)
    """429 answers met while fetching this page."""

    @property
    def ok(self) -> bool:
        """True for a status below 400, as in requests."""
        return self.status_code < 400

    @cached_property
    def text(self) -> str:
        """The body as text, by the charset the response declares (``decode_body``)."""
        return decode_body(self.content, self.headers.get("Content-Type"), self.url)

    @property
    def next_page_token(self) -> Any:
        """The ``X-Rune-Next-Page-Token`` header, or None."""
        return self.headers.get(TOKEN_HEADER)

    def json(self) -> Any:
        """The body parsed as JSON (parsed once, then cached)."""
        return self._json

    # -- the rest of the requests.Response surface that scripts written for runeq use --

    @property
    def reason(self) -> str:
        """The status's reason phrase (``"Not Found"``), empty for a status HTTP does not name.

        >>> Response(404).reason, Response(599).reason
        ('Not Found', '')
        """
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    @property
    def encoding(self) -> str:
        """The charset ``text`` decodes with: the Content-Type's, else ``utf-8``.

        >>> Response(200, Headers({"Content-Type": "text/csv; charset=ISO-8859-1"})).encoding
        'iso-8859-1'
        >>> Response(200).encoding
        'utf-8'
        """
        return charset(self.headers.get("Content-Type")) or "utf-8"

    def raise_for_status(self) -> None:
        """Raise ``APIError`` (not requests' ``HTTPError``) for a status of 400 or more, with the body's details.

        >>> Response(200).raise_for_status()
        >>> Response(404, content=b'{"success": false, "error": {"message": "no", "type": "NotFoundError"}}').raise_for_status()
        Traceback (most recent call last):
        ...
        runeq_fn.errors.APIError: 404 NotFoundError: {'message': 'no', 'type': 'NotFoundError'}
        """
        if self.status_code >= 400:
            raise APIError(self.status_code, error_details(self.status_code, self.content))

    def iter_content(self, chunk_size: int | None = 1, decode_unicode: bool = False) -> Iterator[Any]:
        """The body in pieces of ``chunk_size`` (all at once for None): bytes, or text with ``decode_unicode``.

        >>> list(Response(200, content=b"time,x\\n").iter_content(4))
        [b'time', b',x\\n']
        """
        body: Any = self.text if decode_unicode else self.content
        size = len(body) if chunk_size is None else chunk_size
        if size < 1:
            raise ValueError(f"chunk_size must be at least 1 (or None for the whole body), not {chunk_size!r}")
        return (body[start:start + size] for start in range(0, len(body), size))

    def iter_lines(
        self, chunk_size: int = 512, decode_unicode: bool = False, delimiter: Any = None
    ) -> Iterator[Any]:
        """The body's lines without their line ends: bytes, or text with ``decode_unicode``.

        ``chunk_size`` is accepted for requests' sake; the body is already whole.

        >>> list(Response(200, content=b"time,x\\n1,2\\n").iter_lines())
        [b'time,x', b'1,2']
        >>> list(Response(200, content=b"a;b").iter_lines(decode_unicode=True, delimiter=";"))
        ['a', 'b']
        """
        body: Any = self.text if decode_unicode else self.content
        return iter(body.splitlines() if delimiter is None else body.split(delimiter))

    @cached_property
    def _json(self) -> Any:
        text = self.text
        try:
            return json.loads(text)
        except ValueError as exc:
            start = text[:80]
            raise ParseError(f"the body of {self.url or 'a response'} is not JSON ({exc}): {start!r}") from None


def error_details(status: int, body: bytes) -> dict[str, Any]:
    """An error body's details: the API's ``error`` object, else the start of the body.

    >>> error_details(400, b'{"success": false, "error": {"message": "no", "type": "BadRequestError"}}')
    {'message': 'no', 'type': 'BadRequestError'}
    >>> error_details(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    {'message': '<html><body><h1>502 Bad Gateway</h1></body></html>', 'type': 'HTTPError'}
    >>> error_details(500, b"")
    {'message': 'HTTP 500 with an empty body', 'type': 'HTTPError'}
    >>> error_details(400, b'{"__type": "NotAuthorizedException", "message": "Invalid Refresh Token"}')
    {'message': 'Invalid Refresh Token', 'type': 'NotAuthorizedException'}
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    if isinstance(data, dict) and "__type" in data:  # AWS's shape, from the Cognito refresh
        return {"message": data.get("message", ""), "type": data["__type"]}
    text = body[:200].decode("utf-8", errors="replace").strip()
    return {"message": text or f"HTTP {status} with an empty body", "type": "HTTPError"}
