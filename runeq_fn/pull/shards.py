"""Time-sharded pulls: a query's [start_time, end_time) split into windows pulled at once, in order.

A pull by token is serial: each request waits for the previous answer. Split
the time range into half-open windows, pull each window's pages in a thread of
its own, and hand the pages on in time order, and a pull takes about as long as
its longest window. One pull, top to bottom::

    Request --plan_windows--> windows --window_pages--> Responses, in time order --> csv_points, ...

The windows are planned in ``runeq_fn.pull.windows`` and each page is cut to its
window in ``runeq_fn.pull.cut``; this module pulls them at once and in order.

Exactness: the rows of a sharded pull are the unsharded pull's, in the same
order, once each, whatever the server's arithmetic on its bounds. Inner edges sit
on whole seconds; each window is its own query (paginated from its first page),
asked ``MARGIN`` (1 s) beyond each inner edge, and its rows are cut locally on the
time column (``time``, or ``timestamp`` for lfp and band_power; unix seconds or
ISO 8601 text) to ``edge_lo <= t < edge_hi``. So a row at an edge comes once
whether the server's ``end_time`` is inclusive or exclusive, and whether it
rounds the bounds to the millisecond or second (whole seconds are sent at inner
edges, and the outer edges are the caller's, as typed). Only time series shard,
CSV or JSON (a JSON result's columns are cut on its time list): an event or span
has no time column to cut on (a span can straddle an edge), so those are pulled
unsharded, as are expression (availability) queries.

Resuming: an error of a sharded pull carries ``resume``, the windows not yet
read whole under the key ``shard_windows`` (plain data: each window's
parameters and its ``cut``), beside the first such window's parameters.
``accessor.points(**err.resume)``, ``pages``, ``sharded_pages`` and
``sharded_items`` of a request built with them pull exactly the rest; the key is
never sent to the server.

Bounds: every request takes a slot of the process's limit (``flight.LIMITER``),
and at most ``buffer`` pages (by default eight per window) are held, fetched and
not yet handed on, plus one for the window being read, plus with ``prefetch`` the
pages each window asked ahead.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from ..curried import curry
from ..errors import RuneError
from ..http.flight import Stop, same_process, start_thread
from ..http.request import Request
from ..http.transport import fetch as http_fetch
from ..resources import time_column_of
from .cut import cut_page
from .options import count_option, pull_options
from .pages import Fetch, pages_with_next, parsed_pages, resume_params, with_deadline
from .pages import pages as unsharded_pages
from .stats import Stats, counting
from .windows import (
    check_plan,
    plan_windows,
    resumed_windows,
    sharded_resume,
    unshardable,
    window_cut,
    window_request,
    with_cuts,
    with_pull_resume,
)

Parse = Callable[[Any], Iterable[Any]]

PAGES_PER_WINDOW = 8
"""Pages held per window by default (``buffer``)."""


class Board:
    """The windows' pages between their threads and the reader, under one condition.

    A window's thread may fetch a page while fewer than ``buffer`` pages are
    held (fetched or in flight, not yet handed on), and the window being read
    always may when it has none waiting: at most ``buffer + 1`` pages at once.
    """

    def __init__(self, windows: int, buffer: int) -> None:
        self.buffer = buffer
        self.queues: list[deque] = [deque() for _ in range(windows)]
        self.finished = [False] * windows
        self.head = 0
        self.held = 0
        self.error: tuple[int, BaseException] | None = None
        self.stopped = False
        self.changed = threading.Condition()
        self.pid = os.getpid()

    def reserve(self, i: int) -> bool:
        """Wait until window ``i`` may fetch a page; False once the pull is stopped."""
        with self.changed:
            while not self.stopped and self.held >= self.buffer and not (i == self.head and not self.queues[i]):
                self.changed.wait()
            if self.stopped:
                return False
            self.held += 1
            return True

    def put(self, i: int, item: tuple) -> None:
        """Hand on a fetched page (and the request after it)."""
        with self.changed:
            self.queues[i].append(item)
            self.changed.notify_all()

    def unreserve(self) -> None:
        """Give back a reservation that brought no page (the window had ended)."""
        with self.changed:
            self.held -= 1
            self.changed.notify_all()

    def finish(self, i: int) -> None:
        """Window ``i`` has no more pages."""
        with self.changed:
            self.finished[i] = True
            self.changed.notify_all()

    def fail(self, i: int, exc: BaseException) -> None:
        """Window ``i`` failed: the first failure stops every window."""
        with self.changed:
            if self.error is None:
                self.error = (i, exc)
            self.stopped = True
            self.changed.notify_all()

    def stop(self) -> None:
        """Stop every window (the reader went away)."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()

    def take(self) -> tuple | None:
        """The next page in time order as (window, response, following); None at the end; raises a failure.

        After a window failed, the pages already on the board before the point where
        the pull stopped are still handed on, in order, and the failure is raised where
        the next page is missing: what was fetched is not thrown away (a file keeps it,
        and ``resume`` goes on after it), whichever window's thread ran first.
        In a child forked mid-pull, ``UsageError`` (``flight.same_process``): the windows' threads are not there.
        """
        same_process(self.pid)
        with self.changed:
            while True:
                if self.head == len(self.queues):
                    return None
                if self.queues[self.head]:
                    self.held -= 1
                    self.changed.notify_all()
                    return (self.head, *self.queues[self.head].popleft())
                if self.finished[self.head]:
                    self.head += 1
                    self.changed.notify_all()
                    continue
                if self.error is not None:
                    raise self.error[1]
                self.changed.wait()


