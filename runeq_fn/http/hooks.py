"""What a thread's requests signal once on the wire: the ``on_sent`` callback, and the socket a stop hangs up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .flight import current_stop

_thread = threading.local()


def on_sent(callback: Callable[[], None] | None) -> None:
    """Have this thread's requests call ``callback`` once each is on the wire, before its answer.

    Prefetching uses it to know when the consumer may go back to parsing.
    """
    _thread.on_sent = callback


def watch_socket(sock: Any | None) -> None:
    """Make ``sock`` the one this thread's request is on (None: none), hung up if its pull is stopped.

    The previous socket is forgotten: its connection may serve other requests.
    """
    previous = getattr(_thread, "watched", None)
    stop = current_stop()
    if previous is not None and stop is not None:
        stop.forget(previous)
    _thread.watched = sock
    if sock is not None and stop is not None:
        stop.watch(sock)


def signalling(connection_class: type) -> type:
    """A urllib3 connection class whose ``request``, once sent, watches its socket and calls ``on_sent``."""

    class Signalling(connection_class):  # type: ignore[misc, valid-type]
        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)
            watch_socket(self.sock)
            callback = getattr(_thread, "on_sent", None)
            if callback is not None:
                callback()

    return Signalling
