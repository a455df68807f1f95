"""Sharded pulls against the emulator over loopback: exact, ordered, bounded, stopped by the first error."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from commands import COMMAND
from hypothesis import given, settings
from hypothesis import strategies as st

from runeq_fn import Config, build_request, cli, csv_points, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.emulator.resources import ROUNDINGS
from runeq_fn.errors import APIError, ParseError, UsageError
from runeq_fn.http.flight import CONNECTIONS_PER_HOST, LIMITER, Limiter
from runeq_fn.http.request import with_params
from runeq_fn.http.transport import fetch as http_fetch
from runeq_fn.policy import Policy
from runeq_fn.pull.cohort import cohort_points
from runeq_fn.pull.pages import pages_with_next
from runeq_fn.pull.shards import sharded_items, sharded_pages, window_pages
from runeq_fn.pull.stats import Stats
from runeq_fn.pull.windows import edge_param, even_windows, plan_windows, window_queries
from runeq_fn.sinks.durable import Pull, part_paths
from runeq_fn.sinks.export import export_query

WEAR_START = 1609490700  # patient-1's watch-1 starts recording at 08:45 on 2021-01-01
WEAR_END = 1609499100  # and stops at 11:05
DEVICE = {"patient_id": "patient-1", "device_id": "watch-1"}
PERIODS = {"accel": Fraction(1, 50), "lfp": Fraction(1, 250), "heartrate": Fraction(5)}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Emulator]]:
    """One emulator per pagination scheme; tests set their page size and end rule."""
    with Emulator(pagination="page") as a, Emulator(pagination="token") as b, Emulator(pagination="mixed") as c:
        yield {"page": a, "token": b, "mixed": c}


def request_for(emu: Emulator, name: str, start: Fraction | int, end: Fraction | int, policy: Policy | None = None):
    """A CSV request of patient-1's watch, its times sent as exact decimals."""
    query = {**DEVICE, "start_time": edge_param(Fraction(start)), "end_time": edge_param(Fraction(end))}
    return build_request(Config(**emu.config_values()), name, "csv", query, policy=policy)


@st.composite
def pulls(draw: st.DrawFn) -> dict:
    """A query range near the start of a wear window (so some windows are empty) and inner edges in it."""
    name = draw(st.sampled_from(["accel", "lfp"]))
    period = PERIODS[name]
    start = WEAR_START + Fraction(draw(st.integers(-300, 100)), 50)
    end = start + Fraction(draw(st.integers(1, 400 if name == "accel" else 150)), 100)  # end <= start is refused
    on_sample = st.integers(0, int((end - start) / period)).map(lambda k: start + k * period)
    between = st.integers(0, int((end - start) * 10**6)).map(lambda us: start + Fraction(us, 10**6))
    edges = draw(st.lists(st.one_of(on_sample, between), max_size=6))
    return {"name": name, "start": start, "end": end, "edges": edges}


def windows_from(start: Fraction, end: Fraction, edges: list[Fraction]) -> list[tuple[Fraction, Fraction]]:
    inner = sorted({e for e in edges if start < e < end})
    cuts = [start, *inner, end]
    return list(zip(cuts, cuts[1:]))


@settings(max_examples=30, deadline=None)
@given(
    pull=pulls(),
    scheme=st.sampled_from(["page", "token", "mixed"]),
    page_size=st.integers(3, 300),
    inclusive_end=st.booleans(),
    buffer=st.integers(1, 4),
)
def test_a_sharded_pull_has_the_rows_of_the_whole_pull_in_order(servers, pull, scheme, page_size, inclusive_end, buffer):
    emu = servers[scheme]
    emu.page_size, emu.inclusive_end = page_size, inclusive_end
    request = request_for(emu, pull["name"], pull["start"], pull["end"])
    whole = list(csv_points(pages(request)))
    windows = window_queries(request, windows_from(pull["start"], pull["end"], pull["edges"]))
    assert list(csv_points(window_pages(request, windows, buffer=buffer))) == whole


