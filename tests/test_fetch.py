"""``runeq fetch`` and ``runeq_fn.sinks.export`` against the emulator, over loopback HTTP.

Most runs are in-process (``cli.main``): the same code as the console script,
minus the interpreter start-up; a few run the real ``runeq`` script.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from commands import emulator_process, run
from extras import need
from failing import server_fails_after

from runeq_fn import Config, cli, csv_points, json_pages, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError
from runeq_fn.pull.build import build_request
from runeq_fn.sinks.durable import Pull, part_paths
from runeq_fn.sinks.export import export_query
from runeq_fn.sinks.progress import terminal_progress

START, END = 1609491600, 1609491610  # 2021-01-01 09:00:00 to 09:00:10 UTC: 500 rows, 5 pages of 100
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": START, "end_time": END}
FLAGS = ["--patient-id", "p1", "--device-id", "d1", "--start-time", str(START), "--end-time", str(END)]
ISO_FLAGS = [*FLAGS[:4], "--start-time", "2021-01-01T09:00:00Z", "--end-time", "2021-01-01T10:00:10+01:00"]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=100) as emulator:
        yield emulator


def write_config(emu: Emulator, folder: Path) -> Path:
    """A config file for the emulator, without retries (a fault fails at once)."""
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0}))
    path.chmod(0o600)
    return path


@pytest.fixture
def config_file(emu: Emulator, tmp_path: Path) -> Path:
    return write_config(emu, tmp_path)


def fetch(config_file: Path, *args: str) -> None:
    """``runeq fetch ARGS --config FILE``, in-process."""
    cli.main(["fetch", *args, "--config", str(config_file)])


def points(emu: Emulator) -> list[dict]:
    """The query's accelerometry as the runeq surface gives it."""
    return list(stream.V1Client(Config(**emu.config_values())).Accel(**QUERY).points())


def entries(emu: Emulator, name: str, query: dict) -> list[dict]:
    request = build_request(Config(**emu.config_values()), name, "json", query)
    return [entry for result in json_pages(pages(request)) for entry in result[name]]


# -- the same rows as points() ------------------------------------------------------------------


