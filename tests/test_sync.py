"""``runeq sync``: a Parquet dataset kept current, exact after any sequence of runs, kills and bad answers.

Against the emulator over loopback; late data and a failing window come from ``Moving``, an emulator
whose data after a horizon has not arrived yet and whose chosen windows answer 503.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from commands import COMMAND, emulator_process
from extras import need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runeq_fn import Config, build_request, cli, csv_points
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.emulator.resources import ApiError
from runeq_fn.errors import UsageError
from runeq_fn.pull.pages import pages
from runeq_fn.sync import SyncError, sync
from runeq_fn.sync.ledger import LEDGER, read_entries

need("pyarrow")

import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

T0 = 1609491600  # 2021-01-01 09:00 UTC: the emulator has accelerometry around it
PATIENTS = ["P1", "P2"]
WINDOW = 20  # seconds per file: 1000 rows of 50 Hz accelerometry


class Moving(Emulator):
    """An emulator whose rows from ``horizon`` on have not arrived yet, and whose windows starting in ``broken`` fail."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.horizon = float("inf")
        self.broken: set[float] = set()

    def _page_reply(self, path, pairs, method, repeat):  # type: ignore[no-untyped-def]
        params = dict(pairs)
        if float(params.get("start_time", "nan")) in self.broken:
            raise ApiError(503, "ServiceUnavailable", "this window is down")
        if "end_time" in params and float(params["end_time"]) > self.horizon:
            end = max(float(params["start_time"]), self.horizon)
            pairs = [(k, str(end) if k == "end_time" else v) for k, v in pairs]
        return super()._page_reply(path, pairs, method, repeat)


@pytest.fixture
def emu() -> Iterator[Moving]:
    with Moving(page_size=250) as emulator:
        yield emulator


def config(emu: Emulator) -> Config:
    return Config(**emu.config_values(), retries=0)


def run(emu: Emulator, out: Path, start: float, end: float, **options: object):  # type: ignore[no-untyped-def]
    return sync(config(emu), "accel", PATIENTS, "watch-1", start, end, out, window=WINDOW, **options)  # type: ignore[arg-type]


def dataset_rows(out: Path) -> list[tuple]:
    """Every row of the dataset as read with no options, sorted; and the check that none is there twice."""
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    if not table.num_rows:
        return []
    rows = sorted(zip(*(table.column(n).to_pylist() for n in ("patient_id", "device_id", "time", "x", "y", "z"))))
    assert len({r[:3] for r in rows}) == len(rows), "a (patient, device, time) row twice"
    return rows


def server_rows(emu: Emulator, start: float, end: float) -> list[tuple]:
    """What the server holds for each patient in [start, end), pulled plainly."""
    rows = []
    for patient in PATIENTS:
        query = {"patient_id": patient, "device_id": "watch-1", "start_time": start, "end_time": end}
        for p in csv_points(pages(build_request(Config(**emu.config_values()), "accel", "csv", query))):
            rows.append((patient, "watch-1", p["time"], p["x"], p["y"], p["z"]))
    return sorted(rows)


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "_lock"}


def data_requests(emu: Emulator) -> list[dict]:
    return [dict(r.params) for r in emu.requests if r.path.startswith("/v1/")]


def asked_spans(emu: Emulator) -> list[tuple[float, float]]:
    """The stretches of time the data requests asked for, from T0, overlapping ones merged (idle lanes split parts)."""
    spans: list[list[float]] = []
    for lo, hi in sorted((float(r["start_time"]) - T0, float(r["end_time"]) - T0) for r in data_requests(emu)):
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    return [(lo, hi) for lo, hi in spans]


# -- the dataset ----------------------------------------------------------------------------------------------


