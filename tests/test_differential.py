"""runeq 0.15.0 and runeq_fn make the same calls against the emulator: same requests, same results.

runeq 0.15.0 runs in a venv of its own (``make test`` builds ``.venv-runeq``; its python is
named by ``RUNEQ_PYTHON``) and is driven as a black box in a subprocess.
"""

import json
import os
import subprocess
import sys

import pytest

import runeq_fn
from runeq_fn.emulator import Emulator

sys.path.insert(0, os.path.dirname(__file__))
from differential import run_cases  # noqa: E402

RUNEQ_PYTHON = os.environ.get("RUNEQ_PYTHON", "")
DRIVER = os.path.join(os.path.dirname(__file__), "differential.py")

pytestmark = pytest.mark.skipif(
    not os.path.exists(RUNEQ_PYTHON) and not os.environ.get("CI"),
    reason="runeq 0.15.0 is not installed: run `make test`, which sets RUNEQ_PYTHON",
)

DAY = 1609718400  # 2021-01-04 00:00 UTC
MORNING = DAY + 9 * 3600  # the emulator always has data from 09:00 to 11:00 UTC

# One row per accessor: the defaults of a small query (a few pages at page_size 50),
# and extra parameter sets that exercise overrides and filters.
QUERIES = {
    "Accel": ({"device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 4}, [{"end_time": MORNING + 2}]),
    "Rotation": ({"device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 3}, []),
    "HeartRate": ({"device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 1000}, []),
    "ProbabilitySymptom": (
        {"device_id": "watch-1", "symptom": "tremor", "start_time": MORNING, "end_time": MORNING + 7200},
        [{"severity": "*"}, {"symptom": "dyskinesia"}],
    ),
    "LFP": (
        {"device_id": "dbs-1", "start_time": MORNING, "end_time": MORNING + 0.4},
        [{"channels": "0,1"}, {"channel": "1"}],
    ),
    "BandPower": ({"device_id": "dbs-1", "start_time": MORNING, "end_time": MORNING + 50}, []),
    "State": (
        {"device_id": "dbs-1", "start_time": DAY, "end_time": DAY + 2 * 86400,
         "event": "therapy_status", "fields": "therapy_status,amplitude_ma"},
        [{"expression": "event_type"}],
    ),
    "Event": ({"start_time": DAY, "end_time": DAY + 14 * 86400}, [{"event": "patient.medication"}]),
    "Span": ({"start_time": DAY, "end_time": DAY + 14 * 86400}, [{"event": "device.healthkit"}]),
}
CSV_METHODS = [
    "get_json_response", "get_csv_response", "iter_json_data", "iter_csv_text",
    "iter_json_availability", "iter_csv_availability", "points", "__iter__", "expr_availability",
]
JSON_METHODS = ["get_json_response", "iter_json_data", "iter_json_availability", "expr_availability"]
AVAILABILITY = {"resolution": 300, "start_time": DAY, "end_time": DAY + 86400}


def cases_for(config):
    """Every accessor and method, plus starting pages, overrides, filters and errors."""
    cases = []
    for accessor, (query, variants) in QUERIES.items():
        defaults = {"patient_id": "patient-1", **query}
        methods = JSON_METHODS if accessor in ("Event", "Span") else CSV_METHODS
        for method in methods:
            params = AVAILABILITY if "availability" in method else {}
            cases.append({"accessor": accessor, "defaults": defaults, "method": method, "params": params})
        iterate = "iter_json_data" if accessor in ("Event", "Span") else "points"
        for params in variants + [{"page": 1}]:
            cases.append({"accessor": accessor, "defaults": defaults, "method": iterate, "params": params})
        if accessor not in ("Event", "Span"):
            cases.append({"accessor": accessor, "defaults": defaults, "method": "iter_csv_text", "params": {"page": 2}})
        cases.append({"accessor": accessor, "defaults": defaults, "method": "iter_json_data",
                      "params": {"start_time": "yesterday"}})
    cases.append({"accessor": "Accel", "defaults": {"patient_id": "patient-1"}, "method": "points", "params": {}})
    for case in cases:
        case["config"] = config
    return cases


def request_slices(records):
    """The request log cut at each case marker: one list of (method, path, params, auth) a case."""
    slices = []
    for r in records:
        if r.path == "/__case__":
            slices.append([])
        elif slices:
            slices[-1].append((r.method, r.path, list(map(list, r.params)), r.auth))
    return slices


def run_runeq(emu, cases):
    job = json.dumps({"url": emu.url, "cases": cases})
    done = subprocess.run(
        [RUNEQ_PYTHON, DRIVER], input=job, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("pagination", ["page", "token", "mixed"])
@pytest.mark.parametrize("auth", ["access_token", "client_keys", "jwt"])
def test_same_requests_and_results_as_runeq(pagination, auth):
    with Emulator(pagination=pagination, page_size=50) as emu:
        cases = cases_for(emu.config_values(auth=auth))
        theirs = run_runeq(emu, cases)
        their_log = request_slices(emu.requests)
        emu.clear()
        ours = json.loads(json.dumps(run_cases(runeq_fn.stream, runeq_fn.Config, emu.url, cases)))
        our_log = request_slices(emu.requests)
    assert len(theirs) == len(ours) == len(cases)
    for case, a, b, log_a, log_b in zip(cases, theirs, ours, their_log, our_log, strict=True):
        label = f"{case['accessor']}.{case['method']}({case['params']})"
        assert log_a == log_b, label
        assert a == b, label
    assert sum(len(s) for s in our_log) > len(cases)  # the cases crossed page boundaries
