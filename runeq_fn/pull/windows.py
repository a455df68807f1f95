"""The windows of a sharded pull: edges on whole seconds, planned from availability or evenly, each its own query.

Pure but for ``plan_windows``, which asks the availability of the range once. A window
is asked ``MARGIN`` past each inner edge and cut back locally (``runeq_fn.pull.cut``);
its ``cut`` and parameters are plain data, so a sharded pull's ``resume`` pickles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..errors import RuneError, UsageError
from ..http.request import Request, with_params
from ..http.response import Response
from ..http.transport import fetch as http_fetch
from ..parse.points import json_pages
from ..resources import resource
from .build import start_index
from .options import count_option
from .pages import SHARD_WINDOWS, Fetch, pages

Window = tuple[Fraction, Fraction]

PLANS = ("availability", "even")
PAGING_PARAMS = ("page", "next_page_token")
TIMESTAMPS = (None, "unix", "iso")
"""``timestamp`` values whose time column the cut reads (unix seconds, ISO 8601 text)."""
MARGIN = Fraction(1)
"""Seconds a window's query reaches past each inner edge, so that the server's rounding or end rule loses nothing."""
MIN_RESOLUTION = 300
BINS_PER_SHARD = 32
"""Availability bins asked per window of the plan: enough to cut where the data is."""


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