def test_the_dataset_holds_every_row_of_the_server_once_and_reads_without_options(emu: Moving, tmp_path: Path) -> None:
    import duckdb
    import pandas as pd

    out = tmp_path / "accel"
    report = run(emu, out, T0 - 10, T0 + 35)  # windows cut by the grid: [-10, 0) [0, 20) [20, 35) of each patient
    assert dataset_rows(out) == server_rows(emu, T0 - 10, T0 + 35)
    assert report.total("windows") == 6 and report.total("rows") == 2 * 45 * 50
    frame = pd.read_parquet(out)
    assert sorted(frame.columns) == ["device_id", "patient_id", "time", "x", "y", "z"] and len(frame) == 4500
    counted = duckdb.sql(f"select patient_id, count(*) from read_parquet('{out}/**/*.parquet', hive_partitioning=true) "
                         "group by 1 order by 1").fetchall()
    assert counted == [("P1", 2250), ("P2", 2250)]


def test_a_row_on_a_window_edge_is_kept_once_when_the_server_includes_end_time(tmp_path: Path) -> None:
    with Emulator(page_size=250, inclusive_end=True) as emu:
        run(emu, tmp_path / "a", T0, T0 + 40)
        times = [r[2] for r in dataset_rows(tmp_path / "a") if r[0] == "P1"]
    assert times == [T0 + k / 50 for k in range(2000)]


def test_the_same_command_again_sends_no_data_request_and_changes_nothing(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 40)
    before = files(out)
    emu.clear()
    again = run(emu, out, T0, T0 + 40)
    assert data_requests(emu) == [] and files(out) == before
    assert again.total("current") == 4 and again.total("windows") == 0


def test_a_later_end_pulls_the_new_range_and_the_recheck_only(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 60)
    emu.clear()
    run(emu, out, T0, T0 + 100, recheck=15)  # 15 s before the old end: [45, 60) of the window [40, 60) again
    assert asked_spans(emu) == [(45, 101)]  # each window's query asks a second past its end
    assert dataset_rows(out) == server_rows(emu, T0, T0 + 100)


@pytest.mark.parametrize(("first", "second", "asked"), [
    ((30, 50), (30, 70), [(50, 71)]),  # the end moves on inside a window: only what is new (and a second past)
    ((15, 50), (5, 50), [(5, 16)]),  # the start moves back inside a window
    ((5, 15), (2, 18), [(2, 19)]),  # both, inside one window: all of it
])  # fmt: skip
def test_a_window_partly_held_is_pulled_only_where_it_lacks_rows(
    emu: Moving, tmp_path: Path, first: tuple, second: tuple, asked: list
) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0 + first[0], T0 + first[1])
    emu.clear()
    run(emu, out, T0 + second[0], T0 + second[1])
    assert asked_spans(emu) == asked
    assert dataset_rows(out) == server_rows(emu, T0 + min(first[0], second[0]), T0 + max(first[1], second[1]))


def test_late_data_is_picked_up_by_the_recheck_and_missed_without_it(emu: Moving, tmp_path: Path) -> None:
    emu.horizon = T0 + 50  # the last 10 s of the first run's range have not arrived yet
    for name, recheck in (("with", 30), ("without", 0)):
        emu.horizon = T0 + 50
        run(emu, tmp_path / name, T0, T0 + 60)
        emu.horizon = float("inf")
        run(emu, tmp_path / name, T0, T0 + 80, recheck=recheck)
    assert dataset_rows(tmp_path / "with") == server_rows(emu, T0, T0 + 80)
    missed = {r[2] for r in server_rows(emu, T0, T0 + 80)} - {r[2] for r in dataset_rows(tmp_path / "without")}
    assert missed == {T0 + 50 + k / 50 for k in range(500)}


def test_a_window_with_no_data_is_recorded_empty_and_not_asked_again(emu: Moving, tmp_path: Path) -> None:
    night = 1609459200  # 00:00 UTC: no data
    out = tmp_path / "accel"
    report = run(emu, out, night, night + 40)
    _, entries = read_entries(str(out))
    assert report.total("rows") == 0 and len(entries) == 4
    assert all(e.rows == 0 and e.file is None for e in entries)
    assert not list(out.rglob("*.parquet"))
    emu.clear()
    run(emu, out, night, night + 40)
    assert data_requests(emu) == []


