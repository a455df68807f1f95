"""Time-sharded pulls: a query's [start_time, end_time) split into windows pulled at once, in order.

A pull by token is serial: each request waits for the previous answer. Split
the time range into half-open windows, pull each window's pages in a thread of
its own, and hand the pages on in time order, and a pull takes about as long as
its longest window. One pull, top to bottom::

    Request --plan_windows--> windows --window_pages--> Responses, in time order --> csv_points, ...

Exactness: the rows of a sharded pull are the unsharded pull's, in the same
order, once each, whatever the server's arithmetic on its bounds. Inner edges sit
on whole seconds; each window is its own query (paginated from its first page),
asked ``MARGIN`` (1 s) beyond each inner edge, and its rows are cut locally on the
time column (``time``, or ``timestamp`` for lfp and band_power; unix seconds or
ISO 8601 text) to ``edge_lo <= t < edge_hi``. So a row at an edge comes once
whether the server's ``end_time`` is inclusive or exclusive, and whether it
rounds the bounds to the millisecond or second (whole seconds are sent at inner
edges, and the outer edges are the caller's, as typed). Only CSV time series shard: an event or span has no time
column to cut on (a span can straddle an edge), so those are pulled unsharded,
as are availability queries.

Resuming: an error of a sharded pull carries ``resume``, the windows not yet
read whole under the key ``shard_windows`` (plain data: each window's
parameters and its ``cut``), beside the first such window's parameters.
``accessor.points(**err.resume)``, ``pages``, ``sharded_pages`` and
``sharded_items`` of a request built with them pull exactly the rest; the key is
never sent to the server.

Bounds: every request takes a slot of the process's limit (``flight.LIMITER``),
and at most ``buffer`` pages (by default eight per window) are held, fetched and
not yet handed on, plus one for the window being read.
"""

from __future__ import annotations

import calendar
import csv
import math
import re
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
from .pages import SHARD_WINDOWS, Fetch, pages, pages_with_next, parsed_pages, resume_params
from .parse import json_pages
from .resources import resource
from .response import Response
from .stats import Stats, counting
from .transport import fetch as http_fetch

Window = tuple[Fraction, Fraction]
Parse = Callable[[Any], Iterable[Any]]

TIME_COLUMNS = {"lfp": "timestamp", "band_power": "timestamp"}
"""Resources whose time column is not ``time``."""

PLANS = ("availability", "even")
PAGING_PARAMS = ("page", "next_page_token")
TIMESTAMPS = (None, "unix", "iso")
"""``timestamp`` values whose time column the cut reads (unix seconds, ISO 8601 text)."""
MARGIN = Fraction(1)
"""Seconds a window's query reaches past each inner edge, so that the server's rounding or end rule loses nothing."""
ISO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?", re.I)
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
    """The nearest whole second: inner edges sit there, so that no server's rounding (to ms or s) moves them.

    >>> on_grid(Fraction(7, 3)), on_grid(Fraction(8, 3))
    (Fraction(2, 1), Fraction(3, 1))
    """
    return Fraction(round(value))


