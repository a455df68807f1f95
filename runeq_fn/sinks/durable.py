"""What every file an export writes shares: the ``Pull`` (an export's state as data), the pages it reads, and its files.

``export`` (csv, jsonl, json) and ``parquet`` both write a pull this way: pages from
``pull_pages`` (sharded where ``sharded_start`` planned windows), written into a part
file or folder beside ``FILE.part.state`` (the ``Pull`` as JSON, ``save_state`` and
``saved_pull``) under ``FILE.part.lock`` (``output_lock``), private (``PRIVATE``) and
renamed to ``FILE`` at the end. It sits below both, so that ``export.export_query``
can hand a parquet pull to ``parquet`` without a circle.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any

from ..atomic import replace_file
from ..errors import UsageError, WriteError
from ..http.request import encode_value
from ..http.transport import fetch as http_fetch
from ..pull.build import build_request
from ..pull.options import count_option
from ..pull.pages import pages_with_next, resume_params
from ..pull.stats import Stats, counting
from ..resources import resource

FORMATS = ("csv", "jsonl", "json", "parquet")
CSV_ONLY = ("csv", "parquet")
"""Formats made from CSV pages: resources without a CSV endpoint have neither."""
PART_SUFFIX = ".part"
STATE_SUFFIX = ".part.state"
LOCK_SUFFIX = ".part.lock"
PRIVATE = 0o600

Progress = Callable[["Pull"], None]


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
    >>> check_format("accel", "xml")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: there is no such output format: use --format csv or jsonl or json or parquet
    >>> check_format("event", "csv")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: event has no csv output (it is JSON only): use --format jsonl or json
    """
    fmt = str(fmt).lower()
    valid = output_formats(name)
    if fmt in valid:
        return fmt
    if fmt not in FORMATS:  # not shown: it may be a secret typed in the wrong place
        raise UsageError(f"there is no such output format: use --format {' or '.join(valid)}")
    raise UsageError(f"{name} has no {fmt} output (it is JSON only): use --format {' or '.join(valid)}")


def patient_list(value: Any) -> list[str]:
    """Patient ids as a list, from comma-separated text or a list; blanks and repeats dropped.

    >>> patient_list("P1, P2,,P1"), patient_list(["P1", "P2"]), patient_list(None)
    (['P1', 'P2'], ['P1', 'P2'], [])
    """
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return list(dict.fromkeys(str(part).strip() for part in parts if str(part).strip()))


def cohort_of(query: Mapping[str, Any]) -> list[str] | None:
    """The patients of a query that names several (``--patient-id P1,P2``), else None.

    >>> cohort_of({"patient_id": "P1,P2"}), cohort_of({"patient_id": "P1"})
    (['P1', 'P2'], None)
    """
    patients = patient_list(query.get("patient_id"))
    return patients if len(patients) > 1 else None