def test_rows_exactly_on_an_inner_edge_come_once_from_a_server_whose_end_is_inclusive(servers) -> None:
    emu = servers["token"]
    emu.page_size, emu.inclusive_end = 7, True
    request = request_for(emu, "lfp", WEAR_START, WEAR_START + 1)
    edge = {"start_time": WEAR_START, "end_time": "1609490700.5"}, {"start_time": "1609490700.5", "end_time": WEAR_START + 1}
    both = list(csv_points(window_pages(request, list(edge))))
    stamps = [p["timestamp"] for p in both]
    assert stamps.count(1609490700.5) == 2  # the two channels' rows at the edge, once each
    assert both == list(csv_points(pages(request)))


@settings(max_examples=15, deadline=None)
@given(
    scheme=st.sampled_from(["page", "token", "mixed"]),
    shards=st.integers(1, 12),
    plan=st.sampled_from(["even", "availability"]),
    offset=st.integers(-60, 30),
    seconds=st.integers(1, 40),  # end <= start is refused
)
def test_more_shards_than_rows_and_empty_windows_change_nothing(servers, scheme, shards, plan, offset, seconds):
    emu = servers[scheme]
    emu.page_size, emu.inclusive_end = 2, False
    request = request_for(emu, "heartrate", WEAR_START + offset, WEAR_START + offset + seconds)
    whole = list(csv_points(pages(request)))
    assert len(whole) <= 8
    assert list(csv_points(sharded_pages(request, shards, plan=plan))) == whole


def test_the_plan_puts_no_window_where_there_is_no_data(servers) -> None:
    emu = servers["page"]
    # two hours of night, then 20 minutes of data: an even split would spend 7 of 8 windows on the night
    request = request_for(emu, "heartrate", WEAR_START - 7200, WEAR_START + 1200)
    planned = plan_windows(request, 8)
    even = plan_windows(request, 8, plan="even")
    assert len(planned) == 8 and len(even) == 8
    def with_data(windows: list[dict]) -> int:
        return sum(Fraction(str(w["end_time"])) > WEAR_START for w in windows)

    assert with_data(planned) == 8 and with_data(even) == 2
    assert list(csv_points(sharded_pages(request, 8))) == list(csv_points(pages(request)))


def test_a_plan_whose_availability_request_fails_splits_evenly(servers) -> None:
    emu = servers["page"]
    request = request_for(emu, "accel", WEAR_START, WEAR_START + 80, Policy(retries=0))
    emu.inject(Fault("status", status=500, path="/v1/accel.json"))
    assert plan_windows(request, 4) == window_queries(request, even_windows(Fraction(WEAR_START), Fraction(WEAR_START + 80), 4))


def test_shards_1_is_the_unsharded_pull_request_for_request(servers) -> None:
    emu = servers["token"]
    emu.page_size, emu.inclusive_end = 40, False
    request = request_for(emu, "accel", WEAR_START, WEAR_START + 4)
    emu.clear()
    list(pages(request))
    unsharded = [r.params for r in emu.requests]
    emu.clear()
    list(sharded_pages(request, 1))
    assert [r.params for r in emu.requests] == unsharded


@pytest.mark.parametrize(
    "request_args",
    [("span", "json", {**DEVICE, "start_time": 0, "end_time": 9}), ("accel", "csv", {**DEVICE, "end_time": 9}),
     ("accel", "csv", {**DEVICE, "start_time": 0, "end_time": 9, "next_page_token": "t"})],
)
def test_what_cannot_shard_says_so_before_any_request(servers, request_args) -> None:
    emu = servers["page"]
    emu.clear()
    request = build_request(Config(**emu.config_values()), *request_args)
    with pytest.raises(UsageError, match="shard"):
        next(sharded_pages(request, 4))
    assert emu.requests == []


