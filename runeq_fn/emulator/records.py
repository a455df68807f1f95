"""The request log: what the emulator records of each request it answered, never a credential."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it and answered it; never any header value."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    auth: str | None
    status: int
    body_bytes: int
    gzip: bool
    header_names: tuple[str, ...]


def redact(pairs: list[tuple[str, str]], secrets: set[str]) -> tuple[tuple[str, str], ...]:
    """Query pairs with any credential value replaced, so that logs never hold one.

    >>> redact([("a", "1"), ("b", "s3cret")], {"s3cret"})
    (('a', '1'), ('b', '***'))
    """
    return tuple((k, "***" if v in secrets else v) for k, v in pairs)
