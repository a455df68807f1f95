"""The lazy page generator: the only code that performs I/O while iterating a query."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from ..config.auth import SECRET_HEADER_NAMES
from ..curried import curry
from ..errors import APIError, PaginationError, RuneError, UsageError
from ..http.flight import LIMITER, Stop, same_process, start_thread
from ..http.hooks import on_sent
from ..http.request import Request
from ..http.response import Response, error_details
from ..http.transport import fetch as http_fetch
from ..http.transport import pull_deadline
from .options import count_option
from .paging import predict, step_for

Fetch = Callable[[Request], Any]

SHARD_WINDOWS = "shard_windows"
"""The key of a sharded pull's ``resume`` that lists the windows left (``runeq_fn.pull.windows``); never sent."""
SEND_WAIT = 0.05
"""Seconds a prefetch waits for its request to be sent (a fetch that is not HTTP never says so)."""


def check(request: Request, response: Any) -> Any:
    """Return the response, or raise ``APIError`` for a status >= 300 (redirects are followed before).

    The error carries the failed page's parameters in ``resume``.

    >>> from runeq_fn.http.response import Response
    >>> check(Request("u", (("page", 3),)), Response(503, content=b""))
    Traceback (most recent call last):
    ...
    runeq_fn.errors.APIError: 503 HTTPError: {'message': 'HTTP 503 with an empty body', 'type': 'HTTPError'}
    """
    if response.status_code >= 300:  # a 3xx left over (a loop, no Location, 304) is not a page either
        raise APIError(
            response.status_code,
            error_details(response.status_code, response.content),
            resume=resume_params(request),
        )
    return response


def resume_params(request: Request) -> dict:
    """The parameters that fetch this page again and go on from it.

    A CSV query also keeps its page counter in ``page`` (the server lets a
    token win over it), so that pagination goes on counting from there.

    >>> resume_params(Request("u", (("next_page_token", "t"),), (("device_id", "d"),), paging="csv", index=7))
    {'next_page_token': 't', 'device_id': 'd', 'page': 7}
    """
    resume = dict(request.query)
    if request.paging == "csv":
        resume["page"] = request.index
    return resume


def with_resume(response: Any, request: Request) -> Any:
    """The response, knowing the parameters that fetch it again (``Response.resume``), for the parsers' errors.

    >>> from runeq_fn.http.response import Response
    >>> with_resume(Response(200), Request("u", (("page", 2),))).resume
    {'page': 2}
    """
    return replace(response, resume=resume_params(request)) if isinstance(response, Response) else response


def secrets_of(request: Request) -> list[str]:
    """The secret values among a request's headers, to mask them in its errors.

    >>> secrets_of(Request("u", headers=(("X-Rune-User-Access-Token-Id", "id"), ("X-Rune-User-Access-Token-Secret", "s"))))
    ['s']
    """
    return [str(value) for name, value in request.headers if name in SECRET_HEADER_NAMES]


def failed(exc: RuneError, request: Request) -> RuneError:
    """An error of this request's page, with ``resume`` (unless set) and its secrets masked."""
    if exc.resume is None:
        exc.resume = resume_params(request)
    return exc.redact(secrets_of(request))


def position(request: Request) -> Any:
    """What names a request's page: its token, else its page number.

    >>> position(Request("u", (("page", 2),))), position(Request("u", (("next_page_token", "t"), ("page", 1))))
    (('page', 2), ('next_page_token', 't'))
    """
    token = request.param("next_page_token")
    if token is not None:
        return ("next_page_token", token)
    return ("page", request.param("page", 0))


def fetch_checked(request: Request, fetch: Fetch) -> tuple:
    """Fetch one page; after a 401, refresh the JWT once (where configured) and try again.

    Each request waits for a slot of the process's limit on requests in flight (``flight.LIMITER``).
    """
    response = LIMITER.call(fetch, request)
    if response.status_code == 401 and request.refresh is not None:
        # the refresh (a POST to Cognito) ends by the pull's deadline too
        with pull_deadline(request.deadline) if request.deadline is not None else nullcontext():
            request = replace(request, headers=request.refresh(request.headers))
        response = LIMITER.call(fetch, request)
    return request, check(request, response)


def fetch_sent(request: Request, fetch: Fetch, sent: threading.Event) -> tuple:
    """``fetch_checked`` in a prefetch thread, setting ``sent`` once the request is on the wire (or done)."""
    on_sent(sent.set)
    try:
        return fetch_checked(request, fetch)
    finally:
        on_sent(None)
        sent.set()