def test_the_first_error_stops_every_window_and_says_where_to_go_on() -> None:
    with Emulator(pagination="token", page_size=50, delay=0.05) as emu:
        request = request_for(emu, "accel", WEAR_START, WEAR_START + 16, Policy(retries=0))
        whole = list(csv_points(pages(request)))
        windows = plan_windows(request, 4, plan="even")
        got = []
        emu.clear()
        emu.inject(Fault("status", status=400, path="/v1/accel.csv"))
        with pytest.raises(APIError) as caught:
            for point in csv_points(window_pages(request, windows)):
                got.append(point)
        arrived = emu.arrivals
        time.sleep(0.3)  # a window still running would send its next request within the delay
        assert emu.arrivals == arrived  # none went out after the error; those in flight were hung up
        err = caught.value
        assert err.status_code == 400
        assert err.window in [{"start_time": w["start_time"], "end_time": w["end_time"]} for w in windows]
        assert err.resume["shard_windows"] == err.resume_windows  # the rest of the pull, from the first window not read whole
        assert "shard window" in "".join(getattr(err, "__notes__", []))
        rest = list(csv_points(window_pages(request, err.resume_windows)))
    assert got + rest == whole


@pytest.mark.parametrize("prefetch", [0, 2])
def test_at_most_buffer_pages_are_held(prefetch) -> None:
    with Emulator(pagination="page", page_size=20) as emu:
        request = request_for(emu, "accel", WEAR_START, WEAR_START + 16)  # 40 pages
        windows = plan_windows(request, 8, plan="even")
        reader = window_pages(request, windows, buffer=3, prefetch=prefetch)
        next(reader)
        time.sleep(0.3)  # every window has had time to run ahead as far as the bound lets it
        ahead = emu.arrivals - 1
        reader.close()
    # the first page is read; three held and one for the window being read, and what each window asked ahead
    assert 1 <= ahead <= 3 + 1 + len(windows) * prefetch


def test_stats_count_every_page_row_and_shard(servers) -> None:
    emu = servers["mixed"]
    emu.page_size, emu.inclusive_end = 30, False
    request = request_for(emu, "accel", WEAR_START, WEAR_START + 6)
    stats = Stats()
    points = list(csv_points(sharded_pages(request, 3, plan="even", stats=stats)))
    assert stats.rows == len(points) == 300
    # the windows, asked 1 s past their inner edges, hold 500 rows: 17 pages, 5 of them cut to nothing; and an
    # empty end per window
    assert stats.pages == 12 and stats.requests == 20
    assert len(stats.shard_seconds) == 3 and stats.seconds > 0
    assert stats.wire_bytes > 0
    assert "300 rows" in stats.summary()


# -- one limit on requests in flight for the whole process ------------------------------------------


@pytest.fixture
def limiter() -> Iterator[Limiter]:
    """The process's limiter, its 429 cooldown undone after the test."""
    yield LIMITER
    LIMITER.throttle_until(float("-inf"))


@pytest.mark.parametrize(("prefetch", "shards"), [(8, 1), (0, 8)])
def test_a_cohort_never_asks_for_more_connections_than_the_pool_holds(limiter, caplog, prefetch, shards) -> None:
    queries = {f"patient-{n}": {"patient_id": f"patient-{n}"} for n in range(40)}
    window = {"device_id": "watch-1", "start_time": 1609491600, "end_time": 1609492200}  # 09:00, data for all
    with Emulator(page_size=20, delay=0.01) as emu, caplog.at_level(logging.WARNING, logger="urllib3"):
        cfg = Config(**emu.config_values())
        outcomes = cohort_points(cfg, "heartrate", queries, defaults=window, max_workers=16, prefetch=prefetch, shards=shards)
        assert all(o.ok and len(o.value) == 120 for o in outcomes.values())
        assert 1 < emu.peak_in_flight <= CONNECTIONS_PER_HOST
        assert emu.connections <= CONNECTIONS_PER_HOST
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_429_halves_the_requests_in_flight_for_a_while(limiter) -> None:
    with Emulator(page_size=10, delay=0.05) as emu:
        request = request_for(emu, "accel", WEAR_START, WEAR_START + 16, Policy(retries=0))
        emu.inject(Fault("status", status=429))
        with pytest.raises(APIError, match="429"):
            list(pages(request))
        assert limiter.capacity() == CONNECTIONS_PER_HOST // 2
        emu.clear()
        points = list(csv_points(sharded_pages(request, 16, plan="even")))
        assert len(points) == 800
        assert 1 < emu.peak_in_flight <= CONNECTIONS_PER_HOST // 2


# -- the surfaces --------------------------------------------------------------------------------------


