"""The files ``runeq fetch`` writes hold patient data: private, never through a link, synced,
locked, and left resumable by a full disk, a read-only folder, Ctrl-C or SIGKILL.

Interruptions are real: a ``runeq fetch`` process killed mid-pull (SIGKILL, SIGINT) against an
emulator that answers each page after a delay, a file size limit (``RLIMIT_FSIZE``, the kernel
refusing writes as a full disk does) and ``/dev/full`` as stdout.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from commands import COMMAND, run_as_anyone
from failing import server_fails_after
from hypothesis import given
from hypothesis import strategies as st
from standin import query_of, stand_in

from runeq_fn import Config, cli
from runeq_fn.emulator import Emulator
from runeq_fn.errors import APIError, WriteError
from runeq_fn.sinks.durable import Pull, part_paths
from runeq_fn.sinks.export import export_query
from runeq_fn.sinks.text import finite, strict_json

START, END = 1609491600, 1609491620  # 1000 rows of accelerometry: 10 pages of 100
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": START, "end_time": END}
FLAGS = ["--patient-id", "p1", "--device-id", "d1", "--start-time", str(START), "--end-time", str(END)]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=100) as emulator:
        yield emulator


def config_file(emu: Emulator, folder: Path) -> Path:
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0}))
    path.chmod(0o600)
    return path


def clean_pull(emu: Emulator, folder: Path, fmt: str = "csv") -> bytes:
    out = folder / f"clean.{fmt}"
    export_query(Config(**emu.config_values()), "accel", QUERY, fmt, out)
    return out.read_bytes()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def fetch_process(config: Path, out: Path, *extra: str, **popen: object) -> subprocess.Popen:
    """The real ``runeq fetch`` into ``out``, in the background, with Ctrl-C at its default."""
    return subprocess.Popen(
        [*COMMAND, "fetch", "accel", *FLAGS, "--output", str(out), "--config", str(config), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=popen.pop("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)),
        **popen,  # type: ignore[arg-type]
    )


def wait_for_pages(out: Path, pages: int, process: subprocess.Popen) -> None:
    """Wait until the process has saved ``pages`` pages in its state file (no timing is asserted)."""
    _, state = part_paths(out)
    for _ in range(2000):
        assert process.poll() is None, process.communicate()
        try:
            if json.loads(Path(state).read_text())["pages"] >= pages:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.01)
    raise AssertionError(f"the pull never reached {pages} pages")


def resume(config: Path, out: Path) -> None:
    cli.main(["fetch", "accel", *FLAGS, "--output", str(out), "--config", str(config), "--resume"])


# -- private files, no links followed, synced before renamed --------------------------------------


def test_the_part_state_lock_and_output_are_private_whatever_the_umask(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    seen: dict[str, int] = {}

    def look(pull: Pull) -> None:
        if pull.pages == 0:  # before the part file is made
            return
        for path in (out.with_name("x.csv.part"), out.with_name("x.csv.part.state"), out.with_name("x.csv.part.lock")):
            seen[path.name] = mode(path)

    old = os.umask(0)
    try:
        export_query(Config(**emu.config_values()), "accel", QUERY, "csv", out, progress=look)
    finally:
        os.umask(old)
    assert seen == {"x.csv.part": 0o600, "x.csv.part.state": 0o600, "x.csv.part.lock": 0o600}
    assert mode(out) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]  # no lock, state or temporary left


def test_links_planted_at_every_name_are_never_written_through(emu: Emulator, tmp_path: Path) -> None:
    want = clean_pull(emu, tmp_path)
    out = tmp_path / "x.csv"
    victims = []
    for name in ("x.csv.part", "x.csv.part.state", "x.csv.part.state.tmp", "x.csv"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("keep me\n")
        (tmp_path / name).symlink_to(victim)
        victims.append(victim)
    export_query(Config(**emu.config_values()), "accel", QUERY, "csv", out)
    assert [v.read_text() for v in victims] == ["keep me\n"] * 4
    assert not out.is_symlink() and out.read_bytes() == want


def test_resume_refuses_a_part_file_that_is_a_link(interrupted, tmp_path: Path, capsys) -> None:
    config, out = interrupted
    part = Path(part_paths(out)[0])
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    part.unlink()
    part.symlink_to(victim)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        resume(config, out)
    err = capsys.readouterr().err
    assert "x.csv.part is a symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "keep me\n" and not out.exists()


def test_a_lock_file_that_is_a_link_is_refused(emu: Emulator, tmp_path: Path) -> None:
    out, victim = tmp_path / "x.csv", tmp_path / "victim"
    victim.write_text("keep me\n")
    (tmp_path / "x.csv.part.lock").symlink_to(victim)
    with pytest.raises(WriteError, match="x.csv.part.lock is a symbolic link"):
        export_query(Config(**emu.config_values()), "accel", QUERY, "csv", out)
    assert victim.read_text() == "keep me\n" and not out.exists()


def test_data_is_synced_before_each_state_and_before_the_final_rename(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        fsync(fd)

    def spy_replace(src: str, dst: str) -> None:
        events.append(("rename", f"{os.path.basename(src)} -> {os.path.basename(dst)}"))
        replace(src, dst)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name a file descriptor")
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    export_query(Config(**emu.config_values()), "accel", QUERY, "csv", tmp_path / "x.csv")
    named = [(kind, "x.csv.part.state.tmp" if ".part.state." in name and "->" not in name else name)
             for kind, name in events]  # fmt: skip
    renames = [i for i, (kind, _) in enumerate(named) if kind == "rename"]
    for at in renames:
        kind, what = named[at]
        assert named[at - 1][0] == "fsync"  # each rename comes right after its file is synced
        source = what.split(" -> ")[0]
        synced = "x.csv.part" if source == "x.csv.part" else "x.csv.part.state.tmp"
        assert named[at - 1][1] == synced, named
    states = [i for i, (_, what) in enumerate(named) if what.endswith("-> x.csv.part.state")]
    assert len(states) == 12  # the start, 10 pages and the empty one that ends the pull
    for at in states[1:]:
        assert ("fsync", "x.csv.part") in named[states[0]:at]  # the page's bytes, before the state counts them
    assert named[-2:] == [("rename", "x.csv.part -> x.csv"), ("fsync", tmp_path.name)]  # then the folder's entry


# -- resume belongs to one query --------------------------------------------------------------


@pytest.fixture
def interrupted(emu: Emulator, tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A pull of QUERY stopped by a 503 after 3 pages: its config file and output path."""
    config, out = config_file(emu, tmp_path), tmp_path / "x.csv"

    with pytest.raises(APIError):
        export_query(Config(str(config)), "accel", QUERY, "csv", out, progress=server_fails_after(emu, 3, 503))
    capsys.readouterr()
    return config, out