@dataclass(frozen=True)
class Pull:
    """An export as data: the query, what is written so far and the next page's parameters.

    ``next`` is None once every page is in. ``header`` is the CSV header written.
    ``windows``, for a sharded pull, are the time windows still to read, in
    order, the first from its next page (``next`` is then the first of them).
    ``patients``, for a cohort (a ``patient_id`` listing several), are the
    patients still to pull, one after another, the first from ``next``; each
    row then carries its ``patient_id``.

    >>> Pull.start("accel", "csv", {"device_id": "d"})
    Pull(resource='accel', format='csv', query={'device_id': 'd'}, next={'device_id': 'd'}, pages=0, rows=0, bytes=0, header=None, windows=None, patients=None)
    >>> Pull.start("accel", "jsonl", {"patient_id": "P1,P2"}).next
    {'patient_id': 'P1'}
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
    patients: list | None = None

    @classmethod
    def start(cls, name: str, fmt: str, query: Mapping[str, Any]) -> Pull:
        """A pull that has written nothing yet (a cohort's, one patient after another, but for parquet)."""
        fmt = check_format(name, fmt)
        patients = cohort_of(query) if fmt != "parquet" else None
        first = dict(query) if patients is None else {**query, "patient_id": patients[0]}
        return cls(name, fmt, dict(query), first, patients=patients)

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
            and (pull.patients is None or (isinstance(pull.patients, list) and all(isinstance(p, str) for p in pull.patients)))
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


def pull_pages(
    config: Any, pull: Pull, prefetch: int = 0, stats: Stats | None = None, deadline: float | None = None
) -> Iterator[tuple[Any, dict | None, list | None]]:
    """The pull's remaining pages, fetched lazily from ``pull.next`` on: (response, next, windows) after each.

    ``next`` and ``windows`` are the ``Pull`` fields that go on after the page.
    A sharded pull's windows are pulled at once (``shards.window_pages_with_next``),
    each with ``prefetch`` pages ahead; ``stats`` counts every page. Every
    output format (``runeq_fn.sinks.text``'s steps, ``runeq_fn.sinks.parquet``) reads its pages here.
    ``deadline`` (``deadline_from_now``, taken before ``sharded_start``'s plan) bounds
    every page; without it, the pull's deadline runs from its first page.
    """
    if pull.next is None:
        return
    stats = stats if stats is not None else Stats()
    if pull.windows is not None:
        from ..pull.shards import window_pages_with_next

        request = replace(build_request(config, pull.resource, wire_format(pull.resource), pull.query), deadline=deadline)
        for response, windows in window_pages_with_next(request, pull.windows, stats=stats, prefetch=prefetch):
            yield response, windows[0] if windows else None, windows
        return
    began = time.perf_counter()
    for query in patient_queries(pull):  # once, or once per patient of a cohort
        request = replace(build_request(config, pull.resource, wire_format(pull.resource), query), deadline=deadline)
        for response, following in pages_with_next(request, counting(http_fetch, stats), prefetch):
            yield response, None if following is None else resume_params(following), None
    stats.seconds += time.perf_counter() - began


def patient_queries(pull: Pull) -> list[dict]:
    """The queries an unsharded pull goes on with: ``pull.next``, then each later patient's of a cohort.

    >>> pull = Pull.start("heartrate", "csv", {"patient_id": "p1,p2,p3"})
    >>> patient_queries(pull)
    [{'patient_id': 'p1'}, {'patient_id': 'p2'}, {'patient_id': 'p3'}]
    """
    later = pull.patients[1:] if pull.patients else ()
    return [*([pull.next] if pull.next is not None else []), *({**pull.query, "patient_id": p} for p in later)]


def deadline_from_now(config: Any) -> float | None:
    """When a pull begun now must be over (``time.monotonic()``, the config's ``pull_deadline`` from now), or None.

    An export takes it once, at its start, so that a sharded pull's plan
    (``sharded_start``) and every page (``pull_pages``) share it, as a library pull's do.

    >>> from runeq_fn import Config
    >>> deadline_from_now(Config(client_key_id="k", client_access_key="s")) is None
    True
    """
    seconds = getattr(getattr(config, "policy", None), "pull_deadline", None)
    return None if seconds is None else time.monotonic() + seconds


def sharded_start(
    config: Any, pull: Pull, shards: int, stats: Stats | None = None, deadline: float | None = None
) -> Pull:
    """The pull with its time windows planned (one availability request), for ``shards`` > 1.

    What cannot shard (event, span, an expression query: ``windows.unshardable``)
    stays unsharded. A cohort into one file goes one patient after another, so
    ``shards`` is refused there rather than ignored. The plan's request is
    bounded by ``deadline`` (``deadline_from_now``) and counted in ``stats``
    (as no page of the pull: ``Stats.record``).

    >>> sharded_start(None, Pull.start("accel", "csv", {"patient_id": "p1,p2"}), 4)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: shards do not apply to several patients written to one csv file (they are pulled one after another): use --format parquet for a sharded cohort, or pull each patient on its own
    """
    if count_option("shards", shards, 1) == 1:
        return pull
    if pull.patients is not None:
        raise UsageError(
            f"shards do not apply to several patients written to one {pull.format} file (they are pulled one after "
            "another): use --format parquet for a sharded cohort, or pull each patient on its own"
        )
    if wire_format(pull.resource) != "csv":
        return pull
    from ..pull.windows import plan_windows, unshardable

    request = replace(build_request(config, pull.resource, "csv", pull.query), deadline=deadline)
    if unshardable(request) is not None:
        return pull
    windows = plan_windows(request, shards, http_fetch if stats is None else counting(http_fetch, stats, page=False))
    return replace(pull, next=windows[0], windows=windows)


def output_path(output: str | os.PathLike) -> str:
    """An ``--output`` as one normal path: ``DIR/`` names the folder ``DIR``, so its temporary files are its siblings.

    >>> output_path("accel/"), output_path("out//cohort/"), output_path("accel.csv")
    ('accel', 'out/cohort', 'accel.csv')
    """
    return os.path.normpath(os.fspath(output))


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
        replace_file(path, pull.to_json() + "\n", os.path.basename(path) + ".")


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


_held: dict[object, int] = {}
"""The descriptors of the lock files this process has open (``flocked``), by hold."""
_opening = threading.Lock()
"""Held while a lock file is opened or closed: a fork comes before or after, never between that and ``_held``."""


def close_parents_locks() -> None:
    """In a forked child: close its copies of the parent's lock files, and so hold none of the parent's locks.

    A copy shares the parent's ``flock``: kept, it would hold the parent's lock
    for as long as the child lives, after the parent let go. Closed, not
    unlocked: ``LOCK_UN`` on a copy would free the parent's lock too.
    """
    _opening.release()
    for fd in _held.values():
        os.close(fd)
    _held.clear()


os.register_at_fork(before=_opening.acquire, after_in_parent=_opening.release, after_in_child=close_parents_locks)


@contextmanager
def flocked(lock: str, busy: Exception) -> Iterator[int]:
    """Hold the kernel's lock (``flock``) on the private file ``lock`` for the block, or raise ``busy`` at once.

    A process that is killed releases it with its death, a forked child does not
    hold it (``close_parents_locks``); the file is never opened through a link.
    """
    import fcntl

    hold = object()
    with _opening, writing(lock):
        fd = _held[hold] = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), PRIVATE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield fd
    finally:
        with _opening:
            if _held.pop(hold, None) is not None:  # else this is a child forked in the block: closed at the fork
                os.close(fd)


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``FILE.part.lock`` for the block, or refuse at once: one pull into a file at a time.

    The lock file is removed on the way out, while still held.
    """
    lock, holder = output_path(path) + LOCK_SUFFIX, os.getpid()
    busy = UsageError(
        f"another runeq fetch is writing {os.fspath(path)} (it holds {lock}): "
        "wait for it to finish, or choose another --output"
    )
    with flocked(lock, busy) as fd:
        try:
            # the holder before us may have removed the file after we opened it: then it is not the lock
            if os.stat(lock, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                raise busy
        except FileNotFoundError:
            raise busy from None
        try:
            yield
        finally:
            if os.getpid() == holder:  # a child forked in the block holds none of it: the file is the parent's
                os.unlink(lock)