def test_the_shim_shards_points_and_iter(servers) -> None:
    emu = servers["token"]
    emu.page_size, emu.inclusive_end = 50, True
    cfg = Config(**emu.config_values())
    query = {**DEVICE, "start_time": WEAR_START - 2, "end_time": WEAR_START + 6}
    whole = list(stream.V1Client(cfg).Accel(**query).points())
    emu.clear()
    accel = stream.V1Client(cfg, shards=4).Accel(**query)
    assert list(accel.points()) == whole and len(whole) == 301  # the end row too: the end is inclusive here
    assert len({dict(r.params).get("start_time") for r in emu.requests if r.path.endswith(".csv")}) == 4
    assert list(accel) == whole
    emu.clear()
    texts = list(accel.iter_csv_text())  # sharded too: the windows' pages, cut at the inner edges
    assert list(csv_points(texts)) == whole
    assert len({dict(r.params).get("start_time") for r in emu.requests if r.path.endswith(".csv")}) == 4


FETCH_QUERY = {**DEVICE, "start_time": WEAR_START - 4, "end_time": WEAR_START + 12}  # 600 rows after 4 empty s
FETCH_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in FETCH_QUERY.items()]


def config_file(emu: Emulator, folder: Path) -> Path:
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0}))
    return path


@pytest.mark.parametrize(("fmt", "pagination", "inclusive_end"), [("csv", "token", True), ("jsonl", "page", False), ("json", "mixed", True)])
def test_fetch_with_shards_writes_the_bytes_of_an_unsharded_fetch(tmp_path, capsys, fmt, pagination, inclusive_end) -> None:
    with Emulator(pagination=pagination, page_size=70, inclusive_end=inclusive_end) as emu:
        cfg = config_file(emu, tmp_path)
        one, many = tmp_path / f"one.{fmt}", tmp_path / f"many.{fmt}"
        cli.main(["fetch", "accel", *FETCH_FLAGS, "--format", fmt, "--output", str(one), "--config", str(cfg)])
        capsys.readouterr()
        emu.clear()
        cli.main(["fetch", "accel", *FETCH_FLAGS, "--format", fmt, "--output", str(many), "--shards", "4",
                  "--config", str(cfg)])
        windows = {dict(r.params)["start_time"] for r in emu.requests if r.path == "/v1/accel.csv"}
    assert many.read_bytes() == one.read_bytes()
    assert len(windows) == 4
    summary = capsys.readouterr().err
    assert summary.startswith(f"runeq fetch: 12 pages, {600 + inclusive_end} rows, ") and "4 shards: " in summary


def test_fetch_shards_resumes_every_window_after_an_error(tmp_path) -> None:
    with Emulator(pagination="token", page_size=10) as emu:  # 60 pages: more than the 32 a pull holds
        cfg = Config(**emu.config_values(), retries=0)
        clean, out = tmp_path / "clean.csv", tmp_path / "out.csv"
        export_query(cfg, "accel", FETCH_QUERY, "csv", clean)
        seen: list[Pull] = []

        def fail_after_five_pages(pull: Pull) -> None:
            seen.append(pull)
            if pull.pages == 5:
                emu.inject(Fault("status", status=500, times=99))

        with pytest.raises(APIError):
            export_query(cfg, "accel", FETCH_QUERY, "csv", out, progress=fail_after_five_pages, shards=4)
        saved = json.loads(Path(part_paths(out)[1]).read_text())
        assert 5 <= saved["pages"] < 60 and saved["next"] == saved["windows"][0]
        assert 1 <= len(saved["windows"]) <= 4  # the window being read, from its next page, and those after it
        emu.clear()
        stats = Stats()
        done = export_query(cfg, "accel", FETCH_QUERY, "csv", out, resume=True, progress=seen.append, stats=stats)
        asked = [dict(r.params) for r in emu.requests]
    assert out.read_bytes() == clean.read_bytes()
    assert {k: str(v) for k, v in saved["windows"][0].items() if k not in ("page", "cut")} in [  # each window went on from its next page
        {k: v for k, v in params.items() if k != "page"} for params in asked
    ]
    assert done.pages == seen[-1].pages == 60 and done.rows == 600  # progress counts every window's pages
    assert stats.pages == 60 - saved["pages"]


