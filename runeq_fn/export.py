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
row group per page) is written by ``runeq_fn.parquet``, with the same ``Pull``,
state file and lock.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import IO, Any

from .build import Request, build_request, encode_value
from .config import DEFAULT_CONFIG_PATH, Config
from .errors import ParseError, UsageError, WriteError
from .pages import pages_with_next, resume_params
from .parse import csv_points, json_pages, page_text, rows
from .resources import PARAMETERS, resource
from .stats import Stats, counting
from .transport import fetch as http_fetch

FORMATS = ("csv", "jsonl", "json", "parquet")
CSV_ONLY = ("csv", "parquet")
"""Formats made from CSV pages: resources without a CSV endpoint have neither."""
TIME_PARAMS = ("start_time", "end_time")
V1_PARAMETERS = PARAMETERS
"""The query parameters of the Stream API V1 (``runeq_fn.resources``); ``runeq fetch`` warns about any other."""
PART_SUFFIX = ".part"
STATE_SUFFIX = ".part.state"
LOCK_SUFFIX = ".part.lock"
PRIVATE = 0o600

Progress = Callable[["Pull"], None]


# -- query parameters ------------------------------------------------------------------------


def unix_seconds(name: str, value: Any) -> Any:
    """A time parameter as sent: unix seconds as typed, or ISO 8601 turned into unix seconds.

    An ISO time without an offset is taken as UTC.

    >>> unix_seconds("start_time", "1609491600"), unix_seconds("end_time", "2021-01-01T09:00:00Z")
    ('1609491600', 1609491600)
    >>> unix_seconds("start_time", "2021-01-01T10:00:00.25+01:00"), unix_seconds("end_time", "2021-01-02")
    (1609491600.25, 1609545600)
    >>> unix_seconds("start_time", "yesterday")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --start-time must be unix seconds or ISO 8601 (e.g. 2021-01-01T09:00:00Z), not 'yesterday'
    """
    text = str(value).strip()
    try:
        float(text)
        return text
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        flag = "--" + name.replace("_", "-")
        raise UsageError(
            f"{flag} must be unix seconds or ISO 8601 (e.g. 2021-01-01T09:00:00Z), not {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def query_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line flags as query parameters: names with ``_``, values as text, times converted.

    >>> query_from_flags({"patient-id": "p1", "start_time": "2021-01-01T09:00:00Z", "channels": "0,1"})
    {'patient_id': 'p1', 'start_time': 1609491600, 'channels': '0,1'}
    """
    query = {}
    for flag, value in flags.items():
        name = flag.replace("-", "_")
        query[name] = unix_seconds(name, value) if name in TIME_PARAMS else str(value)
    return query


# -- formats ---------------------------------------------------------------------------------


def wire_format(name: str) -> str:
    """The endpoint a pull reads: CSV where the resource has one, else JSON.

    >>> wire_format("accel"), wire_format("span")
    ('csv', 'json')
    """
    return "csv" if "csv" in resource(name).formats else "json"


def output_formats(name: str) -> tuple[str, ...]:
    """The output formats a resource can be exported in (csv needs a CSV endpoint).

    >>> output_formats("heartrate"), output_formats("event")
    (('csv', 'jsonl', 'json', 'parquet'), ('jsonl', 'json'))
    """
    return FORMATS if wire_format(name) == "csv" else tuple(f for f in FORMATS if f not in CSV_ONLY)


def check_format(name: str, fmt: str) -> str:
    """The output format, checked against the resource.

    >>> check_format("accel", "CSV")
    'csv'
    >>> check_format("event", "csv")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: event has no csv output (it is JSON only): use --format jsonl or json
    """
    fmt = str(fmt).lower()
    valid = output_formats(name)
    if fmt in valid:
        return fmt
    why = " (it is JSON only)" if fmt in FORMATS else ""
    raise UsageError(f"{name} has no {fmt} output{why}: use --format {' or '.join(valid)}")


# -- the state of a pull, and one page's step ---------------------------------------------------


@dataclass(frozen=True)
class Pull:
    """An export as data: the query, what is written so far and the next page's parameters.

    ``next`` is None once every page is in. ``header`` is the CSV header written.
    ``windows``, for a sharded pull, are the time windows still to read, in
    order, the first from its next page (``next`` is then the first of them).

    >>> Pull.start("accel", "csv", {"device_id": "d"})
    Pull(resource='accel', format='csv', query={'device_id': 'd'}, next={'device_id': 'd'}, pages=0, rows=0, bytes=0, header=None, windows=None)
    """

    resource: str
    format: str
    query: dict
    next: dict | None
    pages: int = 0
    rows: int = 0
    bytes: int = 0
    header: str | None = None
    windows: list | None = None

    @classmethod
    def start(cls, name: str, fmt: str, query: Mapping[str, Any]) -> Pull:
        """A pull that has written nothing yet."""
        return cls(name, check_format(name, fmt), dict(query), dict(query))

    @classmethod
    def from_json(cls, text: str) -> Pull:
        """A pull saved with ``to_json``.

        >>> p = Pull.start("span", "json", {"page": 2})
        >>> Pull.from_json(p.to_json()) == p
        True
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        pull = cls(**{f.name: data[f.name] if f.default is MISSING else data.get(f.name, f.default) for f in fields(cls)})
        counts = (pull.pages, pull.rows, pull.bytes)
        shaped = (
            all(isinstance(v, str) for v in (pull.resource, pull.format))
            and isinstance(pull.query, dict)
            and isinstance(pull.next, (dict, type(None)))
            and isinstance(pull.header, (str, type(None)))
            and (pull.windows is None or all(isinstance(w, dict) for w in pull.windows))
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)
        )
        if not shaped:
            raise ValueError("a field has the wrong type")
        if data.get("digest") != pull.digest():
            raise EditedState("its digest does not match its contents: it was changed after it was saved")
        return pull

    def to_json(self) -> str:
        """The pull as one line of JSON, with a ``digest`` of its fields that ``from_json`` checks."""
        return json.dumps({**asdict(self), "digest": self.digest()})

    def digest(self) -> str:
        """A SHA-256 of every field: a state file edited by hand no longer matches it.

        >>> Pull.start("accel", "csv", {"page": 2}).digest() == Pull.start("accel", "csv", {"page": 3}).digest()
        False
        """
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class EditedState(ValueError):
    """A state file whose fields parse but no longer match the digest saved with them."""


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
    """What ends a complete output: the JSON array's bracket, nothing for csv and jsonl.

    >>> closing(Pull("event", "json", {}, None, rows=0)), closing(Pull("event", "json", {}, None, rows=3))
    (b'[]\\n', b'\\n]\\n')
    """
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


