"""A pipeline of pure functions with toolz: hourly heart rate over a day, one page in memory at a time.

python examples/pipeline.py
"""

from _common import DAY_END, DAY_START, DEVICE_ID, HOUR, PATIENT_ID
from toolz import curried, pipe

from runeq_fn import build_request, csv_points, pages
from runeq_fn.sinks.inputs import connect


def hour_of(point: dict) -> int:
    """The UTC hour of the day a point falls in."""
    return int(point["time"] - DAY_START) // HOUR


def add_beat(total: tuple[int, float], point: dict) -> tuple[int, float]:
    """A running (count, sum) of beats per minute."""
    count, bpm = total
    return count + 1, bpm + point["bpm"]


def main() -> None:
    query = {"patient_id": PATIENT_ID, "device_id": DEVICE_ID, "start_time": DAY_START, "end_time": DAY_END}
    with connect(emulator="auto") as cfg:
        hourly = pipe(
            query,
            build_request(cfg, "heartrate", "csv"),  # curried: a function of the query
            pages,  # lazy: nothing is fetched until a point is asked for
            csv_points,
            curried.filter(lambda point: point["bpm"] is not None),
            curried.reduceby(hour_of, add_beat, init=(0, 0.0)),
        )
    for hour, (count, total) in sorted(hourly.items()):
        print(f"{hour:02d}:00 UTC  {count:4d} samples  mean {total / count:5.1f} bpm")


if __name__ == "__main__":
    main()
