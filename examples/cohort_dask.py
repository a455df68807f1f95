"""The cohort over Dask: one lazy DataFrame of every patient's day, each window fetched by a worker.

    python examples/cohort_dask.py [SCHEDULER]

SCHEDULER is ``processes`` (the default: a local cluster of two worker processes),
``threads``, ``synchronous``, or the address of a running cluster
(``tcp://10.0.0.5:8786``). ``read_points`` fetches nothing itself: it makes one
partition per patient and six hours, and the workers pull them when the summary
is computed; only the summary comes back.
"""

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from _common import COHORT, DAY_END, DAY_START, DEVICE_ID, HOUR

from runeq_fn.sinks.dask import read_points
from runeq_fn.sinks.inputs import connect


@contextmanager
def computing(scheduler: str) -> Iterator[Callable[[Any], Any]]:
    """A function that computes a Dask collection on the chosen scheduler or cluster."""
    if scheduler in ("threads", "synchronous"):
        yield lambda collection: collection.compute(scheduler=scheduler)
        return
    from distributed import Client, LocalCluster

    where = (
        nullcontext(scheduler)
        if "://" in scheduler
        # a worker's last heartbeat may race the scheduler's close and log a traceback: not an error of ours
        else LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
        )
    )
    with where as cluster, Client(cluster) as client:
        yield lambda collection: client.compute(collection).result()


def main(scheduler: str) -> None:
    queries = [
        {"patient_id": pid, "device_id": DEVICE_ID, "start_time": DAY_START, "end_time": DAY_END} for pid in COHORT
    ]
    with connect(emulator="auto") as cfg, computing(scheduler) as compute:
        frame = read_points(cfg, "heartrate", queries, window=6 * HOUR)
        summary = compute(frame.groupby("patient_id")["bpm"].agg(["count", "mean", "max"], split_out=1))
    for patient, row in summary.sort_index().iterrows():
        print({"patient_id": patient, "samples": int(row["count"]), "mean_bpm": round(float(row["mean"]), 1),
               "max_bpm": float(row["max"])})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "processes")
