"""Pulling a whole query onto disk: the functions behind ``runeq fetch``.

One pull, top to bottom::

    query --build_request--> Request --pages--> Responses --advance--> (bytes, Pull) --sink--> file

``Pull`` (``durable``) is the state of an export as plain data (what was asked,
what is written, which page comes next). ``advance`` (``text``) is pure: one page
in, the bytes to append and the next ``Pull`` out. The sinks are the edge: ``export_query``
writes to a stream, or to ``FILE.part`` beside a small ``FILE.part.state`` (the
``Pull`` as JSON, saved after every page is written and synced) and renames
the part to ``FILE`` at the end, so an interrupted pull leaves no half file
under the final name and ``resume=True`` goes on from the last page written.
These files are private (0600), never opened through a symbolic link, and
guarded by ``FILE.part.lock``: a second pull into the same file is refused.

Output formats: ``csv`` (one header, then every row of every page, as sent),
``jsonl`` (one JSON object per line: a point, or an event/span entry) and
``json`` (one JSON array of the same objects, streamed), made by ``text``. Resources with a CSV
endpoint are read as CSV whatever the output, so that rows are ``points()``'s
(values converted as ``points()`` converts them). The JSON is strict: a
``nan`` or ``inf`` value is written as ``null``. ``parquet`` (typed columns, a
row group per page) is written by ``runeq_fn.sinks.parquet``, with the same ``Pull``,
state file and lock.

A query whose ``patient_id`` names several patients (``"P1,P2"`` or a list) is
a cohort: csv, jsonl and json pull them one after another into the one output,
each row with its ``patient_id`` first (``Pull.patients``); parquet partitions
them (``runeq_fn.sinks.parquet.export_cohort``).

Around a pull, ``runeq fetch`` uses ``inputs`` (the config, a file's or an
emulator's, and the query from flags), ``progress`` (the line on a terminal)
and ``interrupted`` (what an interrupted pull left at its output).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import IO, Any

from ..errors import UsageError
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
    save_state,
    saved_pull,
    sharded_start,
    sync_folder,
    writing,
)
from .text import closing, steps


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
    >>> from runeq_fn.config import Config
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