def cell_time(text: str) -> Fraction | None:
    """A time cell as exact unix seconds: a number, or ISO 8601 text (UTC unless it names an offset); None otherwise.

    >>> cell_time("1609491600.02"), cell_time("2021-01-01T09:00:00.020000Z"), cell_time("2021-01-01T10:00:00+01:00")
    (Fraction(80474580001, 50), Fraction(80474580001, 50), Fraction(1609491600, 1))
    >>> cell_time(""), cell_time("n/a")
    (None, None)
    """
    text = text.strip()
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        pass
    match = ISO_TIME.fullmatch(text)
    if match is None:
        return None
    *fields, fraction, zone = match.groups()
    exact = Fraction(calendar.timegm(tuple(int(f) for f in fields)))
    if fraction:
        exact += Fraction(int(fraction), 10 ** len(fraction))
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        exact -= sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return exact


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
    """``shards`` windows of equal length covering [start, end), edges on whole seconds.

    Fewer windows when the range holds fewer whole seconds; one when it is empty.

    >>> even_windows(Fraction(0), Fraction(9), 3)
    [(Fraction(0, 1), Fraction(3, 1)), (Fraction(3, 1), Fraction(6, 1)), (Fraction(6, 1), Fraction(9, 1))]
    >>> len(even_windows(Fraction(0), Fraction(3, 2), 8)), even_windows(Fraction(5), Fraction(5), 4)
    (2, [(Fraction(5, 1), Fraction(5, 1))])
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


def query_range(request: Request) -> Window:
    """A request's [start_time, end_time) as exact numbers; a clear error when it cannot shard.

    >>> query_range(Request("u/v1/accel.csv", (("start_time", 10), ("end_time", "20.5")), paging="csv"))
    (Fraction(10, 1), Fraction(41, 2))
    >>> query_range(Request("u/v1/span.json", (("start_time", 10), ("end_time", 20)), paging="span"))
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: only CSV time series shard (span is not one): use shards=1
    """
    name = request.url.rsplit("/", 1)[-1].partition(".")[0]
    if request.paging != "csv" or resource(name).availability is None:
        raise UsageError(f"only CSV time series shard ({name} is not one): use shards=1")
    for key in PAGING_PARAMS:
        if request.param(key) is not None:
            raise UsageError(
                f"a query that starts at a {key} cannot be sharded: use shards=1, or "
                "window_pages(request, err.resume_windows) to resume a sharded pull"
            )
    for key in ("start_time", "end_time"):
        if request.param(key) is None:
            raise UsageError(f"a sharded pull needs {key}: add it to the query, or use shards=1")
    if request.param("timestamp") not in TIMESTAMPS:
        raise UsageError("a sharded pull reads times as unix seconds or ISO 8601: use timestamp=unix or iso, or shards=1")
    return exact_time("start_time", request.param("start_time")), exact_time("end_time", request.param("end_time"))


def window_queries(request: Request, windows: Sequence[Window]) -> list[dict]:
    """Each window's time parameters, asked ``MARGIN`` beyond its inner edges, and its ``cut`` (None: open).

    The outer edges keep the caller's values as typed, uncut: there the server's rule is the unsharded pull's.

    >>> r = Request("u/v1/accel.csv", (("start_time", "0"), ("end_time", 9)), paging="csv")
    >>> window_queries(r, even_windows(Fraction(0), Fraction(9), 2))
    [{'start_time': '0', 'end_time': 5, 'cut': [None, 4]}, {'start_time': 3, 'end_time': 9, 'cut': [4, None]}]
    """
    last = len(windows) - 1
    return [
        {
            "start_time": request.param("start_time") if i == 0 else edge_param(lo - MARGIN),
            "end_time": request.param("end_time") if i == last else edge_param(hi + MARGIN),
            "cut": [None if i == 0 else edge_param(lo), None if i == last else edge_param(hi)],
        }
        for i, (lo, hi) in enumerate(windows)
    ]


def window_cut(window: Mapping[str, Any], outer: tuple[bool, bool] = (False, False)) -> tuple[Fraction | None, Fraction | None]:
    """A window's ``cut`` as exact edges (None: that side is open).

    A window without ``cut`` (written by hand, or saved by an older runeq-fn) is
    cut at its sent times, except on the ``outer`` sides of a list of windows.

    >>> window_cut({"cut": [None, "4.5"]}), window_cut({"start_time": 0, "end_time": 5}, outer=(True, False))
    ((None, Fraction(9, 2)), (None, Fraction(5, 1)))
    """
    cut = window.get("cut")
    if cut is None:
        cut = [None if outer[0] else window.get("start_time"), None if outer[1] else window.get("end_time")]
    if not isinstance(cut, (list, tuple)) or len(cut) != 2:
        raise UsageError("a shard window's cut is [start or None, end or None]: pass err.resume as it came")
    lo, hi = (None if edge is None else exact_time("cut", edge) for edge in cut)
    return lo, hi


def window_request(request: Request, window: Mapping[str, Any]) -> Request:
    """The request of one window: the query with the window's parameters (a resumed one's page or token too).

    The ``cut`` and any ``shard_windows`` stay here: they are never sent.
    """
    sent = {k: v for k, v in window.items() if k != "cut"}
    return with_params(request, drop=(*PAGING_PARAMS, SHARD_WINDOWS), index=start_index(sent), **sent)


def with_cuts(windows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The windows, each with its ``cut`` said (``window_cut``), so that any part of the list resumes alike.

    >>> with_cuts([{"start_time": 0, "end_time": 5}, {"start_time": 5, "end_time": 9}])
    [{'start_time': 0, 'end_time': 5, 'cut': [None, 5]}, {'start_time': 5, 'end_time': 9, 'cut': [5, None]}]
    """
    last = len(windows) - 1
    return [
        {**w, "cut": [None if e is None else edge_param(e) for e in window_cut(w, (i == 0, i == last))]}
        for i, w in enumerate(windows)
    ]


