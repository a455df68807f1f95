"""A new user's first hour with ``runeq``: no error shows a value typed, an interrupted pull is never
thrown away unasked, a failure before any data leaves no file, and a missing extra is one line."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from commands import COMMAND
from extras import need
from failing import server_fails_after

from runeq_fn import Config, cli
from runeq_fn.cli import configure, messages
from runeq_fn.config.keys import KNOWN_KEYS
from runeq_fn.emulator import Emulator
from runeq_fn.errors import APIError
from runeq_fn.sinks.durable import part_paths
from runeq_fn.sinks.export import export_query

MARK = "ZQX-typed-7731"
START, END = 1609491600, 1609491610
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": START, "end_time": END}
FLAGS = ["--patient-id", "p1", "--device-id", "d1", "--start-time", str(START), "--end-time", str(END)]


# -- no error shows a typed value -----------------------------------------------------------------


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def option_lines() -> Iterator[tuple[str, list[str]]]:
    """Every option of every command (and a positional word) given the marker as its value.

    ``{out}`` stands for a file in the test's folder. The options that name a file
    (``messages.PATH_OPTIONS``: ``--output``, ``--config``, ``--status``, ...) are left out: errors
    name the file, so you know which one.
    """
    fetch_base = ["accel", "--emulator", "--output", "{out}"]
    sync_base = ["accel", "--emulator", "--output", "{out}", "--patient-id", "p1", "--device-id", "d1",
                 "--start-time", str(START), "--end-time", str(END)]
    groups = {
        "configure setup": (configure.Configure.setup, []),
        "configure get": (configure.Configure.get, []),
        "configure set": (configure.Configure.set, ["stream_url=http://127.0.0.1:9"]),
        "emulator": (cli.Runeq.emulator, []),
        "demo": (cli.Runeq.demo, []),
        "fetch": (cli.Runeq.fetch, fetch_base),
        "sync": (cli.Runeq.sync, sync_base),
    }
    for command, (method, base) in groups.items():
        words = command.split()
        for name in inspect.signature(method).parameters:
            if name in ("self", "keys", "pairs", "params", *messages.PATH_OPTIONS):
                continue
            rest = base[1:] if name == "resource" else base
            yield f"{command} --{name}", [*words, *rest, flag(name), MARK]
            yield f"{command} --{name}=", [*words, *rest, f"{flag(name)}={MARK}"]
        yield f"{command} positional", [*words, *base, MARK]
    yield "unknown command", [MARK]
    yield "unknown configure command", ["configure", MARK]
    yield "fetch unknown resource", ["fetch", MARK, "--emulator"]
    yield "sync unknown resource", ["sync", MARK, *sync_base[1:]]
    for command, base in (("fetch", fetch_base), ("sync", sync_base)):
        for name in ("start_time", "end_time", "patient_id", "device_id", "channels", "colour"):
            yield f"{command} --{name}", [command, *base, flag(name), MARK]
    yield "fetch stray positional", ["fetch", "accel", MARK, "--emulator"]
    yield "sync stray positional", ["sync", "accel", MARK, *sync_base[1:]]
    for key in sorted(KNOWN_KEYS):
        yield f"configure set {key}=", ["configure", "set", f"{key}={MARK}"]
    yield "configure set unknown key", ["configure", "set", f"{MARK}=1"]
    yield "configure set no =", ["configure", "set", MARK]
    yield "configure get unknown key", ["configure", "get", MARK]


LINES = dict(option_lines())


@pytest.mark.parametrize("case", list(LINES))
def test_no_command_line_shows_a_value_typed(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(configure, "stdin_is_terminal", lambda: False)
    args = [arg.replace("{out}", str(tmp_path / "x.csv")) for arg in LINES[case]]
    try:
        cli.main(args)
    except SystemExit as stop:
        assert stop.code in (0, 2, None)
    shown = capsys.readouterr()
    assert MARK not in shown.out + shown.err
    assert "Traceback" not in shown.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["fetch", "accel", "--emulator", "--start-time", "noon"], "--start-time must be unix seconds or ISO 8601"),
        (["fetch", "accel", "--emulator", "--end-time", "1609491600000"],
         "--end-time looks like milliseconds: divide by 1000"),
        (["fetch", "accel", "--emulator", "--shards", "0"], "--shards must be a whole number of at least 1"),
        (["emulator", "--port", "http"], "--port must be a whole number of at least 0"),
        (["emulator", "--pagination", "pages"], "--pagination must be page, token or mixed"),
        (["configure", "set", "retries=many"], "retries in the arguments must be a whole number"),
        (["fetch", "accel", "--emulator", "--format", "xml"], "there is no such output format: use --format csv or"),
    ],
)  # fmt: skip
def test_a_bad_value_is_told_what_it_takes(args: list[str], said: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("runeq: error: ") and said in err and err.count("\n") == 1


SYNC = ["sync", "accel", "--emulator", "--patient-id", "P1", "--device-id", "D", "--start-time", "0", "--end-time", "9"]


@pytest.mark.parametrize(
    ("args", "flag", "least", "why"),
    [
        (["emulator", "--port", "-1"], "--port", 0, "it is below 0"),
        (["emulator", "--page-size", "0"], "--page-size", 1, "it is below 1"),
        (["emulator", "--delay-ms", "soon"], "--delay-ms", 0, "it is not one"),
        (["fetch", "accel", "--emulator", "--shards", "2.5"], "--shards", 1, "it is not one"),
        (["fetch", "accel", "--emulator", "--prefetch", "-1"], "--prefetch", 0, "it is below 0"),
        ([*SYNC, "--output", "OUT", "--window", "0"], "--window", 1, "it is below 1"),
        ([*SYNC, "--output", "OUT", "--shards", "many"], "--shards", 1, "it is not one"),
    ],
)  # fmt: skip
def test_every_whole_number_flag_is_refused_in_one_style(args, flag, least, why, tmp_path: Path, monkeypatch, capsys) -> None:
    # --port, --page-size, --delay-ms and --window had a check of their own (cli.whole_number), with no example
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        cli.main([str(tmp_path / "out") if arg == "OUT" else arg for arg in args])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert re.fullmatch(rf"runeq: error: {flag} must be a whole number of at least {least} \(e\.g\. {flag} \d+\): {why}\n", err)


def test_a_file_named_by_output_is_shown_whole_even_where_it_holds_a_typed_value(tmp_path: Path, capsys) -> None:
    out = tmp_path / MARK / "x.csv"  # a folder that does not exist, named after the patient
    with pytest.raises(SystemExit):
        cli.main(["fetch", "accel", "--emulator", "--patient-id", MARK, "--output", str(out)])
    err = capsys.readouterr().err
    assert f"cannot write {out}.part" in err and err.count(MARK) == 1


def test_a_dataset_named_by_sync_status_is_shown_whole_as_output_is(tmp_path: Path, capsys) -> None:
    folder = tmp_path / MARK  # no dataset there
    with pytest.raises(SystemExit):
        cli.main(["sync", "--status", str(folder)])
    assert f"runeq: error: {folder} is not a synced dataset" in capsys.readouterr().err


def test_the_marker_would_be_shown_without_the_guard(monkeypatch, capsys) -> None:
    """The test above can fail: a message that holds a typed value is caught by ``note``."""
    monkeypatch.setattr(messages, "TYPED", [MARK])
    messages.note(f"retries must be a whole number, not {MARK!r}")
    assert capsys.readouterr().err == "runeq: retries must be a whole number, not '...'\n"


# -- an interrupted pull is never thrown away unasked ------------------------------------------------


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=100) as emulator:
        yield emulator


def config_file(emu: Emulator, folder: Path, **values: object) -> Path:
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0, **values}))
    path.chmod(0o600)
    return path


def interrupt(emu: Emulator, config: Path, out: Path) -> None:
    """A pull of QUERY into ``out`` stopped by a 503 after 2 pages; the server is well again after."""

    with pytest.raises(APIError):
        export_query(Config(str(config)), "accel", QUERY, "csv", out, progress=server_fails_after(emu, 2, 503))
    emu.clear()


def fetch(config: Path, *args: str) -> int:
    try:
        cli.main(["fetch", "accel", *FLAGS, "--config", str(config), *args])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def test_a_pull_over_an_interrupted_one_is_refused_with_the_two_ways_forward(
    emu: Emulator, tmp_path: Path, capsys
) -> None:
    config, out = config_file(emu, tmp_path), tmp_path / "x.csv"
    interrupt(emu, config, out)
    part, state = map(Path, part_paths(out))
    kept = part.read_bytes()
    capsys.readouterr()
    assert fetch(config, "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert err == (
        f"runeq: error: {part} holds an interrupted pull: run the same command with --resume to continue it, "
        "or with --restart to start over\n"
    )
    assert part.read_bytes() == kept and state.exists() and emu.requests == []
    assert fetch(config, "--output", str(out), "--resume") == 0
    whole = out.read_bytes()
    interrupt(emu, config, out)
    assert fetch(config, "--output", str(out), "--restart") == 0
    assert out.read_bytes() == whole and not part.exists() and not state.exists()
    assert "page" not in dict(emu.requests[0].params)  # started over from the first page


def test_resume_and_restart_together_are_refused(emu: Emulator, tmp_path: Path, capsys) -> None:
    assert fetch(config_file(emu, tmp_path), "--output", str(tmp_path / "x.csv"), "--resume", "--restart") == 2
    assert "give --resume (continue the interrupted pull) or --restart (start over), not both" in capsys.readouterr().err


def test_a_parquet_pull_over_an_interrupted_one_is_refused_too(emu: Emulator, tmp_path: Path, capsys) -> None:
    need("pyarrow")
    from runeq_fn.sinks.parquet import export_parquet

    config, out = config_file(emu, tmp_path), tmp_path / "accel"

    with pytest.raises(APIError):
        export_parquet(Config(str(config)), "accel", QUERY, out, progress=server_fails_after(emu, 2, 503))
    emu.clear()
    capsys.readouterr()
    assert fetch(config, "--format", "parquet", "--output", str(out)) == 2
    assert "accel.part holds an interrupted pull: run the same command with --resume" in capsys.readouterr().err
    assert fetch(config, "--format", "parquet", "--output", str(out), "--restart") == 0
    assert out.is_dir() and not Path(part_paths(out)[1]).exists()


# -- a failure before any data leaves no file ------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt_output",
    [("csv", "x.csv"), ("json", "x.json"), ("parquet", "accel"), ("parquet", "one.parquet"), ("cohort", "cohort")],
)
def test_bad_credentials_leave_no_file_and_point_at_the_credentials(
    emu: Emulator, tmp_path: Path, capsys, fmt_output: tuple[str, str]
) -> None:
    fmt, name = fmt_output
    if fmt in ("parquet", "cohort"):
        need("pyarrow")
    values = emu.config_values()
    config = config_file(emu, tmp_path, access_token_secret="not-" + values["access_token_secret"])
    patients = ["--patient-id", "p1,p2"] if fmt == "cohort" else []
    fmt = "parquet" if fmt == "cohort" else fmt
    assert fetch(config, *patients, "--format", fmt, "--output", str(tmp_path / name)) == 2
    err = capsys.readouterr().err
    assert "401" in err and "runeq configure setup" in err and "--resume" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.yml"]


# -- a missing extra is one line ---------------------------------------------------------------------------


def without(module: str, code: str) -> subprocess.CompletedProcess:
    """Run Python code in a child where ``import module`` fails, as on a machine without it."""
    blocker = f"import sys; sys.modules[{module!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", blocker + code], capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_parquet_without_pyarrow_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    assert COMMAND  # the same entry point as the console script: runeq_fn.cli.main
    args = ["fetch", "accel", "--emulator", "--format", "parquet", "--output", str(tmp_path / "accel")]
    done = without("pyarrow", f"from runeq_fn.cli import main; main({args!r})")
    assert done.returncode == 2
    assert done.stderr == "runeq: error: --format parquet needs pyarrow: pip install 'runeq-fn[arrow]'\n"
    assert list(tmp_path.iterdir()) == []


def test_sync_without_pyarrow_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    args = ["sync", "accel", "--emulator", "--patient-id", "P1", "--device-id", "D", "--start-time", "1609491600",
            "--end-time", "1609491660", "--output", str(tmp_path / "accel")]
    done = without("pyarrow", f"from runeq_fn.cli import main; main({args!r})")
    assert (done.returncode, done.stderr) == (2, "runeq: error: runeq sync needs pyarrow: pip install 'runeq-fn[arrow]'\n")
    assert list(tmp_path.iterdir()) == []
    done = without("pyarrow", "from runeq_fn.sync import sync\ntry:\n    sync(None, 'accel', 'P1', 'D', 0, 60, 'x')\n"
                              "except ImportError as exc:\n    print(exc)")
    assert done.stdout == "runeq_fn.sync.sync needs pyarrow: pip install 'runeq-fn[arrow]'\n"


@pytest.mark.parametrize("writer", ["export_parquet", "export_cohort"])
def test_parquet_writers_without_pyarrow_say_so_in_one_line_before_any_request(writer: str, tmp_path: Path) -> None:
    # export_cohort failed each patient with "No module named 'pyarrow'" after pulling its first page
    code = (f"from runeq_fn.sinks.parquet import {writer}\ntry:\n    {writer}(None, 'accel', {{}}, "
            + ("['P1'], " if writer == "export_cohort" else "") + f"{str(tmp_path / 'out')!r})\n"
            "except ImportError as exc:\n    print(exc)")
    done = without("pyarrow", code)
    assert done.stdout == f"{writer} needs pyarrow: pip install 'runeq-fn[arrow]'\n", done.stderr
    assert list(tmp_path.iterdir()) == []


def test_to_dataframe_without_pandas_names_the_extra() -> None:
    done = without("pandas", "from runeq_fn import to_dataframe\ntry:\n    to_dataframe([{'time': 1.0}])\n"
                             "except ImportError as exc:\n    print(exc)")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "to_dataframe needs pandas: pip install 'runeq-fn[pandas]'\n"


# -- several patients in one file: a patient_id column ----------------------------------------------------


def single(emu: Emulator, config: Path, fmt: str, patient: str, tmp_path: Path) -> list[dict]:
    """One patient's pull as objects (CSV rows read with the csv module)."""
    out = tmp_path / f"{patient}.{fmt}"
    export_query(Config(str(config)), "accel", {**QUERY, "patient_id": patient}, fmt, out)
    return read_objects(out, fmt)


