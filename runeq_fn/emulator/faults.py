"""Faults as data: what to break, for how many requests, on which paths.

Kinds: ``status`` (an error envelope with ``status``, plus ``Retry-After`` if given), ``html``
(a gateway's HTML page), ``empty_error`` (``status`` with an empty body), ``drop`` (close the
connection without answering), ``truncate`` (full Content-Length, half the body, then close),
``bad_gzip`` (a corrupted gzip body of the right length), ``repeat_token`` (the page's marker points
back at the page just asked for), ``redirect`` (``status`` if 3xx else 302, to ``location`` plus
the original path and query) and ``slow`` (sleep ``seconds``, then answer normally).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus

KINDS = ("status", "html", "empty_error", "drop", "truncate", "bad_gzip", "repeat_token", "redirect", "slow")


@dataclass(frozen=True)
class Fault:
    """A fault for the next ``times`` requests whose path starts with ``path`` (any when None)."""

    kind: str
    times: int = 1
    status: int = 503
    retry_after: int | float | str | None = None
    path: str | None = None
    seconds: float = 0.0
    location: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")

    def matches(self, path: str) -> bool:
        """Whether the fault applies to a request path.

        >>> Fault("drop", path="/v1/accel").matches("/v1/accel.csv"), Fault("drop").matches("/x")
        (True, True)
        """
        return self.path is None or path.startswith(self.path)


class FaultQueue:
    """Pending faults in injection order, each with its remaining uses; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list] = []

    def push(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._pending.append([fault, fault.times])

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._pending.clear()

    def take(self, path: str) -> Fault | None:
        """Use up one application of the first pending fault matching the path.

        >>> q = FaultQueue(); q.push(Fault("drop", times=2, path="/v1"))
        >>> [q.take(p) is not None for p in ("/cognito/", "/v1/a", "/v1/a", "/v1/a")]
        [False, True, True, False]
        """
        with self._lock:
            for entry in self._pending:
                fault, left = entry
                if fault.matches(path):
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
