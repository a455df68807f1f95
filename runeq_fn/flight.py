"""One limit on requests in flight for the whole process: prefetch, shards and cohorts share it.

Every page request takes a slot (``LIMITER.call``) for as long as it is on the
wire, retries and their waits included. There are ``CONNECTIONS_PER_HOST``
slots, the shared pool's connections per host, so however many pulls, shards and
prefetch threads run at once, the pool never has to open a connection it cannot
keep (no "Connection pool is full" warnings). A 429 from the server halves the
slots for ``COOLDOWN`` seconds (halving again on each further 429), so that a
throttled server sees fewer requests rather than all of them retried at once.

After a fork the child starts with a limiter of its own, all slots free: the
parent's threads, and the slots they held, did not come along.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

CONNECTIONS_PER_HOST = 16
"""Connections the shared pool keeps per host (``transport.pool``), and so the process's slots."""

COOLDOWN = 10.0
"""Seconds a 429 keeps the slots lowered."""


def throttled(response: Any) -> bool:
    """Whether the server asked this page to slow down: a 429 met while fetching it, or as its answer.

    >>> from runeq_fn.response import Response
    >>> throttled(Response(429)), throttled(Response(200))
    (True, False)
    """
    return bool(getattr(response, "throttled", 0)) or getattr(response, "status_code", 0) == 429


class Limiter:
    """At most ``limit`` calls at once, fewer for ``cooldown`` seconds after each 429.

    ``clock`` is injectable so that the cooldown is testable without sleeping.

    >>> now = [0.0]
    >>> limiter = Limiter(limit=16, cooldown=10.0, clock=lambda: now[0])
    >>> limiter.capacity()
    16
    >>> limiter.throttle(); limiter.throttle(); limiter.capacity()
    4
    >>> now[0] = 10.5; limiter.capacity()
    16
    """

    def __init__(
        self, limit: int = CONNECTIONS_PER_HOST, cooldown: float = COOLDOWN, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.cooldown = cooldown
        self.clock = clock
        self.renew()

    def renew(self) -> None:
        """Start afresh: every slot free, no cooldown, a new lock (what a forked child needs).

        >>> limiter = Limiter(limit=2)
        >>> limiter.acquire(); limiter.throttle(); limiter.renew()
        >>> limiter.in_flight, limiter.capacity()
        (0, 2)
        """
        self.in_flight = 0
        self.peak = 0
        """The most calls seen in flight at once (for tests and stats)."""
        self._lowered = self.limit
        self._until = float("-inf")
        self._changed = threading.Condition()

    def capacity(self) -> int:
        """The slots open now: ``limit``, or the lowered figure while a 429's cooldown lasts."""
        return self._lowered if self.clock() < self._until else self.limit

    def throttle(self) -> None:
        """Halve the slots (at least one stays) and hold them there for ``cooldown`` seconds."""
        with self._changed:
            self._lowered = max(1, self.capacity() // 2)
            self._until = self.clock() + self.cooldown

    def throttle_until(self, moment: float) -> None:
        """End (or extend) a cooldown at ``moment`` on the limiter's clock."""
        with self._changed:
            self._until = moment
            self._changed.notify_all()

    def acquire(self) -> None:
        """Wait for a free slot and take it."""
        with self._changed:
            while self.in_flight >= self.capacity():
                left = self._until - self.clock()
                self._changed.wait(timeout=left if left > 0 else None)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def release(self) -> None:
        """Give a slot back."""
        with self._changed:
            self.in_flight -= 1
            self._changed.notify()

    def call(self, fetch: Callable[[Any], Any], request: Any) -> Any:
        """``fetch(request)`` in a slot; a throttled answer lowers the slots for a while."""
        self.acquire()
        try:
            response = fetch(request)
        finally:
            self.release()
        if throttled(response):
            self.throttle()
        return response


LIMITER = Limiter()
"""The process's limiter: every page request of runeq-fn goes through it."""

# a fork copies the limiter's lock as it was, perhaps held by a thread that the child does not have
os.register_at_fork(after_in_child=LIMITER.renew)
