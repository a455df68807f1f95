"""Pulls into Parquet, streamed: ``runeq fetch RESOURCE ... --format parquet --output DIR_OR_FILE``.

Each CSV page is read into Arrow (``runeq_fn.parse.arrow``: the first page fixes the
column types) and written as one row group as it arrives, so memory holds a page
at a time. A Parquet file cannot be appended to once closed, so a pull is kept
exact across interruptions by writing it as a dataset folder of chunk files:

    OUT.part/part-000000.parquet        pages 1 to 64, committed (closed, fsynced, renamed)
    OUT.part/part-000064.parquet        pages 65 to 128, committed
    OUT.part/.part-000128.parquet.tmp   the chunk being written (readers skip dot files)
    OUT.part.state                      the ``Pull`` after the last committed chunk

The state file is ``durable``'s (``Pull`` as JSON); it is saved after each chunk
is committed, so ``resume=True`` drops any chunk written after it and goes on
from the page after the last committed one. Once every page is in, ``OUT.part``
is renamed to ``OUT`` (a folder) or, for an ``OUT`` that ends in ``.parquet``,
its chunks are copied row group by row group into the one file ``OUT``.

A cohort (several patients) is a dataset partitioned hive style:
``OUT/patient_id=P1/part-000000.parquet``, each patient pulled as above inside
``OUT.part`` and the folder renamed to ``OUT`` when all are in. pyarrow,
pandas and DuckDB read ``patient_id`` back as a column.

``Pull.bytes`` counts the CSV bytes read (the Parquet files are smaller).

The pages come from ``durable.pull_pages``, as for the other formats: ``shards``
(windows saved in the state, so ``resume`` goes on in each), ``prefetch`` and
``stats`` apply here as there.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ..errors import RuneError, UsageError
from ..parse.arrow import read_table, with_timestamps
from ..pull.cohort import Outcome, fetch_many
from ..pull.options import pull_options
from ..pull.stats import Stats
from .durable import (
    PRIVATE,
    Progress,
    Pull,
    deadline_from_now,
    output_lock,
    output_path,
    part_paths,
    pull_pages,
    save_state,
    saved_pull,
    sharded_start,
    writing,
)
from .frames import require

PAGES_PER_FILE = 64
"""Pages per chunk file: what an interrupted pull fetches again at most."""

PRIVATE_FOLDER = 0o700

CHUNK = re.compile(r"part-(\d{6,})\.parquet")


class CohortError(RuneError):
    """Some patients of a cohort failed; ``outcomes`` holds every patient's ``Outcome``."""

    def __init__(self, message: str, outcomes: Mapping[str, Outcome]) -> None:
        super().__init__(message)
        self.outcomes = dict(outcomes)

    def __reduce__(self) -> tuple:
        """Pickled with its outcomes (an exception pickles its ``args`` alone, and these need two).

        >>> import pickle
        >>> again = pickle.loads(pickle.dumps(CohortError("p2 failed", {})))
        >>> str(again), again.outcomes
        ('p2 failed', {})
        """
        return type(self), (self.args[0], self.outcomes), self.__dict__


# -- names on disk -------------------------------------------------------------------------------


def is_single_file(output: str | os.PathLike) -> bool:
    """True for an output that is one file (its name ends in ``.parquet``), False for a dataset folder.

    >>> is_single_file("accel.parquet"), is_single_file("accel/")
    (True, False)
    """
    return os.fspath(output).endswith(".parquet")


def chunk_name(first_page: int) -> str:
    """The file name of the chunk that starts after ``first_page`` pages.

    >>> chunk_name(64)
    'part-000064.parquet'
    """
    return f"part-{first_page:06d}.parquet"


def chunk_start(name: str) -> int | None:
    """The pages before a chunk file (from its name), None for any other name.

    >>> chunk_start("part-000064.parquet"), chunk_start(".part-000064.parquet.tmp")
    (64, None)
    """
    found = CHUNK.fullmatch(name)
    return int(found.group(1)) if found else None


def partition_name(patient: str) -> str:
    """A patient's hive partition folder, the value percent-encoded as pyarrow decodes it.

    >>> partition_name("P1"), partition_name("a/b c")
    ('patient_id=P1', 'patient_id=a%2Fb%20c')
    """
    return "patient_id=" + quote(patient, safe="")