def test_a_window_that_emptied_on_recheck_loses_its_file(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 20)
    emu.horizon = T0  # the server no longer has these rows
    run(emu, out, T0, T0 + 40, recheck=20)
    assert dataset_rows(out) == []


# -- any sequence of runs is one run ----------------------------------------------------------------------------


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 30)), min_size=1, max_size=4),
    st.sampled_from([0, 7, 25]),
    st.integers(1, 3),
)
def test_any_sequence_of_growing_syncs_equals_one_sync_of_the_final_range(
    emu: Moving, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int]], recheck: int, shards: int
) -> None:
    out = tmp_path_factory.mktemp("seq") / "accel"
    start, end = T0 + 0.5, T0 + 1
    for grow_back, grow_on in steps:
        start, end = start - grow_back / 2, end + grow_on  # half seconds: window edges between samples too
        run(emu, out, start, end, recheck=recheck, shards=shards)
    once = tmp_path_factory.mktemp("once") / "accel"
    run(emu, once, start, end)
    assert dataset_rows(out) == dataset_rows(once) == server_rows(emu, start, end)


# -- servers that misbehave -------------------------------------------------------------------------------------


def test_429s_mid_sync_are_waited_out_and_counted(tmp_path: Path) -> None:
    with Emulator(page_size=250) as emu:
        for _ in range(3):
            emu.inject(Fault("status", status=429, retry_after=0, path="/v1/accel"))
        report = sync(Config(**emu.config_values(), retries=5), "accel", PATIENTS, "watch-1", T0, T0 + 40,
                      tmp_path / "a", window=WINDOW)
        assert report.total("retries") == 3
        assert dataset_rows(tmp_path / "a") == server_rows(emu, T0, T0 + 40)


def test_a_failing_window_is_left_out_named_and_pulled_by_the_same_command(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    emu.broken = {T0 + 20}
    with pytest.raises(SyncError) as failed:
        run(emu, out, T0, T0 + 60)
    assert "2 of 6 windows failed" in str(failed.value) and "2021-01-01T09:00:20Z" in str(failed.value)
    assert "run the same command" in str(failed.value)
    assert failed.value.report.total("windows") == 4
    _, entries = read_entries(str(out))
    assert sorted(e.cell for e in entries) == [T0, T0, T0 + 40, T0 + 40]
    emu.broken = set()
    emu.clear()
    run(emu, out, T0, T0 + 60)
    assert asked_spans(emu) == [(20, 41)]
    assert dataset_rows(out) == server_rows(emu, T0, T0 + 60)


# -- kills -----------------------------------------------------------------------------------------------------


def config_file(emu: Emulator, folder: Path) -> Path:
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0}))
    path.chmod(0o600)
    return path


def sync_flags(out: Path, end: float, *more: str) -> list[str]:
    return ["sync", "accel", "--patient-id", ",".join(PATIENTS), "--device-id", "watch-1", "--start-time", str(T0),
            "--end-time", str(end), "--output", str(out), "--window", str(WINDOW), *more]


