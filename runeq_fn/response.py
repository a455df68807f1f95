"""A fully read HTTP response as data, with the surface of runeq's response objects."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import ParseError

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

    @property
    def ok(self) -> bool:
        """True for a status below 400, as in requests."""
        return self.status_code < 400

    @cached_property
    def text(self) -> str:
        """The body as text (UTF-8, a leading byte-order mark dropped; undecodable bytes are replaced)."""
        return self.content.decode("utf-8-sig", errors="replace")

    @property
    def next_page_token(self) -> Any:
        """The ``X-Rune-Next-Page-Token`` header, or None."""
        return self.headers.get(TOKEN_HEADER)

    def json(self) -> Any:
        """The body parsed as JSON (parsed once, then cached)."""
        return self._json

    @cached_property
    def _json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as exc:
            start = self.text[:80]
            raise ParseError(f"the body of {self.url or 'a response'} is not JSON ({exc}): {start!r}") from None