def check_output(output: str) -> None:
    """Refuse an output that the finished pull would have to overwrite as a folder.

    >>> check_output("/")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --output / exists and is not an empty folder: give a new name, or remove it first
    """
    if is_single_file(output):
        if os.path.isdir(output):
            raise UsageError(f"--output {output} is a folder: a name ending in .parquet is one file")
    elif os.path.exists(output) and not (os.path.isdir(output) and not os.listdir(output)):
        raise UsageError(f"--output {output} exists and is not an empty folder: give a new name, or remove it first")


# -- one pull, page by page ------------------------------------------------------------------------


def table_steps(
    config: Any, pull: Pull, types: dict[str, Any] | None, timestamps: bool, prefetch: int, stats: Stats | None = None,
    deadline: float | None = None,
) -> Iterator[tuple[Any, Pull]]:
    """The pull's remaining pages as (Arrow table or None, pull after it), fetched lazily (``durable.pull_pages``)."""
    for response, following, windows in pull_pages(config, pull, prefetch, stats, deadline):
        table, types = read_table(response, types, pull.pages + 1)
        if table is not None and timestamps:
            table = with_timestamps(table)
        pull = replace(
            pull,
            next=following,
            windows=windows,
            pages=pull.pages + bool(response.content),
            rows=pull.rows + (0 if table is None else table.num_rows),
            bytes=pull.bytes + len(response.content),
        )
        yield table, pull


def commit(writer: Any, temporary: str, final: str) -> None:
    """Close a chunk, make it private, flush it to disk and give it its final name."""
    writer.close()
    os.chmod(temporary, PRIVATE)
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
    os.replace(temporary, final)


def write_chunks(
    steps: Iterator[tuple[Any, Pull]], pull: Pull, folder: str, committed: Progress, progress: Progress
) -> Pull:
    """Write each page as a row group, committing a chunk file every ``PAGES_PER_FILE`` pages and at the end.

    ``committed`` is called with the pull after each commit (to save the state);
    ``progress`` after each page. A chunk left open by an error stays a temporary file.
    """
    import pyarrow.parquet as pq

    writer, temporary, final, start = None, "", "", pull
    try:
        for table, pull in steps:
            if table is not None:
                if writer is None:
                    final = os.path.join(folder, chunk_name(start.pages))
                    temporary = os.path.join(folder, "." + chunk_name(start.pages) + ".tmp")
                    writer = pq.ParquetWriter(temporary, table.schema)
                writer.write_table(table)
            progress(pull)
            if pull.next is None or pull.pages - start.pages >= PAGES_PER_FILE:
                if writer is not None:
                    commit(writer, temporary, final)
                    writer = None
                committed(pull)
                start = pull
    finally:
        if writer is not None:
            writer.close()
    return start


def chunks(folder: str) -> list[str]:
    """The committed chunk files of a folder, in page order.

    >>> chunks("/no/such/folder")
    []
    """
    if not os.path.isdir(folder):
        return []
    names = sorted((start, name) for name in os.listdir(folder) if (start := chunk_start(name)) is not None)
    return [os.path.join(folder, name) for _, name in names]


