"""One window of a sync into one Parquet file: pulled in parts, cut to the window, typed, renamed into place.

A ``WindowPull`` writes the rows of a ``Job``'s [lo, hi) under a hidden name
beside the window's file, with the rows of the present file it keeps
(``Job.keep``), then renames it over that file in one step (or removes it, when
the window has no rows). The window's parts (``sync.lanes``) read their pages
into Arrow in the lanes that fetch them; the earliest part still coming writes
them as row groups of ``ROW_GROUP`` rows, and a later part holds its tables
until the parts before it are done: memory holds a row group per window being
written and the tables of parts that are ahead of their turn.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..parse.arrow import header_names, page_bytes, read_table
from ..pull.stats import Stats
from ..resources import known_columns
from ..sinks.dask import column_types
from ..sinks.durable import sync_folder, writing
from ..sinks.parquet import PRIVATE_FOLDER, commit
from .ledger import cell_file

ROW_GROUP = 16384
"""Rows gathered before a row group is written (pages are smaller): what a window's writer holds at most."""


@dataclass(frozen=True)
class Job:
    """One window to pull: a patient's device over [lo, hi), written as the file of grid cell ``cell``.

    ``keep`` is the range of the cell's present file whose rows go into the new
    one as they are (None: nothing kept); it touches [lo, hi), before or after.
    """

    patient: str
    device: str
    cell: int
    lo: Fraction
    hi: Fraction
    keep: tuple[Fraction, Fraction] | None = None

    @property
    def covers(self) -> tuple[Fraction, Fraction]:
        """The range the cell's file holds once the job is done.

        >>> Job("P", "D", 0, Fraction(50), Fraction(60), keep=(Fraction(0), Fraction(50))).covers
        (Fraction(0, 1), Fraction(60, 1))
        """
        if self.keep is None:
            return self.lo, self.hi
        return min(self.lo, self.keep[0]), max(self.hi, self.keep[1])


def header_types(names: Sequence[str]) -> dict[str, Any]:
    """Types for columns not known in advance (state, expression): the time column numbers, the rest text.

    >>> header_types(["time", "status"])
    {'time': DataType(double), 'status': DataType(string)}
    """
    import pyarrow as pa

    return {name: pa.float64() if name in ("time", "timestamp") else pa.string() for name in names}


def known_types(name: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The resource's column types when the API fixes them (the same in every file), else None."""
    return column_types(name, [params], None) if known_columns(name, params) is not None else None


def page_tables(response: Any, types: dict[str, Any] | None) -> list:
    """One page (cut to its part already) read into Arrow, in the lane that fetched it: [] or [table].

    >>> from runeq_fn.http.response import Response
    >>> [t.to_pydict() for t in page_tables(Response(200, content=b"time,x\\n5,b\\n"), None)]
    [{'time': [5.0], 'x': ['b']}]
    """
    table, _ = read_table(response, types or header_types(header_names(page_bytes(response))), 1)
    return [] if table is None else [table]


class WindowFile:
    """The Parquet file of one window, written under a hidden name and renamed into place by ``commit``."""

    def __init__(self, root: str, relative: str) -> None:
        self.final = os.path.join(root, relative)
        folder, name = os.path.split(self.final)
        self.temporary = os.path.join(folder, f".{name}.tmp")
        self.pending: list = []
        self.held = 0
        self.rows = 0
        self.writer: Any = None

    def add(self, table: Any) -> None:
        self.pending.append(table)
        self.held += table.num_rows
        self.rows += table.num_rows
        if self.held >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        if self.writer is None:
            os.makedirs(os.path.dirname(self.final), PRIVATE_FOLDER, exist_ok=True)
            # dictionaries only for text: a dictionary of doubles (times, samples) grows to its limit and is dropped
            text = [f.name for f in table.schema if pa.types.is_string(f.type)]
            self.writer = pq.ParquetWriter(self.temporary, table.schema, use_dictionary=text)
        self.writer.write_table(table)
        self.pending, self.held = [], 0

    def commit(self) -> int:
        """Put the file in place (or remove the old one when the window has no rows); its size."""
        self.flush()
        if self.writer is None:
            if os.path.exists(self.final):
                os.unlink(self.final)
                sync_folder(self.final)
            return 0
        commit(self.writer, self.temporary, self.final)
        self.writer = None
        sync_folder(self.final)
        return os.stat(self.final).st_size

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.unlink(self.temporary)


def kept_tables(path: str, column: str, keep: tuple[Fraction, Fraction] | None) -> Iterator[Any]:
    """The rows of a window's present file within ``keep`` (none when nothing is kept or there is no file), a row group at a time."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if keep is None or not os.path.exists(path):
        return
    present = pq.ParquetFile(path)
    for group in range(present.num_row_groups):
        table = present.read_row_group(group)
        times = table.column(column)
        yield table.filter(pc.and_(pc.greater_equal(times, float(keep[0])), pc.less(times, float(keep[1]))))


class WindowPull:
    """One window being pulled in parts (``lanes.Part``), its rows written to its file in time order.

    The part that starts earliest among those not read whole writes its pages
    as they come; a later part holds its tables until the parts before it are
    done. The lane that finishes the last part settles the window (``settle``).
    """

    def __init__(self, job: Job, root: str, column: str, request: Any) -> None:
        self.job, self.column, self.request = job, column, request
        self.file = WindowFile(root, cell_file(job.patient, job.device, job.cell))
        self.kept_first = job.keep is not None and job.keep[0] < job.lo
        self.parts: list = []
        self.head = 0
        self.opened = False
        self.failed: BaseException | None = None
        self.stats = Stats()
        self.pulled = 0
        self.began: float | None = None
        self.lock = threading.Lock()

    def insert(self, part: Any) -> None:
        """A part split off a running one: it goes after the parts that start before it."""
        with self.lock:
            self.parts.insert(bisect.bisect_right([p.lo for p in self.parts], part.lo), part)

    def open(self) -> None:
        """The rows kept from the present file before the pulled range go first (once)."""
        if not self.opened:
            self.opened = True
            with writing(self.file.final):
                for table in kept_tables(self.file.final, self.column, self.job.keep if self.kept_first else None):
                    self.file.add(table)

    def add(self, part: Any, tables: list) -> None:
        """A page's tables of ``part``: written now when no earlier part is still coming, else held."""
        with self.lock:
            self.pulled += sum(t.num_rows for t in tables)
            if self.failed is None and part is self.parts[self.head]:
                self.open()
                with writing(self.file.final):
                    for table in tables:
                        self.file.add(table)
            else:
                part.held.extend(tables)

    def finish(self, part: Any, error: BaseException | None) -> bool:
        """``part`` is over (``error`` if it failed or stopped): write what is now first in line; whether all are done."""
        with self.lock:
            part.done = True
            if error is not None and self.failed is None:
                self.failed = error
            while self.head < len(self.parts):
                first = self.parts[self.head]
                if self.failed is None:
                    self.open()
                    with writing(self.file.final):
                        for table in first.held:
                            self.file.add(table)
                first.held = []
                if not first.done:
                    break
                self.head += 1
            return self.head == len(self.parts)

    def settle(self) -> tuple[int, int]:
        """Every part done and none failed: the kept rows after the pulled range, then the file in place; (rows, size)."""
        with self.lock, writing(self.file.final):
            self.open()
            for table in kept_tables(self.file.final, self.column, None if self.kept_first else self.job.keep):
                self.file.add(table)
            return self.file.rows, self.file.commit()

    def abort(self) -> None:
        """A part failed or the run stopped: the hidden file goes, the present file stays."""
        with self.lock:
            self.file.abort()
