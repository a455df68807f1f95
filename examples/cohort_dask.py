"""The cohort pull spread over Dask: a bag of query specs mapped through the same pure pipeline.

    python examples/cohort_dask.py [SCHEDULER]

SCHEDULER is ``threads`` (the default), ``processes`` or ``synchronous``; with
a ``dask.distributed`` client connected, the same bag runs on a cluster. Each
task builds its request from a picklable spec and the config, pulls, and
returns only a summary, so no points travel between workers.
"""

import sys
from functools import partial

import dask.bag
from _common import COHORT
from cohort_pull import DAY, summarize

from runeq_fn.cohort import attempt, query_points
from runeq_fn.export import connect


def pull_summary(cfg: object, spec: dict) -> dict:
    """One task: the summary of one spec's points, or the error that stopped it."""
    outcome = attempt(partial(query_points, cfg, "heartrate", defaults=DAY), spec)
    found = summarize(outcome.value) if outcome.ok else {"error": str(outcome.error)}
    return {"patient_id": spec["patient_id"], **found}


def main(scheduler: str) -> None:
    specs = [{"patient_id": pid} for pid in COHORT]
    with connect(emulator="auto") as cfg:
        bag = dask.bag.from_sequence(specs, npartitions=len(specs)).map(partial(pull_summary, cfg))
        for summary in bag.compute(scheduler=scheduler):
            print(summary)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "threads")
