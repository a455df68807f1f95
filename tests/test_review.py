"""An adversarial review of the one pull engine: what a hostile server or user broke, each kept broken-proof."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from extras import need
from rawserver import RawServer, answer

from runeq_fn import Config, build_request, cli, csv_points, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, ParseError, TransportError, UsageError
from runeq_fn.policy import Policy
from runeq_fn.pull.cohort import cohort_points
from runeq_fn.pull.shards import sharded_items, sharded_pages, window_pages
from runeq_fn.pull.windows import plan_windows
from runeq_fn.sinks.export import export_query
from runeq_fn.sinks.parquet import export_cohort

DEVICE = {"patient_id": "patient-1", "device_id": "watch-1"}
WEAR_START = 1609490700  # patient-1's watch-1 starts recording at 08:45 on 2021-01-01
QUERY = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + 12}


def end_to_end(results: Iterable[dict[str, Any]]) -> dict[str, list]:
    """JSON results' columns put end to end."""
    columns: dict[str, list] = {}
    for result in results:
        for key, value in result.items():
            if isinstance(value, list):
                columns.setdefault(key, []).extend(value)
    return columns


def test_a_json_page_in_latin_1_is_cut_as_the_parser_reads_it() -> None:
    # a JSON body in Latin-1 was passed on uncut: the rows of each window's margin came twice
    with Emulator(pagination="page", page_size=37) as emu:
        cfg = Config(**emu.config_values(), retries=0)

        def pulled(shards: int) -> dict[str, list]:
            emu.inject(Fault("non_utf8", charset="latin-1", path="/v1/accel.json", times=999))
            return end_to_end(stream.V1Client(cfg, shards=shards).Accel(**DEVICE).iter_json_data(**QUERY))

        assert pulled(4) == pulled(1)


UTF_16 = (("Content-Type", "text/csv; charset=utf-16"),)


@pytest.mark.parametrize(
    ("paging", "page", "want"),
    [
        ("csv", "time,x\n9,a\n10,b\n", [{"time": 10.0, "x": "b"}]),
        ("json", '{"success": true, "result": {"time": [9, 10], "x": [1, 2]}}', {"time": [10], "x": [2]}),
    ],
)
def test_a_page_in_utf_16_is_cut_as_the_parser_reads_it(paging, page, want) -> None:
    # the cut read bytes as UTF-8: a UTF-16 page has "no time column" and the pull was refused
    with RawServer([answer(body=page.encode("utf-16"), headers=UTF_16)]) as server:
        request = build_request(Config(stream_url=server.url, jwt="not-a-real-jwt"), "state", paging, {**DEVICE})
        window = {"start_time": 0, "end_time": 99, "cut": [10, None]}
        got = window_pages(request, [window])
        points = list(csv_points(got)) if paging == "csv" else next(got).json()["result"]
    assert points == want


def test_a_quoted_cell_with_a_line_break_is_cut_as_one_row() -> None:
    # the cut split pages on lines: half a row kept, half dropped
    page = b'time,note\n9,"a\n12,b"\n10,c\n11,"d\ne"\n'
    with RawServer([answer(body=page)]) as server:
        request = build_request(Config(stream_url=server.url, jwt="not-a-real-jwt"), "state", "csv", {**DEVICE})
        window = {"start_time": 0, "end_time": 99, "cut": [10, None]}
        points = list(csv_points(window_pages(request, [window])))
    assert points == [{"time": 10.0, "note": "c"}, {"time": 11.0, "note": "d\ne"}]