def with_pull_resume(response: Any, queries: Sequence[dict], head: int) -> Any:
    """A window's page, its ``resume`` the rest of the pull from this page on (for the parsers' errors).

    >>> from runeq_fn.response import Response
    >>> page = Response(200, resume={"start_time": 4, "end_time": 9, "page": 1})
    >>> with_pull_resume(page, [{"start_time": 4, "end_time": 9, "cut": [5, None]}], 0).resume["shard_windows"]
    [{'start_time': 4, 'end_time': 9, 'page': 1, 'cut': [5, None]}]
    """
    if not isinstance(response, Response) or response.resume is None:
        return response
    rest = [{**response.resume, "cut": queries[head]["cut"]}, *(dict(q) for q in queries[head + 1 :])]
    return replace(response, resume=sharded_resume(rest))


def resumed_windows(request: Request) -> list[dict] | None:
    """The windows a request resumes (its ``shard_windows``, from a sharded pull's ``err.resume``), or None.

    >>> resumed_windows(Request("u", (("shard_windows", [{"start_time": 4, "end_time": 9, "cut": [5, None]}]),)))
    [{'start_time': 4, 'end_time': 9, 'cut': [5, None]}]
    >>> resumed_windows(Request("u", (("start_time", 4),))) is None
    True
    """
    windows = request.param(SHARD_WINDOWS)
    if windows is None:
        return None
    if not isinstance(windows, (list, tuple)) or not windows or not all(isinstance(w, Mapping) for w in windows):
        raise UsageError(f"{SHARD_WINDOWS} is the list of windows a sharded pull's err.resume holds: pass it unchanged")
    return [dict(w) for w in windows]


def sharded_resume(windows: Sequence[Mapping[str, Any]]) -> dict:
    """The ``resume`` of a sharded pull that stopped: the first window's parameters, and every window left.

    >>> sharded_resume([{"start_time": 4, "end_time": 9, "page": 2, "cut": [5, None]}])
    {'start_time': 4, 'end_time': 9, 'page': 2, 'shard_windows': [{'start_time': 4, 'end_time': 9, 'page': 2, 'cut': [5, None]}]}
    """
    first = {k: v for k, v in windows[0].items() if k != "cut"}
    return {**first, SHARD_WINDOWS: [dict(w) for w in windows]}