def read_objects(path: Path, fmt: str) -> list[dict]:
    import csv
    import json

    text = path.read_text()
    if fmt == "csv":
        return list(csv.DictReader(text.splitlines()))
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_several_patients_are_one_file_with_a_patient_id_column(emu: Emulator, tmp_path: Path, fmt: str) -> None:
    config = config_file(emu, tmp_path)
    want = [
        {"patient_id": patient, **row}
        for patient in ("p1", "p2")
        for row in single(emu, config, fmt, patient, tmp_path)
    ]
    emu.clear()
    out = tmp_path / f"cohort.{fmt}"
    assert fetch(config, "--patient-id", "p1,p2", "--format", fmt, "--output", str(out)) == 0
    got = read_objects(out, fmt)
    assert got == want and len(got) == 1000
    assert list(got[0])[0] == "patient_id"
    sent = [dict(r.params)["patient_id"] for r in emu.requests]
    assert set(sent) == {"p1", "p2"} and (sent[0], sent[-1]) == ("p1", "p2")  # p1, then p2; never "p1,p2"
    emu.clear()
    sharded = tmp_path / f"sharded.{fmt}"
    assert fetch(config, "--patient-id", "p1,p2", "--format", fmt, "--output", str(sharded), "--shards", "4") == 2
    assert emu.requests == [] and not sharded.exists()  # refused, not ignored


