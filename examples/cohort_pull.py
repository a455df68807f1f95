"""A cohort pull: one day of heart rate for many patients at once, errors kept per patient.

    python examples/cohort_pull.py

``cohort_points`` runs the queries a few at a time over the shared connection
pool; each patient's points are held in memory, so summarize (or write to disk)
per patient when a cohort is large.
"""

from statistics import fmean

from _common import COHORT, DAY_END, DAY_START, DEVICE_ID

from runeq_fn.pull.cohort import cohort_points
from runeq_fn.sinks.inputs import connect

DAY = {"device_id": DEVICE_ID, "start_time": DAY_START, "end_time": DAY_END}


def summarize(points: list[dict]) -> dict:
    """A patient's day in three numbers (the pure end of the pipeline)."""
    beats = [point["bpm"] for point in points if point["bpm"] is not None]
    return {"samples": len(beats), "mean_bpm": round(fmean(beats), 1), "max_bpm": max(beats)}


def main() -> None:
    with connect(emulator="auto") as cfg:
        outcomes = cohort_points(
            cfg, "heartrate", {pid: {"patient_id": pid} for pid in COHORT}, defaults=DAY, max_workers=4
        )
    for patient, outcome in outcomes.items():
        print(f"{patient}: {summarize(outcome.value) if outcome.ok else f'failed: {outcome.error}'}")


if __name__ == "__main__":
    main()
