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

import calendar
import codecs
import csv
import io
import json
import math
import operator
import os
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

from ..curried import curry
from ..errors import ParseError, RuneError, UsageError
from ..http.flight import Stop, same_process, start_thread
from ..http.request import Request, with_params
from ..http.response import Response
from ..http.transport import fetch as http_fetch
from ..parse.points import json_pages, splittable
from ..resources import resource, time_column_of
from .build import start_index
from .options import count_option, pull_options
from .pages import SHARD_WINDOWS, Fetch, pages_with_next, parsed_pages, resume_params, with_deadline
from .pages import pages as unsharded_pages
from .stats import Stats, counting

Window = tuple[Fraction, Fraction]
Parse = Callable[[Any], Iterable[Any]]

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
    runeq_fn.errors.UsageError: a sharded pull needs end_time in unix seconds (e.g. 1609459200): this str is not a number
    """
    try:
        exact = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(  # the value itself is not shown: what was typed stays out of errors and logs
            f"a sharded pull needs {name} in unix seconds (e.g. 1609459200): this {type(value).__name__} is not a number"
        ) from None
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
                "(a sharded pull's err.resume, with shard_windows, resumes it)"
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

    >>> from runeq_fn.http.response import Response
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


def check_plan(plan: Any) -> None:
    """Refuse a ``plan`` that is not one of ``PLANS``.

    >>> check_plan("even"); check_plan("smart")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: plan must be one of availability, even
    """
    if plan not in PLANS:
        raise UsageError(f"plan must be one of {', '.join(PLANS)}")


def plan_windows(request: Request, shards: int, fetch: Fetch = http_fetch, plan: str = "availability") -> list[dict]:
    """The windows of a sharded pull, as each window's time parameters.

    ``plan="availability"`` asks the resource's availability (one request, at
    resolution 300 s or coarser) and cuts
    where the data is (falling back to ``"even"`` when that request or its
    answer fails); ``"even"`` cuts the time range in equal parts, asking nothing.
    """
    check_plan(plan)
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


def csv_records(text: str) -> list[str]:
    """A CSV text's records, each with its line end: a record is one line, or more when a quoted cell holds a line break.

    >>> csv_records('time,note\\r\\n1,"a\\nb"\\n2,c\\n')
    ['time,note\\r\\n', '1,"a\\nb"\\n', '2,c\\n']
    """
    lines = io.StringIO(text, newline="").readlines()
    if splittable(text):  # as the parser decides: the csv module reads it as its lines
        return lines
    records, reader, done = [], csv.reader(lines), 0
    for _ in reader:
        records.append("".join(lines[done : reader.line_num]))
        done = reader.line_num
    return records


def record_cells(record: str) -> list[str]:
    """The cells of one CSV record (``csv_records``).

    >>> record_cells("1609491600.02,1,2\\r\\n"), record_cells('"x,\\ny",5\\n')
    (['1609491600.02', '1', '2'], ['x,\\ny', '5'])
    """
    if '"' not in record:
        return record.rstrip("\r\n").split(",")
    return next(csv.reader(io.StringIO(record, newline="")), [])


def time_cell(record: str, index: int) -> str:
    """The text of one CSV record's cell at ``index`` (empty when the record is shorter), splitting no further.

    >>> time_cell("1609491600.02,1,2\\r\\n", 0), time_cell('"x,y",5\\n', 1), time_cell("1\\n", 3)
    ('1609491600.02', '5', '')
    """
    cells = record.split(",", index + 1) if '"' not in record else record_cells(record)
    return cells[index] if index < len(cells) else ""


def record_time(record: str, index: int) -> Fraction | None:
    """The time cell of one CSV record, exactly (``cell_time``); None when it is blank or not a time.

    >>> record_time("1609491600.02,1,2\\r\\n", 0), record_time('"x,y",5\\n', 1), record_time(",1\\n", 0)
    (Fraction(80474580001, 50), Fraction(5, 1), None)
    """
    return cell_time(time_cell(record, index))


def in_time_order(records: Sequence[str], index: int) -> bool:
    """Whether the records' times never go back, so that the first and the last bound every one.

    Read as floats, which is cheap, and exactly (``cell_time``) where two differently written
    times tie as floats. A time that is not a plain number (ISO 8601 text) says no: the
    cut then reads every row's time exactly.

    >>> in_time_order(["1,a\\n", "1.5,b\\n", "1.5,c\\n"], 0), in_time_order(["1,a\\n", "3,b\\n", "2,c\\n"], 0)
    (True, False)
    >>> in_time_order(["1609491600.0000000001,a\\n", "1609491600.0000000002,b\\n"], 0)
    True
    >>> in_time_order(["1609491600.0000000002,a\\n", "1609491600.0000000001,b\\n"], 0)
    False
    """
    try:  # time_cell's split, inlined: this runs on every row of every page a window hands on
        texts = [r.split(",", index + 1)[index] if '"' not in r else time_cell(r, index) for r in records]
        times = list(map(float, texts))
    except (IndexError, ValueError):  # a short row, or a time that is no plain number: read exactly
        return False
    following = times[1:]
    if not all(map(operator.le, times, following)):
        return False
    if not any(map(operator.eq, times, following)):
        return True
    ties = ((s, u) for a, b, s, u in zip(times, following, texts, texts[1:]) if a == b and s != u)
    return all(exactly_not_after(s, u) for s, u in ties)


def exactly_not_after(text: str, later: str) -> bool:
    """Whether one time cell is at or before another, read exactly (False where either is not a time).

    >>> exactly_not_after("0.1", "0.10"), exactly_not_after("0.2", "0.1"), exactly_not_after("inf", "Infinity")
    (True, False, False)
    """
    t, u = cell_time(text), cell_time(later)
    return t is not None and u is not None and t <= u


def inside(t: Fraction | None, lo: Fraction | None, hi: Fraction | None) -> bool:
    """Whether a row's time is in [lo, hi) (an open side when None); ``ParseError`` for a row without a time.

    >>> inside(Fraction(5), Fraction(5), None), inside(Fraction(5), None, Fraction(5))
    (True, False)
    """
    if t is None:
        raise ParseError("a sharded pull cuts rows on their time, and a row's time is neither unix seconds "
                         "nor ISO 8601: pull it with shards=1")
    return (lo is None or lo <= t) and (hi is None or t < hi)


def cut_csv(text: str, column: str, lo: Fraction | None, hi: Fraction | None) -> str:
    """A CSV page's text with only the rows whose time is in [lo, hi), other records kept as they were; empty when none is.

    A page whose first and last rows are inside and whose rows are in time order
    (``in_time_order``, read as floats) is returned as is, without reading the
    times between exactly; any other page is cut row by row. A quoted cell may hold a
    line break: rows are CSV records, not lines, read as the parser reads them
    (``csv.Error`` where it would fail).

    >>> page = "time,x\\n4,a\\n5,b\\n6,c\\n"
    >>> cut_csv(page, "time", Fraction(5), Fraction(6)), cut_csv(page, "time", Fraction(7), None)
    ('time,x\\n5,b\\n', '')
    >>> cut_csv(page, "time", None, None) is page
    True
    >>> cut_csv("time,x\\n5,a\\n9,b\\n6,c\\n", "time", Fraction(5), Fraction(7))  # not in time order
    'time,x\\n5,a\\n6,c\\n'
    """
    if not text or (lo is None and hi is None):
        return text
    head, *records = csv_records(text)
    header = [cell.lstrip("\ufeff") for cell in record_cells(head)]
    if column not in header:
        raise ParseError(f"a sharded pull cuts rows on their time, and this page has no {column} column: "
                         "pull it with shards=1")
    index = header.index(column)
    body = [record for record in records if record.strip()]
    if not body:
        return text
    ends = (body[0], body[-1])
    if all(inside(record_time(record, index), lo, hi) for record in ends) and in_time_order(body, index):
        return text
    kept = [record for record in body if inside(record_time(record, index), lo, hi)]
    return "".join([head, *kept]) if kept else ""


def json_time(value: Any) -> Fraction | None:
    """A JSON time value exactly as written (a float by its shortest text, ISO 8601 text as ``cell_time``); else None.

    >>> json_time(1609491600.02), json_time(7), json_time("2021-01-01T09:00:00Z"), json_time(None)
    (Fraction(80474580001, 50), Fraction(7, 1), Fraction(1609491600, 1), None)
    """
    if isinstance(value, str):
        return cell_time(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def cut_json(text: str, column: str, lo: Fraction | None, hi: Fraction | None) -> str:
    """A JSON time series page with only the rows whose time is in [lo, hi): its result's columns cut alike.

    A result is columnar (``{"time": [...], "x": [...]}``): every list as long
    as the time list keeps the same rows. A page that is whole inside comes
    back as is, one with no row inside as empty text (as ``cut_csv``'s: no
    result of only empty columns is handed on); one without a time list to cut
    on is refused (``ParseError``), since its rows cannot be placed in a window.
    A body that is not JSON is left for the parser to report.

    >>> page = '{"result": {"time": [4, 5, 6], "x": [1, 2, 3]}}'
    >>> cut_json(page, "time", Fraction(5), Fraction(6)), cut_json(page, "time", Fraction(4), None) is page
    ('{"result": {"time": [5], "x": [2]}}', True)
    >>> cut_json(page, "time", Fraction(7), None), cut_json('{"result": {"time": []}}', "time", None, Fraction(5))
    ('', '')
    """
    if not text or (lo is None and hi is None):
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return text
    if not any(isinstance(v, list) and v for v in result.values()):
        return ""  # no rows
    times = result.get(column)
    if not isinstance(times, list):
        raise ParseError(f"a JSON page without a {column!r} list cannot be cut at a shard window's edge: use shards=1")
    keep = [inside(json_time(t), lo, hi) for t in times]
    if all(keep):
        return text
    if not any(keep):
        return ""
    cut = {
        key: [v for v, kept in zip(value, keep) if kept] if isinstance(value, list) and len(value) == len(times) else value
        for key, value in result.items()
    }
    return json.dumps({**body, "result": cut})


def cut_page(response: Any, paging: str, column: str, lo: Fraction | None, hi: Fraction | None) -> Any:
    """The response with its rows cut to [lo, hi) (the same object when nothing is cut), CSV or JSON by its route.

    The rows are read as the parsers read them: the body decoded by its declared
    charset (``Response.text``), the cut written back in it; CSV records as the
    parser splits them. A body that does not decode, or a CSV page the csv module
    refuses, is left whole for the parser to report (``ParseError``), as unsharded.
    """
    if not response.content or (lo is None and hi is None):
        return response
    try:
        text = response.text
    except ParseError:
        return response
    try:
        cut = cut_json(text, column, lo, hi) if paging == "json" else cut_csv(text, column, lo, hi)
    except csv.Error:  # e.g. a cell past the csv module's size limit: the parser refuses the page, as unsharded
        return response
    if cut is text:
        return response
    return replace(response, content=cut.encode(codecs.lookup(response.encoding).name) if cut else b"")


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

        In a child forked mid-pull, ``UsageError`` (``flight.same_process``): the windows' threads are not there.
        """
        same_process(self.pid)
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
