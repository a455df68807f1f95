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

A pull can be told to stop from another thread (a ``Stop``): its next request
raises ``Stopped`` instead of going out, a retry's wait ends at once, and a
request in flight is hung up (its socket shut down), so that a thread blocked on
a slow server returns now. The threads runeq-fn starts for a pull
(``start_thread``) carry the stop along, and a stop made within another
(``Stop.within_current``) is set with it: stopping a cohort's query stops its
prefetch and shard threads too.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any

CONNECTIONS_PER_HOST = 16
"""Connections the shared pool keeps per host (``routes.manager``), and so the process's slots."""

COOLDOWN = 10.0
"""Seconds a 429 keeps the slots lowered."""


class Stopped(Exception):
    """The pull was told to stop (``Stop.set``): raised instead of its next request, or by the one it hung up."""


class Stop:
    """A pull's signal to stop, set once from any thread; see ``stops_on``.

    >>> outer = Stop(); inner = outer.within()
    >>> outer.set(); inner.is_set(), inner.wait(60)
    (True, True)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._sockets: dict[int, Any] = {}
        """The socket each thread's request is on (a thread has one request on the wire at a time)."""
        self._inner: weakref.WeakSet[Stop] = weakref.WeakSet()

    @classmethod
    def within_current(cls) -> Stop:
        """A new stop, set too when this thread's stop (if any) is."""
        current = _stop.get()
        return cls() if current is None else current.within()

    def within(self) -> Stop:
        """A new stop, set too when this one is."""
        inner = Stop()
        with self._lock:
            if not self._event.is_set():
                self._inner.add(inner)
                return inner
        inner.set()
        return inner

    def is_set(self) -> bool:
        """Whether the pull was told to stop."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` or until the stop is set; whether it is."""
        return self._event.wait(seconds)

    def set(self) -> None:
        """Stop: hang up the requests in flight, then every stop made within this one."""
        with self._lock:
            self._event.set()
            sockets, self._sockets = set(self._sockets.values()), {}
            inner = list(self._inner)
        for sock in sockets:
            hang_up(sock)
        for stop in inner:
            stop.set()

    def watch(self, sock: Any) -> None:
        """This thread's request of the pull is on ``sock``: hang it up on ``set`` (at once if set already)."""
        with self._lock:
            if not self._event.is_set():
                self._sockets[threading.get_ident()] = sock
                return
        hang_up(sock)

    def forget(self, sock: Any) -> None:
        """This thread's request on ``sock`` is over: its connection may serve others now.

        Only this thread's watch ends. A request hands its connection back to the
        pool before it forgets the socket, and another request of the pull may be on
        that connection by then: that one stays watched, so that ``set`` still hangs it up.
        """
        with self._lock:
            if self._sockets.get(threading.get_ident()) is sock:
                del self._sockets[threading.get_ident()]


def hang_up(sock: Any) -> None:
    """Shut a socket down both ways, so that a thread blocked reading it returns (an error, or the end).

    A TLS socket is shut down as a plain one: ``SSLSocket.shutdown`` would drop its
    TLS state under the thread still reading it. A TLS-in-TLS transport (an https
    proxy) is not a socket: its request runs to its end.
    """
    if not isinstance(sock, socket.socket):
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # closed already
        pass


_stop: ContextVar[Stop | None] = ContextVar("runeq_fn_stop", default=None)


def current_stop() -> Stop | None:
    """This thread's stop (``stops_on``), if any."""
    return _stop.get()


@contextmanager
def stops_on(stop: Stop) -> Iterator[None]:
    """Within this block, this thread's requests (and those of threads it starts) obey ``stop``.

    >>> stop = Stop()
    >>> with stops_on(stop):
    ...     stop.set()
    ...     LIMITER.call(lambda request: "sent", "a request")
    Traceback (most recent call last):
    ...
    runeq_fn.http.flight.Stopped: the pull was stopped before this request went out
    """
    token = _stop.set(stop)
    try:
        yield
    finally:
        _stop.reset(token)


def check_stop() -> None:
    """Raise ``Stopped`` if this thread's pull was told to stop."""
    stop = _stop.get()
    if stop is not None and stop.is_set():
        raise Stopped("the pull was stopped before this request went out")


def stoppable_sleep(seconds: float) -> None:
    """Sleep ``seconds`` (a retry's wait); ``Stopped`` as soon as this thread's pull is told to stop."""
    stop = _stop.get()
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise Stopped("the pull was stopped while waiting to try again")


def same_process(began: int) -> None:
    """Refuse to go on with a pull in a process forked from the one that began it (``began``: that one's pid).

    The pull's threads (its windows', its prefetch's) stayed in the parent, and
    perhaps the lock they held: waiting for them in the child would wait forever.

    >>> same_process(os.getpid())
    """
    if os.getpid() != began:
        from ..errors import UsageError

        raise UsageError(
            "a pull begun before os.fork() cannot go on in the child (its threads stayed in the parent): "
            "begin it again in the child, e.g. from err.resume"
        )


def start_thread(target: Callable[..., Any], *args: Any, name: str, stop: Stop | None = None) -> threading.Thread:
    """Start a daemon thread running ``target(*args)`` in a copy of this thread's context, obeying ``stop`` if given.

    >>> start_thread(print, "ran", name="runeq-example").join()
    ran
    """

    def run() -> None:
        if stop is None:
            target(*args)
            return
        with stops_on(stop):
            target(*args)

    thread = threading.Thread(target=copy_context().run, args=(run,), name=name, daemon=True)
    thread.start()
    return thread


def throttled(response: Any) -> bool:
    """Whether the server asked this page to slow down: a 429 met while fetching it, or as its answer.

    >>> from runeq_fn.http.response import Response
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
        """``fetch(request)`` in a slot; a throttled answer lowers the slots for a while.

        A pull told to stop (``stops_on``) raises ``Stopped`` instead, once it has its slot.
        """
        self.acquire()
        try:
            check_stop()
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
