"""Keep a local Parquet copy of every patient's data current: ``runeq sync RESOURCE ... --output DIR``.

The time range is cut on a grid of ``window`` seconds (an hour by default,
aligned to the UTC epoch), and each (patient, device, grid window) is one
Parquet file, partitioned hive style::

    DIR/_ledger.jsonl                                           what is covered (see ``runeq_fn.sync.ledger``)
    DIR/patient_id=P1/device_id=D/20210101T090000Z.parquet     the rows of [09:00, 10:00), pulled whole
    DIR/patient_id=P1/device_id=D/.20210101T100000Z.parquet.tmp a window being written (readers skip it)

A window's file (``files``) is written under a hidden name, fsynced and renamed into place,
and only then is its ledger entry appended, so a kill at any moment leaves whole
files, each either named by the ledger or cleared away by the next run (a file
no entry names, or whose size is not the recorded one, is removed and its window
pulled again). Every row is cut to its window's [lo, hi) on the time column, so
no row is in two files whatever the server does at ``end_time``.

The windows of all patients are pulled by 16 lanes kept busy to the end
(``lanes``: an idle lane splits the running part with the most pages to come).

A run pulls a window when the ledger does not cover the asked part of it, or
when the run ends later than the sync that pulled it and the window ends within
``recheck`` seconds before that sync's end (late data); the file is then
replaced by rename, in one step. Windows with no data are recorded as such.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import RuneError, UsageError
from ..http.flight import CONNECTIONS_PER_HOST, Stop, Stopped
from ..pull.build import build_request
from ..pull.stats import Stats, human_bytes
from ..pull.windows import edge_param, exact_time
from ..resources import BY_NAME, resource, time_column_of
from ..sinks.durable import Progress, Pull, flocked, patient_list, writing
from ..sinks.frames import require
from ..sinks.parquet import PRIVATE_FOLDER
from ..times import check_range, unix_seconds
from .files import Job, WindowPull, known_types, page_tables
from .lanes import Lanes, Part, first_parts, pull_part, run_lanes
from .ledger import LOCK, Entry, Key, Ledger, cell_file

WINDOW = 3600
"""Seconds per window (and per file) by default."""
SERIES = tuple(sorted(r.name for r in BY_NAME.values() if "csv" in r.formats and r.availability))


class SyncError(RuneError):
    """Some windows failed; the others are on disk and in the ledger. ``report`` says what was done."""

    def __init__(self, message: str, report: SyncReport) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple:
        return (type(self), (str(self), self.report))


class SyncInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sync: every window committed before it is kept (``report``)."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__()
        self.report = report

    def __reduce__(self) -> tuple:
        return (type(self), (self.report,))


# -- which windows to pull (pure) --------------------------------------------------------------------


def grid_cells(start: Fraction, end: Fraction, window: int) -> list[tuple[int, Fraction, Fraction]]:
    """The grid cells that meet [start, end), each as (cell start, part of [start, end) inside it).

    >>> [(c, float(lo), float(hi)) for c, lo, hi in grid_cells(Fraction(5400), Fraction(9000), 3600)]
    [(3600, 5400.0, 7200.0), (7200, 7200.0, 9000.0)]
    """
    first = math.floor(start / window) * window
    return [(c, max(start, Fraction(c)), min(end, Fraction(c + window)))
            for c in range(first, math.ceil(end / window) * window, window)]


def stale(entry: Entry, end: Fraction, recheck: Fraction) -> bool:
    """Whether a covered window is pulled again: the run ends later than the sync that pulled it,
    and it ends within ``recheck`` seconds before that sync's end.

    >>> e = Entry("P", "D", 0, Fraction(0), Fraction(3600), Fraction(3600), 1, 1, "f", 0.0)
    >>> stale(e, Fraction(7200), Fraction(300)), stale(e, Fraction(3600), Fraction(300)), stale(e, Fraction(7200), Fraction(0))
    (True, False, False)
    """
    return end > entry.end and entry.hi > entry.end - recheck


def plan(entries: Mapping[Key, Entry], patients: Sequence[str], device: str, start: Fraction, end: Fraction,
         window: int, recheck: Fraction) -> tuple[list[Job], int]:
    """The windows a run pulls (in time order, patients interleaved) and how many are already current.

    A window partly covered is pulled where it lacks data, or is to be
    rechecked, and what it holds besides is kept; where that leaves a gap on
    both sides (a range grown at both ends inside one window), all of it is pulled.

    >>> jobs, current = plan({}, ["P1", "P2"], "D", Fraction(0), Fraction(5400), 3600, Fraction(0))
    >>> [(j.patient, j.cell, float(j.hi)) for j in jobs], current
    ([('P1', 0, 3600.0), ('P2', 0, 3600.0), ('P1', 3600, 5400.0), ('P2', 3600, 5400.0)], 0)
    >>> held = {("P1", "D", 3600): Entry("P1", "D", 3600, Fraction(3600), Fraction(5400), Fraction(5400), 9, 1, "f", 0.0)}
    >>> [(float(j.lo), float(j.hi), j.keep) for j in plan(held, ["P1"], "D", Fraction(0), Fraction(7200), 3600, Fraction(300))[0]]
    [(0.0, 3600.0, None), (5100.0, 7200.0, (Fraction(3600, 1), Fraction(5100, 1)))]
    """
    jobs, current = [], 0
    for cell, lo, hi in grid_cells(start, end, window):
        for patient in patients:
            entry = entries.get((patient, device, cell))
            if entry is None:
                jobs.append(Job(patient, device, cell, lo, hi))
                continue
            recheck_here = stale(entry, end, recheck)
            if entry.lo <= lo and hi <= entry.hi and not recheck_here:
                current += 1
                continue
            first, last = min(lo, entry.lo), max(hi, entry.hi)
            kept = (entry.lo, max(entry.lo, entry.end - recheck) if recheck_here else entry.hi)
            if kept[1] <= kept[0] or (first < kept[0] and kept[1] < last):
                jobs.append(Job(patient, device, cell, first, last))
            elif first < kept[0]:
                jobs.append(Job(patient, device, cell, first, kept[0], kept))
            else:
                jobs.append(Job(patient, device, cell, kept[1], last, kept))
    return jobs, current


# -- a run ---------------------------------------------------------------------------------------------


@dataclass
class PatientSync:
    """What a run did for one patient."""

    windows: int = 0
    current: int = 0
    pages: int = 0
    rows: int = 0
    bytes: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


@dataclass
class SyncReport:
    """What a run did: per patient, in all, and the windows that failed (with why).

    >>> SyncReport("d", {"P1": PatientSync(2, 1, 10, 500, 9000, 12, 1, 0.5)}, 0.6).summary()
    'd: 1 patients, 2 windows pulled, 1 already current; 10 pages, 500 rows, 9.0 kB, 12 requests, 1 retries, 0.60 s (0.50-0.50 s per patient)'
    """

    output: str
    patients: dict[str, PatientSync]
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.patients.values())

    def summary(self) -> str:
        times = [p.seconds for p in self.patients.values()] or [0.0]
        line = (
            f"{self.output}: {len(self.patients)} patients, {self.total('windows')} windows pulled, "
            f"{self.total('current')} already current; {self.total('pages'):,} pages, {self.total('rows'):,} rows, "
            f"{human_bytes(self.total('bytes'))}, {self.total('requests'):,} requests, {self.total('retries')} retries, "
            f"{self.seconds:.2f} s ({min(times):.2f}-{max(times):.2f} s per patient)"
        )
        return line + (f"; {len(self.failed)} windows failed" if self.failed else "")


def checked_resource(name: str) -> str:
    """A resource that syncs: a CSV time series; any other is refused with one line.

    >>> checked_resource("span")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: span cannot be synced: it is not a CSV time series (no time column to cut windows on); sync one of accel, band_power, heartrate, lfp, probability_symptom, rotation, state
    """
    if resource(name).name not in SERIES:
        raise UsageError(f"{name} cannot be synced: it is not a CSV time series (no time column to cut windows on); "
                         f"sync one of {', '.join(SERIES)}")
    return name


def ours(relative: str) -> bool:
    """Whether a path in the dataset is a file of a partition, where sync writes windows.

    >>> ours("patient_id=P/device_id=D/a.parquet"), ours("notes/a.parquet"), ours("a.parquet")
    (True, False, False)
    """
    parts = relative.split(os.sep)
    return len(parts) == 3 and parts[0].startswith("patient_id=") and parts[1].startswith("device_id=")


def tidy(ledger: Ledger) -> None:
    """Clear what a kill left: hidden temporary files, files no entry names, entries whose file is not as recorded."""
    named = {e.file for e in ledger.entries.values() if e.file}
    for folder, _, names in os.walk(ledger.root):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), ledger.root)
            temporary = name.startswith(".") and name.endswith(".tmp") and (ours(relative) or os.sep not in relative)
            if temporary or (ours(relative) and name.endswith(".parquet") and relative not in named):
                os.unlink(os.path.join(ledger.root, relative))
    for entry in list(ledger.entries.values()):
        if entry.file and not (os.path.isfile(path := os.path.join(ledger.root, entry.file))
                               and os.path.getsize(path) == entry.size):
            if os.path.exists(path):
                os.unlink(path)
            ledger.drop(entry.key)


class Run:
    """The shared state of one run's threads: the report, progress, the stop flag."""

    def __init__(self, report: SyncReport, name: str, progress: Progress | None) -> None:
        self.report, self.name, self.progress = report, name, progress
        self.lock = threading.Lock()
        self.stop = Stop.within_current()
        self.spans: dict[str, list[float]] = {}
        self.pages = self.rows = self.bytes = 0

    def page(self, size: int, rows: int) -> None:
        with self.lock:
            self.pages, self.rows, self.bytes = self.pages + bool(size), self.rows + rows, self.bytes + size
            if self.progress is not None:
                self.progress(Pull(self.name, "parquet", {}, None, self.pages, self.rows, self.bytes))

    def done(self, patient: str, stats: Stats, rows: int, began: float) -> None:
        with self.lock:
            p = self.report.patients[patient]
            p.windows, p.pages, p.rows, p.bytes = p.windows + 1, p.pages + stats.pages, p.rows + rows, p.bytes + stats.bytes
            p.requests, p.retries = p.requests + stats.requests, p.retries + stats.retries
            span = self.spans.setdefault(patient, [began, began])
            span[0], span[1] = min(span[0], began), time.perf_counter()
            p.seconds = span[1] - span[0]


