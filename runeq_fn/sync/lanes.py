"""The lanes of a sync, kept busy to the end: windows pulled as chains of pages, split when a lane is idle.

The pages of one query come one after another (each page's token names the
next), so a window of 37 pages takes 37 round trips, whatever else runs. A
sync runs a fixed number of lanes (threads, one request each in flight): each
takes the next part of a window to pull (a window starts as ``shards`` parts);
when none is left to start, an idle lane splits the part with the most pages
still to come, estimated from its pages so far, and pulls the later half::

    part [lo, hi), read up to t  --split at m, a whole second past t-->  [lo, m) and [m, hi)

The split part's ``hi`` moves down to ``m`` and it stops at its first page
that reaches ``m`` (rows come in time order), without the empty page that would
end its query; the new part asks from ``m - MARGIN`` (``pull.windows.MARGIN``) to the
same ``end_time``. Each page is cut to its part's [lo, hi) as the part stands
when the page arrives, and ``m`` is past every row read before the split, so
each row of the window is in exactly one part, whatever the timing. A split
costs about one request (the new part's first page starts inside a page of the
old one), sent by a lane that would otherwise wait, so parts are split while
they have ``SPLIT_PAGES`` to come. A window's last part asks ``MARGIN`` past the
window too, so it also ends at the page that reaches its ``hi`` where data goes on.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..http.flight import Stop, stops_on
from ..http.request import Request, with_params
from ..http.transport import fetch as http_fetch
from ..parse.points import splittable
from ..pull.cut import csv_records, cut_page, record_cells, record_time
from ..pull.pages import pages
from ..pull.stats import Stats, counting
from ..pull.windows import MARGIN, edge_param, even_windows, on_grid, window_queries

SPLIT_PAGES = 2
"""Pages a part must have still to come (by its estimate) for an idle lane to split it.

