"""Pulling a whole query onto disk: the functions behind ``runeq fetch``.

One pull, top to bottom::

    query --build_request--> Request --pages--> Responses --advance--> (bytes, Pull) --sink--> file

``Pull`` is the state of an export as plain data (what was asked, what is
written, which page comes next). ``advance`` is pure: one page in, the bytes to
append and the next ``Pull`` out. The sinks are the edge: ``export_query``
writes to a stream, or to ``FILE.part`` beside a small ``FILE.part.state`` (the
``Pull`` as JSON, saved after every page is written and synced) and renames
the part to ``FILE`` at the end, so an interrupted pull leaves no half file
under the final name and ``resume=True`` goes on from the last page written.
These files are private (0600), never opened through a symbolic link, and
guarded by ``FILE.part.lock``: a second pull into the same file is refused.

Output formats: ``csv`` (one header, then every row of every page, as sent),
``jsonl`` (one JSON object per line: a point, or an event/span entry) and
``json`` (one JSON array of the same objects, streamed). Resources with a CSV
endpoint are read as CSV whatever the output, so that rows are ``points()``'s
(values converted as ``points()`` converts them). The JSON is strict: a
``nan`` or ``inf`` value is written as ``null``. ``parquet`` (typed columns, a
row group per page) is written by ``runeq_fn.sinks.parquet``, with the same ``Pull``,
state file and lock.

A query whose ``patient_id`` names several patients (``"P1,P2"`` or a list) is
a cohort: csv, jsonl and json pull them one after another into the one output,
each row with its ``patient_id`` first (``Pull.patients``); parquet partitions
them (``runeq_fn.sinks.parquet.export_cohort``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import IO, Any

from ..config import Config
from ..config.file import DEFAULT_CONFIG_PATH
from ..errors import ParseError, UsageError
from ..parse.points import csv_points, json_pages, page_text, rows
from ..pull.options import pull_options
from ..pull.stats import Stats, human_bytes
from ..resources import PARAMETERS, known_columns
from ..times import check_range, flag_name, with_times
from .durable import (
    LOCK_SUFFIX,
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
    wire_format,
    writing,
)

V1_PARAMETERS = PARAMETERS
"""The query parameters of the Stream API V1 (``runeq_fn.resources``); ``runeq fetch`` warns about any other."""


# -- query parameters ------------------------------------------------------------------------


def query_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line flags as query parameters: names with ``_``, values as text, times read (``runeq_fn.times``).

    Unix seconds stay as typed; ISO 8601 becomes unix seconds (no offset means UTC).

    >>> query_from_flags({"patient-id": "p1", "start_time": "2021-01-01T09:00:00Z", "channels": "0,1"})
    {'patient_id': 'p1', 'start_time': 1609491600, 'channels': '0,1'}
    >>> query_from_flags({"start-time": "1609491600", "end-time": "1609491500"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --end-time is before --start-time: swap them (the range [--start-time, --end-time) holds no time)
    """
    query = with_times({flag.replace("-", "_"): str(value) for flag, value in flags.items()}, flag_name)
    check_range(query, flag_name)
    return query


# -- a cohort: several patients in one output ----------------------------------------------------