def page_items(name: str, response: Any) -> Iterator[Any]:
    """The objects of one page: CSV rows as points, or a JSON result's entries."""
    if wire_format(name) == "csv":
        yield from csv_points([response])
        return
    for result in json_pages([response]):
        yield from entries(name, result)


def advance(pull: Pull, response: Any, following: Request | None) -> tuple[bytes, Pull]:
    """One page's step: the bytes to append and the pull after them (pure).

    >>> from runeq_fn.response import Response
    >>> data, after = advance(Pull.start("heartrate", "jsonl", {}), Response(200, content=b"time,bpm\\n5,61\\n"), None)
    >>> data, after.pages, after.rows, after.bytes, after.next
    (b'{"time":5.0,"bpm":61.0}\\n', 1, 1, 24, None)
    """
    header, text, count = pull.header, "", 0
    if pull.format != "csv":
        text, count = json_chunk(page_items(pull.resource, response), pull.format == "json", pull.rows)
    elif response.content:
        header, text, count = csv_chunk(page_text(response), pull.header)
    data = text.encode("utf-8")
    return data, replace(
        pull,
        next=None if following is None else resume_params(following),
        pages=pull.pages + bool(response.content),
        rows=pull.rows + count,
        bytes=pull.bytes + len(data),
        header=header,
    )


