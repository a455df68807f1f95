"""``runeq_fn.pull.cohort``: many queries against the emulator, bounded, with errors kept per query."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from runeq_fn import Config
from runeq_fn.emulator import Emulator
from runeq_fn.errors import APIError, UsageError
from runeq_fn.pull.cohort import Outcome, cohort_points, fetch_many, query_points

HOUR = {"device_id": "watch-1", "start_time": 1609491600, "end_time": 1609495200}  # 09:00-10:00 UTC
PATIENTS = [f"patient-{n}" for n in range(1, 7)]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=200) as emulator:
        yield emulator


@pytest.fixture
def cfg(emu: Emulator) -> Config:
    return Config(**emu.config_values(), retries=0)


def test_results_are_kept_per_query_in_order(cfg: Config) -> None:
    queries = {pid: {"patient_id": pid} for pid in reversed(PATIENTS)}
    outcomes = cohort_points(cfg, "heartrate", queries, defaults=HOUR, max_workers=3)
    assert list(outcomes) == list(queries)
    for pid, outcome in outcomes.items():
        assert outcome.ok and outcome.error is None
        assert outcome.value == query_points(cfg, "heartrate", {"patient_id": pid, **HOUR})
        assert len(outcome.value) == 720  # one every 5 s
    assert outcomes["patient-1"].value != outcomes["patient-2"].value


def test_a_failing_query_keeps_its_error_while_the_others_succeed(cfg: Config) -> None:
    queries = {
        "good": {"patient_id": "patient-1"},
        "bad resolution": {"patient_id": "patient-2", "resolution": "soon"},  # the server refuses it
        "no such resource": {"patient_id": "patient-3"},
        "also good": {"patient_id": "patient-4"},
    }

    def run(query: dict) -> list:
        name = "heartrates" if query["patient_id"] == "patient-3" else "heartrate"
        return query_points(cfg, name, query, defaults=HOUR)

    outcomes = fetch_many(queries, run)
    assert [outcome.ok for outcome in outcomes.values()] == [True, False, False, True]
    bad = outcomes["bad resolution"].error
    assert isinstance(bad, APIError) and bad.status_code == 400
    assert isinstance(outcomes["no such resource"].error, UsageError)
    with pytest.raises(APIError):
        outcomes["bad resolution"].unwrap()
    assert len(outcomes["also good"].unwrap()) == 720


def test_concurrency_is_bounded_by_max_workers(cfg: Config, emu: Emulator) -> None:
    emu.delay = 0.02  # every answer waits, so that queries overlap
    active, peak, lock = 0, 0, threading.Lock()

    def run(query: dict) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return len(query_points(cfg, "heartrate", query, defaults=HOUR))
        finally:
            with lock:
                active -= 1

    queries = {pid: {"patient_id": pid} for pid in PATIENTS}
    started = time.perf_counter()
    outcomes = fetch_many(queries, run, max_workers=2)
    elapsed = time.perf_counter() - started
    assert peak == 2
    assert all(outcome.value == 720 for outcome in outcomes.values())
    peak = 0
    fetch_many(queries, run, max_workers=6)
    assert peak > 2
    assert elapsed > 0.02 * len(queries) * 5 / 2  # 5 requests a query (720 rows, 200 a page), 2 at a time


def test_no_queries_no_threads() -> None:
    assert fetch_many({}, lambda query: 1 / 0) == {}


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(UsageError):
        fetch_many({"a": 1}, str, max_workers=0)


def test_an_outcome_is_plain_data() -> None:
    assert Outcome(True, [1.0]) == Outcome(True, [1.0])
    assert Outcome(True, 3).unwrap() == 3
