"""Accelerometry magnitude and tremor probability over one day, drawn to a PNG.

    pip install 'runeq-fn[plot]'
    python examples/plot_day.py [OUTPUT.png]

A day of 50 Hz accelerometry is a million rows or more: it arrives page by page
into one DataFrame, and is drawn per minute (the mean magnitude, with the
minute's range shaded) above the probability of tremor.
"""

import os
import sys
import tempfile
from datetime import datetime, timezone

import matplotlib.dates as mdates
from _common import DAY_END, DAY_START, DEVICE_ID, PATIENT_ID
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from runeq_fn import build_request, pages
from runeq_fn.sinks.frames import to_dataframe
from runeq_fn.sinks.inputs import connect

QUERY = {"patient_id": PATIENT_ID, "device_id": DEVICE_ID, "start_time": DAY_START, "end_time": DAY_END}


def frame(cfg: object, name: str, **params: str):
    """One resource over the day as a DataFrame indexed by UTC time."""
    request = build_request(cfg, name, "csv", {**QUERY, **params})
    return to_dataframe(pages(request, prefetch=2), time_index=True)


def magnitude_per_minute(accel):
    """The mean, min and max of |a| = sqrt(x² + y² + z²) in each minute, in g."""
    magnitude = (accel["x"] ** 2 + accel["y"] ** 2 + accel["z"] ** 2) ** 0.5
    return magnitude.resample("1min").agg(["mean", "min", "max"])


def tremor_per_minute(tremor):
    """Tremor probability on a one-minute grid: NaN where no minute was scored, so lines break there."""
    return tremor["probability"].resample("1min").mean()


def draw(minutes, tremor, output: str) -> None:
    """Two panels sharing the day's time axis, saved as a PNG."""
    day = datetime.fromtimestamp(DAY_START, tz=timezone.utc)
    fig = Figure(figsize=(11, 6), layout="constrained")
    FigureCanvasAgg(fig)  # Agg: draws to files, no display needed
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.fill_between(
        minutes.index, minutes["min"], minutes["max"], color="tab:blue", alpha=0.25, label="range"
    )
    top.plot(minutes.index, minutes["mean"], color="tab:blue", linewidth=0.8, label="mean")
    top.set_ylabel("|acceleration| per minute (g)")
    top.legend(loc="upper right")
    bottom.plot(tremor.index, tremor, color="tab:red", linewidth=0.8)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("P(tremor)")
    bottom.set_xlim(day, datetime.fromtimestamp(DAY_END, tz=timezone.utc))
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=timezone.utc))
    bottom.set_xlabel("time (UTC)")
    fig.suptitle(f"{PATIENT_ID} / {DEVICE_ID}, {day:%Y-%m-%d}")
    fig.savefig(output, dpi=100)


def main(output: str) -> None:
    with connect(emulator="auto") as cfg:
        accel = frame(cfg, "accel")
        tremor = frame(cfg, "probability_symptom", symptom="tremor")
    draw(magnitude_per_minute(accel), tremor_per_minute(tremor), output)
    print(f"{len(accel):,} accelerometry rows and {len(tremor):,} tremor probabilities drawn to {output}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "day.png"))
