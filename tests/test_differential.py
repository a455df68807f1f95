"""runeq 0.15.0 and runeq_fn make the same calls against the emulator: same requests, same results.

Results are compared with their types: ``numpy.float64`` is not ``float``, NaN is NaN (never
mapped to None). Beyond the happy path: blank, quoted, short, long and text cells, HTML and empty
error bodies, page numbers, tokens and a mix of both, numpy on and off, prefetch on.

runeq 0.15.0 runs in a venv of its own (``make test`` builds ``.venv-runeq``; its python is
named by ``RUNEQ_PYTHON``) and is driven as a black box in a subprocess.
"""

import json
import os
import subprocess
import sys
from functools import partial

import pytest

import runeq_fn
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.parse.points import plain_table

sys.path.insert(0, os.path.dirname(__file__))
from differential import run_cases  # noqa: E402
from extras import need  # noqa: E402

need("numpy")  # runeq's points() gave numpy.float64: most cases compare ours with numpy on

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


def run_ours(emu, cases, **client_options):
    return json.loads(json.dumps(run_cases(runeq_fn.stream, runeq_fn.Config, emu.url, cases, **client_options)))


def label(case):
    return f"{case['accessor']}.{case['method']}({case['params']}) numpy={case.get('numpy', True)}"


def assert_same(cases, theirs, ours, their_log=None, our_log=None):
    """Every result the same (types and NaN included), and the same requests when logs are given."""
    assert len(theirs) == len(ours) == len(cases)
    for n, (case, a, b) in enumerate(zip(cases, theirs, ours, strict=True)):
        if their_log is not None:
            assert their_log[n] == our_log[n], label(case)
        assert a == b, label(case)


@pytest.mark.parametrize("pagination", ["page", "token", "mixed"])
@pytest.mark.parametrize("auth", ["access_token", "client_keys", "jwt"])
def test_same_requests_and_results_as_runeq(pagination, auth):
    with Emulator(pagination=pagination, page_size=50) as emu:
        cases = cases_for(emu.config_values(auth=auth))
        theirs = run_runeq(emu, cases)
        their_log = request_slices(emu.requests)
        emu.clear()
        ours = run_ours(emu, cases)
        our_log = request_slices(emu.requests)
    assert_same(cases, theirs, ours, their_log, our_log)
    assert sum(len(s) for s in our_log) > len(cases)  # the cases crossed page boundaries


# -- beyond the happy path ---------------------------------------------------------------------

ODD_ROWS = {"quoted": 0.01, "quoted_text": 0.005, "text": 0.05, "short": 0.01, "long": 0.01}
"""Sloppy CSV rows: about a quarter of the 50-row pages stay plain (text cells at most)."""


def odd_cases(config, numpy):
    """Blank, quoted, short, long and text cells through every CSV method, and a page the server refuses."""
    cases = []
    for accessor, (query, _) in QUERIES.items():
        defaults = {"patient_id": "patient-1", **query}
        csv = accessor not in ("Event", "Span")
        methods = ["points", "__iter__", "iter_csv_text", "get_csv_response", "iter_json_data"] if csv else [
            "iter_json_data", "get_json_response"]
        for method in methods:
            cases.append({"accessor": accessor, "defaults": defaults, "method": method, "params": {}})
        iterate = "points" if csv else "iter_json_data"
        for params in [{"page": 1}, {"page": "x"}, {"page": -1}]:  # runeq sent any page unchecked
            cases.append({"accessor": accessor, "defaults": defaults, "method": iterate, "params": params})
        if csv:
            cases.append({"accessor": accessor, "defaults": defaults, "method": "iter_csv_availability",
                          "params": AVAILABILITY})
    for case in cases:
        case.update(config=config, numpy=numpy)
    return cases


def odd_values(results):
    """What the odd data put in the points: text, blank NaN, a missing key's NaN, a long row's surplus."""
    seen = set()
    for result in results:
        for point in result.get("value", []):
            if not isinstance(point, dict) or "time" not in point:
                continue
            for key, value in point.items():
                if key == "None":
                    seen.add("surplus")
                elif isinstance(value, str):
                    seen.add("text")
                elif value in (["float", "nan"], None):
                    seen.add("blank")
                elif value == ["float64", "nan"]:
                    seen.add("missing")
    return seen


@pytest.mark.parametrize(
    "pagination, numpy",
    [("page", True), ("token", True), ("mixed", True), ("mixed", False)],  # mixed holds both kinds of page
    ids=["page-numpy", "token-numpy", "mixed-numpy", "mixed-no-numpy"],
)
def test_same_as_runeq_on_odd_data_with_numpy_prefetch_and_both_engines(pagination, numpy):
    odd_rows = ODD_ROWS if numpy else {**ODD_ROWS, "short": 0.0}  # without numpy runeq broke on a short row
    with Emulator(pagination=pagination, page_size=50, blank_rate=0.1, odd_rows=odd_rows) as emu:
        cases = odd_cases(emu.config_values(), numpy)
        theirs = run_runeq(emu, cases)
        their_log = request_slices(emu.requests)
        emu.clear()
        ours = run_ours(emu, cases, engine="python")
        our_log = request_slices(emu.requests)
        emu.clear()
        by_arrow = run_ours(emu, cases, engine="arrow")
        arrow_log = request_slices(emu.requests)
        emu.clear()
        prefetched = run_ours(emu, cases, prefetch=4)
    assert_same(cases, theirs, ours, their_log, our_log)
    assert_same(cases, theirs, by_arrow, their_log, arrow_log)
    assert_same(cases, theirs, prefetched)  # prefetch asks for guessed pages too: results only
    assert odd_values(ours) == ({"text", "blank", "surplus", "missing"} if numpy else {"text", "blank", "surplus"})
    pages = [text for case, result in zip(cases, ours) if case["method"] == "iter_csv_text" for text in result["value"]]
    assert any(plain_table(t) is not None and "n/a" in t for t in pages)  # a plain page with text (by columns)
    assert any(plain_table(t) is None for t in pages)  # and pages read row by row
    errors = [r for c, r in zip(cases, ours) if c["params"].get("page") in ("x", -1)]
    assert errors and all(r["error"] == "APIError" and r["status_code"] == 400 for r in errors)