def test_fetch_shards_resumes_after_a_kill(tmp_path) -> None:
    with Emulator(pagination="page", page_size=20, delay=0.05) as emu:
        cfg = config_file(emu, tmp_path)
        clean, out = tmp_path / "clean.csv", tmp_path / "out.csv"
        export_query(Config(**emu.config_values()), "accel", FETCH_QUERY, "csv", clean)
        state = Path(part_paths(out)[1])
        args = ["fetch", "accel", *FETCH_FLAGS, "--output", str(out), "--shards", "4", "--config", str(cfg)]
        proc = subprocess.Popen([*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (state.exists() and json.loads(state.read_text() or "{}").get("pages", 0) >= 8):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            proc.kill()
            proc.wait()
        assert not out.exists()
        cli.main([*args, "--resume"])
    assert out.read_bytes() == clean.read_bytes()


def test_fetch_shards_pulls_event_and_span_unsharded(tmp_path, capsys) -> None:
    with Emulator(pagination="token", page_size=3) as emu:
        cfg = config_file(emu, tmp_path)
        flags = ["--patient-id=patient-1", "--start-time=1609459200", "--end-time=1609718400", "--config", str(cfg)]
        for name in ("event", "span"):
            one, many = tmp_path / f"{name}1.jsonl", tmp_path / f"{name}8.jsonl"
            cli.main(["fetch", name, *flags, "--format", "jsonl", "--output", str(one)])
            emu.clear()
            cli.main(["fetch", name, *flags, "--format", "jsonl", "--output", str(many), "--shards", "8"])
            assert {dict(r.params)["start_time"] for r in emu.requests} == {"1609459200"}
            assert many.read_bytes() == one.read_bytes() and one.stat().st_size > 0


def test_the_shim_pulls_a_query_that_starts_at_a_page_unsharded(servers) -> None:
    emu = servers["page"]
    emu.page_size, emu.inclusive_end = 50, False
    cfg = Config(**emu.config_values())
    query = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + 4}
    emu.clear()
    rest = list(stream.V1Client(cfg, shards=4).Accel(**query).points(page=2))
    assert rest == list(stream.V1Client(cfg).Accel(**query).points())[100:]
    assert {dict(r.params)["start_time"] for r in emu.requests} == {str(WEAR_START)}


def test_sharded_points_still_fetch_through_the_accessors_own_get_methods(servers) -> None:
    emu = servers["page"]
    emu.page_size, emu.inclusive_end = 50, False
    asked: list[tuple[str, dict]] = []

    class Logged(stream.v1.Accel):
        def get_csv_response(self, **params):
            asked.append(("csv", params))
            return super().get_csv_response(**params)

        def get_json_response(self, **params):
            asked.append(("json", params))
            return super().get_json_response(**params)

    cfg = Config(**emu.config_values())
    query = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + 4}
    accel = Logged(cfg, **query)
    accel.shards = 4
    assert list(accel.points()) == list(stream.V1Client(cfg).Accel(**query).points())
    assert [kind for kind, _ in asked].count("json") == 1  # the plan
    assert len({(params["start_time"], params["end_time"]) for kind, params in asked if kind == "csv"}) == 4


def test_a_page_that_does_not_parse_in_its_window_stops_the_pull_with_its_resume(servers) -> None:
    emu = servers["token"]
    emu.page_size, emu.inclusive_end = 50, False
    request = request_for(emu, "accel", WEAR_START, WEAR_START + 8)
    windows = plan_windows(request, 4, plan="even")

    def picky(response):
        points = list(csv_points([response]))
        if points and WEAR_START + 5 <= points[0]["time"] < WEAR_START + 6:
            raise ParseError("not this page")
        return points

    with pytest.raises(ParseError) as caught:
        list(sharded_items(request, picky, 4, plan="even"))
    err = caught.value
    assert err.window == {"start_time": windows[2]["start_time"], "end_time": windows[2]["end_time"]}
    assert err.resume_windows[-1] == windows[3]  # the failed window and the one after it are left
    assert err.resume_windows[-2]["cut"] == windows[2]["cut"]