def test_csv_holds_the_rows_of_points_under_one_header(
    emu: Emulator, config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "accel.csv"
    fetch(config_file, "accel", *FLAGS, "--output", str(out))
    text = out.read_text()
    assert text.count("time,x,y,z") == 1
    assert list(csv_points([text])) == points(emu)
    assert len(points(emu)) == 500


def test_jsonl_and_json_hold_the_points(emu: Emulator, config_file: Path, tmp_path: Path) -> None:
    fetch(config_file, "accel", *FLAGS, "--format", "jsonl", "--output", str(tmp_path / "a.jsonl"))
    fetch(config_file, "accel", *FLAGS, "--format", "json", "--output", str(tmp_path / "a.json"))
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == points(emu)
    assert json.loads((tmp_path / "a.json").read_text()) == points(emu)


@pytest.mark.parametrize("name", ["event", "span"])
def test_json_only_resources_write_one_entry_per_line(name: str, tmp_path: Path) -> None:
    week = {"patient_id": "p1", "start_time": 1609459200, "end_time": 1609459200 + 7 * 86400}
    with Emulator(page_size=3, pagination="mixed") as emu:
        config_file = write_config(emu, tmp_path)
        flags = ["--patient-id", "p1", "--start-time", "2021-01-01", "--end-time", "2021-01-08"]
        fetch(config_file, name, *flags, "--format", "jsonl", "--output", str(tmp_path / "e.jsonl"))
        fetch(config_file, name, *flags, "--format", "json", "--output", str(tmp_path / "e.json"))
        expected = entries(emu, name, week)
    assert len(expected) > 6  # several pages
    assert [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()] == expected
    assert json.loads((tmp_path / "e.json").read_text()) == expected


def test_an_empty_result_is_a_header_an_empty_file_or_array_and_says_0_rows(
    config_file: Path, tmp_path: Path, capsys
) -> None:
    night = ["--patient-id", "p1", "--device-id", "d1", "--start-time", "2021-01-01T01:00:00Z",
             "--end-time", "2021-01-01T02:00:00Z"]  # fmt: skip
    for fmt, expected in (("csv", "time,x,y,z\n"), ("jsonl", ""), ("json", "[]\n")):
        fetch(config_file, "accel", *night, "--format", fmt, "--output", str(tmp_path / f"night.{fmt}"))
        assert (tmp_path / f"night.{fmt}").read_text() == expected
        assert "runeq: 0 rows: nothing matched the query" in capsys.readouterr().err
    fetch(config_file, "lfp", *night, "--channels", "1,0", "--output", str(tmp_path / "lfp.csv"))
    assert (tmp_path / "lfp.csv").read_text() == "timestamp,channel.1,channel.0\n"
    need("pandas")
    import pandas as pd

    frame = pd.read_csv(tmp_path / "night.csv")
    assert list(frame.columns) == ["time", "x", "y", "z"] and len(frame) == 0


def interrupted(emu: Emulator, config_file: Path, out: Path) -> None:
    """A pull of QUERY into ``out`` stopped by a 503 after 2 pages (state and part kept; the server still failing)."""

    with pytest.raises(APIError):
        export_query(Config(str(config_file)), "accel", QUERY, "csv", out, progress=server_fails_after(emu, 2, 503))


def test_iso_times_are_sent_as_unix_seconds(emu: Emulator, config_file: Path, tmp_path: Path) -> None:
    fetch(config_file, "accel", *FLAGS, "--output", str(tmp_path / "unix.csv"))
    emu.clear()
    fetch(config_file, "accel", *ISO_FLAGS, "--output", str(tmp_path / "iso.csv"))
    assert (tmp_path / "iso.csv").read_bytes() == (tmp_path / "unix.csv").read_bytes()
    sent = dict(emu.requests[0].params)
    assert (sent["start_time"], sent["end_time"]) == (str(START), str(END))


def test_other_flags_are_passed_through_as_typed(emu: Emulator, config_file: Path, tmp_path: Path) -> None:
    fetch(config_file, "probability_symptom", *FLAGS, "--symptom", "tremor", "--severity=*", "--colour", "0x10",
          "--output", str(tmp_path / "p.csv"))  # fmt: skip
    sent = dict(emu.requests[0].params)
    assert (sent["symptom"], sent["severity"], sent["colour"]) == ("tremor", "*", "0x10")
    assert (tmp_path / "p.csv").read_text().startswith("time,mild,moderate,none,slight,strong,unknown\n")


# -- errors ---------------------------------------------------------------------------------------


def user_error(capsys: pytest.CaptureFixture, config_file: Path, *args: str) -> str:
    with pytest.raises(SystemExit) as stop:
        fetch(config_file, *args)
    assert stop.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["event", "--format", "csv"], ["event has no csv output", "jsonl or json"]),
        (["accel", "--format", "xml"], ["there is no such output format", "csv or jsonl or json"]),
        (["accel", "--start-time", "noon"], ["--start-time must be unix seconds or ISO 8601"]),
        (["acel"], ["unknown resource (did you mean accel?)"]),
        (["accel", "--resume"], ["--resume needs --output FILE"]),
        (["accel", "--output", "x.csv", "--resume"], ["nothing to resume", "x.csv.part.state"]),
        (["accel", "--output", "no/such/dir/x.csv"], ["cannot write no/such/dir/x.csv.part"]),
    ],
)
def test_usage_errors_name_the_fix(
    capsys, config_file: Path, tmp_path: Path, monkeypatch, args, fragments
) -> None:
    monkeypatch.chdir(tmp_path)
    err = user_error(capsys, config_file, *args)
    assert err.startswith("runeq: error: ")
    for fragment in fragments:
        assert fragment in err


def test_a_server_error_before_any_data_leaves_no_file_and_nothing_to_resume(
    emu: Emulator, config_file: Path, tmp_path: Path, capsys
) -> None:
    emu.inject(Fault("status", status=500, times=99))
    out = tmp_path / "x.csv"
    err = user_error(capsys, config_file, "accel", *FLAGS, "--output", str(out))
    assert "500" in err and "--resume" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.yml"]


def test_a_server_error_after_some_pages_keeps_them_and_says_how_to_resume(
    emu: Emulator, config_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "x.csv"
    interrupted(emu, config_file, out)
    err = user_error(capsys, config_file, "accel", *FLAGS, "--output", str(out), "--resume")
    assert "503" in err and "kept in" in err and "run the same command with --resume" in err
    assert Path(part_paths(out)[1]).exists() and not out.exists()


# -- atomic writes and --resume --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "pagination", "by_token"),
    [("csv", "page", False), ("csv", "token", True), ("jsonl", "mixed", True), ("json", "page", False)],
)
def test_an_interrupted_pull_resumes_to_the_bytes_of_a_clean_one(
    tmp_path: Path, fmt: str, pagination: str, by_token: bool
) -> None:
    with Emulator(page_size=100, pagination=pagination) as emu:
        cfg = Config(**emu.config_values(), retries=0)
        clean, out = tmp_path / f"clean.{fmt}", tmp_path / f"pulled.{fmt}"
        export_query(cfg, "accel", QUERY, fmt, clean)

        with pytest.raises(APIError):
            export_query(cfg, "accel", QUERY, fmt, out, progress=server_fails_after(emu, 3))
        part, state = map(Path, part_paths(out))
        assert not out.exists() and part.exists() and state.exists()
        saved = json.loads(state.read_text())
        assert (saved["pages"], saved["rows"], saved["bytes"]) == (3, 300, part.stat().st_size)
        with part.open("ab") as f:
            f.write(b"1609491606.0,0.01")  # as if killed in the middle of writing a page

        emu.clear()
        fetch(write_config(emu, tmp_path), "accel", *FLAGS, "--format", fmt, "--output", str(out), "--resume")
        first = dict(emu.requests[0].params)
    assert out.read_bytes() == clean.read_bytes()
    assert not part.exists() and not state.exists()
    assert first["page"] == "3"
    assert ("next_page_token" in first) == by_token  # the 4th page, named as the server named it