def sync_process(config: Path, out: Path, end: float) -> subprocess.Popen:
    return subprocess.Popen([*COMMAND, *sync_flags(out, end, "--config", str(config), "--recheck", "30")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_a_random_moment_then_the_same_command_gives_the_dataset_of_a_clean_run(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with Moving(page_size=100, delay=0.05) as emu:
        cfg, out = config_file(emu, tmp_path), tmp_path / "accel"
        if seed % 2:  # a dataset there before, its last 10 s late, extended by the killed run (rechecks replace files)
            emu.horizon = T0 + 30
            run(emu, out, T0, T0 + 40)
            emu.horizon = float("inf")
        entries = ledger_lines(out)
        proc = sync_process(cfg, out, T0 + 400)  # 40 windows, more than the 16 in flight: they end in waves
        wait_for_lines(out, entries + rng.randrange(0, 6), proc)  # windows committed by the run before the kill
        time.sleep(rng.uniform(0, 0.15))
        proc.kill()
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL  # killed mid-run, not after it
        emu.delay = 0
        cli.main(sync_flags(out, T0 + 400, "--config", str(cfg), "--recheck", "30"))
        emu.clear()
        run(emu, out, T0, T0 + 400, recheck=30)
        assert data_requests(emu) == []  # the ledger covers it all
        assert dataset_rows(out) == server_rows(emu, T0, T0 + 400)
    assert not [p for p in out.rglob(".*") if p.is_file()]


def ledger_lines(out: Path) -> int:
    return len((out / LEDGER).read_text().splitlines()) if (out / LEDGER).exists() else 0


def wait_for_lines(out: Path, lines: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while ledger_lines(out) < max(lines, 1):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)


def test_ctrl_c_exits_130_and_says_what_is_kept(tmp_path: Path) -> None:
    with Emulator(page_size=100, delay=0.02) as emu:
        cfg, out = config_file(emu, tmp_path), tmp_path / "accel"
        proc = sync_process(cfg, out, T0 + 200)
        wait_for_lines(out, 3, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert "interrupted:" in stderr and f"kept in {out}" in stderr and "the same command pulls only what is missing" in stderr
        emu.delay = 0
        run(emu, out, T0, T0 + 200)
        assert dataset_rows(out) == server_rows(emu, T0, T0 + 200)


def test_a_second_sync_into_the_same_dataset_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with Emulator(page_size=100, delay=0.02) as emu:
        cfg, out = config_file(emu, tmp_path), tmp_path / "accel"
        proc = sync_process(cfg, out, T0 + 200)
        wait_for_lines(out, 1, proc)
        with pytest.raises(SystemExit) as stop:
            cli.main(sync_flags(out, T0 + 200, "--config", str(cfg)))
        assert stop.value.code == 2 and "another runeq sync is writing" in capsys.readouterr().err
        proc.kill()
        proc.wait(timeout=30)


# -- fork: a child has nothing of its parent's sync -----------------------------------------------------------


class Gated(Emulator):
    """An emulator that, once told to ``hold``, keeps some data requests waiting until ``gate`` opens."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.after, self.held, self.seen, self.waiting = 0, 0, 0, 0
        self.gate = threading.Event()
        self.counting = threading.Lock()

    def hold(self, after: int, held: int) -> None:
        """Let ``after`` more data requests through, then hold the ``held`` next."""
        with self.counting:
            self.after, self.held = self.seen + after, held

    def _page_reply(self, path, pairs, method, repeat):  # type: ignore[no-untyped-def]
        with self.counting:
            self.seen += 1
            hold = self.after < self.seen <= self.after + self.held
            self.waiting += hold
        if hold:
            self.gate.wait(60)  # the timeout only keeps a broken test from hanging
        return super()._page_reply(path, pairs, method, repeat)


FORK_END = T0 + 200  # 20 windows of 2 patients, 11 requests each: more than the 16 lanes


def sync_held_mid_flight(emu: Gated, out: Path) -> tuple[threading.Thread, list]:
    """The parent's sync into ``out``, in a thread, once ``emu.held`` of its requests are on the wire, waiting."""
    outcome: list = []

    def parent() -> None:
        try:
            outcome.append(run(emu, out, T0, FORK_END))
        except BaseException as exc:  # the test reads it
            outcome.append(exc)

    thread = threading.Thread(target=parent, name="parent-sync")
    thread.start()
    deadline = time.monotonic() + 30
    while emu.waiting < emu.held:
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.01)
    return thread, outcome


def finished(emu: Gated, thread: threading.Thread, outcome: list) -> object:
    """The parent's sync, let through the gate and run to its end: its report (or what it raised)."""
    emu.gate.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(outcome) == 1
    return outcome[0]


def forked(work: Callable[[], str]) -> tuple[str, Callable[[], int]]:
    """Fork a child that runs ``work`` and writes what it says, then lives on until let go: what it said, and
    the call that lets it go and gives its exit status."""
    said_read, said_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's own lines)
        status = 1
        try:
            os.close(said_read)
            os.close(go_write)
            signal.alarm(60)  # a hang is a failure, not a stuck suite
            try:
                said = work()
            except BaseException as exc:
                said = f"raised {type(exc).__name__}: {exc}"
            os.write(said_write, said.encode())
            os.close(said_write)
            os.read(go_read, 1)  # alive, with everything it inherited, until the parent lets it go
            status = 0
        finally:
            os._exit(status)
    os.close(said_write)
    os.close(go_read)
    with os.fdopen(said_read) as reading:
        said = reading.read()

    def let_go() -> int:
        os.close(go_write)
        return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])

    return said, let_go


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")  # 3.12+
def test_a_child_forked_mid_sync_syncs_on_its_own_and_is_refused_the_parents_dataset(tmp_path: Path) -> None:
    with Gated(page_size=100) as emu:
        clean = server_rows(emu, T0, FORK_END)
        emu.hold(30, 6)
        one = [r[2:] for r in clean if r[0] == "P1"]
        parents, childs = tmp_path / "parent", tmp_path / "child"
        thread, outcome = sync_held_mid_flight(emu, parents)
        assert emu.arrivals > len(emu.requests), "no request on the wire at the fork: the test would prove nothing"

        def child() -> str:
            try:
                run(emu, parents, T0, FORK_END)
                refused = "not refused"
            except UsageError as err:
                refused = str(err)
            report = run(emu, childs, T0, FORK_END)
            request = build_request(config(emu), "accel", "csv", {"patient_id": "P1", "device_id": "watch-1",
                                                                  "start_time": T0, "end_time": FORK_END})
            pulled = [(p["time"], p["x"], p["y"], p["z"]) for p in csv_points(pages(request))]
            return (f"{refused} | own sync whole: {dataset_rows(childs) == clean and report.total('windows') == 20}"
                    f" | pull whole: {pulled == one}")

        try:
            said, let_go = forked(child)
        finally:
            report = finished(emu, thread, outcome)
        assert let_go() == 0, said
        assert said == (f"another runeq sync is writing {parents}: wait for it to finish"
                        " | own sync whole: True | pull whole: True")
        assert not isinstance(report, BaseException), report
        assert dataset_rows(parents) == clean


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")  # 3.12+
def test_a_dataset_is_free_once_its_sync_ends_though_a_child_forked_mid_sync_lives_on(tmp_path: Path) -> None:
    # the child's copy of the lock file's descriptor held the parent's flock as long as the child lived: the
    # parent's next sync into its own dataset was refused (a notebook's fork Pool made mid-sync kept it locked)
    with Gated(page_size=100) as emu:
        out = tmp_path / "accel"
        emu.hold(30, 6)
        thread, outcome = sync_held_mid_flight(emu, out)
        try:
            pool = multiprocessing.get_context("fork").Pool(2)  # its workers forked now, mid-sync
        finally:
            first = finished(emu, thread, outcome)
        with pool:
            workers = multiprocessing.active_children()
            assert not isinstance(first, BaseException), first
            emu.clear()
            again = run(emu, out, T0, FORK_END)  # the same command, the workers alive
            assert workers and all(worker.is_alive() for worker in workers)
        assert again.total("current") == 20 and data_requests(emu) == []
        assert dataset_rows(out) == server_rows(emu, T0, FORK_END)


# -- the command line ---------------------------------------------------------------------------------------------


def test_the_command_prints_one_summary_line_and_status_per_patient_and_day(
    emu: Moving, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg, out = config_file(emu, tmp_path), tmp_path / "accel"
    cli.main(sync_flags(out, T0 + 40, "--config", str(cfg)))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"runeq sync: {out}: 2 patients, 4 windows pulled")
    assert "4,000 rows" in err[0] and "requests" in err[0] and "retries" in err[0]
    cli.main(["sync", "--status", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"{out}: accel, 2 patients, 4,000 rows"
    assert [line.split()[:5] for line in lines[2:]] == [["P1", "watch-1", "2021-01-01", "2,000", "0.01"],
                                                         ["P2", "watch-1", "2021-01-01", "2,000", "0.01"]]


def test_plot_draws_the_coverage_as_a_png(emu: Moving, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 40)
    cli.main(["sync", "--status", str(out), "--plot", str(tmp_path / "c.png")])
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().err == f"runeq: drew the coverage of {out} into {tmp_path / 'c.png'}\n"  # both named


@pytest.mark.parametrize("resource", ["span", "event"])
def test_a_resource_that_is_not_a_csv_time_series_is_refused_with_one_line(
    resource: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["sync", resource, "--patient-id", "P", "--device-id", "D", "--start-time", "0", "--end-time", "9",
                  "--output", str(tmp_path / "x"), "--emulator"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert f"{resource} cannot be synced: it is not a CSV time series" in err
    assert not (tmp_path / "x").exists()


def test_another_resource_or_window_into_a_dataset_is_refused(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 20)
    with pytest.raises(Exception, match="is synced with resource 'accel'"):
        sync(config(emu), "rotation", PATIENTS, "watch-1", T0, T0 + 20, out, window=WINDOW)
    with pytest.raises(Exception, match="is synced with window 20"):
        sync(config(emu), "accel", PATIENTS, "watch-1", T0, T0 + 20, out, window=60)


def test_a_ledger_line_cut_by_a_kill_is_dropped_and_its_window_pulled_again(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 40)
    ledger = out / LEDGER
    text = ledger.read_text()
    ledger.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + text.splitlines()[-1][:25])
    emu.clear()
    run(emu, out, T0, T0 + 40)
    assert len(data_requests(emu)) >= 1
    assert all(json.loads(line) for line in ledger.read_text().splitlines())
    assert dataset_rows(out) == server_rows(emu, T0, T0 + 40)


def test_a_file_the_ledger_does_not_name_is_removed(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 20)
    stray = out / "patient_id=P1" / "device_id=watch-1" / "20210101T100000Z.parquet"
    stray.write_bytes((out / "patient_id=P1" / "device_id=watch-1" / "20210101T090000Z.parquet").read_bytes())
    run(emu, out, T0, T0 + 20)
    assert not stray.exists() and dataset_rows(out) == server_rows(emu, T0, T0 + 20)


def test_emulator_delay_ms_is_a_whole_number(tmp_path: Path) -> None:
    proc = subprocess.run([*COMMAND, "emulator", "--delay-ms", "soon"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--delay-ms must be a whole number of at least 0 (e.g. --delay-ms 20): it is not one\n" in proc.stderr and "soon" not in proc.stderr


def test_arrow_schema_is_the_same_in_every_file(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0 - 30, T0 + 40)
    import pyarrow.parquet as pq

    schemas = {pq.read_schema(p) for p in out.rglob("*.parquet")}
    assert len(schemas) == 1 and next(iter(schemas)).field("time").type == pa.float64()


def test_patients_and_windows_are_pulled_at_once_within_the_process_limit(tmp_path: Path) -> None:
    from runeq_fn.http.flight import LIMITER

    with Emulator(page_size=250, delay=0.05) as emu:
        sync(Config(**emu.config_values()), "accel", ["P1", "P2", "P3", "P4"], "watch-1", T0, T0 + 100,
             tmp_path / "a", window=WINDOW)
        assert 2 <= emu.peak_in_flight <= LIMITER.limit


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 39), st.sampled_from([20, 40, 60]))
def test_idle_lanes_split_a_long_window_and_each_file_holds_its_rows_once_in_time_order(half: int, window: int) -> None:
    with Moving(page_size=50, delay=0.01) as emu:
        out = Path(tempfile.mkdtemp()) / "accel"
        start, end = T0 + half / 2, T0 + 60 + half / 2  # half seconds: window edges between samples too
        try:
            sync(config(emu), "accel", PATIENTS, "watch-1", start, end, out, window=window)
            assert emu.peak_in_flight > len(PATIENTS) * (math.ceil(end / window) - math.floor(start / window))  # > 1 per window
            assert dataset_rows(out) == server_rows(emu, start, end)
            for file in out.rglob("*.parquet"):
                times = pq.read_table(file).column("time").to_pylist()
                assert times == sorted(times)
        finally:
            shutil.rmtree(out.parent)


def pull_one_part(emu: Emulator, take: Callable[[Any, Any], None]) -> None:
    """Pull P1's [T0, T0 + 20) from ``emu`` as one lane's part, each page into ``take``."""
    from fractions import Fraction

    from runeq_fn.pull.stats import Stats
    from runeq_fn.sync.lanes import Lanes, first_parts, pull_part

    query = {"patient_id": "P1", "device_id": "watch-1", "start_time": T0, "end_time": T0 + 20}
    request = build_request(Config(**emu.config_values()), "accel", "csv", query)
    lanes = Lanes(first_parts("w", request, Fraction(T0), Fraction(T0 + 20), 1))
    part = lanes.take()
    assert part is not None
    pull_part(part, request, "time", lanes, Stats(), take, lambda: False)


def test_a_lane_asks_for_its_next_page_before_it_reads_the_one_it_has() -> None:
    with Emulator(page_size=250) as emu:
        read: list[bool] = []

        def take(part: Any, response: Any) -> None:  # reading a page waits for the next one's request
            if response.content:
                deadline = time.monotonic() + 10
                while len(data_requests(emu)) <= len(read) + 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                read.append(len(data_requests(emu)) > len(read) + 1)

        pull_one_part(emu, take)
    assert read == [True] * 4  # 1000 rows in 4 pages, then the page past the window, cut to nothing


def test_while_a_lane_reads_a_page_its_chain_goes_two_pages_on_and_no_further() -> None:
    with Emulator(page_size=250) as emu:
        asked: list[int] = []

        def take(part: Any, response: Any) -> None:  # the first page is read slowly
            if not asked:
                deadline = time.monotonic() + 10
                while len(data_requests(emu)) < 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.3)  # room for a chain that would not stop
            asked.append(len(data_requests(emu)))

        pull_one_part(emu, take)
    assert asked[0] == 3  # the page read, the one waiting for the lane, the one on the wire


def test_an_empty_window_is_rechecked_like_any_other(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    emu.horizon = T0  # nothing has arrived yet for [T0, T0 + 20)
    run(emu, out, T0, T0 + 20)
    assert dataset_rows(out) == []
    emu.horizon = float("inf")
    run(emu, out, T0, T0 + 40, recheck=20)
    assert dataset_rows(out) == server_rows(emu, T0, T0 + 40)


def test_other_query_parameters_into_a_dataset_are_refused(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "lfp"
    sync(config(emu), "lfp", ["P1"], "dbs-1", T0, T0 + 1, out, window=WINDOW, params={"channels": "0"})
    with pytest.raises(Exception, match="is synced with params"):
        sync(config(emu), "lfp", ["P1"], "dbs-1", T0, T0 + 1, out, window=WINDOW, params={"channels": "0,1"})


def test_a_failing_window_ends_the_command_with_status_2_naming_it(
    emu: Moving, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    emu.broken = {T0 + 20}
    with pytest.raises(SystemExit) as stop:
        cli.main(sync_flags(tmp_path / "a", T0 + 40, "--config", str(config_file(emu, tmp_path))))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "2 of 4 windows failed (P1 2021-01-01T09:00:20Z" in err and "Traceback" not in err


def test_progress_counts_the_pages_and_rows_of_every_patient(emu: Moving, tmp_path: Path) -> None:
    seen: list = []
    report = run(emu, tmp_path / "a", T0, T0 + 40, progress=seen.append)
    assert (seen[-1].pages, seen[-1].rows) == (report.total("pages"), report.total("rows"))
    assert report.total("rows") == 4000 and report.total("pages") >= 16  # a split reads a page twice


def test_reports_and_errors_pickle(emu: Moving, tmp_path: Path) -> None:
    import pickle

    from runeq_fn.sync import SyncInterrupted

    emu.broken = {T0}
    with pytest.raises(SyncError) as failed:
        run(emu, tmp_path / "a", T0, T0 + 40)
    again = pickle.loads(pickle.dumps(failed.value))
    assert str(again) == str(failed.value) and again.report == failed.value.report
    stopped = pickle.loads(pickle.dumps(SyncInterrupted(failed.value.report)))
    assert stopped.report.failed == failed.value.report.failed


def test_runeq_sync_reads_with_pyarrows_system_allocator_unless_told_otherwise(tmp_path: Path) -> None:
    import sys

    code = ("import sys; from runeq_fn import cli\n"
            "try:\n    cli.main(sys.argv[1:])\nfinally:\n"
            "    import pyarrow; print(pyarrow.default_memory_pool().backend_name)")
    flags = sync_flags(tmp_path / "a", T0 + 1, "--emulator")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run([sys.executable, "-c", code, *flags], capture_output=True, text=True, timeout=60, env=env)
    assert chosen.stdout.split() == ["system"], chosen.stderr
    told = subprocess.run([sys.executable, "-c", code, *sync_flags(tmp_path / "b", T0 + 1, "--emulator")],
                          capture_output=True, text=True, timeout=60, env={**env, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"})
    assert told.stdout.split() == ["jemalloc"], told.stderr


def test_a_flag_close_to_an_option_of_sync_is_refused_naming_sync(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main([*sync_flags(tmp_path / "a", T0 + 1, "--emulator"), "--recheks", "30"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--recheks is not an option of runeq sync: did you mean --recheck?" in err
    assert not (tmp_path / "a").exists()


def test_files_of_your_own_outside_the_partitions_are_left_alone(emu: Moving, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    run(emu, out, T0, T0 + 20)
    mine = [out / "notes.parquet", out / "extra" / "x.parquet"]
    for path in mine:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"mine")
    run(emu, out, T0, T0 + 40)
    assert all(path.read_bytes() == b"mine" for path in mine)


def test_emulator_delay_ms_delays_each_answer(tmp_path: Path) -> None:
    with emulator_process(tmp_path, "--delay-ms", "300") as (_, said):
        cfg = Config(stream_url=said["url"], access_token_id=said["access_token_id"],
                     access_token_secret=said["access_token_secret"])
        query = {"patient_id": "P1", "device_id": "watch-1", "start_time": T0, "end_time": T0 + 1}
        began = time.monotonic()
        list(pages(build_request(cfg, "accel", "csv", query)))  # a page and the empty end: two answers
        assert time.monotonic() - began >= 0.6


def test_the_progress_line_is_named_by_its_command() -> None:
    import io

    from runeq_fn.sinks.durable import Pull
    from runeq_fn.sinks.progress import LineProgress

    out = io.StringIO()
    LineProgress(out, "runeq sync")(Pull.start("accel", "csv", {}))
    assert out.getvalue().startswith("\rruneq sync: 0 pages")


def test_a_ledger_write_that_fails_leaves_the_ledger_and_no_temporary_file(tmp_path: Path) -> None:
    # the ledger's own copy of the atomic write left its hidden temporary file behind on a failed write
    from runeq_fn.sync.ledger import write_atomically

    path = tmp_path / LEDGER
    path.write_text("kept\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(str(path), "\ud800")
    assert path.read_text() == "kept\n" and [p.name for p in tmp_path.iterdir()] == [LEDGER]