def with_patient_csv(text: str, patient: str) -> str:
    """A CSV page with a ``patient_id`` column first (rows rewritten by the csv module, line ends ``\\n``).

    >>> with_patient_csv("time,x\\n1,2\\n", "P1")
    'patient_id,time,x\\nP1,1,2\\n'
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        if row:
            writer.writerow(["patient_id" if number == 0 else patient, *row])
    return out.getvalue()


def with_patient(item: Any, patient: str) -> dict:
    """A JSON object with its patient's id first (an entry that is not an object is kept under ``result``).

    >>> with_patient({"time": 1.0}, "P1"), with_patient(3, "P1")
    ({'patient_id': 'P1', 'time': 1.0}, {'patient_id': 'P1', 'result': 3})
    """
    return {"patient_id": patient, **item} if isinstance(item, dict) else {"patient_id": patient, "result": item}


# -- one page's step (the ``Pull`` is ``durable``'s) ------------------------------------------------


def csv_chunk(text: str, header: str | None) -> tuple[str, str, int]:
    """(header, text to append, rows) for one CSV page, given the header written so far.

    The first page is written whole; later pages lose their header line, which
    must match the first one.

    >>> csv_chunk("time,x\\n1,2\\n3,4", None)
    ('time,x', 'time,x\\n1,2\\n3,4\\n', 2)
    >>> csv_chunk("time,x\\r\\n5,6\\r\\n", "time,x")
    ('time,x', '5,6\\r\\n', 1)
    >>> csv_chunk("time,y\\n5,6\\n", "time,x")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ParseError: a CSV page's header 'time,y' differs from the first page's 'time,x': export as jsonl, where each row keeps its own keys
    """
    first, _, body = text.partition("\n")
    head = first.rstrip("\r")
    if header is not None and head != header:
        raise ParseError(
            f"a CSV page's header {head!r} differs from the first page's {header!r}: "
            "export as jsonl, where each row keeps its own keys"
        )
    chunk = text if header is None else body
    if chunk and not chunk.endswith("\n"):
        chunk += "\n"
    return head, chunk, sum(1 for _ in rows(body))


def json_chunk(items: Iterable[Any], array: bool, before: int) -> tuple[str, int]:
    """(text to append, items) for JSON objects: lines, or array entries after ``before`` others.

    >>> json_chunk([{"a": 1}, {"a": 2}], array=False, before=0)
    ('{"a":1}\\n{"a":2}\\n', 2)
    >>> json_chunk([{"a": 1}], array=True, before=0), json_chunk([{"a": 2}], array=True, before=1)
    (('[\\n{"a":1}', 1), (',\\n{"a":2}', 1))
    """
    parts: list[str] = []
    for item in items:
        text = strict_json(item)
        if array:
            parts.append(("[\n" if before + len(parts) == 0 else ",\n") + text)
        else:
            parts.append(text + "\n")
    return "".join(parts), len(parts)


def strict_json(item: Any) -> str:
    """One compact JSON text, strict: NaN and infinities become ``null``.

    >>> strict_json({"time": 1.0, "x": float("nan"), "y": [float("-inf"), 2.5]})
    '{"time":1.0,"x":null,"y":[null,2.5]}'
    """
    try:
        return json.dumps(item, separators=(",", ":"), allow_nan=False)
    except ValueError:  # rare: only then walk the item
        return json.dumps(finite(item), separators=(",", ":"), allow_nan=False)


def finite(value: Any) -> Any:
    """The value with every NaN or infinite float, however deep, replaced by None.

    >>> finite({"a": [1.0, float("nan")], "b": {"c": float("inf")}, "d": "nan"})
    {'a': [1.0, None], 'b': {'c': None}, 'd': 'nan'}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def closing(pull: Pull) -> bytes:
    """What ends a complete output: the JSON array's bracket; for CSV without a row, the header.

    An empty CSV still has its header (the resource's known columns, ``known_columns``),
    so that a reader of CSV sees the columns and no rows; nothing where the columns
    depend on the data (state, expression queries).

    >>> closing(Pull("event", "json", {}, None, rows=0)), closing(Pull("event", "json", {}, None, rows=3))
    (b'[]\\n', b'\\n]\\n')
    >>> closing(Pull("accel", "csv", {}, None)), closing(Pull("accel", "csv", {}, None, header="time,x,y,z"))
    (b'time,x,y,z\\n', b'')
    """
    if pull.format == "csv":
        columns = known_columns(pull.resource, pull.query) if pull.header is None else None
        if columns and pull.patients is not None:
            columns = ["patient_id", *columns]
        return (",".join(columns) + "\n").encode("utf-8") if columns else b""
    if pull.format != "json":
        return b""
    return b"[]\n" if pull.rows == 0 else b"\n]\n"


def entries(name: str, result: Any) -> list:
    """The entries of a JSON-only resource's result: its list under the resource's name.

    A result of another shape (an expression's, say) is one entry.

    >>> entries("event", {"event": [{"id": 1}, {"id": 2}]}), entries("span", {"cardinality": 0})
    ([{'id': 1}, {'id': 2}], [{'cardinality': 0}])
    """
    listed = result.get(name) if isinstance(result, dict) else None
    return listed if isinstance(listed, list) else [result]


def page_items(name: str, response: Any, patient: str | None = None) -> Iterator[Any]:
    """The objects of one page: CSV rows as points, or a JSON result's entries (with ``patient_id`` for a cohort)."""
    if wire_format(name) == "csv":
        found: Iterable[Any] = csv_points([response])
    else:
        found = (entry for result in json_pages([response]) for entry in entries(name, result))
    yield from found if patient is None else (with_patient(item, patient) for item in found)


