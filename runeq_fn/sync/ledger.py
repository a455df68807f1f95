"""The ledger of a synced dataset: which (patient, device, window) is on disk, and how to read coverage.

``DIR/_ledger.jsonl`` (readers of the dataset skip names that start with ``_``)
is one JSON object a line: a header (resource, query parameters, window
length), then one entry per window pulled, the last entry of a window winning.
An entry is appended, flushed and fsynced only after the window's file has been
renamed into place (or removed, for a window with no data), so the ledger never
names data that is not on disk. A line cut short by a kill is dropped when the
ledger is next opened.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import quote

from ..atomic import replace_file
from ..errors import UsageError
from ..pull.windows import edge_param, exact_time
from ..sinks.durable import sync_folder, writing
from ..sinks.parquet import partition_name

LEDGER = "_ledger.jsonl"
LOCK = "_lock"
VERSION = 1

Key = tuple[str, str, int]


@dataclass(frozen=True)
class Entry:
    """One window on disk: its patient, device and grid cell, the range [lo, hi) it holds, and when.

    ``end`` is the end of the sync that pulled it (the rule for ``--recheck``);
    ``file`` the Parquet file, relative to the dataset, or None when the window had no data.

    >>> e = Entry("P1", "D", 3600, Fraction(3600), Fraction(5400), Fraction(5400), 10, 400, "f.parquet", 0.0)
    >>> Entry.from_json(e.to_json()) == e
    True
    """

    patient: str
    device: str
    cell: int
    lo: Fraction
    hi: Fraction
    end: Fraction
    rows: int
    size: int
    file: str | None
    synced: float

    @property
    def key(self) -> Key:
        return (self.patient, self.device, self.cell)

    def to_json(self) -> str:
        values = asdict(self)
        values.update({name: str(edge_param(values[name])) for name in ("lo", "hi", "end")})
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Entry:
        values = dict(json.loads(text) if isinstance(text, str) else text)
        for name in ("lo", "hi", "end"):
            values[name] = exact_time(name, values[name])
        return cls(**values)


def cell_file(patient: str, device: str, cell: int) -> str:
    """The file of one window, relative to the dataset: partitioned by patient and device, named by its UTC start.

    >>> cell_file("P 1", "watch-1", 1609491600)
    'patient_id=P%201/device_id=watch-1/20210101T090000Z.parquet'
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(cell))
    return f"{partition_name(patient)}/device_id={quote(device, safe='')}/{stamp}.parquet"


def parse_lines(data: bytes, path: str) -> tuple[dict | None, dict[Key, Entry], int, int]:
    """(header, entries by key, bytes of whole lines, lines) of a ledger's bytes; a cut last line is left out.

    >>> parse_lines(b'{"kind": "header"}\\n{"patient": "P"', "l")
    ({'kind': 'header'}, {}, 19, 1)
    """
    header: dict | None = None
    entries: dict[Key, Entry] = {}
    good = lines = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        end = good + len(line) + 1
        if end > len(data):  # no newline: cut short by a kill
            break
        try:
            item = json.loads(line)
            if number == 1:
                header = item
            elif item.get("drop"):
                entries.pop((item["patient"], item["device"], item["cell"]), None)
            else:
                entry = Entry.from_json(item)
                entries[entry.key] = entry
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"{path} line {number} is not a ledger entry ({exc}): remove the dataset to start again") from None
        good, lines = end, lines + 1
    return header, entries, good, lines


def write_atomically(path: str, text: str) -> None:
    """A private temporary file beside ``path``, synced, then renamed over it."""
    with writing(path):
        replace_file(path, text, "." + os.path.basename(path) + ".")
        sync_folder(path)


