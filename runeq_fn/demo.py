"""``runeq demo``: the classic runeq V1 walkthrough, against an in-process emulator.

Nothing is read from or written to ``~/.rune``: the config comes from the
emulator's fake credentials. The emulator's watch is worn every day at least from
09:00 to 11:00 and from 15:00 to 18:00 UTC (each stretch starts up to an hour earlier
and ends up to two hours later, varying by day), so the queries below always find data.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from toolz import pipe

from . import stream
from .config import Config
from .parse.points import csv_points
from .pull.build import build_request
from .pull.pages import pages

if TYPE_CHECKING:
    from .emulator import Emulator

PATIENT_ID = "patient-1"
DEVICE_ID = "watch-1"
DAY_START = 1609459200  # 2021-01-01T00:00:00Z
DAY_END = DAY_START + 86400
START_TIME = DAY_START + 9 * 3600  # 09:00 UTC, inside the morning wear window
END_TIME = START_TIME + 120  # two minutes of 50 Hz accelerometry: 6,000 points
PAGE_SIZE = 2000  # rows per page, small enough that every query crosses pages
LABEL_WIDTH = 32


def line(label: str, value: str = "") -> str:
    """One row of the summary: a label, padded, then its value.

    >>> line("points", "6,000")
    'points                           6,000'
    """
    return f"{label:<{LABEL_WIDTH}} {value}".rstrip()


def iso(seconds: float) -> str:
    """A unix time as ISO 8601 UTC, to the millisecond when not whole.

    >>> iso(1609491600), iso(1609491719.98)
    ('2021-01-01T09:00:00Z', '2021-01-01T09:01:59.980Z')
    """
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def count_pages(items: Iterable[Any], size: Callable[[Any], int] = len) -> tuple[int, int]:
    """The number of items (pages) and the sum of their sizes.

    >>> count_pages(["ab", "cde"])
    (2, 5)
    """
    count = total = 0
    for item in items:
        count, total = count + 1, total + size(item)
    return count, total


def entries(result: Mapping[str, list]) -> int:
    """The entries of one columnar JSON page: the length of its ``time`` column.

    >>> entries({"time": [1, 2, 3], "x": [0.1, 0.2, 0.3]})
    3
    """
    return len(result["time"])


def column_ranges(points: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """The ``[min, max]`` of every numeric column over points (None values skipped).

    >>> column_ranges([{"time": 1.0, "x": 2.0}, {"time": 2.0, "x": -1.0}, {"time": 3.0, "x": None}])
    {'time': [1.0, 3.0], 'x': [-1.0, 2.0]}
    """
    ranges: dict[str, list[float]] = {}
    for point in points:
        for key, value in point.items():
            if isinstance(value, float):
                low, high = ranges.setdefault(key, [value, value])
                ranges[key] = [min(low, value), max(high, value)]
    return ranges


def summary_stats(values: Iterable[float]) -> tuple[int, float, float, float]:
    """Count, min, mean and max of numbers.

    >>> summary_stats([60.0, 90.0, 75.0])
    (3, 60.0, 75.0, 90.0)
    """
    seen = list(values)
    return len(seen), min(seen), sum(seen) / len(seen), max(seen)


def availability_fraction(results: Iterable[Mapping[str, list]], expression: str) -> tuple[int, int]:
    """Bins with data and bins in all, over the pages of an availability query.

    >>> availability_fraction([{"time": [0, 1, 2], "availability(bpm)": [0, 1, 1]}], "availability(bpm)")
    (2, 3)
    """
    bins = [flag for result in results for flag in result[expression]]
    return sum(1 for flag in bins if flag), len(bins)


def request_summary(records: Iterable[Any]) -> str:
    """How many requests the emulator saw, by status.

    >>> from types import SimpleNamespace as R
    >>> request_summary([R(status=200), R(status=200), R(status=404)])
    '3 (200: 2, 404: 1)'
    """
    statuses = Counter(record.status for record in records)
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    return f"{sum(statuses.values())} ({by_status})"


def accel_lines(accel: Any) -> Iterator[str]:
    """The runeq walkthrough on an ``Accel`` accessor: JSON, CSV, points, an override, availability."""
    pages_read, total = count_pages(accel.iter_json_data(), entries)
    yield line("accel.iter_json_data()", f"{pages_read} pages, {total:,} entries")
    pages_read, total = count_pages(accel.iter_csv_text(), lambda text: len(text.encode()))
    yield line("accel.iter_csv_text()", f"{pages_read} pages, {total:,} bytes of CSV")
    points = list(accel.points())
    ranges = column_ranges(points)
    first, last = ranges["time"]
    yield line("accel.points()", f"{len(points):,} points, {iso(first)} to {iso(last)}")
    for column in sorted(set(ranges) - {"time"}):
        low, high = ranges[column]
        yield line(f"  {column} (g)", f"{low:+.3f} to {high:+.3f}")
    narrower = accel.points(end_time=START_TIME + 30)
    yield line("accel.points(end_time=+30 s)", f"{sum(1 for _ in narrower):,} points")
    expression = accel.expr_availability
    hours = accel.iter_json_availability(start_time=DAY_START, end_time=DAY_END, resolution=3600)
    with_data, bins = availability_fraction(hours, expression)
    yield line(
        "accel availability, whole day",
        f"{with_data} of {bins} hours with data ({with_data / bins:.0%}), {expression}",
    )


def pipeline_lines(cfg: Config) -> Iterator[str]:
    """The functional core composed by hand: heart rate over a whole day."""
    params = {"patient_id": PATIENT_ID, "device_id": DEVICE_ID, "start_time": DAY_START, "end_time": DAY_END}
    points = pipe(params, build_request(cfg, "heartrate", "csv"), pages, csv_points)
    count, low, mean, high = summary_stats(point["bpm"] for point in points if point["bpm"] is not None)
    yield line('pipe(params, build_request(cfg, "heartrate", "csv"), pages, csv_points)')
    yield line("  heart rate, whole day", f"{count:,} points, {low:.0f} to {high:.0f} bpm, mean {mean:.1f}")


def symptom_lines(client: stream.V1Client) -> Iterator[str]:
    """One accessor beyond accel: the probability of tremor over a day."""
    tremor = client.ProbabilitySymptom(
        patient_id=PATIENT_ID, device_id=DEVICE_ID, symptom="tremor", start_time=DAY_START, end_time=DAY_END
    )
    probabilities = (point["probability"] for point in tremor.points() if point["probability"] is not None)
    count, low, mean, high = summary_stats(probabilities)
    yield line(
        "ProbabilitySymptom(tremor)",
        f"{count:,} minutes, probability {low:.2f} to {high:.2f}, mean {mean:.2f}",
    )


def walkthrough(emu: Emulator) -> Iterator[str]:
    """The demo's summary lines, each yielded as soon as its queries have run."""
    from .sinks.inputs import emulator_config

    cfg = emulator_config(emu)
    client = stream.V1Client(cfg)
    yield line("emulator", f"{emu.url}, {emu.page_size:,} rows per page")
    yield line("patient / device", f"{PATIENT_ID} / {DEVICE_ID}")
    yield line("accel window", f"{iso(START_TIME)} to {iso(END_TIME)}")
    yield ""
    accel = client.Accel(patient_id=PATIENT_ID, device_id=DEVICE_ID, start_time=START_TIME, end_time=END_TIME)
    yield from accel_lines(accel)
    yield ""
    yield from pipeline_lines(cfg)
    yield from symptom_lines(client)
    yield ""
    yield line("HTTP requests the emulator saw", request_summary(emu.requests))


def main() -> None:
    """Run the walkthrough on a fresh emulator and print its summary."""
    from .emulator import Emulator

    started = time.perf_counter()
    print("runeq demo: the runeq V1 walkthrough against an in-process emulator\n")
    with Emulator(page_size=PAGE_SIZE) as emu:
        for text in walkthrough(emu):
            print(text, flush=True)
    print(line("done in", f"{time.perf_counter() - started:.2f} s"))