def saved_types(files: Sequence[str], timestamps: bool, state: str) -> dict[str, Any] | None:
    """The column types fixed by a resumed pull's first page, read from its first chunk's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return None
    schema = pq.read_schema(files[0])
    stamped = any(pa.types.is_timestamp(field.type) for field in schema)
    if stamped != timestamps:
        said = "with" if stamped else "without"
        raise UsageError(f"{state} is a pull {said} --timestamps: resume it the same way, or start again")
    return {field.name: pa.float64() if pa.types.is_timestamp(field.type) else field.type for field in schema}


def resumable_folder(part: str, state: str, pull: Pull) -> list[str]:
    """Drop what was written after the saved state, and check that the chunks left hold its rows."""
    import pyarrow.parquet as pq

    if not os.path.isdir(part):
        raise UsageError(f"{part} is missing; run without --resume to start again")
    for name in os.listdir(part):
        start = chunk_start(name)
        if name.startswith(".") or (start is not None and start >= pull.pages):
            os.unlink(os.path.join(part, name))
    files = chunks(part)
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    if rows != pull.rows:
        raise UsageError(f"{part} holds {rows:,} rows where {state} says {pull.rows:,}; run without --resume to start again")
    return files


def merge_chunks(files: Sequence[str], path: str) -> None:
    """Copy the chunks' row groups, one at a time, into one private Parquet file at ``path`` (then fsynced)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        pq.write_table(pa.table({}), path)
    else:
        with pq.ParquetWriter(path, pq.read_schema(files[0])) as writer:
            for file in files:
                chunk = pq.ParquetFile(file)
                for group in range(chunk.num_row_groups):
                    writer.write_table(chunk.read_row_group(group))
    os.chmod(path, PRIVATE)
    with open(path, "rb") as written:
        os.fsync(written.fileno())


def finish(part: str, state: str, output: str) -> None:
    """Give the complete pull its final name: the folder renamed, or its chunks merged into one file."""
    if is_single_file(output):
        merged = os.path.join(part, ".merged.tmp")
        merge_chunks(chunks(part), merged)
        os.replace(merged, output)
        os.unlink(state)
        shutil.rmtree(part)
        return
    os.replace(part, output)
    os.unlink(state)


def export_parquet(
    config: Any,
    name: str,
    query: Mapping[str, Any],
    output: str | os.PathLike,
    resume: bool = False,
    prefetch: int = 0,
    progress: Progress | None = None,
    timestamps: bool = False,
    shards: int = 1,
    stats: Stats | None = None,
) -> Pull:
    """Pull every page of a query into a Parquet dataset folder, or one ``.parquet`` file; the finished ``Pull``.

    Streamed, atomic and resumable (see the module). ``timestamps=True`` writes
    the ``time`` (or ``timestamp``) column as ``timestamp[ns, tz=UTC]``.
    ``shards``, ``prefetch`` and ``stats`` as for ``export.export_query``.

    >>> import tempfile, pyarrow.parquet as pq
    >>> from runeq_fn import Config
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator(page_size=50) as emu, tempfile.TemporaryDirectory() as folder:
    ...     query = {"patient_id": "p", "device_id": "d", "start_time": 1609491600, "end_time": 1609491602}
    ...     done = export_parquet(Config(**emu.config_values()), "accel", query, f"{folder}/accel.parquet")
    ...     table = pq.read_table(f"{folder}/accel.parquet")
    >>> done.pages, done.rows, table.num_rows, table.schema.names
    (2, 100, 100, ['time', 'x', 'y', 'z'])
    """
    output = output_path(output)
    pull = Pull.start(name, "parquet", query)
    pull_options(shards, prefetch, stats)
    require("pyarrow", "arrow", "export_parquet")
    part, state = part_paths(output)
    report = progress or (lambda _: None)
    check_output(output)
    with output_lock(output):
        deadline = deadline_from_now(config)  # one for the plan and every page
        if resume:
            pull = saved_pull(output, pull)
            types = saved_types(resumable_folder(part, state, pull), timestamps, state)
        else:
            with writing(part):
                shutil.rmtree(part, ignore_errors=True)
                os.makedirs(part, PRIVATE_FOLDER)
            types = None
            pull = sharded_start(config, pull, shards, stats, deadline)
        save_state(state, pull)
        report(pull)
        steps = table_steps(config, pull, types, timestamps, prefetch, stats, deadline)
        with writing(part):
            pull = write_chunks(steps, pull, part, lambda done: save_state(state, done), report)
            finish(part, state, output)
    return pull


# -- a cohort, one partition per patient -------------------------------------------------------------


class CohortProgress:
    """One progress reporter fed by every patient's pull: it reports their sum."""

    def __init__(self, name: str, report: Progress) -> None:
        self.name = name
        self.report = report
        self.pulls: dict[str, Pull] = {}
        self.lock = threading.Lock()

    def patient(self, patient: str) -> Progress:
        """The reporter one patient's pull calls."""

        def update(pull: Pull) -> None:
            with self.lock:
                self.pulls[patient] = pull
                done = list(self.pulls.values())
                self.report(Pull(self.name, "parquet", {}, {}, sum(p.pages for p in done),
                                 sum(p.rows for p in done), sum(p.bytes for p in done)))

        return update