def pull_window(board: Board, i: int, request: Request, fetch: Fetch, cut: Callable, parse: Parse | None,
                stats: Stats | None, prefetch: int = 0) -> None:
    """One window's thread: its pages in order onto the board, cut at the window's edges (and parsed).

    Parsing here, while the other windows wait on the network, takes it off the reader's path.
    """
    began = time.perf_counter()
    try:
        walk = pages_with_next(request, fetch, prefetch)
        while board.reserve(i):
            item = next(walk, None)
            if item is None:
                board.unreserve()
                board.finish(i)
                break
            response, following = item
            try:
                kept = cut(response)
                emptied = bool(response.content) and not kept.content  # no row in this window: nothing to parse
                items = None if parse is None else [] if emptied else list(parse(kept))
                response = kept
            except RuneError as exc:
                if exc.resume is None:
                    exc.resume = resume_params(request)
                raise
            board.put(i, (response, following, items))
            request = following if following is not None else request
    except BaseException as exc:  # handed to the reader, who raises it
        board.fail(i, exc)
    finally:
        if stats is not None:
            stats.add_shard(time.perf_counter() - began)


def remaining(queries: Sequence[dict], head: int, following: Request | None) -> list[dict]:
    """Where a pull goes on: the window being read from its next page (with its cut), then every later window whole.

    >>> r = Request("u", (("start_time", 0), ("end_time", 6), ("page", 2)), paging="csv", index=2)
    >>> remaining([{"start_time": 0, "end_time": 6, "cut": [None, 5]}, {"start_time": 4, "end_time": 9, "cut": [5, None]}], 0, r)
    [{'start_time': 0, 'end_time': 6, 'page': 2, 'cut': [None, 5]}, {'start_time': 4, 'end_time': 9, 'cut': [5, None]}]
    """
    later = [dict(q) for q in queries[head + 1 :]]
    if following is None:
        return later
    return [{**resume_params(following), "cut": queries[head].get("cut", [None, None])}, *later]


