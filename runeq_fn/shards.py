"""Time-sharded pulls: a query's [start_time, end_time) split into windows pulled at once, in order.

A pull by token is serial: each request waits for the previous answer. Split
the time range into half-open windows, pull each window's pages in a thread of
its own, and hand the pages on in time order, and a pull takes about as long as
its longest window. One pull, top to bottom::

    Request --plan_windows--> windows --window_pages--> Responses, in time order --> csv_points, ...

Exactness: the rows of a sharded pull are the unsharded pull's, in the same
order, once each. Each window is its own query (paginated from its first page),
and at every inner edge the rows are cut on the time column (``time``, or
``timestamp`` for lfp and band_power) to ``start <= t < end``, so that a server
which includes a row exactly at ``end_time`` gives it once all the same. Only
time series shard, CSV or JSON (a JSON result's columns are cut on its time
list): an event or span has no time column to cut on (a span can straddle an
edge), so those are pulled unsharded, as are expression (availability) queries.

Bounds: every request takes a slot of the process's limit (``flight.LIMITER``),
and at most ``buffer`` pages (by default eight per window) are held, fetched and
not yet handed on, plus one for the window being read.
"""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

from .build import Request, start_index, with_params
from .errors import ParseError, RuneError, UsageError
from .options import count_option
from .pages import Fetch, pages, pages_with_next, parsed_pages, resume_params
from .parse import json_pages
from .resources import resource
from .stats import Stats, counting
from .transport import fetch as http_fetch

Window = tuple[Fraction, Fraction]
Parse = Callable[[Any], Iterable[Any]]

TIME_COLUMNS = {"lfp": "timestamp", "band_power": "timestamp"}
"""Resources whose time column is not ``time``."""

PLANS = ("availability", "even")
PAGING_PARAMS = ("page", "next_page_token")
PAGES_PER_WINDOW = 8
"""Pages held per window by default (``buffer``)."""
MIN_RESOLUTION = 300
BINS_PER_SHARD = 32
"""Availability bins asked per window of the plan: enough to cut where the data is."""


# -- times and windows (pure) -----------------------------------------------------------------


def exact_time(name: str, value: Any) -> Fraction:
    """A time parameter as an exact number (unix seconds as int, float or text).

    >>> exact_time("start_time", "1609491600.02"), exact_time("end_time", 1.5)
    (Fraction(80474580001, 50), Fraction(3, 2))
    >>> exact_time("end_time", "soon")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: a sharded pull needs end_time in unix seconds, not 'soon'
    """
    try:
        exact = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"a sharded pull needs {name} in unix seconds, not {value!r}") from None
    return exact


def on_grid(value: Fraction) -> Fraction:
    """The nearest microsecond: inner edges sit there, so that they are sent exactly as decimals.

    >>> on_grid(Fraction(1, 3))
    Fraction(333333, 1000000)
    """
    return Fraction(round(value * 1_000_000), 1_000_000)