def test_an_interrupted_cohort_resumes_to_the_bytes_of_a_clean_pull(emu: Emulator, tmp_path: Path) -> None:
    config = config_file(emu, tmp_path)
    cohort = {**QUERY, "patient_id": "p1,p2"}
    clean, out = tmp_path / "clean.csv", tmp_path / "cohort.csv"
    export_query(Config(str(config)), "accel", cohort, "csv", clean)

    with pytest.raises(APIError):  # page 7: in the second patient
        export_query(Config(str(config)), "accel", cohort, "csv", out, progress=server_fails_after(emu, 7, 503))
    emu.clear()
    assert fetch(config, "--patient-id", "p1,p2", "--output", str(out), "--resume") == 0
    assert out.read_bytes() == clean.read_bytes()
    assert {dict(r.params)["patient_id"] for r in emu.requests} == {"p2"}


def test_an_empty_cohort_csv_has_the_patient_id_column_in_its_header(emu: Emulator, tmp_path: Path) -> None:
    night = {"start_time": "2021-01-01T01:00:00Z", "end_time": "2021-01-01T02:00:00Z"}
    out = tmp_path / "night.csv"
    export_query(Config(str(config_file(emu, tmp_path))), "accel", {**QUERY, **night, "patient_id": "p1,p2"}, "csv", out)
    assert out.read_text() == "patient_id,time,x,y,z\n"