def test_pull_deadline_bounds_a_sharded_pull_with_its_plan() -> None:
    # the plan's availability request had a deadline of its own, then each window a fresh one:
    # a plan that used up the pull's time was followed by a whole pull, no error
    with Emulator(pagination="page", page_size=1000) as emu:
        cfg = Config(**emu.config_values(), retries=0)
        emu.inject(Fault("slow", seconds=3, path="/v1/accel.json"))
        request = build_request(cfg, "accel", "csv", QUERY, policy=Policy(pull_deadline=1))
        with pytest.raises(TransportError, match="pull_deadline"):
            list(sharded_pages(request, shards=4))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_pull_deadline_bounds_runeq_fetch_with_its_plan(tmp_path, capsys, fmt) -> None:
    # runeq fetch planned its windows (durable.sharded_start) outside the pull's deadline, then each
    # window had a fresh one: a plan that used up the pull's time was followed by a whole pull, exit 0
    if fmt == "parquet":
        need("pyarrow", "pandas")
    with Emulator(pagination="page", page_size=1000) as emu:
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0, "pull_deadline": 1}))
        config.chmod(0o600)
        emu.inject(Fault("slow", seconds=3, path="/v1/accel.json"))
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in QUERY.items()]
        with pytest.raises(SystemExit) as exited:
            cli.main(["fetch", "accel", *flags, "--format", fmt, "--output", str(tmp_path / f"out.{fmt}"),
                      "--shards=4", "--config", str(config)])
    assert exited.value.code == 2 and "pull_deadline" in capsys.readouterr().err