def test_fetch_refuses_a_mistyped_shards_flag(tmp_path, capsys) -> None:
    with Emulator() as emu:
        with pytest.raises(SystemExit):
            cli.main(["fetch", "accel", *FETCH_FLAGS, "--shard", "4", "--config", str(config_file(emu, tmp_path))])
        assert emu.requests == []
    assert "did you mean --shards?" in capsys.readouterr().err


# -- exact whatever the server's arithmetic on its bounds --------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["accel", "lfp"]),
    start_ms=st.integers(-3000, 3000),
    length_ms=st.integers(1, 9000),  # end <= start is refused
    scheme=st.sampled_from(["page", "token", "mixed"]),
    page_size=st.integers(7, 300),
    shards=st.integers(1, 8),
    plan=st.sampled_from(["even", "availability"]),
    inclusive_end=st.booleans(),
    round_bounds=st.sampled_from([None, *ROUNDINGS]),
    timestamp=st.sampled_from([None, "unix", "iso"]),
)
def test_sharded_points_are_the_whole_pulls_whatever_the_servers_bounds_and_time_format(
    servers, name, start_ms, length_ms, scheme, page_size, shards, plan, inclusive_end, round_bounds, timestamp
):
    emu = servers[scheme]
    emu.page_size, emu.inclusive_end, emu.round_bounds = page_size, inclusive_end, round_bounds
    try:
        start = WEAR_START + Fraction(start_ms, 1000)
        end = start + Fraction(length_ms if name == "accel" else max(1, length_ms // 3), 1000)
        request = request_for(emu, name, start, end)
        if timestamp is not None:
            request = with_params(request, timestamp=timestamp)
        whole = list(csv_points(pages(request)))
        assert list(csv_points(sharded_pages(request, shards, plan=plan))) == whole
    finally:
        emu.round_bounds = None


@pytest.mark.parametrize("round_bounds", ["ms-floor", "ms-ceil", "s-floor", "s-ceil"])
def test_a_server_that_rounds_its_bounds_loses_no_row_at_an_edge(round_bounds) -> None:
    # the audit's case: a range with fractions, cut into windows; the server keeps only ms or s of each bound
    with Emulator(pagination="token", page_size=1000, round_bounds=round_bounds) as emu:
        request = request_for(emu, "accel", Fraction("1609490700.0123"), Fraction("1609491420.0357"))
        whole = list(csv_points(pages(request)))
        sharded = list(csv_points(sharded_pages(request, 7, plan="even")))
    assert len(whole) >= 36_000 and sharded == whole


def test_iso_times_are_cut_on_their_value_at_an_inclusive_end() -> None:
    with Emulator(pagination="page", page_size=50, inclusive_end=True) as emu:
        request = with_params(request_for(emu, "lfp", WEAR_START, WEAR_START + 2), timestamp="iso")
        whole = list(csv_points(pages(request)))
        sharded = list(csv_points(sharded_pages(request, 2, plan="even")))
    stamps = [p["timestamp"] for p in sharded]
    assert stamps.count("2021-01-01T08:45:01Z") == 2  # the two channels' rows at the inner edge, once each
    assert sharded == whole


def test_a_row_whose_time_is_not_a_time_stops_a_sharded_pull() -> None:
    # unix seconds and ISO 8601 are read; a row whose time is neither cannot be cut, and giving it twice would be silent
    with Emulator(page_size=40) as emu:
        request = request_for(emu, "accel", WEAR_START, WEAR_START + 4)
        with pytest.raises(ParseError, match="neither unix seconds nor ISO 8601") as caught:
            list(sharded_pages(request, 2, plan="even", fetch=worded_times))
    assert caught.value.resume["shard_windows"]


def worded_times(request):
    """The emulator's answer, each CSV row's time replaced by a word."""
    response = http_fetch(request)
    lines = response.content.split(b"\n")
    worded = [b"soon," + line.split(b",", 1)[1] if line and i else line for i, line in enumerate(lines)]
    return replace(response, content=b"\n".join(worded))


def test_a_timestamp_format_that_cannot_be_cut_is_refused_before_any_request(servers) -> None:
    emu = servers["page"]
    emu.clear()
    request = with_params(request_for(emu, "accel", WEAR_START, WEAR_START + 4), timestamp="ms")
    with pytest.raises(UsageError, match="timestamp=unix or iso"):
        next(sharded_pages(request, 4))
    assert emu.requests == []


# -- resume is the rest of the pull ---------------------------------------------------------------------

RESUMED = {"accel": ("Accel", 12), "lfp": ("LFP", 4)}  # accessor, seconds pulled (lfp: 500 rows a second)


def fail_the_middle_window(emu: Emulator, cfg: Config, name: str, query: dict, shards: int, after: int = 2) -> None:
    """Queue a 500 for the middle window the pull will ask for, once it has had ``after`` answers."""
    windows = plan_windows(build_request(cfg, name, "csv", query), shards)
    middle = windows[len(windows) // 2]
    times = {"start_time": middle["start_time"], "end_time": middle["end_time"]}
    emu.inject(Fault("status", status=500, path=f"/v1/{name}.csv", params=times, after=after))


def pulled_until_error(points) -> tuple[list, APIError]:
    got = []
    with pytest.raises(APIError) as caught:
        for point in points:
            got.append(point)
    assert caught.value.status_code == 500
    return got, caught.value


@pytest.mark.parametrize("surface", ["shim", "sharded_pages", "pages"])
@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("name", ["accel", "lfp"])
@pytest.mark.parametrize("scheme", ["page", "token"])
def test_points_before_an_error_and_points_of_its_resume_are_the_clean_pull(surface, shards, name, scheme) -> None:
    accessor, seconds = RESUMED[name]
    query = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + seconds}
    with Emulator(pagination=scheme, page_size=37, round_bounds="ms-ceil", inclusive_end=True) as emu:
        cfg = Config(**emu.config_values(), retries=0)
        clean = list(csv_points(pages(build_request(cfg, name, "csv", query))))
        fail_the_middle_window(emu, cfg, name, query, shards)
        if surface == "shim":
            reader = getattr(stream.V1Client(cfg, shards=shards), accessor)(**query)
            got, err = pulled_until_error(reader.points())
            rest = list(reader.points(**err.resume))
        else:
            read = sharded_pages if surface == "sharded_pages" else lambda request, shards: pages(request)
            got, err = pulled_until_error(csv_points(sharded_pages(build_request(cfg, name, "csv", query), shards)))
            rest = list(csv_points(read(build_request(cfg, name, "csv", {**query, **err.resume}), shards)))
        asked = [dict(r.params) for r in emu.requests]
    assert got + rest == clean
    assert pickle.loads(pickle.dumps(err)).resume == err.resume
    assert all("shard_windows" not in params for params in asked)  # the resume's key is never sent
    if shards == 1:
        assert set(err.resume) == {*query, "page"} | ({"next_page_token"} if scheme == "token" else set())


def test_a_request_with_shard_windows_is_not_read_page_by_page(servers) -> None:
    emu = servers["page"]
    request = with_params(request_for(emu, "accel", WEAR_START, WEAR_START + 4), shard_windows=[{"start_time": 0}])
    with pytest.raises(UsageError, match="read with pages or sharded_pages"):
        next(pages_with_next(request))


@pytest.mark.parametrize("pagination", ["page", "token"])
def test_fetch_shards_resume_after_an_error_in_the_middle_window_is_byte_identical(tmp_path, pagination) -> None:
    query = {**FETCH_QUERY, "timestamp": "iso"}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in query.items()]
    with Emulator(pagination=pagination, page_size=23, round_bounds="s-floor", inclusive_end=True) as emu:
        cfg = config_file(emu, tmp_path)
        clean, out = tmp_path / "clean.csv", tmp_path / "out.csv"
        cli.main(["fetch", "accel", *flags, "--output", str(clean), "--config", str(cfg)])
        # the seventh page of the middle window fails: the first window has had six round trips to write a page
        fail_the_middle_window(emu, Config(**emu.config_values()), "accel", query, 4, after=6)
        args = ["fetch", "accel", *flags, "--output", str(out), "--shards", "4", "--config", str(cfg)]
        with pytest.raises(SystemExit):
            cli.main(args)
        assert not out.exists() and any(r.status == 500 for r in emu.requests)
        cli.main([*args, "--resume"])
    assert out.read_bytes() == clean.read_bytes()
    assert b"2021-01-01T08:45:00Z" in clean.read_bytes()


@pytest.mark.parametrize("shards", [1, 4])
def test_a_page_that_does_not_parse_downstream_resumes_the_rest_of_the_pull(shards) -> None:
    # csv_points reads sharded_pages: the page's own resume (Response.resume) is the rest of the sharded pull
    query = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + 12}
    with Emulator(pagination="token", page_size=37, inclusive_end=True) as emu:
        cfg = Config(**emu.config_values())
        clean = list(csv_points(pages(build_request(cfg, "accel", "csv", query))))
        windows = plan_windows(build_request(cfg, "accel", "csv", query), shards)
        middle = windows[len(windows) // 2]
        times = {"start_time": middle["start_time"], "end_time": middle["end_time"]}
        emu.inject(Fault("non_utf8", path="/v1/accel.csv", params=times, after=2))
        got = []
        with pytest.raises(ParseError) as caught:
            for point in csv_points(sharded_pages(build_request(cfg, "accel", "csv", query), shards)):
                got.append(point)
        rest = list(csv_points(pages(build_request(cfg, "accel", "csv", {**query, **caught.value.resume}))))
    assert got + rest == clean


QUARTERS = st.integers(0, 40).map(lambda n: Fraction(n, 4))


@settings(deadline=None)
@given(st.lists(st.tuples(QUARTERS, st.booleans()), min_size=1, max_size=30), st.none() | QUARTERS, st.none() | QUARTERS)
def test_the_cut_keeps_exactly_the_rows_inside_its_window_whatever_their_order(rows, lo, hi) -> None:
    from runeq_fn.pull.cut import cut_csv

    # times written as exact decimals, some with a trailing zero (ties as floats, equal exactly)
    lines = [f"{edge_param(t)}{'0' if padded and t.denominator > 1 else ''},{i}\n" for i, (t, padded) in enumerate(rows)]
    kept = [line for line, (t, _) in zip(lines, rows) if (lo is None or lo <= t) and (hi is None or t < hi)]
    page = "time,x\n" + "".join(lines)
    assert cut_csv(page, "time", lo, hi) == ("time,x\n" + "".join(kept) if kept else "")


def test_a_failing_window_leaves_the_pages_fetched_before_it_to_the_reader() -> None:
    """The first window's pages on the board when the second window fails are read, then the error, then the rest."""
    import threading

    query = {**DEVICE, "start_time": WEAR_START, "end_time": WEAR_START + 40}
    with Emulator(pagination="token", page_size=100) as emu:
        cfg = Config(**emu.config_values(), retries=0)
        request = build_request(cfg, "accel", "csv", query)
        clean = list(csv_points(pages(request)))
        first, second = plan_windows(request, 2, plan="even")
        emu.inject(Fault("status", status=500, path="/v1/accel.csv",
                         params={"start_time": second["start_time"], "end_time": second["end_time"]}))
        first_asked, second_failed = [], threading.Event()

        def fetch(asked):
            """The first window runs ahead: the second is asked (and fails) once the first has put 3 pages."""
            if asked.param("start_time") == first["start_time"]:
                first_asked.append(asked)
                return http_fetch(asked)
            while len(first_asked) < 4:
                time.sleep(0.01)
            try:
                return http_fetch(asked)
            finally:
                second_failed.set()

        points = csv_points(sharded_pages(request, shards=2, plan="even", fetch=fetch))
        got = [next(points)]
        assert second_failed.wait(30)
        time.sleep(0.2)  # the window's thread hands its failure to the board after its answer
        with pytest.raises(APIError) as caught:
            got.extend(points)
        assert len(got) >= 300  # the first window's three pages, not only the one being read
        rest = list(csv_points(sharded_pages(build_request(cfg, "accel", "csv", {**query, **caught.value.resume}),
                                             shards=2, plan="even")))
    assert got + rest == clean