def test_resume_refuses_another_query(emu: Emulator, config_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.csv"
    interrupted(emu, config_file, out)
    err = user_error(capsys, config_file, "rotation", *FLAGS, "--output", str(out), "--resume")
    assert "belongs to another query" in err and "accel" in err


def test_a_new_pull_without_resume_starts_over(
    emu: Emulator, config_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "x.csv"
    part, _ = part_paths(out)
    Path(part).write_text("stale\n")
    fetch(config_file, "accel", *FLAGS, "--output", str(out))
    assert list(csv_points([out.read_text()])) == points(emu)
    assert not Path(part).exists()


# -- progress ---------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report_two_pages(stream: io.StringIO) -> str:
    with terminal_progress(stream) as report:
        if report is not None:
            report(Pull("accel", "csv", {}, {}, pages=0, rows=0, bytes=0))
            report(Pull("accel", "csv", {}, None, pages=2, rows=2000, bytes=64000))
    return stream.getvalue()


def test_progress_is_quiet_unless_stderr_is_a_terminal() -> None:
    assert report_two_pages(io.StringIO()) == ""


def test_progress_uses_tqdm_when_installed() -> None:
    need("tqdm")
    shown = report_two_pages(Terminal())
    assert "runeq fetch" in shown and "2 pages, 2,000 rows" in shown and "64.0k" in shown


def test_progress_falls_back_to_a_plain_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed
    shown = report_two_pages(Terminal())
    assert shown.startswith("\rruneq fetch: 0 pages, 0 rows, 0 B")
    assert "\rruneq fetch: 2 pages, 2,000 rows, 64.0 kB, " in shown and shown.endswith("/s\n")


# -- the real command ---------------------------------------------------------------------------------


def test_the_script_writes_csv_to_stdout_quietly(emu: Emulator, config_file: Path, tmp_path: Path) -> None:
    done = run(tmp_path, "fetch", "accel", *ISO_FLAGS, "--config", str(config_file), text=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().startswith("runeq fetch: 5 pages, 500 rows, ")  # no progress: only the summary
    assert done.stderr.count(b"\n") == 1
    assert list(csv_points([done.stdout.decode()])) == points(emu)


def test_against_runeq_emulator_the_file_holds_the_rows_of_points(tmp_path: Path) -> None:
    with emulator_process(tmp_path, "--page-size", "150") as (_, info):
        values = {"stream_url": info.pop("url"), **info}
        (tmp_path / "config.yml").write_text(yaml.safe_dump(values))
        (tmp_path / "config.yml").chmod(0o600)
        out = tmp_path / "x.csv"
        config = ["--config", str(tmp_path / "config.yml")]
        done = run(tmp_path, "fetch", "accel", *ISO_FLAGS, "--output", str(out), *config, text=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr.decode().startswith("runeq fetch: 4 pages, 500 rows, ")
        expected = list(stream.V1Client(Config(**values)).Accel(**QUERY).points())
    assert list(csv_points([out.read_text()])) == expected
    assert len(expected) == 500


@pytest.mark.parametrize(
    "change",
    [{"bytes": "10"}, {"next": "x"}, {"bytes": -5}, {"rows": None}, {"pages": True}],
    ids=["bytes-text", "next-text", "bytes-negative", "rows-null", "pages-bool"],
)
def test_a_damaged_state_file_is_a_clear_error(
    emu: Emulator, config_file: Path, tmp_path: Path, capsys, change: dict
) -> None:
    out = tmp_path / "x.csv"
    interrupted(emu, config_file, out)
    state = Path(part_paths(out)[1])
    state.write_text(json.dumps({**json.loads(state.read_text()), **change}))
    err = user_error(capsys, config_file, "accel", *FLAGS, "--output", str(out), "--resume")
    assert "is not a saved pull" in err and "Traceback" not in err