def window_pages_with_next(
    request: Request,
    windows: Sequence[Mapping[str, Any]],
    fetch: Fetch = http_fetch,
    buffer: int | None = None,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[tuple[Any, list[dict]]]:
    """Each page of the windows in time order, paired with the windows that remain after it (see ``window_stream``).

    The remaining windows after a page are where a pull interrupted there goes
    on (``runeq fetch --shards N --resume`` saves them).
    """
    stream = window_stream(request, windows, fetch, None, buffer, stats, prefetch)
    return ((response, rest) for response, _, rest in stream)


def window_stream(
    request: Request,
    windows: Sequence[Mapping[str, Any]],
    fetch: Fetch = http_fetch,
    parse: Parse | None = None,
    buffer: int | None = None,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[tuple[Any, list | None, list[dict]]]:
    """Each page of the windows in time order: (response, its parsed items, the windows that remain).

    ``windows`` hold each window's parameters (``start_time``, ``end_time``, and
    for a resumed window its ``page`` or ``next_page_token``) and its ``cut``
    (``window_queries``), in time order.
    Windows run at once in threads; at most ``buffer`` pages (default 8 per
    window) are held, plus one. ``parse`` (a function from one response to its
    items, e.g. ``lambda r: csv_points([r])``) runs in the window's thread as
    each page arrives, so parsing overlaps the wait for other windows; the items
    are None without it. A page that does not parse raises before any of it is
    yielded, with ``resume`` set to that page. ``prefetch`` pages are asked
    ahead within each window, as ``pages(prefetch=)`` does (so up to
    ``prefetch`` more pages per window may be held beyond ``buffer``). A page
    with no row inside its window (one of the margin's, or of a window without
    data) is not yielded, but for the empty page that ends a CSV pull: so no JSON
    result of only empty columns is.

    The first error in any window stops them all (the others' requests in
    flight hung up): no request is left running when it is raised. It carries ``window`` (the failed window's parameters),
    ``resume_windows`` (every window from the first not yet read whole, that one
    from its next page) and ``resume`` (``sharded_resume`` of them: a request
    built with it goes on from there, see the module's docstring).
    """
    queries = with_cuts(windows)
    if not queries:
        return
    column = time_column_of(request.url.rsplit("/", 1)[-1].partition(".")[0])
    requests = [window_request(request, q) for q in queries]
    last = len(queries) - 1
    board = Board(len(queries), max(1, buffer if buffer is not None else PAGES_PER_WINDOW * len(queries)))
    cuts = [partial(cut_page, paging=request.paging, column=column, lo=lo, hi=hi) for lo, hi in map(window_cut, queries)]
    began = time.perf_counter()
    following: Request | None = requests[0]
    head = 0
    stop = Stop.within_current()
    threads: list[threading.Thread] = []
    try:
        for i, r in enumerate(requests):  # within the try: a thread that cannot start stops those that did
            threads.append(start_thread(
                pull_window, board, i, r, fetch, cuts[i], parse, stats, prefetch, name=f"runeq-shard-{i}", stop=stop
            ))
        while True:
            try:
                item = board.take()
            except BaseException as exc:  # a window's error, or Ctrl-C while waiting for a page
                raise with_windows(exc, queries, head, following) from None
            if item is None:
                break
            head, response, following, items = item
            if stats is not None:
                stats.record(response)
            # a page without rows in its window is handed on only as the empty page that ends a CSV pull
            if response.content or (head == last and following is None and request.paging == "csv"):
                yield with_pull_resume(response, queries, head), items, remaining(queries, head, following)
    finally:
        # stop, then join: a window waiting for room on the board would wait for a reader gone.
        # However the pull ends (an error, Ctrl-C, closed early), no thread outlives it.
        board.stop()
        stop.set()  # what is still in flight (another window's page, after an error) is not wanted: hang it up
        for thread in threads:
            thread.join()
        if stats is not None:
            stats.seconds += time.perf_counter() - began


def with_windows(exc: BaseException, queries: Sequence[dict], head: int, following: Request | None) -> BaseException:
    """The error of a failed window, with ``window``, ``resume_windows`` and the pull's ``resume`` set (said in a note)."""
    if isinstance(exc, RuneError):
        failed = exc.resume or {}
        window = {k: failed[k] for k in ("start_time", "end_time") if k in failed}
        rest = remaining(queries, head, following)
        exc.window = window  # type: ignore[attr-defined]
        exc.resume_windows = rest  # type: ignore[attr-defined]
        exc.resume = sharded_resume(rest)
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"in the shard window start_time={window.get('start_time')} end_time={window.get('end_time')}; "
                "err.resume goes on from the first window not read whole"
            )
    return exc


def window_pages(
    request: Request,
    windows: Sequence[Mapping[str, Any]],
    fetch: Fetch = http_fetch,
    buffer: int | None = None,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[Any]:
    """The pages of the given windows, pulled at once and yielded in time order (see ``window_pages_with_next``)."""
    return (response for response, _, _ in window_stream(request, windows, fetch, None, buffer, stats, prefetch))


def checked(shards: Any, prefetch: Any, buffer: Any, plan: Any, stats: Any = None) -> tuple[int, int, int | None]:
    """A sharded pull's options, checked at the call (``options.pull_options``), before any request.

    >>> checked(8, 0, None, "even")
    (8, 0, None)
    >>> checked(8, 0, "8", "even")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: buffer must be a whole number of at least 1 (e.g. buffer=32), not a str
    """
    check_plan(plan)
    shards, prefetch, _ = pull_options(shards, prefetch, stats)
    return shards, prefetch, None if buffer is None else count_option("buffer", buffer, 1)


def started(
    request: Request, shards: int, fetch: Fetch, plan: str, stats: Stats | None = None
) -> tuple[Request, list[dict]]:
    """A sharded pull begun: its request, carrying the pull's deadline from now, and its windows (resumed, or planned).

    The plan's availability request and every window share that one deadline,
    so ``policy.pull_deadline`` bounds the whole pull, as it does an unsharded one;
    ``stats`` counts the plan's request (as no page of the pull: ``Stats.record``).
    """
    request = with_deadline(request)
    planner = fetch if stats is None else counting(fetch, stats, page=False)
    return request, resumed_windows(request) or plan_windows(request, shards, planner, plan)


def sharded_items(
    request: Request,
    parse: Parse,
    shards: int = 8,
    fetch: Fetch = http_fetch,
    plan: str = "availability",
    buffer: int | None = None,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[Any]:
    """The items of every page of a sharded pull, in order, each page parsed in its window's thread.

    ``parse`` turns one response into its items, as for ``parsed_pages``; the
    items equal ``parse`` applied to ``sharded_pages``'s responses in order.
    ``shards=1`` is ``parsed_pages`` itself; ``prefetch`` and ``stats`` as for ``sharded_pages``.

    >>> from runeq_fn import Config, build_request, csv_points
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator(page_size=100) as emu:
    ...     query = {"patient_id": "p", "device_id": "d", "start_time": 1609491600, "end_time": 1609491610}
    ...     request = build_request(Config(**emu.config_values()), "accel", "csv", query)
    ...     points = list(sharded_items(request, lambda r: csv_points([r]), shards=4))
    ...     whole = list(csv_points(pages(request)))
    >>> len(points), points == whole
    (500, True)
    """
    shards, prefetch, buffer = checked(shards, prefetch, buffer, plan, stats)
    if shards == 1 and resumed_windows(request) is None:
        return parsed_pages(request, parse, fetch if stats is None else counting(fetch, stats), prefetch)
    return _sharded_items(request, parse, shards, fetch, plan, buffer, stats, prefetch)


def _sharded_items(
    request: Request, parse: Parse, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None,
    prefetch: int,
) -> Iterator[Any]:
    request, windows = started(request, shards, fetch, plan, stats)
    for _, items, _ in window_stream(request, windows, fetch, parse, buffer, stats, prefetch):
        yield from items or ()


def sharded_pages(
    request: Request,
    shards: int = 8,
    fetch: Fetch = http_fetch,
    plan: str = "availability",
    buffer: int | None = None,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[Any]:
    """``pages``, with the time range split into up to ``shards`` windows pulled at once.

    The points read from it equal the unsharded pull's, in order (see the
    module's docstring for the rule). ``shards=1`` is ``pages`` itself, with
    exactly its requests. Lazy: nothing is fetched before the first page is
    asked for. At most ``buffer`` pages (default 8 per window) are held at once,
    plus one. ``stats`` (a ``Stats``) is filled in as the pull goes; ``prefetch``
    pages are asked ahead within each window, as ``pages(prefetch=)`` does.
    ``shards`` and ``prefetch`` are checked at the call (``options.count_option``).

    >>> from runeq_fn import Config, build_request, csv_points
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator(pagination="token", page_size=100) as emu:
    ...     query = {"patient_id": "p", "device_id": "d", "start_time": 1609491600, "end_time": 1609491610}
    ...     request = build_request(Config(**emu.config_values()), "accel", "csv", query)
    ...     sharded = list(csv_points(sharded_pages(request, shards=4)))
    ...     whole = list(csv_points(pages(request)))
    >>> len(sharded), sharded == whole
    (500, True)
    """
    shards, prefetch, buffer = checked(shards, prefetch, buffer, plan, stats)
    if shards == 1 and resumed_windows(request) is None:
        return unsharded_pages(request, fetch if stats is None else counting(fetch, stats), prefetch)
    return _sharded(request, shards, fetch, plan, buffer, stats, prefetch)


def _sharded(
    request: Request, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None, prefetch: int
) -> Iterator[Any]:
    request, windows = started(request, shards, fetch, plan, stats)
    yield from window_pages(request, windows, fetch, buffer, stats, prefetch)


@curry
def pages(request: Request, fetch: Fetch = http_fetch, prefetch: int = 0) -> Iterator[Any]:
    """``runeq_fn.pages``: ``pages.pages`` (a query's pagination, lazily), and a sharded pull's rest too.

    A request built with a sharded pull's ``err.resume`` (it holds ``shard_windows``)
    pulls the windows left at once, as ``sharded_pages`` would; any other request
    is ``pages.pages``'s, with exactly its requests. The dispatch lives here, above
    both, so that ``runeq_fn.pull.pages`` (the module) never imports shards.

    >>> from runeq_fn.pull.pages import SHARD_WINDOWS
    >>> pages(Request("u", ((SHARD_WINDOWS, "w"),)))
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: shard_windows is the list of windows a sharded pull's err.resume holds: pass it unchanged
    """
    return sharded_pages(request, 1, fetch, prefetch=prefetch)


def pull_items(
    build: Callable[[dict], Request],
    params: Mapping[str, Any],
    parse: Parse,
    shards: int = 1,
    fetch: Fetch = http_fetch,
    stats: Stats | None = None,
    prefetch: int = 0,
) -> Iterator[Any]:
    """The items of a query's pages, with every option: the one pull of the shim and ``cohort_points``.

    ``build`` makes the request of the query's ``params``. A query that cannot
    shard (``unshardable``: event, span, an expression, one that starts at a
    page) is pulled unsharded. A sharded pull's error has ``resume`` holding
    ``shard_windows``; given back as ``params`` (``accessor.points(**err.resume)``),
    it goes on in every window not read whole, so no row is lost or read twice.
    """
    request = build(dict(params))
    return sharded_items(request, parse, shards_for(request, shards), fetch, stats=stats, prefetch=prefetch)


def shards_for(request: Request, shards: int) -> int:
    """The windows a surface pulls a request in: ``shards``, or 1 for a query that cannot shard (``unshardable``).

    The functional forms (``sharded_pages``, ``sharded_items``) refuse such a
    query; the shim, ``cohort_points``, the exports and ``runeq_fn.sinks.dask`` pull
    it unsharded. A request that resumes windows (``shard_windows``) pulls them.

    >>> shards_for(Request("u/v1/span.json", paging="span"), 8), shards_for(Request("u/v1/accel.csv", paging="csv"), 8)
    (1, 8)
    """
    return 1 if resumed_windows(request) is None and unshardable(request) is not None else shards