@curry
def pages(request: Request, fetch: Fetch = http_fetch, prefetch: int = 0) -> Iterator[Any]:
    """Follow a query's pagination lazily, yielding each whole ``Response`` in order.

    Nothing is fetched before the first page is asked for. With ``prefetch=N``,
    up to N requests are in flight while earlier pages are consumed: guessed page
    numbers, or the next token's page as soon as it is known. Without it, one
    page is held at a time and the requests are exactly runeq 0.15.0's.

    A page whose next-page marker names a page already read raises
    ``PaginationError`` (a server loop) instead of being yielded, with ``resume``
    set to that page, so that resuming reads every page once.

    A request built with a sharded pull's ``err.resume`` (it holds ``shard_windows``)
    is refused here, as by ``pages_with_next``: ``runeq_fn.pages`` (``shards.pages``)
    pulls the windows left at once.
    """
    return (response for response, _ in pages_with_next(request, fetch, prefetch))


@curry
def pages_with_next(request: Request, fetch: Fetch = http_fetch, prefetch: int = 0) -> Iterator[tuple]:
    """``pages``, each response paired with the request that fetches the page after it.

    The next request is None after the last page. ``resume_params`` of it is
    where a pull interrupted after this page goes on (``runeq fetch --resume``).
    The pull's deadline (``policy.pull_deadline``) starts with the first page asked for.
    ``prefetch`` is checked at the call (``options.count_option``).
    """
    if request.param(SHARD_WINDOWS) is not None:
        raise UsageError(f"a request with {SHARD_WINDOWS} (a sharded pull's err.resume) is read with pages or sharded_pages")
    return _pages(request, Ahead(fetch, count_option("prefetch", prefetch, 0)))


def with_deadline(request: Request) -> Request:
    """The first request of a pull, carrying the pull's deadline (``policy.pull_deadline`` from now).

    A request that has one keeps it; the requests of later pages inherit it.

    >>> from runeq_fn.policy import Policy
    >>> with_deadline(Request("u")).deadline is None, with_deadline(Request("u", policy=Policy(pull_deadline=9))).deadline > 0
    (True, True)
    """
    seconds = request.policy.pull_deadline
    if request.deadline is not None or seconds is None:
        return request
    return replace(request, deadline=time.monotonic() + seconds)


class ParsedAhead:
    """Pages parsed in the thread that fetched them (with prefetch, a prefetch thread), so that the
    reader of the points only takes them: parsing overlaps the reader's own work and the waiting.

    ``fetch`` fetches a page and parses a 2xx answer at once, keeping its items (or the
    ``RuneError`` parsing raised) beside the answer's body; ``parse`` hands them over for
    that body once (raising the error then, so that it carries the page's ``resume``), or
    parses a page that was not parsed ahead.
    """

    def __init__(self, fetch: Fetch, parse: Callable[[Response], Iterable[Any]]) -> None:
        self.fetch_page, self.parse_page = fetch, parse
        self.done: dict[int, tuple[bytes, list | None, RuneError | None]] = {}

    def fetch(self, request: Request) -> Response:
        """One page fetched, and parsed when it is an answer with data."""
        response = self.fetch_page(request)
        if 200 <= response.status_code < 300:
            try:
                self.done[id(response.content)] = (response.content, list(self.parse_page(response)), None)
            except RuneError as exc:
                self.done[id(response.content)] = (response.content, None, exc)
        return response

    def parse(self, response: Response) -> list:
        """The items of a page, parsed ahead when they were (the body kept alive keeps its ``id`` its own)."""
        content, items, error = self.done.pop(id(response.content), (None, None, None))
        if content is not response.content:
            return list(self.parse_page(response))
        if error is not None:
            raise error
        return items or []



def parsed_pages(
    request: Request, parse: Callable[[Any], Iterable[Any]], fetch: Fetch = http_fetch, prefetch: int = 0
) -> Iterator[Any]:
    """The items of every page, each page parsed whole before any of its items is yielded.

    ``parse`` turns one response into its items (``lambda r: csv_points([r])``).
    A page that does not parse raises before yielding anything of it, with
    ``resume`` set to that page, so that an error never leaves half a page behind.
    With ``prefetch``, each page is parsed in the thread that fetched it
    (``ParsedAhead``), so parsing overlaps the reader's own work.
    """
    if count_option("prefetch", prefetch, 0) > 0:
        ahead = ParsedAhead(fetch, parse)
        fetch, parse = ahead.fetch, ahead.parse
    for response, following in pages_with_next(request, fetch, prefetch):
        try:
            items = list(parse(response))
        except RuneError as exc:
            failed(exc, request)
            raise
        yield from items
        if following is not None:
            request = following