def availability_request(request: Request, resolution: int) -> Request:
    """The one JSON availability request that plans a pull's windows.

    >>> r = Request("u/v1/accel.csv", (("start_time", 0), ("end_time", 9)), paging="csv")
    >>> availability_request(r, 300)
    Request(url='u/v1/accel.json', params=(('start_time', 0), ('end_time', 9), ('expression', 'availability(accel)'), ('resolution', 300)), defaults=(), paging='json', index=0)
    """
    base, _, name = request.url.rpartition("/")
    name = name.partition(".")[0]
    expression = resource(name).availability
    dropped = (*PAGING_PARAMS, "timestamp")  # its bins' times in unix seconds
    return replace(
        with_params(request, drop=dropped, index=0, expression=expression, resolution=resolution),
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
    if shards < 1:
        raise UsageError(f"shards must be at least 1, not {shards}")
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
    """The time cell of one CSV line, exactly (``cell_time``); None when it is blank or not a time.

    >>> line_time(b"1609491600.02,1,2\\r\\n", 0), line_time(b'"x,y",5\\n', 1), line_time(b",1\\n", 0)
    (Fraction(80474580001, 50), Fraction(5, 1), None)
    """
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    cells = next(csv.reader([text]), []) if '"' in text else text.split(",")
    return cell_time(cells[index]) if index < len(cells) else None


def inside(line: bytes, index: int, lo: Fraction | None, hi: Fraction | None) -> bool:
    """Whether a row's time is in [lo, hi) (an open side when None); ``ParseError`` for a row without a time.

    >>> inside(b"5,b\\n", 0, Fraction(5), None), inside(b"5,b\\n", 0, None, Fraction(5))
    (True, False)
    """
    t = line_time(line, index)
    if t is None:
        raise ParseError("a sharded pull cuts rows on their time, and a row's time is neither unix seconds "
                         "nor ISO 8601: pull it with shards=1")
    return (lo is None or lo <= t) and (hi is None or t < hi)


def cut_csv(content: bytes, column: str, lo: Fraction | None, hi: Fraction | None) -> bytes:
    """A CSV page with only the rows whose time is in [lo, hi), other lines kept byte for byte; empty when none is.

    Rows come in time order, so a page whose first and last rows are inside is
    returned as is, without reading the rows between.

    >>> page = b"time,x\\n4,a\\n5,b\\n6,c\\n"
    >>> cut_csv(page, "time", Fraction(5), Fraction(6)), cut_csv(page, "time", Fraction(7), None)
    (b'time,x\\n5,b\\n', b'')
    >>> cut_csv(page, "time", None, None) is page
    True
    """
    if not content or (lo is None and hi is None):
        return content
    lines = content.splitlines(keepends=True)
    header = next(csv.reader([lines[0].decode("utf-8-sig", errors="replace").rstrip("\r\n")]), [])
    if column not in header:
        raise ParseError(f"a sharded pull cuts rows on their time, and this page has no {column} column: "
                         "pull it with shards=1")
    index = header.index(column)
    body = [line for line in lines[1:] if line.strip()]
    if not body or (inside(body[0], index, lo, hi) and inside(body[-1], index, lo, hi)):
        return content
    kept = [line for line in body if inside(line, index, lo, hi)]
    return b"".join([lines[0], *kept]) if kept else b""


def cut_page(response: Any, column: str, lo: Fraction | None, hi: Fraction | None) -> Any:
    """The response with its rows cut to [lo, hi) (the same object when nothing is cut)."""
    content = cut_csv(response.content, column, lo, hi)
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
                stats: Stats | None) -> None:
    """One window's thread: its pages in order onto the board, cut at the window's edges (and parsed).

    Parsing here, while the other windows wait on the network, takes it off the reader's path.
    """
    began = time.perf_counter()
    try:
        walk = pages_with_next(request, fetch)
        while board.reserve(i):
            item = next(walk, None)
            if item is None:
                board.unreserve()
                board.finish(i)
                break
            response, following = item
            try:
                response = cut(response)
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
) -> Iterator[tuple[Any, list[dict]]]:
    """Each page of the windows in time order, paired with the windows that remain after it (see ``window_stream``).

    The remaining windows after a page are where a pull interrupted there goes
    on (``runeq fetch --shards N --resume`` saves them).
    """
    return ((response, rest) for response, _, rest in window_stream(request, windows, fetch, None, buffer, stats))


