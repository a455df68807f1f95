"""A pull's life: what a forked child shares with its parent, what Ctrl-C and an early close leave running.

Everything is real: children of every multiprocessing start method, threads
counted with ``threading.enumerate()``, a ``runeq fetch`` process sent SIGINT.
"""

from __future__ import annotations

import multiprocessing

import pytest

from runeq_fn import Config, build_request, pages
from runeq_fn.emulator import Emulator

START = 1609491600  # 2021-01-01 09:00 UTC, inside a wear window
QUERY = {"device_id": "watch-1", "start_time": START, "end_time": START + 4}
PATIENTS = [f"p{n}" for n in range(6)]
ROUNDS = 4


def pull(values: dict, patient: str) -> bytes:
    """Every page of one patient's accel, as bytes (the emulator's data depend on the patient alone)."""
    request = build_request(Config(**values), "accel", "csv", {**QUERY, "patient_id": patient})
    return b"".join(response.content for response in pages(request))


def pulls(values: dict, patient: str) -> list[bytes]:
    """One patient's pull, ``ROUNDS`` times over the same pools."""
    return [pull(values, patient) for _ in range(ROUNDS)]


# -- after fork, nothing is shared with the parent -------------------------------------------


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_children_pull_their_own_patients_while_the_parent_pulls(method: str) -> None:
    with Emulator(page_size=20) as emu:
        values = {**emu.config_values(), "retries": 0}
        # the parent's pull leaves its keep-alive connections in the pool, as a notebook's would
        reference = {patient: pull(values, patient) for patient in PATIENTS}
        assert len(set(reference.values())) == len(PATIENTS)
        context = multiprocessing.get_context(method)
        with context.Pool(3) as pool:
            children = pool.starmap_async(pulls, [(values, patient) for patient in PATIENTS[1:]])
            parent = []
            while not children.ready():
                parent.append(pull(values, PATIENTS[0]))
            results = children.get(timeout=120)
        for patient, rows in zip(PATIENTS[1:], results, strict=True):
            assert rows == [reference[patient]] * ROUNDS, f"a child pulling {patient} read other rows"
        assert parent and set(parent) == {reference[PATIENTS[0]]}