@pytest.mark.parametrize(
    "change",
    [["--end-time", str(END + 1)], ["--device-id", "d2"], ["--format", "jsonl"], ["--expression", "accel"]],
    ids=["end-time", "device", "format", "extra-parameter"],
)
def test_resume_refuses_a_state_of_another_query(interrupted, capsys, change: list[str]) -> None:
    config, out = interrupted
    flags = dict(zip(FLAGS[::2], FLAGS[1::2]))
    flags.update({change[0]: change[1]})
    args = [item for pair in flags.items() for item in pair]
    with pytest.raises(SystemExit) as stop:
        cli.main(["fetch", "accel", *args, "--output", str(out), "--config", str(config), "--resume"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "belongs to another query" in err and "run without --resume" in err


@pytest.mark.parametrize(
    "edit", [{"bytes": 10}, {"pages": 1}, {"next": {"page": 9}}, {"query": {"patient_id": "p2"}}],
    ids=["bytes", "pages", "next", "query"],
)
def test_resume_refuses_an_edited_state(interrupted, capsys, edit: dict) -> None:
    config, out = interrupted
    state = Path(part_paths(out)[1])
    state.write_text(json.dumps({**json.loads(state.read_text()), **edit}))
    with pytest.raises(SystemExit):
        resume(config, out)
    err = capsys.readouterr().err
    assert "x.csv.part.state was edited" in err and "run without --resume" in err
    assert not out.exists()


def test_the_unedited_state_resumes_to_the_clean_bytes(emu: Emulator, interrupted, tmp_path: Path) -> None:
    config, out = interrupted
    emu.clear()
    with Emulator(page_size=100) as other:  # same data, faults gone
        Path(config).write_text(yaml.safe_dump({**other.config_values(), "retries": 0}))
        resume(config, out)
        assert out.read_bytes() == clean_pull(other, tmp_path)


# -- one pull into a file at a time ------------------------------------------------------------------


def test_a_second_fetch_into_the_same_file_is_refused_and_the_first_finishes(tmp_path: Path, capsys) -> None:
    with Emulator(page_size=100, delay=0.05) as emu:
        config, out = config_file(emu, tmp_path), tmp_path / "x.csv"
        first = fetch_process(config, out)
        wait_for_pages(out, 2, first)
        with pytest.raises(SystemExit) as stop:
            cli.main(["fetch", "accel", *FLAGS, "--output", str(out), "--config", str(config)])
        assert stop.value.code == 2
        assert "another runeq fetch is writing" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            resume(config, out)  # --resume is refused too, rather than sharing the part file
        assert "another runeq fetch is writing" in capsys.readouterr().err
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 0, stderr
        emu.delay = 0
        assert out.read_bytes() == clean_pull(emu, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.csv", "config.yml", "x.csv"]


# -- killed, interrupted, out of space, read-only ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sigkill_mid_pull_then_resume_gives_the_bytes_of_a_clean_pull(tmp_path: Path, fmt: str) -> None:
    with Emulator(page_size=100, delay=0.05) as emu:
        config, out = config_file(emu, tmp_path), tmp_path / f"x.{fmt}"
        pull = fetch_process(config, out, "--format", fmt)
        wait_for_pages(out, 3, pull)
        pull.kill()
        pull.wait(timeout=10)
        assert pull.returncode == -signal.SIGKILL
        assert not out.exists() and Path(part_paths(out)[0]).exists()
        emu.delay = 0
        cli.main(["fetch", "accel", *FLAGS, "--format", fmt, "--output", str(out), "--config", str(config),
                  "--resume"])  # fmt: skip
        assert out.read_bytes() == clean_pull(emu, tmp_path, fmt)


def test_ctrl_c_mid_pull_says_how_to_resume_and_leaves_no_final_file(tmp_path: Path) -> None:
    with Emulator(page_size=100, delay=0.05) as emu:
        config, out = config_file(emu, tmp_path), tmp_path / "x.csv"
        pull = fetch_process(config, out)
        wait_for_pages(out, 2, pull)
        pull.send_signal(signal.SIGINT)
        _, stderr = pull.communicate(timeout=30)
        assert pull.returncode == 130
        assert "Traceback" not in stderr
        assert "runeq: interrupted" in stderr and "run the same command with --resume" in stderr
        assert not out.exists()
        emu.delay = 0
        resume(config, out)
        assert out.read_bytes() == clean_pull(emu, tmp_path)


def limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_is_one_clear_line_and_resume_completes_the_file(emu: Emulator, tmp_path: Path) -> None:
    config, out = config_file(emu, tmp_path), tmp_path / "x.csv"
    # about 3.7 kB a page: the kernel refuses the writes of the third page, as a full disk does
    pull = fetch_process(config, out, preexec_fn=lambda: limit_file_size(9000))
    _, stderr = pull.communicate(timeout=60)
    assert pull.returncode == 2, stderr
    first, *rest = stderr.splitlines()
    assert first.startswith("runeq: error: cannot write ") and "x.csv.part: File too large" in first
    assert "the disk is full or a file size limit was reached" in first
    assert "Traceback" not in stderr and "--resume" in stderr
    assert not out.exists()
    assert json.loads(Path(part_paths(out)[1]).read_text())["pages"] == 2
    resume(config, out)
    assert out.read_bytes() == clean_pull(emu, tmp_path)


def test_stdout_on_a_full_device_is_one_clear_line(emu: Emulator, tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    config = config_file(emu, tmp_path)
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*COMMAND, "fetch", "accel", *FLAGS, "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "runeq: error: cannot write stdout: No space left on device "
        "(the disk is full or a file size limit was reached)\n"
    )


def test_a_read_only_folder_is_one_clear_line_and_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    done = run_as_anyone(tmp_path, "fetch", "accel", "--emulator", *FLAGS, "--output", str(folder / "x.csv"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"runeq: error: cannot write {folder}/x.csv.part")
    assert "Permission denied (the folder or file is not writable by you: choose another --output)" in done.stderr
    assert done.stderr.count("\n") == 1
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_output_ending_in_a_slash_names_a_folder_and_is_refused_for_a_file_format(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, fmt: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config = config_file(emu, tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(["fetch", "accel", *FLAGS, "--format", fmt, "--output", "accel/", "--config", str(config)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "runeq: error: --output accel/ names a folder (it ends in /): give a file name, e.g. accel/accel.csv\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.yml"]
    Path("data").mkdir()
    with pytest.raises(SystemExit):
        cli.main(["fetch", "accel", *FLAGS, "--format", fmt, "--output", "data", "--config", str(config)])
    assert capsys.readouterr().err == "runeq: error: --output data is a folder: give a file name\n"
    assert list(Path("data").iterdir()) == []


# -- strict JSON -------------------------------------------------------------------------------


def not_finite_pages(path: str, headers: object) -> tuple[int, str, bytes]:
    """One CSV page holding nan and infinities, then the empty page that ends the pull."""
    body = b"time,x,y\n1,nan,inf\n2,-inf,0.5\n" if "page" not in query_of(path) else b""
    return 200, "text/csv", body


@pytest.fixture
def not_finite() -> Iterator[Config]:
    with stand_in(not_finite_pages) as url:
        yield Config(jwt="not-a-real-jwt", stream_url=url)


def strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_nan_and_infinities_are_written_as_null(not_finite: Config, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"x.{fmt}"
    export_query(not_finite, "accel", {"start_time": 0, "end_time": 1}, fmt, out)
    text = out.read_text()
    found = [strict(line) for line in text.splitlines()] if fmt == "jsonl" else strict(text)
    assert found == [{"time": 1.0, "x": None, "y": None}, {"time": 2.0, "x": None, "y": 0.5}]


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(json_like)
def test_strict_json_is_strict_and_keeps_every_finite_value(value: object) -> None:
    assert strict(strict_json(value)) == finite(value)
    assert strict_json(finite(value)) == strict_json(value)