def advance(pull: Pull, response: Any, following: dict | None) -> tuple[bytes, Pull]:
    """One page's step: the bytes to append and the pull after them (pure).

    >>> from runeq_fn.http.response import Response
    >>> data, after = advance(Pull.start("heartrate", "jsonl", {}), Response(200, content=b"time,bpm\\n5,61\\n"), None)
    >>> data, after.pages, after.rows, after.bytes, after.next
    (b'{"time":5.0,"bpm":61.0}\\n', 1, 1, 24, None)
    """
    header, text, count = pull.header, "", 0
    patient = pull.patients[0] if pull.patients else None
    if pull.format != "csv":
        text, count = json_chunk(page_items(pull.resource, response, patient), pull.format == "json", pull.rows)
    elif response.content:
        page = page_text(response)
        header, text, count = csv_chunk(page if patient is None else with_patient_csv(page, patient), pull.header)
    data = text.encode("utf-8")
    following_params, patients = following, pull.patients
    if following is None and patients and len(patients) > 1:  # this patient is done: the next one
        following_params, patients = {**pull.query, "patient_id": patients[1]}, patients[1:]
    return data, replace(
        pull,
        patients=patients,
        next=following_params,
        pages=pull.pages + bool(response.content),
        rows=pull.rows + count,
        bytes=pull.bytes + len(data),
        header=header,
    )


def steps(
    config: Any, pull: Pull, prefetch: int = 0, stats: Stats | None = None, deadline: float | None = None
) -> Iterator[tuple[bytes, Pull]]:
    """The pull's remaining pages as (bytes, pull) steps (see ``pull_pages``)."""
    for response, following, windows in pull_pages(config, pull, prefetch, stats, deadline):
        data, pull = advance(pull, response, following)
        yield data, replace(pull, windows=windows)


# -- sinks: a stream, or a file written atomically -----------------------------------------------


def file_output(output: str | os.PathLike) -> str:
    """An ``--output`` that must name a file: one that ends in a separator names a folder, and is refused.

    >>> file_output("out/accel.csv")
    'out/accel.csv'
    >>> file_output("accel/")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --output accel/ names a folder (it ends in /): give a file name, e.g. accel/accel.csv
    """
    path = os.fspath(output)
    if path.endswith(tuple(filter(None, (os.sep, os.altsep)))):
        example = os.path.join(output_path(path), "accel.csv")
        raise UsageError(f"--output {path} names a folder (it ends in {path[-1]}): give a file name, e.g. {example}")
    return path


