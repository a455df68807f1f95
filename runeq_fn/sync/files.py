"""One window of a sync into one Parquet file: pulled (in shards), cut to the window, typed, renamed into place.

``pull_job`` writes the rows of a ``Job``'s [lo, hi) under a hidden name beside
the window's file, with the rows of the present file it keeps (``Job.keep``),
then renames it over that file in one step (or removes it, when the window has
no rows). Pages are read into Arrow as they arrive, in the window's threads,
and written as row groups of ``ROW_GROUP`` rows: memory holds a few pages and a
row group per window.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any

from ..parse.arrow import header_names, page_bytes, read_table
from ..pull.build import build_request
from ..pull.cut import cut_page
from ..pull.shards import window_stream
from ..pull.stats import Stats
from ..pull.windows import edge_param, even_windows, window_queries
from ..resources import known_columns, time_column_of
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


def page_tables(response: Any, column: str, lo: Fraction, hi: Fraction, types: dict[str, Any] | None) -> list:
    """One page cut to [lo, hi) and read into Arrow (runs in the window's thread): [] or [table].

    >>> from runeq_fn.http.response import Response
    >>> [t.to_pydict() for t in page_tables(Response(200, content=b"time,x\\n4,a\\n5,b\\n"), "time", Fraction(5), Fraction(9), None)]
    [{'time': [5.0], 'x': ['b']}]
    """
    response = cut_page(response, "csv", column, lo, hi)
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


def pull_job(config: Any, name: str, params: Mapping[str, Any], types: dict | None, root: str, job: Job,
             shards: int, stop: threading.Event, stats: Stats, page: Callable[[int, int], None]) -> tuple[int, int, int]:
    """Pull one window (in ``shards`` parts at once) into its file, with the rows it keeps.

    Returns (rows in the file, its size, rows pulled)."""
    column = time_column_of(name)
    query = {**params, "patient_id": job.patient, "device_id": job.device,
             "start_time": edge_param(job.lo), "end_time": edge_param(job.hi)}
    request = build_request(config, name, "csv", query)
    windows = window_queries(request, even_windows(job.lo, job.hi, shards))
    parse = partial(page_tables, column=column, lo=job.lo, hi=job.hi, types=types)
    out = WindowFile(root, cell_file(job.patient, job.device, job.cell))
    kept_first, pulled = job.keep is not None and job.keep[0] < job.lo, 0
    stream: Any = window_stream(request, windows, parse=parse, buffer=2 * len(windows), stats=stats)
    try:
        with writing(out.final):
            for table in kept_tables(out.final, column, job.keep if kept_first else None):
                out.add(table)
            for response, tables, _ in stream:
                if stop.is_set():
                    raise KeyboardInterrupt
                rows = sum(t.num_rows for t in tables or ())
                for table in tables or ():
                    out.add(table)
                pulled += rows
                page(len(response.content), rows)
            for table in kept_tables(out.final, column, None if kept_first else job.keep):
                out.add(table)
            return out.rows, out.commit(), pulled
    finally:
        stream.close()
        out.abort()
