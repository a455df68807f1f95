"""What a pull did, as data: pages, rows, bytes on the wire, retries, waits, time per shard.

Pass a ``Stats()`` to ``sharded_pages`` or ``export_query`` (or wrap any fetch
with ``counting``) and read it during or after the pull; ``summary()`` is the
one line ``runeq fetch`` prints on stderr at the end.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()  # one for every Stats: updates are tiny, and a Stats stays picklable


def renew_lock() -> None:
    """In a forked child: a new lock for the counters (the parent's may be held by a thread gone)."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=renew_lock)


def response_rows(response: Any) -> int:
    """The rows of one page: CSV lines after the header, or the length of a JSON result's first list.

    >>> from runeq_fn.http.response import Response
    >>> response_rows(Response(200, content=b"time,x\\n1,2\\n3,4")), response_rows(Response(200, content=b""))
    (2, 0)
    >>> response_rows(Response(200, content=b'{"result": {"time": [1, 2, 3]}}'))
    3
    """
    content = response.content
    if not content:
        return 0
    if content[:1] in (b"{", b"["):
        try:
            result = json.loads(content).get("result")
        except (ValueError, AttributeError):
            return 0
        lists = [value for value in result.values() if isinstance(value, list)] if isinstance(result, dict) else []
        return len(lists[0]) if lists else 0
    return content.count(b"\n") + (not content.endswith(b"\n")) - 1


@dataclass
class Stats:
    """Counters of one pull, updated as pages arrive (thread-safe).

    ``wire_bytes`` are the bytes read from the network (compressed), ``bytes``
    the decoded bodies; ``retries`` and ``retry_wait`` (seconds slept, on
    ``Retry-After`` or backoff) and ``throttled`` (429s met) come from the
    transport; ``shard_seconds`` holds each window's time from its first request
    to its last answer (one entry for an unsharded pull timed by ``timed``).

    >>> from runeq_fn.http.response import Response
    >>> stats = Stats()
    >>> stats.record(Response(200, content=b"time,x\\n1,2\\n"))
    >>> stats.pages, stats.rows, stats.bytes, stats.retries
    (1, 1, 11, 0)
    """

    requests: int = 0
    pages: int = 0
    rows: int = 0
    bytes: int = 0
    wire_bytes: int = 0
    retries: int = 0
    retry_wait: float = 0.0
    throttled: int = 0
    seconds: float = 0.0
    shard_seconds: list[float] = field(default_factory=list)

    def record(self, response: Any, page: bool = True) -> None:
        """Count one response (a page, or the empty answer that ends a CSV query).

        ``page=False`` counts a request that is no page of the pull (a sharded pull's
        plan, its availability): in ``requests``, the bytes, retries and waits, not in ``pages`` or ``rows``.

        >>> from runeq_fn.http.response import Response
        >>> stats = Stats()
        >>> stats.record(Response(200, content=b'{"result": {"time": [1, 2]}}'), page=False)
        >>> stats.requests, stats.bytes, stats.pages, stats.rows
        (1, 28, 0, 0)
        """
        size = len(response.content)
        rows = response_rows(response) if page else 0
        with _lock:
            self.requests += 1
            self.pages += bool(size) and page
            self.rows += rows
            self.bytes += size
            self.wire_bytes += getattr(response, "wire_bytes", size)
            self.retries += max(0, getattr(response, "attempts", 1) - 1)
            self.retry_wait += getattr(response, "retry_wait", 0.0)
            self.throttled += getattr(response, "throttled", 0)

    def add_shard(self, seconds: float) -> None:
        """Note the time one window (shard) took."""
        with _lock:
            self.shard_seconds.append(seconds)

    def summary(self) -> str:
        """The pull in one line.

        >>> Stats(pages=40, rows=200000, wire_bytes=1_870_000, retries=2, retry_wait=1.5, seconds=0.31,
        ...       shard_seconds=[0.2, 0.24]).summary()
        '40 pages, 200,000 rows, 1.9 MB on the wire, 2 retries, 1.5 s waited to retry, 0.31 s; 2 shards: 0.20-0.24 s each'
        """
        line = (
            f"{self.pages:,} pages, {self.rows:,} rows, {human_bytes(self.wire_bytes)} on the wire, "
            f"{self.retries} retries, {self.retry_wait:.1f} s waited to retry, {self.seconds:.2f} s"
        )
        if self.throttled:
            line += f", {self.throttled} throttled (429)"
        if len(self.shard_seconds) > 1:
            low, high = min(self.shard_seconds), max(self.shard_seconds)
            line += f"; {len(self.shard_seconds)} shards: {low:.2f}-{high:.2f} s each"
        return line


def counting(fetch: Callable[[Any], Any], stats: Stats, page: bool = True) -> Callable[[Any], Any]:
    """A fetch that records every response it returns into ``stats`` (``page=False``: as no page, see ``Stats.record``).

    >>> from runeq_fn.http.response import Response
    >>> stats = Stats()
    >>> counting(lambda request: Response(200, content=b"a\\n1\\n"), stats)("any request").status_code
    200
    >>> stats.pages, stats.rows
    (1, 1)
    """

    def fetch_counted(request: Any) -> Any:
        response = fetch(request)
        stats.record(response, page)
        return response

    return fetch_counted


def human_bytes(count: float) -> str:
    """A byte count in B, kB, MB or GB (powers of 1000).

    >>> human_bytes(999), human_bytes(1_234_567), human_bytes(5e9)
    ('999 B', '1.2 MB', '5.0 GB')
    """
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