def _pages(request: Request | None, ahead: Ahead) -> Iterator[tuple]:
    seen = set()
    if request is not None:
        request = with_deadline(request)
    try:
        ahead.expect(request)
        while request is not None:
            seen.add(position(request))
            try:
                request, response = ahead.take(request)
                following = step_for(request)(request, response)
            except RuneError as exc:
                failed(exc, request)
                raise
            if following is not None and position(following) in seen:
                # this page's marker points back: deliver none of it, so that resuming reads it once
                raise PaginationError(
                    0,
                    {
                        "message": f"the server sent {position(following)} again: a pagination loop",
                        "type": "PaginationError",
                    },
                    resume=resume_params(request),
                )
            ahead.expect(following, after=response)
            yield with_resume(response, request), following
            request = following
    except BaseException:  # closed early, Ctrl-C, an error: what is in flight is not wanted
        ahead.stop.set()
        raise
    finally:
        ahead.close()


class Ahead:
    """The requests in flight ahead of the consumer (none when ``depth`` is 0).

    At most ``depth`` requests are in flight, each in a thread of its own; a
    page is used only if its request is the one pagination really asks for
    next, so guesses never change the results. ``close`` waits for their
    threads: none outlives its pull. A pull abandoned (closed early, Ctrl-C, an
    error) sets ``stop`` first, which hangs up its requests in flight
    (``flight.Stop``), so that a slow server never holds up its end.
    """

    def __init__(self, fetch: Fetch, depth: int) -> None:
        self.fetch = fetch
        self.depth = max(0, int(depth))
        self.pending: deque = deque()
        self.slots = threading.BoundedSemaphore(max(1, self.depth))
        self.tokens_seen = False
        self.threads: list[threading.Thread] = []
        self.stop = Stop.within_current()
        self.pid = os.getpid()

    def submit(self, request: Request) -> None:
        """Start fetching a page in a prefetch thread, and wait until its request is sent.

        Waiting (at most ``SEND_WAIT``) keeps the consumer's parsing, which holds
        the GIL in long C calls, from delaying the request by a switch interval.
        A request discarded while running keeps its slot until it ends.
        """
        from concurrent.futures import Future

        future: Future = Future()
        sent = threading.Event()

        def run() -> None:
            try:
                future.set_result(fetch_sent(request, self.fetch, sent))
            except BaseException as exc:  # handed to the consumer by future.result()
                future.set_exception(exc)
            finally:
                self.slots.release()

        self.slots.acquire()
        future.set_running_or_notify_cancel()
        self.threads = [thread for thread in self.threads if thread.is_alive()]
        self.threads.append(start_thread(run, name="runeq-prefetch", stop=self.stop))
        self.pending.append((request, future))
        sent.wait(SEND_WAIT)

    def expect(self, request: Request | None, after: Any = None) -> None:
        """Make sure ``request`` is in flight first, then top up with guessed pages.

        Guessing starts after the first page and stops for good once a page
        comes with a token: such a server's next pages cannot be guessed.
        """
        if not self.depth or request is None:
            return
        if after is not None and after.next_page_token is not None:
            self.tokens_seen = True
        if not (self.pending and self.pending[0][0] == request):
            self.pending.clear()
            self.submit(request)
        while after is not None and not self.tokens_seen and len(self.pending) < self.depth:
            guess = predict(self.pending[-1][0])
            if guess is None:
                break
            self.submit(guess)

    def take(self, request: Request) -> tuple:
        """The (request, response) of ``request``: from flight if it is there, else fetched now.

        In a child forked mid-pull, ``UsageError`` (``flight.same_process``): the requests in flight are not there.
        """
        same_process(self.pid)
        if self.pending and self.pending[0][0] == request:
            return self.pending.popleft()[1].result()
        self.pending.clear()
        return fetch_checked(request, self.fetch)

    def close(self) -> None:
        """Wait for the threads of the requests in flight to end (hung up at once if ``stop`` is set)."""
        self.pending.clear()
        for thread in self.threads:
            if thread is not threading.current_thread():  # the collector may close a pull in any thread
                thread.join()
        self.threads.clear()