FAULTS = [
    Fault("html", status=403, path="/v1/"),
    Fault("html", status=502, path="/v1/"),
    Fault("empty_error", status=400, path="/v1/"),
    Fault("empty_error", status=503, path="/v1/"),
    Fault("status", status=404, path="/v1/"),
]


@pytest.mark.parametrize("pagination", ["page", "token", "mixed"])
def test_error_bodies_against_runeq(pagination):
    """Each fault answers a case's first request. get_*_response hand back any error as runeq did; the
    iterators raise APIError where runeq raised APIError, and also where runeq leaked requests'
    HTTPError or JSONDecodeError for an HTML or empty body (a difference the README lists)."""
    defaults = {"patient_id": "patient-1", **QUERIES["Accel"][0]}
    calls = [("get_csv_response", {}), ("get_json_response", {}), ("points", {}), ("iter_json_data", {}),
             ("iter_csv_text", {"page": 2})]
    with Emulator(pagination=pagination, page_size=50) as emu:
        config = {**emu.config_values(), "retries": 0}  # runeq ignores the key; runeq-fn makes one try
        cases = [{"accessor": "Accel", "defaults": defaults, "method": method, "params": params, "config": config}
                 for _ in FAULTS for method, params in calls]
        faults = [fault for fault in FAULTS for _ in calls]
        for fault in faults:
            emu.inject(fault)
        theirs = run_runeq(emu, cases)
        their_log = request_slices(emu.requests)
        emu.clear()
        for fault in faults:
            emu.inject(fault)
        ours = run_ours(emu, cases)
        our_log = request_slices(emu.requests)
    assert their_log == our_log and all(len(s) == 1 for s in our_log)  # one request a case, the faulted one
    leaked = 0
    for case, fault, a, b in zip(cases, faults, theirs, ours):
        if a.get("error") in ("JSONDecodeError", "HTTPError"):  # requests' own errors leaked out of runeq
            leaked += 1
            assert fault.kind in ("html", "empty_error")
            assert (b["error"], b["status_code"]) == ("APIError", fault.status), label(case)
            assert b["message"].startswith(f"{fault.status} HTTPError: "), label(case)
        else:
            assert a == b, label(case)
    assert leaked == 4 * 3  # the three iterators under the four HTML and empty bodies


def test_a_short_row_without_numpy_is_blank_where_runeq_raised_type_error():
    with Emulator(page_size=50, odd_rows={"short": 0.05}) as emu:
        defaults = {"patient_id": "patient-1", **QUERIES["Accel"][0]}
        cases = [{"accessor": "Accel", "defaults": defaults, "method": "points", "params": {},
                  "config": emu.config_values(), "numpy": numpy} for numpy in (False, True)]
        theirs = run_runeq(emu, cases)
        ours = run_ours(emu, cases)
    assert theirs[0]["error"] == "TypeError"
    short = [p for p in ours[0]["value"] if p["z"] is None]
    assert short and all(isinstance(p["y"], list) for p in short)  # the rows before their end are kept
    assert theirs[1] == ours[1] and ["float64", "nan"] in [p["z"] for p in ours[1]["value"]]


LINE_BREAK_PAGES = {
    # every row as wide as its header once split: runeq without numpy read these too
    "full": "time,x\n1,2\x0b3,4\x0c5,6\x1c7,8\x1d9,10\x1e11,12\x8513,14\u202815,16\u202917,18\r19,20\r\n",
    # a cell cut in two (a short row), a quoted line break (dropped by splitlines), a long row
    "cut": 'time,x\n1,a\x0cb\n2,"3\n4"\n5,6\u20287,8,9\n',
    # a first line that str.splitlines() leaves blank: csv.DictReader's empty header
    "blank header": "\x1etime,x\n1,2\n",
}


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "no-numpy"])
@pytest.mark.parametrize("page", list(LINE_BREAK_PAGES), ids=list(LINE_BREAK_PAGES))
def test_rows_end_where_str_splitlines_ends_them_as_in_runeq(page, numpy):
    from rawserver import RawServer, answer

    if page == "cut" and not numpy:
        pytest.skip("runeq without numpy raised TypeError on the short row (tested above)")
    body = LINE_BREAK_PAGES[page].encode()
    csv_head = (("Content-Type", "text/csv; charset=utf-8"),)
    answers = [answer(404), answer(200, body, csv_head), answer(200, b"", csv_head)]  # mark, the page, the end
    results = []
    runs = [run_runeq, partial(run_ours, engine="python"), partial(run_ours, engine="arrow")]
    for run in runs:
        with RawServer(answers) as server:
            cases = [{"accessor": "Accel", "defaults": {"device_id": "d"}, "method": "points", "params": {},
                      "config": {"jwt": "not-a-real-jwt", "stream_url": server.url}, "numpy": numpy}]
            results.append(run(server, cases))
    theirs, *ours = results
    assert "value" in theirs[0], theirs[0]
    assert ours == [theirs, theirs]
