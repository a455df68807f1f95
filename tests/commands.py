"""Running the real ``runeq`` command in a subprocess, with ``HOME`` in a folder of the test's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPT = shutil.which("runeq", path=os.path.dirname(sys.executable))
COMMAND = [SCRIPT] if SCRIPT else [sys.executable, "-m", "runeq_fn.cli"]


def run(home: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    """Run ``runeq args...`` to the end, with no terminal on stdin."""
    return subprocess.run(
        [*COMMAND, *args],
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=text,
        timeout=60,
    )


@contextmanager
def emulator_process(home: Path, *flags: str) -> Iterator[tuple[subprocess.Popen, dict[str, str]]]:
    """``runeq emulator flags...`` serving in the background: the process and the three lines it printed.

    Stopped with Ctrl-C (SIGINT) on the way out; stderr holds its access log.
    """
    proc = subprocess.Popen(
        [*COMMAND, "emulator", *flags],
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell without job control starts background jobs with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield proc, dict(proc.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(3))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
