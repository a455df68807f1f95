"""Every script in examples/ runs as it is, with no config (so against its in-process emulator).

The scripts start all at once, each in its own process with ``HOME`` and
``TMPDIR`` in a fresh folder, and each test waits for its own: the suite waits
for the slowest example, not for their sum.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from extras import need

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(path.stem for path in EXAMPLES.glob("*.py") if not path.name.startswith("_"))
RUNS = {
    **{script: [script] for script in SCRIPTS},
    "cohort_dask synchronous": ["cohort_dask", "synchronous"],
    "cohort_dask processes": ["cohort_dask", "processes"],  # the config is pickled into each worker
}
NEEDS = {"cohort_dask": ("dask", "pandas", "pyarrow"), "plot_day": ("pandas", "matplotlib"),
         "sync_cohort": ("duckdb", "pandas", "pyarrow")}
SAYS = {
    "walkthrough": "CSV: 3 pages, header 'time,x,y,z'",
    "pipeline": "09:00 UTC   720 samples",
    "export_csv": "wrote 30,000 rows from 30 pages",
    "cohort_pull": "patient-4: {'samples'",
    "cohort_dask": "{'patient_id': 'patient-4', 'samples'",
    "plot_day": "accelerometry rows and",
    "sync_cohort": "synced to 09:20: 0 windows, 0 rows, 0 requests",
}


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[subprocess.Popen, Path]]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNEQ_")}
    running = {}
    for run, (script, *args) in RUNS.items():
        folder = tmp_path_factory.mktemp(script)
        with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(EXAMPLES / f"{script}.py"), *args],
                cwd=folder,
                env={**env, "HOME": str(folder), "TMPDIR": str(folder)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        running[run] = (process, folder)
    yield running
    for process, _ in running.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finished(launched: dict, run: str) -> tuple[str, Path]:
    """Wait for one example; its stdout and folder, after checking that it exited 0."""
    process, folder = launched[run]
    code = process.wait(timeout=300)  # generous: CI machines may be busy
    stderr = (folder / "stderr").read_text()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "using an in-process emulator" in stderr  # HOME has no .rune/config
    return (folder / "stdout").read_text(), folder


@pytest.mark.parametrize("run", RUNS)
def test_example_runs_as_it_is(launched: dict, run: str) -> None:
    script = RUNS[run][0]
    need(*NEEDS.get(script, ()))
    stdout, _ = finished(launched, run)
    assert SAYS[script] in stdout


def test_plot_writes_a_png(launched: dict) -> None:
    need(*NEEDS["plot_day"])
    stdout, folder = finished(launched, "plot_day")
    png = Path(stdout.rsplit(" drawn to ", 1)[1].strip())
    assert png.is_relative_to(folder) and png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert png.stat().st_size > 20_000


def test_every_example_is_checked() -> None:
    assert set(SCRIPTS) == set(SAYS)