Only an idle lane splits, so a split's extra request costs no lane time; a part
with two pages to come (the one asked and one more) ends a round trip sooner
split than whole, and the run's last parts end closer together.
"""


@dataclass(eq=False)
class Part:
    """One chain of pages: ``owner``'s rows in [lo, hi), asked with ``start`` and ``end`` as sent.

    ``reached`` is the time of the last row read, ``pages`` the pages read with
    rows; ``held`` keeps what its owner cannot write yet (an earlier part is
    still coming).
    """

    owner: Any
    lo: Fraction
    hi: Fraction
    start: int | str
    end: int | str
    reached: Fraction | None = None
    pages: int = 0
    closing: bool = False
    done: bool = False
    held: list = field(default_factory=list)

    def to_come(self) -> Fraction:
        """The pages still to come, at the rate of its pages so far (0 before a page with rows, or once closing).

        >>> Part(None, Fraction(0), Fraction(100), 0, 100, reached=Fraction(20), pages=4).to_come()
        Fraction(16, 1)
        """
        if self.closing or self.reached is None or self.reached <= self.lo:
            return Fraction(0)
        return (self.hi - self.reached) * self.pages / (self.reached - self.lo)


def first_parts(owner: Any, request: Request, lo: Fraction, hi: Fraction, shards: int) -> list[Part]:
    """A window's parts before any split: [lo, hi) in ``shards`` even parts (``windows.window_queries``).

    Every part, the last too, asks ``MARGIN`` past its ``hi``: where the data
    goes on past the window, the page that reaches ``hi`` ends the part, and
    the empty page that would end its query (a round trip) is never asked for.

    >>> r = Request("u/v1/accel.csv", (("start_time", 0), ("end_time", 9)), paging="csv")
    >>> [(p.lo, p.hi, p.start, p.end) for p in first_parts("w", r, Fraction(0), Fraction(9), 2)]
    [(Fraction(0, 1), Fraction(4, 1), 0, 5), (Fraction(4, 1), Fraction(9, 1), 3, 10)]
    """
    queries = window_queries(request, even_windows(lo, hi, shards))
    return [Part(owner, lo if q["cut"][0] is None else Fraction(q["cut"][0]),
                 hi if q["cut"][1] is None else Fraction(q["cut"][1]), q["start_time"],
                 q["end_time"] if q["cut"][1] is not None else edge_param(hi + MARGIN))
            for q in queries]


def last_time(text: str, column: str) -> Fraction | None:
    """The time of a CSV page's last row, exactly; None when it has no row or that time is blank.

    >>> last_time("time,x\\n4,a\\n5.5,b\\n", "time"), last_time("time,x\\n", "time"), last_time("x\\n1\\n", "time")
    (Fraction(11, 2), None, None)
    """
    head = text[: text.find("\n") + 1] or text
    header = [cell.lstrip("\ufeff") for cell in record_cells(head)]
    if column not in header:
        return None  # the cut refuses the page, naming the column
    body = text.rstrip("\r\n")
    if splittable(text):
        last = body[body.rfind("\n") + 1 :] if "\n" in body else ""
    else:
        records = csv_records(text)
        last = records[-1] if len(records) > 1 else ""
    return record_time(last, header.index(column)) if last.strip() else None


class Lanes:
    """The parts of a run's windows, handed to lanes: pending ones first, then splits of the longest running.

    >>> lanes = Lanes([Part("w", Fraction(0), Fraction(100), 0, 100)])
    >>> part = lanes.take()
    >>> lanes.page(part, Fraction(20), True)  # a page up to t=20: cut it at 100, the part goes on
    (Fraction(100, 1), False)
    >>> rest = lanes.take()  # nothing pending: 4 pages to come at 1 per 20 s, so the part is split at 60
    >>> part.hi, (rest.lo, rest.hi, rest.start, rest.end)
    (Fraction(60, 1), (Fraction(60, 1), Fraction(100, 1), 59, 100))
    """

    def __init__(self, parts: Iterable[Part], on_split: Callable[[Part], None] = lambda part: None) -> None:
        self.pending = deque(parts)
        self.active: set[Part] = set()
        self.on_split = on_split
        self.changed = threading.Condition()
        self.stopped = False

    def take(self) -> Part | None:
        """The next part for an idle lane, waiting while others run and none is worth a split; None at the end."""
        with self.changed:
            while not self.stopped:
                part = self.pending.popleft() if self.pending else self.split()
                if part is not None:
                    self.active.add(part)
                    return part
                if not self.active:
                    return None
                self.changed.wait()
            return None

    def split(self) -> Part | None:
        """The later half of the running part with the most pages to come (at least ``SPLIT_PAGES``), or None."""
        victim = max(self.active, key=Part.to_come, default=None)
        if victim is None or victim.to_come() < SPLIT_PAGES or victim.reached is None:
            return None
        m = on_grid(victim.reached + (victim.hi - victim.reached) / 2)
        if not victim.reached < m < victim.hi:
            return None
        part = Part(victim.owner, m, victim.hi, edge_param(m - MARGIN), victim.end)
        victim.hi = m
        self.on_split(part)
        return part

    def page(self, part: Part, last: Fraction | None, rows: bool) -> tuple[Fraction, bool]:
        """A page of ``part`` came, its last row at ``last``: the part's ``hi`` to cut it at, and whether it ends there."""
        with self.changed:
            part.pages += rows
            if last is not None:
                part.reached = last
            part.closing = not rows or (last is not None and last >= part.hi)
            self.changed.notify_all()
            return part.hi, part.closing

    def finish(self, part: Part) -> None:
        """``part`` is over (read whole, stopped or failed): it is split no more."""
        with self.changed:
            part.closing = True
            self.active.discard(part)
            self.changed.notify_all()

    def stop(self) -> None:
        """Hand out no more parts."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


def pull_part(part: Part, request: Request, column: str, lanes: Lanes, stats: Stats,
              take: Callable[[Part, Any], None], stopped: Callable[[], bool]) -> None:
    """Pull one part's pages in order, each cut to the part's [lo, hi) as it stands when the page comes, into ``take``.

    A helper thread (under this thread's stop) walks the chain: as soon as a
    page is read it notes the page in ``lanes``, hands it on and sends the next
    request, so the connection waits on the server while the lane cuts, reads
    and writes the page before, and no thread switch stands between a page and
    the next request (at most one page waits between them). The chain stops at
    the query's end, at the first page that reaches ``hi``, or before the next
    request once ``stopped()`` or ``take`` failed; either way the part is
    finished in ``lanes``.
    """
    walk = pages(with_params(request, start_time=part.start, end_time=part.end), counting(http_fetch, stats))
    handed: queue.Queue = queue.Queue(maxsize=1)
    abandoned = threading.Event()

    def chain() -> None:
        end: BaseException | None = None  # None: the chain ended as it should
        try:
            while not (stopped() or abandoned.is_set()):
                response = next(walk, None)
                if response is None:
                    break
                last = last_time(response.text, column) if response.content else None
                hi, done = lanes.page(part, last, bool(response.content))
                handed.put((response, hi))
                if done:
                    break
        except BaseException as exc:  # the lane raises it
            end = exc
        try:
            walk.close()
        finally:
            handed.put(end)  # the chain's last act: the lane joins it at once

    walker = threading.Thread(target=copy_context().run, args=(chain,), name="runeq-sync-chain", daemon=True)
    item: Any = None
    try:
        walker.start()
        while isinstance(item := handed.get(), tuple):
            response, hi = item
            take(part, cut_page(response, "csv", column, part.lo, hi))
        if item is not None:
            raise item
    finally:
        abandoned.set()
        if walker.ident is None:
            walk.close()
        else:
            while isinstance(item, tuple):  # take failed: a request still out ends, and the chain says so, first
                item = handed.get()
            walker.join()
        lanes.finish(part)


def run_lanes(lanes: Lanes, work: Callable[[Part], None], count: int, stop: Stop) -> None:
    """Run ``count`` lanes, each doing ``work`` on the parts it takes, until none is left.

    Ctrl-C sets ``stop`` (the parts' ``stopped``), which hangs up the lanes'
    requests in flight (their ``Stopped``), hands out no more parts and waits
    for the lanes, which end without another request.
    """

    def lane() -> None:
        with stops_on(stop):
            while (part := lanes.take()) is not None:
                work(part)

    executor = ThreadPoolExecutor(count, thread_name_prefix="runeq-sync")
    futures = []
    try:
        for _ in range(count):  # in the try: a Ctrl-C while the first lanes run already stops them
            futures.append(executor.submit(lane))
        wait(futures)
    except KeyboardInterrupt:
        stop.set()
        lanes.stop()
        raise
    finally:
        executor.shutdown(wait=True)
    for future in futures:
        future.result()