@contextmanager
def dataset_lock(root: str) -> Iterator[None]:
    """Hold ``DIR/_lock`` for the run, or refuse at once: one sync into a dataset at a time (released on kill)."""
    with flocked(os.path.join(root, LOCK), UsageError(f"another runeq sync is writing {root}: wait for it to finish")):
        yield


def sync(
    config: Any,
    resource: str,
    patients: str | Sequence[str],
    device_id: str,
    start_time: Any,
    end_time: Any,
    output: str | os.PathLike,
    shards: int = 1,
    recheck: float = 0,
    window: int = WINDOW,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    max_workers: int = CONNECTIONS_PER_HOST,
) -> SyncReport:
    """Bring the dataset ``output`` up to date with [start_time, end_time) of each patient's device; the report.

    ``max_workers`` lanes pull the windows of every patient, each window
    starting as ``shards`` parts, an idle lane splitting the running part with
    the most pages to come (``runeq_fn.sync.lanes``), all under the process's one
    limit on requests in flight.
    ``recheck`` seconds before the end of the previous sync are pulled again
    when the run ends later (late data). ``params`` are further query parameters
    (``{"channels": "0,1"}``); they, the resource and ``window`` are fixed for a
    dataset by its first run. Windows that fail are left out of the ledger and
    raise ``SyncError`` once the others are in; Ctrl-C raises ``SyncInterrupted``.

    >>> import tempfile
    >>> from runeq_fn import Config
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator(page_size=500) as emu, tempfile.TemporaryDirectory() as folder:
    ...     cfg = Config(**emu.config_values())
    ...     first = sync(cfg, "accel", "P1,P2", "watch-1", 1609491590, 1609491610, folder + "/accel")
    ...     again = sync(cfg, "accel", "P1,P2", "watch-1", 1609491590, 1609491610, folder + "/accel")
    >>> first.total("rows"), first.total("windows"), again.total("requests"), again.total("current")
    (2000, 4, 0, 4)
    """
    require("pyarrow", "arrow", "runeq_fn.sync.sync")
    name = checked_resource(str(resource))
    people = patient_list(patients) if isinstance(patients, str) else list(dict.fromkeys(map(str, patients)))
    sent = {"start_time": unix_seconds("start_time", start_time), "end_time": unix_seconds("end_time", end_time)}
    check_range(sent)
    start, end = exact_time("start_time", sent["start_time"]), exact_time("end_time", sent["end_time"])
    if not people:
        raise UsageError("give at least one patient: --patient-id P1,P2,...")
    if int(window) != window or window < 1 or shards < 1 or recheck < 0:
        raise UsageError("--window (whole seconds) and --shards must be at least 1, --recheck at least 0")
    extra = {k: str(v) for k, v in (params or {}).items() if v is not None}
    types = known_types(name, extra)
    root = os.path.normpath(os.fspath(output))
    report = SyncReport(root, {p: PatientSync() for p in people})
    began = time.perf_counter()
    with writing(root):
        os.makedirs(root, PRIVATE_FOLDER, exist_ok=True)
    with dataset_lock(root):
        ledger = Ledger.open(root, {"kind": "header", "version": 1, "resource": name, "params": extra, "window": int(window)})
        tidy(ledger)
        jobs, _ = plan(ledger.entries, people, str(device_id), start, end, int(window), Fraction(recheck))
        for patient in people:
            report.patients[patient].current = plan(ledger.entries, [patient], str(device_id), start, end,
                                                    int(window), Fraction(recheck))[1]
        run = Run(report, name, progress)
        windows = [WindowPull(job, root, time_column_of(name), build_request(config, name, "csv", {
            **extra, "patient_id": job.patient, "device_id": job.device,
            "start_time": edge_param(job.lo), "end_time": edge_param(job.hi)})) for job in jobs]
        lanes = Lanes((part for w in windows for part in first_parts(w, w.request, w.job.lo, w.job.hi, shards)),
                      on_split=lambda part: part.owner.insert(part))
        for part in lanes.pending:
            part.owner.parts.append(part)

        def take(part: Part, response: Any) -> None:
            tables = page_tables(response, types)
            part.owner.add(part, tables)
            run.page(len(response.content), sum(t.num_rows for t in tables))

        def work(part: Part) -> None:
            window: WindowPull = part.owner
            if window.began is None:
                window.began = time.perf_counter()
            error: BaseException | None = None
            try:
                pull_part(part, window.request, window.column, lanes, window.stats, take,
                          lambda: run.stop.is_set() or window.failed is not None)
            except Exception as exc:  # the window fails; the others go on
                error = exc
            if run.stop.is_set() and (error is None or isinstance(error, Stopped)):
                error = KeyboardInterrupt()  # the window is not failed: it was stopped
            try:
                done = window.finish(part, error)
            except Exception as exc:  # writing the tables a later part held failed (a full disk): the window fails
                done = window.finish(part, exc)
            if done:
                settle(window)

        def settle(window: WindowPull) -> None:
            job = window.job
            if window.failed is None:
                try:
                    rows, size = window.settle()
                except Exception as exc:
                    window.failed = exc
            if window.failed is not None:
                window.abort()
                if not isinstance(window.failed, KeyboardInterrupt):
                    with run.lock:
                        report.failed[f"{job.patient} {window_label(job)}"] = str(window.failed)
                return
            old = ledger.entries.get((job.patient, job.device, job.cell))
            settled = end if old is None else max(end, old.end)
            ledger.record(Entry(job.patient, job.device, job.cell, *job.covers, settled, rows, size,
                                cell_file(job.patient, job.device, job.cell) if size else None, time.time()))
            run.done(job.patient, window.stats, window.pulled, window.began or time.perf_counter())

        try:
            if windows:
                run_lanes(lanes, work, max(1, max_workers), run.stop)
        except KeyboardInterrupt:
            report.seconds = time.perf_counter() - began
            raise SyncInterrupted(report) from None
    report.seconds = time.perf_counter() - began
    if report.failed:
        reasons = "; ".join(f"{where}: {why}" for where, why in sorted(report.failed.items())[:3])
        raise SyncError(f"{len(report.failed)} of {len(jobs)} windows failed ({reasons}); the others are kept in "
                        f"{root}: run the same command to pull only what is missing", report)
    return report


def window_label(job: Job) -> str:
    """A window as people read it.

    >>> window_label(Job("P", "D", 0, Fraction(0), Fraction(3600)))
    '1970-01-01T00:00:00Z to 1970-01-01T01:00:00Z'
    """
    def stamp(t: Fraction) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(t)))

    return f"{stamp(job.lo)} to {stamp(job.hi)}"