def sync_folder(path: str) -> None:
    """Make a rename in ``path``'s folder durable (where the file system allows a folder fsync)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_part(part: str, state: str, written: int | None) -> int:
    """The part file, opened private and never through a link: made anew, or (``written`` bytes) reopened.

    A new pull first removes an old part and state (a link is removed, not followed).
    """
    flags = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    with writing(part):
        if written is None:
            for stale in (part, state):
                with suppress(FileNotFoundError):
                    os.unlink(stale)
            return os.open(part, flags | os.O_CREAT | os.O_EXCL, PRIVATE)
        try:
            fd = os.open(part, flags)
        except FileNotFoundError:
            fd = -1
        if fd < 0 or os.fstat(fd).st_size < written:
            if fd >= 0:
                os.close(fd)
            raise UsageError(f"{part} is missing or shorter than {state} says; run without --resume to start again")
        os.fchmod(fd, PRIVATE)  # a part left by an older version may be open to others
        return fd


def lock_held(path: str | os.PathLike) -> bool:
    """True while another process holds ``FILE.part.lock`` (a pull into ``path`` is running)."""
    import fcntl

    try:
        fd = os.open(output_path(path) + LOCK_SUFFIX, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's own lock
    return False


def interrupted_part(path: str | os.PathLike) -> str | None:
    """The part an interrupted pull left at ``path`` (a part with its state, or a cohort's folder), else None.

    None too while a pull into ``path`` runs: its lock then speaks for it.

    >>> interrupted_part("/no/such/folder/accel.csv") is None
    True
    """
    part, state = part_paths(path)
    if not (os.path.lexists(state) or os.path.isdir(part)) or lock_held(path):
        return None
    return part


def refuse_interrupted(path: str | os.PathLike) -> None:
    """Refuse to start a pull over an interrupted one into ``path``: the two ways forward, in one line."""
    part = interrupted_part(path)
    if part is not None:
        raise UsageError(
            f"{part} holds an interrupted pull: run the same command with --resume to continue it, "
            "or with --restart to start over"
        )


def discard_unstarted(path: str | os.PathLike) -> bool:
    """Remove the part and state of a pull into ``path`` that wrote no data; True when there were any.

    So a pull that fails at its first request (bad credentials, a server down)
    leaves no files behind, and nothing to ``--resume``. A part that holds data,
    or a pull still running (its lock held), is left alone.
    """
    part, state = part_paths(path)
    if lock_held(path) or not (os.path.lexists(state) or os.path.isdir(part)):
        return False
    try:
        with os.fdopen(os.open(state, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as f:
            saved: Pull | None = Pull.from_json(f.read())
    except FileNotFoundError:
        saved = None  # a cohort's folder: one state per patient inside it
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if saved is not None and (saved.pages or saved.bytes):
        return False
    if saved is None and any(name.endswith(".parquet") for _, _, names in os.walk(part) for name in names):
        return False
    if os.path.isdir(part) and not os.path.islink(part):
        shutil.rmtree(part, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(part)
    with suppress(FileNotFoundError):
        os.unlink(state)
    return True


def write_steps(
    pull: Pull, out: IO[bytes], chunks: Iterable[tuple[bytes, Pull]], after_page: Progress, name: str = "stdout"
) -> Pull:
    """Write each step's bytes and flush, then call ``after_page``; end with the closing bytes."""
    for data, pull in chunks:
        write_all(out, data, name)
        after_page(pull)
    write_all(out, closing(pull), name)
    return pull


def write_all(out: IO[bytes], data: bytes, name: str) -> None:
    """Write every byte and flush (an unbuffered file may take fewer bytes than offered)."""
    with writing(name):
        view = memoryview(data)
        while view:
            view = view[out.write(view) or 0:]
        out.flush()


def write_file(
    config: Any,
    pull: Pull,
    path: str | os.PathLike,
    prefetch: int,
    progress: Progress,
    resume: bool = False,
    stats: Stats | None = None,
    deadline: float | None = None,
) -> Pull:
    """Export into ``path`` through its part file, syncing it and saving the state after every page."""
    part, state = part_paths(path)
    fd = open_part(part, state, pull.bytes if resume else None)
    with os.fdopen(fd, "r+b", buffering=0) as out:  # unbuffered: a failed write is not retried at close
        with writing(part):
            out.truncate(pull.bytes)
            out.seek(pull.bytes)
        save_state(state, pull)

        def after_page(done: Pull) -> None:
            with writing(part):
                os.fsync(out.fileno())  # the bytes are on disk before the state that counts them
            save_state(state, done)
            progress(done)

        pull = write_steps(pull, out, steps(config, pull, prefetch, stats, deadline), after_page, part)
        with writing(part):
            os.fsync(out.fileno())
    with writing(os.fspath(path)):
        os.replace(part, path)
        sync_folder(part)
        os.unlink(state)
    return pull


def export_query(
    config: Any,
    name: str,
    query: Mapping[str, Any],
    fmt: str = "csv",
    output: str | os.PathLike | IO[bytes] | None = None,
    resume: bool = False,
    prefetch: int = 0,
    progress: Progress | None = None,
    shards: int = 1,
    stats: Stats | None = None,
) -> Pull:
    """Pull every page of a query into ``output`` as csv, jsonl, json or parquet; return the finished ``Pull``.

    ``output`` is a path (written atomically: see the module's docstring), a
    binary stream, or None for stdout. ``resume=True`` continues the
    interrupted export of the same query into the same path. ``progress`` is
    called with the ``Pull`` before the first page and after each page.
    Memory holds one page at a time (plus ``prefetch`` pages in flight).
    ``shards=N`` pulls a time series in N time windows at once (``runeq_fn.pull.shards``;
    the windows are saved in the state, so ``resume`` goes on in each); event and
    span are pulled unsharded. ``stats`` (a ``Stats``) counts what the pull did.
    Every option applies to every format, parquet included; ``shards`` and
    ``prefetch`` (and ``stats``) are checked first (``options.pull_options``).

    >>> import io
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator(page_size=50) as emu:
    ...     out = io.BytesIO()
    ...     query = {"patient_id": "p", "device_id": "d", "start_time": 1609491600, "end_time": 1609491602}
    ...     done = export_query(Config(**emu.config_values()), "accel", query, "csv", out)
    >>> done.pages, done.rows, out.getvalue().splitlines()[:2]
    (2, 100, [b'time,x,y,z', b'1609491600.0,-0.0967,-0.0126,-0.9961'])
    """
    pull = Pull.start(name, fmt, query)
    pull_options(shards, prefetch, stats)
    report = progress or (lambda _: None)
    if pull.format == "parquet":
        if not isinstance(output, (str, os.PathLike)):
            raise UsageError("--format parquet needs --output DIR (a dataset folder) or FILE.parquet")
        from .parquet import export_parquet

        return export_parquet(config, name, query, output, resume, prefetch, progress, shards=shards, stats=stats)
    if not isinstance(output, (str, os.PathLike)):
        if resume:
            raise UsageError("--resume needs --output FILE: a pull to stdout cannot be resumed")
        deadline = deadline_from_now(config)  # one for the plan and every page
        pull = sharded_start(config, pull, shards, stats, deadline)
        report(pull)
        stream = sys.stdout.buffer if output is None else output
        return write_steps(pull, stream, steps(config, pull, prefetch, stats, deadline), report)
    output = file_output(output)
    with output_lock(output):
        deadline = deadline_from_now(config)
        pull = saved_pull(output, pull) if resume else sharded_start(config, pull, shards, stats, deadline)
        report(pull)
        return write_file(config, pull, output, prefetch, report, resume, stats, deadline)


# -- where a config comes from -------------------------------------------------------------------


@contextmanager
def connect(path: str | None = None, emulator: bool | str = False) -> Iterator[Config]:
    """The config of a pull: a file's (``~/.rune/config`` by default) or an in-process emulator's.

    ``emulator=True`` serves fake data from an emulator for the duration of the
    block; ``emulator="auto"`` does so only when the config file does not exist
    (as the examples do), and says so on stderr.

    >>> with connect(emulator=True) as cfg:
    ...     cfg.stream_url.startswith("http://127.0.0.1:")
    True
    """
    file = os.path.expanduser(path or DEFAULT_CONFIG_PATH)
    if emulator == "auto":
        emulator = not os.path.exists(file)
        if emulator:
            print(f"runeq: no {file}: using an in-process emulator with fake data", file=sys.stderr)
    if not emulator:
        yield Config(file)
        return
    from ..emulator import Emulator

    with Emulator() as emu:
        yield emulator_config(emu)


def emulator_config(emu: Any) -> Config:
    """The config of an in-process emulator, reached directly whatever proxy the environment names.

    A proxy elsewhere cannot reach this machine's loopback, so ``no_proxy``
    names the emulator's host.

    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator() as emu:
    ...     emulator_config(emu).policy.no_proxy
    '127.0.0.1'
    """
    from urllib.parse import urlsplit

    return Config(**emu.config_values(), no_proxy=urlsplit(emu.url).hostname)


# -- progress on a terminal ---------------------------------------------------------------------


def progress_line(pull: Pull, seconds: float, fetched: int) -> str:
    """The progress text: pages, rows, bytes written, and the rate of this run's ``fetched`` bytes.

    >>> progress_line(Pull("accel", "csv", {}, None, pages=12, rows=12000, bytes=2_400_000), 2.0, 2_400_000)
    '12 pages, 12,000 rows, 2.4 MB, 1.2 MB/s'
    """
    rate = human_bytes(fetched / seconds) if seconds > 0 else "-"
    return f"{pull.pages:,} pages, {pull.rows:,} rows, {human_bytes(pull.bytes)}, {rate}/s"


class LineProgress:
    """Progress as one line rewritten in place with ``\\r`` (when tqdm is not installed).

    The first call gives the starting point: the rate counts this run's bytes only.
    """

    def __init__(self, stream: IO[str], label: str = "runeq fetch") -> None:
        self.stream = stream
        self.label = label
        self.start: tuple[float, int] | None = None
        self.width = 0

    def __call__(self, pull: Pull) -> None:
        if self.start is None:
            self.start = (time.monotonic(), pull.bytes)
        began, first = self.start
        text = f"{self.label}: " + progress_line(pull, time.monotonic() - began, pull.bytes - first)
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()


class TqdmProgress:
    """Progress as a tqdm bar of bytes, with pages and rows after it.

    The first call gives the starting point: a resumed pull's bytes are not counted in the rate.
    """

    def __init__(self, stream: IO[str], label: str = "runeq fetch") -> None:
        from tqdm import tqdm

        self.tqdm = tqdm
        self.stream = stream
        self.label = label
        self.bar: Any = None

    def __call__(self, pull: Pull) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                desc=self.label, unit="B", unit_scale=True, file=self.stream, initial=pull.bytes
            )
        self.bar.set_postfix_str(f"{pull.pages:,} pages, {pull.rows:,} rows", refresh=False)
        self.bar.update(pull.bytes - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def terminal_progress(stream: IO[str] | None = None, label: str = "runeq fetch") -> Iterator[Progress | None]:
    """A progress reporter on ``stream`` (stderr) when it is a terminal, else None (quiet), named ``label``.

    tqdm draws it when installed; otherwise a plain line does.

    >>> import io
    >>> with terminal_progress(io.StringIO()) as report:
    ...     report is None
    True
    """
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield None
        return
    try:
        reporter: Any = TqdmProgress(stream, label)
    except ImportError:
        reporter = LineProgress(stream, label)
    try:
        yield reporter
    finally:
        reporter.close()