def steps(config: Any, pull: Pull, prefetch: int = 0, stats: Stats | None = None) -> Iterator[tuple[bytes, Pull]]:
    """The pull's remaining pages as (bytes, pull) steps, fetched lazily from ``pull.next`` on.

    A sharded pull's windows are pulled at once (``shards.window_pages_with_next``).
    """
    if pull.next is None:
        return
    stats = stats if stats is not None else Stats()
    if pull.windows is not None:
        from .shards import window_pages_with_next

        request = build_request(config, pull.resource, wire_format(pull.resource), pull.query)
        for response, windows in window_pages_with_next(request, pull.windows, stats=stats):
            data, pull = advance(pull, response, None)
            yield data, replace(pull, next=windows[0] if windows else None, windows=windows)
        return
    began = time.perf_counter()
    request = build_request(config, pull.resource, wire_format(pull.resource), pull.next)
    for response, following in pages_with_next(request, counting(http_fetch, stats), prefetch):
        data, pull = advance(pull, response, following)
        yield data, pull
    stats.seconds += time.perf_counter() - began


def sharded_start(config: Any, pull: Pull, shards: int) -> Pull:
    """The pull with its time windows planned (one availability request), for ``shards`` > 1.

    Resources without a CSV time series (event, span) stay unsharded.
    """
    if shards <= 1 or wire_format(pull.resource) != "csv":
        return pull
    from .shards import plan_windows

    windows = plan_windows(build_request(config, pull.resource, "csv", pull.query), shards)
    return replace(pull, next=windows[0], windows=windows)


# -- sinks: a stream, or a file written atomically -----------------------------------------------


def output_path(output: str | os.PathLike) -> str:
    """An ``--output`` as one normal path: ``DIR/`` names the folder ``DIR``, so its temporary files are its siblings.

    >>> output_path("accel/"), output_path("out//cohort/"), output_path("accel.csv")
    ('accel', 'out/cohort', 'accel.csv')
    """
    return os.path.normpath(os.fspath(output))


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


def part_paths(path: str | os.PathLike) -> tuple[str, str]:
    """The partial file and the state file of an output path (beside it, for a folder's ``DIR/`` too).

    >>> part_paths("out/accel.csv"), part_paths("accel/")
    (('out/accel.csv.part', 'out/accel.csv.part.state'), ('accel.part', 'accel.part.state'))
    """
    return output_path(path) + PART_SUFFIX, output_path(path) + STATE_SUFFIX


def write_problem(name: str, exc: OSError) -> str:
    """What went wrong writing ``name``, and what to do about it.

    >>> write_problem("a.csv.part", OSError(errno.ENOSPC, "No space left on device"))
    'cannot write a.csv.part: No space left on device (the disk is full or a file size limit was reached)'
    >>> write_problem("a.csv.part", OSError(errno.ELOOP, "Too many levels of symbolic links"))
    'a.csv.part is a symbolic link: remove it (runeq fetch never writes through a link)'
    """
    if exc.errno == errno.ELOOP:
        return f"{name} is a symbolic link: remove it (runeq fetch never writes through a link)"
    why = {
        errno.ENOSPC: "the disk is full or a file size limit was reached",
        errno.EFBIG: "the disk is full or a file size limit was reached",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the folder is read-only: choose another --output",
        errno.EACCES: "the folder or file is not writable by you: choose another --output",
        errno.EPERM: "the folder or file is not writable by you: choose another --output",
    }.get(exc.errno or 0)
    return f"cannot write {name}: {exc.strerror or exc}" + (f" ({why})" if why else "")


@contextmanager
def writing(name: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``name`` into a ``WriteError`` that says why.

    A broken pipe passes through: the reader has gone, which is not a failure to report.
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise WriteError(write_problem(name, exc)) from None


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


def save_state(path: str, pull: Pull) -> None:
    """Write the state file atomically: a private temporary file, synced, then renamed over it."""
    with writing(path):
        fd, temporary = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path) or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(pull.to_json() + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):  # renamed already when Ctrl-C came just after
                os.unlink(temporary)
            raise


def as_sent(query: Mapping[str, Any]) -> dict[str, str]:
    """A query as the wire sees it, to compare queries typed in different ways.

    >>> as_sent({"start_time": 10, "channels": [0, 1], "page": None}) == as_sent({"start_time": "10", "channels": "0,1"})
    True
    """
    return {key: encode_value(value) for key, value in query.items() if value is not None}