def finished_partition(name: str, query: Mapping[str, Any], folder: str) -> Pull:
    """A patient's partition already complete (on resume): its pull as the files tell it."""
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in chunks(folder))
    return Pull(name, "parquet", dict(query), None, rows=rows)


def failure_message(failed: Mapping[str, Outcome], total: int, part: str, kept: bool = True) -> str:
    """What a cohort with failed patients says: who failed and why, where the rest is (if ``kept``), how to go on.

    >>> failure_message({"P2": Outcome(False, error=ValueError("no"))}, 3, "out.part")
    '1 of 3 patients failed (P2: no); the others are kept in out.part: run the same command with --resume to pull only what is missing'
    >>> failure_message({"P2": Outcome(False, error=ValueError("no"))}, 1, "out.part", kept=False)
    '1 of 1 patients failed (P2: no); no data was written'
    """
    reasons = "; ".join(f"{patient}: {outcome.error}" for patient, outcome in failed.items())
    if not kept:
        return f"{len(failed)} of {total} patients failed ({reasons}); no data was written"
    return (
        f"{len(failed)} of {total} patients failed ({reasons}); the others are kept in {part}: "
        "run the same command with --resume to pull only what is missing"
    )


def export_cohort(
    config: Any,
    name: str,
    query: Mapping[str, Any],
    patients: Sequence[str],
    output: str | os.PathLike,
    resume: bool = False,
    prefetch: int = 0,
    progress: Progress | None = None,
    timestamps: bool = False,
    max_workers: int = 8,
    shards: int = 1,
    stats: Stats | None = None,
) -> dict[str, Outcome[Pull]]:
    """Pull one query for each patient into one Parquet dataset partitioned by ``patient_id`` (hive style).

    Patients run ``max_workers`` at a time (``runeq_fn.pull.cohort.fetch_many``);
    each is written as ``export_parquet`` writes a pull, into
    ``OUTPUT.part/patient_id=P/``, and ``OUTPUT.part`` becomes ``OUTPUT`` when
    all are in. When some fail, the others stay in ``OUTPUT.part`` and
    ``CohortError`` names the failed ones; ``resume=True`` then pulls only what
    is missing. Returns ``{patient: Outcome}``, each holding its finished ``Pull``.
    ``shards``, ``prefetch`` and ``stats`` (one for all) apply to each patient's pull.
    """
    output = output_path(output)
    pull_options(shards, prefetch, stats)
    require("pyarrow", "arrow", "export_cohort")
    if is_single_file(output):
        raise UsageError(f"a cohort is written as a dataset folder: give --output a name without .parquet, not {output}")
    check_output(output)
    part = output + ".part"
    reporter = CohortProgress(name, progress or (lambda _: None))

    def pull_patient(patient: str) -> Pull:
        target = os.path.join(part, partition_name(patient))
        asked = {**query, "patient_id": patient}
        if resume and os.path.isdir(target):
            return finished_partition(name, asked, target)
        again = resume and os.path.exists(part_paths(target)[1])
        return export_parquet(
            config, name, asked, target, again, prefetch, reporter.patient(patient), timestamps, shards, stats
        )

    with output_lock(output):
        if resume and not os.path.isdir(part):
            raise UsageError(f"nothing to resume: no {part}; run without --resume to start the pull")
        with writing(part):
            if not resume:
                shutil.rmtree(part, ignore_errors=True)
            os.makedirs(part, PRIVATE_FOLDER, exist_ok=True)
        outcomes = fetch_many({patient: patient for patient in patients}, pull_patient, max_workers)
        failed = {patient: outcome for patient, outcome in outcomes.items() if not outcome.ok}
        if failed:
            kept = any(chunk_start(name) is not None for _, _, names in os.walk(part) for name in names)
            raise CohortError(failure_message(failed, len(outcomes), part, kept), outcomes)
        with writing(output):
            os.replace(part, output)
    return outcomes