def window_stream(
    request: Request,
    windows: Sequence[Mapping[str, Any]],
    fetch: Fetch = http_fetch,
    parse: Parse | None = None,
    buffer: int | None = None,
    stats: Stats | None = None,
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
    yielded, with ``resume`` set to that page.

    The first error in any window stops them all: no request is left running
    when it is raised. It carries ``window`` (the failed window's parameters),
    ``resume_windows`` (every window from the first not yet read whole, that one
    from its next page) and ``resume`` (``sharded_resume`` of them: a request
    built with it goes on from there, see the module's docstring).
    """
    queries = with_cuts(windows)
    if not queries:
        return
    column = TIME_COLUMNS.get(request.url.rsplit("/", 1)[-1].partition(".")[0], "time")
    requests = [window_request(request, q) for q in queries]
    last = len(queries) - 1
    board = Board(len(queries), max(1, buffer if buffer is not None else PAGES_PER_WINDOW * len(queries)))
    cuts = [partial(cut_page, column=column, lo=lo, hi=hi) for lo, hi in map(window_cut, queries)]
    threads = [
        threading.Thread(
            target=pull_window, args=(board, i, r, fetch, cuts[i], parse, stats), name=f"runeq-shard-{i}", daemon=True
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
                yield with_pull_resume(response, queries, head), items, remaining(queries, head, following)
    finally:
        board.stop()
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
) -> Iterator[Any]:
    """The pages of the given windows, pulled at once and yielded in time order (see ``window_pages_with_next``)."""
    return (response for response, _, _ in window_stream(request, windows, fetch, None, buffer, stats))


def sharded_items(
    request: Request,
    parse: Parse,
    shards: int = 8,
    fetch: Fetch = http_fetch,
    plan: str = "availability",
    buffer: int | None = None,
    stats: Stats | None = None,
) -> Iterator[Any]:
    """The items of every page of a sharded pull, in order, each page parsed in its window's thread.

    ``parse`` turns one response into its items, as for ``parsed_pages``; the
    items equal ``parse`` applied to ``sharded_pages``'s responses in order.

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
    if shards == 1 and resumed_windows(request) is None:
        return parsed_pages(request, parse, fetch if stats is None else counting(fetch, stats))
    return _sharded_items(request, parse, shards, fetch, plan, buffer, stats)


def _sharded_items(
    request: Request, parse: Parse, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None
) -> Iterator[Any]:
    windows = resumed_windows(request) or plan_windows(request, shards, fetch, plan)
    for _, items, _ in window_stream(request, windows, fetch, parse, buffer, stats):
        yield from items or ()


def sharded_pages(
    request: Request,
    shards: int = 8,
    fetch: Fetch = http_fetch,
    plan: str = "availability",
    buffer: int | None = None,
    stats: Stats | None = None,
) -> Iterator[Any]:
    """``pages``, with the time range split into up to ``shards`` windows pulled at once.

    The points read from it equal the unsharded pull's, in order (see the
    module's docstring for the rule). ``shards=1`` is ``pages`` itself, with
    exactly its requests. Lazy: nothing is fetched before the first page is
    asked for. At most ``buffer`` pages (default 8 per window) are held at once,
    plus one. ``stats`` (a ``Stats``) is filled in as the pull goes.

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
    if shards == 1 and resumed_windows(request) is None:
        return pages(request, fetch if stats is None else counting(fetch, stats))
    return _sharded(request, shards, fetch, plan, buffer, stats)


def _sharded(
    request: Request, shards: int, fetch: Fetch, plan: str, buffer: int | None, stats: Stats | None
) -> Iterator[Any]:
    windows = resumed_windows(request) or plan_windows(request, shards, fetch, plan)
    yield from window_pages(request, windows, fetch, buffer, stats)