class Ledger:
    """An open ledger: its header and entries, appended to durably (thread-safe)."""

    def __init__(self, root: str, header: dict, entries: dict[Key, Entry]) -> None:
        self.root = root
        self.path = os.path.join(root, LEDGER)
        self.header = header
        self.entries = entries
        self.lock = threading.Lock()

    @classmethod
    def open(cls, root: str, header: dict) -> Ledger:
        """The ledger of ``root`` (made with ``header`` when new); one for another query is refused."""
        path = os.path.join(root, LEDGER)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if os.path.isdir(root) and any(not n.startswith((".", "_")) for n in os.listdir(root)):
                raise UsageError(f"{root} holds files but no {LEDGER}: it is not a synced dataset; give a new --output") from None
            write_atomically(path, json.dumps(header, sort_keys=True) + "\n")
            return cls(root, header, {})
        saved, entries, good, lines = parse_lines(data, path)
        if saved is None:
            write_atomically(path, json.dumps(header, sort_keys=True) + "\n")
            return cls(root, header, {})
        differs = [k for k in ("resource", "params", "window") if saved.get(k) != header.get(k)]
        if differs:
            said = ", ".join(f"{k} {saved.get(k)!r}" for k in differs)
            raise UsageError(f"{root} is synced with {said}: use the same, or another --output")
        ledger = cls(root, saved, entries)
        if good < len(data) or lines > 2 * len(entries) + 64:
            ledger.compact()
        return ledger

    def compact(self) -> None:
        """Rewrite the ledger with one line per window (also drops a line cut short by a kill)."""
        lines = [json.dumps(self.header, sort_keys=True), *(e.to_json() for e in self.entries.values())]
        write_atomically(self.path, "\n".join(lines) + "\n")

    def _append(self, text: str) -> None:
        with writing(self.path), open(self.path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record(self, entry: Entry) -> None:
        """Add an entry, durably: call it only once the window's file is in place."""
        with self.lock:
            self._append(entry.to_json())
            self.entries[entry.key] = entry

    def drop(self, key: Key) -> None:
        """Forget a window (its file is gone or not the one recorded)."""
        with self.lock:
            self._append(json.dumps({"patient": key[0], "device": key[1], "cell": key[2], "drop": True}))
            self.entries.pop(key, None)


def read_entries(root: str) -> tuple[dict, list[Entry]]:
    """The header and entries of a dataset's ledger, read only.

    >>> read_entries("/no/such/dataset")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: /no/such/dataset is not a synced dataset (no _ledger.jsonl): run runeq sync RESOURCE ... --output /no/such/dataset first
    """
    path = os.path.join(root, LEDGER)
    try:
        with open(path, "rb") as f:
            header, entries, _, _ = parse_lines(f.read(), path)
    except FileNotFoundError:
        raise UsageError(f"{root} is not a synced dataset (no {LEDGER}): run runeq sync RESOURCE ... --output {root} first") from None
    return header or {}, list(entries.values())


# -- coverage: what you have ---------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    """Coverage of one (patient, device, UTC day): rows, hours synced, and the last sync."""

    patient: str
    device: str
    day: str
    rows: int
    hours: float
    synced: float


def coverage(entries: Iterable[Entry]) -> list[Day]:
    """The entries summed per patient, device and UTC day (of each window's start), in order.

    >>> e = Entry("P1", "D", 32400, Fraction(32400), Fraction(36000), Fraction(36000), 7, 1, "f", 5.0)
    >>> coverage([e, Entry("P1", "D", 36000, Fraction(36000), Fraction(37800), Fraction(37800), 0, 0, None, 9.0)])
    [Day(patient='P1', device='D', day='1970-01-01', rows=7, hours=1.5, synced=9.0)]
    """
    days: dict[tuple[str, str, str], Day] = {}
    for e in entries:
        day = time.strftime("%Y-%m-%d", time.gmtime(e.cell))
        key = (e.patient, e.device, day)
        was = days.get(key, Day(e.patient, e.device, day, 0, 0.0, 0.0))
        days[key] = Day(e.patient, e.device, day, was.rows + e.rows, was.hours + float(e.hi - e.lo) / 3600,
                        max(was.synced, e.synced))
    return [days[key] for key in sorted(days)]


def status_lines(root: str) -> list[str]:
    """``runeq sync --status DIR``: a line per patient, device and day (rows, hours covered, last sync)."""
    header, entries = read_entries(root)
    days = coverage(entries)
    lines = [f"{root}: {header.get('resource')}, {len({d.patient for d in days})} patients, "
             f"{sum(d.rows for d in days):,} rows"]
    lines.append(f"{'patient':<14} {'device':<12} {'day':<10} {'rows':>12} {'hours':>6}  last sync (UTC)")
    for d in days:
        synced = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.synced))
        lines.append(f"{d.patient:<14} {d.device:<12} {d.day:<10} {d.rows:>12,} {d.hours:>6.2f}  {synced}")
    return lines


def plot_coverage(root: str, path: str) -> None:
    """Draw the coverage as a heatmap (a row per patient and device, a column per day, hours covered) into ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'runeq-fn[plot]'") from None
    days = coverage(read_entries(root)[1])
    rows = sorted({(d.patient, d.device) for d in days})
    columns = sorted({d.day for d in days})
    grid = [[0.0] * len(columns) for _ in rows]
    for d in days:
        grid[rows.index((d.patient, d.device))][columns.index(d.day)] = d.hours
    figure, axes = plt.subplots(figsize=(max(4, 0.5 * len(columns) + 2), max(2, 0.4 * len(rows) + 1)))
    image = axes.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=24)
    axes.set_xticks(range(len(columns)), columns, rotation=90)
    axes.set_yticks(range(len(rows)), [f"{p} / {d}" for p, d in rows])
    figure.colorbar(image, label="hours synced")
    axes.set_title(f"{root}: coverage by day")
    figure.tight_layout()
    with writing(path):
        figure.savefig(path)
    plt.close(figure)