def saved_pull(path: str | os.PathLike, start: Pull) -> Pull:
    """The saved state of an interrupted export of the same query (resource, format, every parameter)."""
    _, state = part_paths(path)
    try:
        fd = os.open(state, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as f:
            saved = Pull.from_json(f.read())
    except FileNotFoundError:
        raise UsageError(f"nothing to resume: no {state}; run without --resume to start the pull") from None
    except EditedState as exc:
        raise UsageError(f"{state} was edited ({exc}); run without --resume to start again") from None
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise UsageError(
            f"{state} is not a saved pull ({exc}); run without --resume to start again"
        ) from None
    asked = (start.resource, start.format, as_sent(start.query))
    if (saved.resource, saved.format, as_sent(saved.query)) != asked:
        raise UsageError(
            f"{state} belongs to another query ({saved.resource}, --format {saved.format}, {saved.query}); "
            "run the same command as before with --resume, or run without --resume to start again"
        )
    return saved


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


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``FILE.part.lock`` for the block, or refuse at once: one pull into a file at a time.

    The lock is the kernel's (``flock``): a pull that is killed releases it with
    its process. The lock file is removed on the way out, while still held.
    """
    import fcntl

    lock = output_path(path) + LOCK_SUFFIX
    busy = UsageError(
        f"another runeq fetch is writing {os.fspath(path)} (it holds {lock}): "
        "wait for it to finish, or choose another --output"
    )
    with writing(lock):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), PRIVATE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            # the holder before us may have removed the file after we opened it: then it is not the lock
            if os.stat(lock, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                raise busy
        except FileNotFoundError:
            raise busy from None
        try:
            yield
        finally:
            os.unlink(lock)
    finally:
        os.close(fd)


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

        pull = write_steps(pull, out, steps(config, pull, prefetch, stats), after_page, part)
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
    ``shards=N`` pulls a time series in N time windows at once (``runeq_fn.shards``;
    the windows are saved in the state, so ``resume`` goes on in each); event and
    span are pulled unsharded. ``stats`` (a ``Stats``) counts what the pull did.

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
    report = progress or (lambda _: None)
    if pull.format == "parquet":
        if not isinstance(output, (str, os.PathLike)):
            raise UsageError("--format parquet needs --output DIR (a dataset folder) or FILE.parquet")
        from .parquet import export_parquet

        return export_parquet(config, name, query, output, resume, prefetch, progress)
    if not isinstance(output, (str, os.PathLike)):
        if resume:
            raise UsageError("--resume needs --output FILE: a pull to stdout cannot be resumed")
        pull = sharded_start(config, pull, shards)
        report(pull)
        stream = sys.stdout.buffer if output is None else output
        return write_steps(pull, stream, steps(config, pull, prefetch, stats), report)
    output = file_output(output)
    with output_lock(output):
        pull = saved_pull(output, pull) if resume else sharded_start(config, pull, shards)
        report(pull)
        return write_file(config, pull, output, prefetch, report, resume, stats)


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
    from .emulator import Emulator

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


def human_bytes(count: float) -> str:
    """A byte count in B, kB, MB or GB (powers of 1000).

    >>> human_bytes(999), human_bytes(1_234_567), human_bytes(5e9)
    ('999 B', '1.2 MB', '5.0 GB')
    """
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


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

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.start: tuple[float, int] | None = None
        self.width = 0

    def __call__(self, pull: Pull) -> None:
        if self.start is None:
            self.start = (time.monotonic(), pull.bytes)
        began, first = self.start
        text = "runeq fetch: " + progress_line(pull, time.monotonic() - began, pull.bytes - first)
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

    def __init__(self, stream: IO[str]) -> None:
        from tqdm import tqdm

        self.tqdm = tqdm
        self.stream = stream
        self.bar: Any = None

    def __call__(self, pull: Pull) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                desc="runeq fetch", unit="B", unit_scale=True, file=self.stream, initial=pull.bytes
            )
        self.bar.set_postfix_str(f"{pull.pages:,} pages, {pull.rows:,} rows", refresh=False)
        self.bar.update(pull.bytes - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def terminal_progress(stream: IO[str] | None = None) -> Iterator[Progress | None]:
    """A progress reporter on ``stream`` (stderr) when it is a terminal, else None (quiet).

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
        reporter: Any = TqdmProgress(stream)
    except ImportError:
        reporter = LineProgress(stream)
    try:
        yield reporter
    finally:
        reporter.close()