THREADS_RUN_OUT = """
import json, resource, sys, threading
from runeq_fn import Config, build_request, csv_points
from runeq_fn.pull.shards import sharded_pages

cfg = Config(**json.loads(sys.argv[1]), retries=0)
query = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609490700, "end_time": 1609491300}
request = build_request(cfg, "accel", "csv", query)
threading.stack_size(64 * 2**20)  # each thread now reserves 64 MiB of address space: about 20 more fit
used = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (used + 20 * 64 * 2**20, hard))
try:
    list(csv_points(sharded_pages(request, shards=200, plan="even")))
except RuntimeError as exc:
    print("raised:", exc)
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
print("left:", sum(t.name.startswith("runeq-shard") for t in threading.enumerate()))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc (Linux)")
def test_windows_started_before_a_thread_that_cannot_start_are_stopped_and_joined() -> None:
    # the windows' threads were started before the pull's try: when the process ran out of threads
    # part way, those already running were never stopped nor joined (left blocked on a board nobody read).
    # The emulator runs here, so that only the pull's process is short of threads.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this tree's runeq_fn
    with Emulator(pagination="page", page_size=1000) as emu:
        ran = subprocess.run([sys.executable, "-c", THREADS_RUN_OUT, json.dumps(emu.config_values())],
                             capture_output=True, text=True, timeout=120, env=env)
    assert "raised: can't start new thread" in ran.stdout, ran.stdout + ran.stderr
    assert "left: 0" in ran.stdout


@pytest.mark.parametrize("pull", [sharded_pages, partial(sharded_items, parse=lambda r: csv_points([r]))])
@pytest.mark.parametrize(("option", "value"), [("buffer", "8"), ("buffer", 2.5), ("buffer", 0), ("buffer", True), ("plan", "bogus")])
def test_a_bad_buffer_or_plan_is_refused_at_the_call(pull, option, value) -> None:
    # buffer="8" failed deep in the pull (TypeError), 2.5, 0 and True were taken; a bad plan was said at the first page
    with Emulator() as emu:
        request = build_request(Config(**emu.config_values()), "accel", "csv", QUERY)
        with pytest.raises(UsageError, match=f"{option} must be"):
            pull(request, shards=4, **{option: value})
        assert emu.requests == []


def test_an_error_in_one_window_hangs_up_the_others_requests_in_flight() -> None:
    # the failed pull was stopped, then joined, but its other windows' requests were not hung up:
    # the error waited for the slowest of them (up to page_deadline, 4 minutes by default)
    with Emulator(pagination="page", page_size=1000) as emu:
        request = build_request(Config(**emu.config_values(), retries=0), "accel", "csv", QUERY)
        first, _, failing, _ = plan_windows(request, 4, plan="even")
        emu.inject(Fault("slow", seconds=20, path="/v1/accel.csv", params={k: first[k] for k in ("start_time", "end_time")}))
        emu.inject(Fault("status", status=400, path="/v1/accel.csv", params={k: failing[k] for k in ("start_time", "end_time")}))
        with pytest.raises(APIError) as caught:
            list(sharded_pages(request, shards=4, plan="even"))
        answered = [dict(r.params)["start_time"] for r in emu.requests]  # the log has an answer before it is sent
    assert caught.value.status_code == 400
    assert str(first["start_time"]) not in answered, "the error was raised only once the slow window had its answer"


BAD_STATS_SURFACES = {
    "V1Client": lambda cfg, tmp, stats: list(stream.V1Client(cfg, shards=4, stats=stats).Accel(**DEVICE).points(**QUERY)),
    "sharded_pages": lambda cfg, tmp, stats: sharded_pages(build_request(cfg, "accel", "csv", QUERY), 4, stats=stats),
    "sharded_items": lambda cfg, tmp, stats: sharded_items(
        build_request(cfg, "accel", "csv", QUERY), lambda r: csv_points([r]), 4, stats=stats
    ),
    "cohort_points": lambda cfg, tmp, stats: cohort_points(cfg, "accel", {"p": QUERY}, shards=4, stats=stats),
    "export_query": lambda cfg, tmp, stats: export_query(cfg, "accel", QUERY, "csv", tmp / "a.csv", shards=4, stats=stats),
    "export_cohort": lambda cfg, tmp, stats: export_cohort(cfg, "accel", QUERY, ["p1"], tmp / "cohort", stats=stats),
}


@pytest.mark.parametrize("surface", list(BAD_STATS_SURFACES))
def test_a_stats_that_is_not_a_stats_is_refused_before_any_request(surface, tmp_path) -> None:
    # it failed deep in the pull (AttributeError: 'dict' object has no attribute 'record'), after requests,
    # and each window's thread printed its traceback
    with Emulator() as emu:
        with pytest.raises(UsageError, match="stats must be a runeq_fn.pull.stats.Stats"):
            BAD_STATS_SURFACES[surface](Config(**emu.config_values()), tmp_path, {})
        assert emu.requests == []


@pytest.mark.parametrize("times", [{"end_time": "tomorrow-4242"}])  # a datetime is a time now (runeq_fn.times)
def test_a_sharded_pull_of_a_time_that_is_not_unix_seconds_says_so_without_showing_it(times) -> None:
    # the error echoed what was typed: "... in unix seconds, not 'tomorrow-4242'"
    with Emulator() as emu:
        accel = stream.V1Client(Config(**emu.config_values()), shards=4).Accel(**DEVICE)
        with pytest.raises(UsageError, match="in unix seconds") as caught:
            list(accel.points(**{**QUERY, **times}))
        assert emu.requests == []
    assert "4242" not in str(caught.value) and "2021" not in str(caught.value)


@pytest.mark.parametrize("cell", ['"' + "y" * 200_000 + '"', "y" * 200_000], ids=["quoted", "plain"])
def test_a_cell_past_the_csv_size_limit_is_a_parse_error_sharded_too(cell) -> None:
    # sharded, a quoted one raised csv.Error (no resume) from the cut, and a plain one in a row the cut
    # dropped went unseen, where the unsharded pull refuses the page (ParseError)
    page = f"time,note\n9,{cell}\n10,b\n".encode()
    with RawServer([answer(body=page)]) as server:
        request = build_request(Config(stream_url=server.url, jwt="not-a-real-jwt"), "state", "csv", {**DEVICE})
        with pytest.raises(ParseError, match="field larger than field limit") as caught:
            list(csv_points(window_pages(request, [{"start_time": 0, "end_time": 99, "cut": [10, None]}])))
    assert caught.value.resume["shard_windows"][0]["cut"] == [10, None]