def edge_param(edge: Fraction) -> int | str:
    """An edge as sent: an int when whole, else its exact decimal text.

    >>> edge_param(Fraction(1609491600)), edge_param(Fraction(80474580001, 50))
    (1609491600, '1609491600.02')
    """
    if edge.denominator == 1:
        return edge.numerator
    text = format(Decimal(edge.numerator) / Decimal(edge.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def edges_to_windows(start: Fraction, end: Fraction, inner: Sequence[Fraction]) -> list[Window]:
    """Windows from inner edges: those strictly inside (start, end), sorted, each once.

    >>> edges_to_windows(Fraction(0), Fraction(10), [Fraction(5), Fraction(5), Fraction(12), Fraction(3)])
    [(Fraction(0, 1), Fraction(3, 1)), (Fraction(3, 1), Fraction(5, 1)), (Fraction(5, 1), Fraction(10, 1))]
    """
    edges = [start, *sorted({e for e in inner if start < e < end}), end]
    return list(zip(edges, edges[1:]))


def even_windows(start: Fraction, end: Fraction, shards: int) -> list[Window]:
    """``shards`` windows of equal length covering [start, end), edges on the microsecond grid.

    Fewer windows when the range holds fewer microseconds; one when it is empty.

    >>> even_windows(Fraction(0), Fraction(9), 3)
    [(Fraction(0, 1), Fraction(3, 1)), (Fraction(3, 1), Fraction(6, 1)), (Fraction(6, 1), Fraction(9, 1))]
    >>> len(even_windows(Fraction(0), Fraction(1, 10**6), 8)), even_windows(Fraction(5), Fraction(5), 4)
    (1, [(Fraction(5, 1), Fraction(5, 1))])
    """
    if end <= start:
        return [(start, end)]
    return edges_to_windows(start, end, [on_grid(start + (end - start) * k / shards) for k in range(1, shards)])


def planned_windows(
    start: Fraction, end: Fraction, shards: int, bins: Sequence[tuple[Fraction, bool]], resolution: Fraction
) -> list[Window]:
    """Windows that share the data evenly, given availability ``bins`` of (bin start, has data).

    Edges fall where the time with data reaches 1/shards, 2/shards, ... of its
    total; stretches with no data join a neighbour, so they cost no window of
    their own. With no data at all, one window (one request).

    >>> bins = [(Fraction(t), t < 600 or t >= 3000) for t in range(0, 3600, 300)]
    >>> planned_windows(Fraction(0), Fraction(3600), 2, bins, Fraction(300))
    [(Fraction(0, 1), Fraction(600, 1)), (Fraction(600, 1), Fraction(3600, 1))]
    >>> planned_windows(Fraction(0), Fraction(3600), 4, [(Fraction(0), False)], Fraction(3600))
    [(Fraction(0, 1), Fraction(3600, 1))]
    """
    spans = [(max(lo, start), min(lo + resolution, end)) for lo, full in bins if full]
    spans = [(lo, hi) for lo, hi in spans if lo < hi]
    total = sum((hi - lo for lo, hi in spans), Fraction(0))
    if shards < 2 or total == 0:
        return [(start, end)]
    inner, done, k = [], Fraction(0), 1
    for lo, hi in spans:
        while k < shards and done + (hi - lo) >= total * k / shards:
            inner.append(on_grid(lo + total * k / shards - done))
            k += 1
        done += hi - lo
    return edges_to_windows(start, end, inner)


def resolution_for(start: Fraction, end: Fraction, shards: int) -> int:
    """The availability bin size for a plan: ``BINS_PER_SHARD`` bins a window, 300 s at the finest.

    >>> resolution_for(Fraction(0), Fraction(4000), 8), resolution_for(Fraction(0), Fraction(7 * 86400), 8)
    (300, 2400)
    """
    wanted = (end - start) / (shards * BINS_PER_SHARD)
    return max(MIN_RESOLUTION, math.ceil(wanted / MIN_RESOLUTION) * MIN_RESOLUTION)


def availability_bins(result: Any, expression: str) -> list[tuple[Fraction, bool]]:
    """(bin start, has data) from an availability result, columns or per-stream (any stream counts).

    >>> availability_bins({"time": [0, 300], "availability(accel)": [1, 0]}, "availability(accel)")
    [(Fraction(0, 1), True), (Fraction(300, 1), False)]
    >>> availability_bins({"streams": [{"time": [0], "availability": [0]}, {"time": [0], "availability": [1]}]}, "x")
    [(Fraction(0, 1), True)]
    """
    columns = result.get("streams") or [{"time": result["time"], "availability": result[expression]}]
    flags: dict[Fraction, bool] = {}
    for stream in columns:
        for t, flag in zip(stream["time"], stream["availability"], strict=True):
            flags[exact_time("time", t)] = flags.get(exact_time("time", t), False) or bool(flag)
    return sorted(flags.items())


# -- requests of windows ------------------------------------------------------------------------


def unshardable(request: Request) -> str | None:
    """Why a request's query cannot be sharded, or None when it can.

    Time series shard, as CSV or JSON (a JSON result's columns are cut on its
    time list as CSV rows are). Not event or span (a span can straddle an edge),
    not an ``expression`` query (its bins, e.g. availability's, cannot be cut at
    an edge), and not a query that starts at a ``page`` or ``next_page_token``.
    ``V1Client(cfg, shards=N)``, ``runeq fetch --shards N`` and the exports pull
    these unsharded; the functional forms refuse them with this reason.

    >>> unshardable(Request("u/v1/accel.json", (("start_time", 0),), paging="json")) is None
    True
    >>> unshardable(Request("u/v1/span.json", paging="span"))
    'only time series shard (span is not one)'
    """
    name = request.url.rsplit("/", 1)[-1].partition(".")[0]
    if request.paging not in ("csv", "json") or resource(name).availability is None:
        return f"only time series shard ({name} is not one)"
    if request.param("expression") is not None:
        return "an expression query cannot be sharded (its results, e.g. availability bins, cannot be cut at an edge)"
    for key in PAGING_PARAMS:
        if request.param(key) is not None:
            return (
                f"a query that starts at a {key} cannot be sharded "
                "(window_pages(request, err.resume_windows) resumes a sharded pull)"
            )
    return None


def query_range(request: Request) -> Window:
    """A request's [start_time, end_time) as exact numbers; a clear error when it cannot shard.

    >>> query_range(Request("u/v1/accel.csv", (("start_time", 10), ("end_time", "20.5")), paging="csv"))
    (Fraction(10, 1), Fraction(41, 2))
    >>> query_range(Request("u/v1/span.json", (("start_time", 10), ("end_time", 20)), paging="span"))
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: only time series shard (span is not one): use shards=1
    """
    why = unshardable(request)
    if why is not None:
        raise UsageError(f"{why}: use shards=1")
    for key in ("start_time", "end_time"):
        if request.param(key) is None:
            raise UsageError(f"a sharded pull needs {key}: add it to the query, or use shards=1")
    return exact_time("start_time", request.param("start_time")), exact_time("end_time", request.param("end_time"))


def window_queries(request: Request, windows: Sequence[Window]) -> list[dict]:
    """The time parameters of each window; the outer edges keep the caller's values as typed.

    >>> r = Request("u/v1/accel.csv", (("start_time", "0"), ("end_time", 9)), paging="csv")
    >>> window_queries(r, even_windows(Fraction(0), Fraction(9), 2))
    [{'start_time': '0', 'end_time': '4.5'}, {'start_time': '4.5', 'end_time': 9}]
    """
    queries = [{"start_time": edge_param(lo), "end_time": edge_param(hi)} for lo, hi in windows]
    queries[0]["start_time"] = request.param("start_time")
    queries[-1]["end_time"] = request.param("end_time")
    return queries


def window_request(request: Request, window: Mapping[str, Any]) -> Request:
    """The request of one window: the query with the window's parameters (a resumed one's page or token too)."""
    return with_params(request, drop=PAGING_PARAMS, index=start_index(window), **window)


def availability_request(request: Request, resolution: int) -> Request:
    """The one JSON availability request that plans a pull's windows.

    >>> r = Request("u/v1/accel.csv", (("start_time", 0), ("end_time", 9)), paging="csv")
    >>> availability_request(r, 300)
    Request(url='u/v1/accel.json', params=(('start_time', 0), ('end_time', 9), ('expression', 'availability(accel)'), ('resolution', 300)), defaults=(), paging='json', index=0)
    """
    base, _, name = request.url.rpartition("/")
    name = name.partition(".")[0]
    expression = resource(name).availability
    return replace(
        with_params(request, drop=PAGING_PARAMS, index=0, expression=expression, resolution=resolution),
        url=f"{base}/{name}.json",
        paging="json",
    )


def plan_windows(request: Request, shards: int, fetch: Fetch = http_fetch, plan: str = "availability") -> list[dict]:
    """The windows of a sharded pull, as each window's time parameters.

    ``plan="availability"`` asks the resource's availability (one request, at
    resolution 300 s or coarser) and cuts
    where the data is (falling back to ``"even"`` when that request or its
    answer fails); ``"even"`` cuts the time range in equal parts, asking nothing.
    """
    if plan not in PLANS:
        raise UsageError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
    shards = count_option("shards", shards, 1)
    start, end = query_range(request)
    windows = even_windows(start, end, shards)
    if plan == "availability" and len(windows) > 1:
        resolution = resolution_for(start, end, shards)
        asked = availability_request(request, resolution)
        try:
            results = json_pages(pages(asked, fetch))  # one page, unless the server's pages are small
            bins = [b for result in results for b in availability_bins(result, asked.param("expression"))]
            windows = planned_windows(start, end, shards, bins, Fraction(resolution))
        except (RuneError, ValueError, KeyError, TypeError, AttributeError):
            pass  # the even split needs no availability
    return window_queries(request, windows)


# -- cutting rows at inner edges (pure) --------------------------------------------------------------


def line_time(line: bytes, index: int) -> Fraction | None:
    """The time cell of one CSV line, exactly; None when it is blank or not a number.

    >>> line_time(b"1609491600.02,1,2\\r\\n", 0), line_time(b'"x,y",5\\n', 1), line_time(b",1\\n", 0)
    (Fraction(80474580001, 50), Fraction(5, 1), None)
    """
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    cells = next(csv.reader([text]), []) if '"' in text else text.split(",")
    try:
        return Fraction(cells[index].strip())
    except (IndexError, ValueError, ZeroDivisionError):
        return None


def inside(t: Fraction | None, lo: Fraction | None, hi: Fraction | None) -> bool:
    """Whether a row's time is in [lo, hi) (an open side when None; a row without a time stays)."""
    return t is None or ((lo is None or lo <= t) and (hi is None or t < hi))


def cut_csv(content: bytes, column: str, lo: Fraction | None, hi: Fraction | None) -> bytes:
    """A CSV page with only the rows whose time is in [lo, hi), other lines kept byte for byte.

    Rows come in time order, so a page whose first and last rows are inside is
    returned as is, without reading the rows between.

    >>> page = b"time,x\\n4,a\\n5,b\\n6,c\\n"
    >>> cut_csv(page, "time", Fraction(5), Fraction(6)), cut_csv(page, "time", None, None) is page
    (b'time,x\\n5,b\\n', True)
    """
    if not content or (lo is None and hi is None):
        return content
    lines = content.splitlines(keepends=True)
    header = next(csv.reader([lines[0].decode("utf-8-sig", errors="replace").rstrip("\r\n")]), [])
    if column not in header:
        return content
    index = header.index(column)
    body = [line for line in lines[1:] if line.strip()]
    if not body or (inside(line_time(body[0], index), lo, hi) and inside(line_time(body[-1], index), lo, hi)):
        return content
    return b"".join([lines[0], *(line for line in lines[1:] if inside(line_time(line, index), lo, hi))])


def json_time(value: Any) -> Fraction | None:
    """A JSON time value exactly as written (a float by its shortest text); None when it is no number.

    >>> json_time(1609491600.02), json_time(7), json_time(None)
    (Fraction(80474580001, 50), Fraction(7, 1), None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def cut_json(content: bytes, column: str, lo: Fraction | None, hi: Fraction | None) -> bytes:
    """A JSON time series page with only the rows whose time is in [lo, hi): its result's columns cut alike.

    A result is columnar (``{"time": [...], "x": [...]}``): every list as long
    as the time list keeps the same rows. A page that is whole inside comes
    back as is; one without a time list to cut on is refused (``ParseError``),
    since its rows cannot be placed in a window. A body that is not JSON is
    left for the parser to report.

    >>> page = b'{"result": {"time": [4, 5, 6], "x": [1, 2, 3]}}'
    >>> cut_json(page, "time", Fraction(5), Fraction(6)), cut_json(page, "time", Fraction(4), None) is page
    (b'{"result": {"time": [5], "x": [2]}}', True)
    """
    if not content or (lo is None and hi is None):
        return content
    try:
        body = json.loads(content)
    except ValueError:
        return content
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or not any(isinstance(v, list) and v for v in result.values()):
        return content  # no rows: nothing to cut
    times = result.get(column)
    if not isinstance(times, list):
        raise ParseError(f"a JSON page without a {column!r} list cannot be cut at a shard window's edge: use shards=1")
    keep = [inside(json_time(t), lo, hi) for t in times]
    if all(keep):
        return content
    cut = {
        key: [v for v, kept in zip(value, keep) if kept] if isinstance(value, list) and len(value) == len(times) else value
        for key, value in result.items()
    }
    return json.dumps({**body, "result": cut}).encode("ascii")


def cut_page(response: Any, column: str, lo: Fraction | None, hi: Fraction | None) -> Any:
    """The response with its rows cut to [lo, hi) (the same object when nothing is cut), CSV or JSON."""
    cut = cut_json if response.content[:1] == b"{" else cut_csv
    content = cut(response.content, column, lo, hi)
    return response if content is response.content else replace(response, content=content)


# -- pulling windows at once, handing pages on in order -----------------------------------------------


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
        """The next page in time order as (window, response, following); None at the end; raises a failure."""
        with self.changed:
            while True:
                if self.error is not None:
                    raise self.error[1]
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
            response = cut(response)
            try:
                items = None if parse is None else list(parse(response))
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
    """Where a pull goes on: the window being read from its next page, then every later window whole.

    >>> r = Request("u", (("start_time", 0), ("end_time", 5), ("page", 2)), paging="csv", index=2)
    >>> remaining([{"start_time": 0, "end_time": 5}, {"start_time": 5, "end_time": 9}], 0, r)
    [{'start_time': 0, 'end_time': 5, 'page': 2}, {'start_time': 5, 'end_time': 9}]
    """
    later = [dict(q) for q in queries[head + 1 :]]
    return later if following is None else [resume_params(following), *later]


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
    for a resumed window its ``page`` or ``next_page_token``), in time order.
    Windows run at once in threads; at most ``buffer`` pages (default 8 per
    window) are held, plus one. ``parse`` (a function from one response to its
    items, e.g. ``lambda r: csv_points([r])``) runs in the window's thread as
    each page arrives, so parsing overlaps the wait for other windows; the items
    are None without it. A page that does not parse raises before any of it is
    yielded, with ``resume`` set to that page. ``prefetch`` pages are asked
    ahead within each window, as ``pages(prefetch=)`` does.

    The first error in any window stops them all: no request is left running
    when it is raised. It carries ``window`` (the failed window's parameters),
    ``resume`` (the failed page's, as always) and ``resume_windows`` (every
    window from the first not yet read whole: ``window_pages(request, err.resume_windows)``
    goes on from there).
    """
    queries = [dict(w) for w in windows]
    if not queries:
        return
    column = TIME_COLUMNS.get(request.url.rsplit("/", 1)[-1].partition(".")[0], "time")
    requests = [window_request(request, q) for q in queries]
    bounds = [(exact_time("start_time", r.param("start_time")), exact_time("end_time", r.param("end_time"))) for r in requests]
    last = len(queries) - 1
    board = Board(len(queries), max(1, buffer if buffer is not None else PAGES_PER_WINDOW * len(queries)))
    cuts = [
        partial(cut_page, column=column, lo=lo if i else None, hi=hi if i < last else None)
        for i, (lo, hi) in enumerate(bounds)
    ]
    threads = [
        threading.Thread(
            target=pull_window,
            args=(board, i, r, fetch, cuts[i], parse, stats, prefetch),
            name=f"runeq-shard-{i}",
            daemon=True,
        )
        for i, r in enumerate(requests)
    ]
    began = time.perf_counter()
    following: Request | None = requests[0]
    head = 0
    for thread in threads:
        thread.start()
    try:
        while True:
            try:
                item = board.take()
            except BaseException as exc:
                for thread in threads:
                    thread.join()  # no request outlives the report of the error
                raise with_windows(exc, queries, head, following) from None
            if item is None:
                break
            head, response, following, items = item
            if stats is not None:
                stats.record(response)
            if response.content or head == last:  # an inner window's empty end is no end of the pull
                yield response, items, remaining(queries, head, following)
    finally:
        board.stop()
        if stats is not None:
            stats.seconds += time.perf_counter() - began


def with_windows(exc: BaseException, queries: Sequence[dict], head: int, following: Request | None) -> BaseException:
    """The error of a failed window, with ``window`` and ``resume_windows`` set (and said in a note)."""
    if isinstance(exc, RuneError):
        failed = exc.resume or {}
        window = {k: failed[k] for k in ("start_time", "end_time") if k in failed}
        exc.window = window  # type: ignore[attr-defined]
        exc.resume_windows = remaining(queries, head, following)  # type: ignore[attr-defined]
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"in the shard window start_time={window.get('start_time')} end_time={window.get('end_time')}; "
                "err.resume_windows goes on from the first window not read whole"
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
    shards, prefetch = count_option("shards", shards, 1), count_option("prefetch", prefetch, 0)
    if shards == 1:
        return parsed_pages(request, parse, fetch if stats is None else counting(fetch, stats), prefetch)
    return _sharded_items(request, parse, shards, fetch, plan, buffer, stats, prefetch)


def _sharded_items(
    request: Request, parse: Parse, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None,
    prefetch: int,
) -> Iterator[Any]:
    windows = plan_windows(request, shards, fetch, plan)
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
    shards, prefetch = count_option("shards", shards, 1), count_option("prefetch", prefetch, 0)
    if shards == 1:
        return pages(request, fetch if stats is None else counting(fetch, stats), prefetch)
    return _sharded(request, shards, fetch, plan, buffer, stats, prefetch)


def _sharded(
    request: Request, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None, prefetch: int
) -> Iterator[Any]:
    yield from window_pages(request, plan_windows(request, shards, fetch, plan), fetch, buffer, stats, prefetch)


RESUME_WINDOWS = "resume_windows"
"""The one parameter of a sharded pull's ``err.resume`` from ``pull_items``: the windows to go on in."""


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
    page) is pulled unsharded. A sharded pull that fails sets the error's
    ``resume`` to the query's other parameters and ``resume_windows`` (every
    window from the first not read whole); given back as ``params``, it goes
    on in every window not read whole, so no row is lost or read twice
    (``accessor.points(**err.resume)`` as for an unsharded pull).
    """
    params = dict(params)
    windows = params.pop(RESUME_WINDOWS, None)
    request = build(params)
    if windows is not None:
        stream = window_stream(request, windows, fetch, parse, None, stats, count_option("prefetch", prefetch, 0))
        items: Iterator[Any] = (item for _, page, _ in stream for item in page or ())
    else:
        shards = shards if unshardable(request) is None else 1
        items = sharded_items(request, parse, shards, fetch, stats=stats, prefetch=prefetch)
    try:
        yield from items
    except RuneError as exc:
        if getattr(exc, RESUME_WINDOWS, None) is not None:
            query = {k: v for k, v in params.items() if k not in ("start_time", "end_time", *PAGING_PARAMS)}
            exc.resume = {**query, RESUME_WINDOWS: getattr(exc, RESUME_WINDOWS)}
        raise
