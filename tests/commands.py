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


PR_CAPBSET_DROP = 24
DAC_CAPABILITIES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def without_root_powers() -> None:
    """In a child: root gives up the powers that ignore file modes (an ordinary user has none to give).

    Dropped from the bounding set, they are gone from the program the child then runs,
    so a folder of mode 0555 or a file of mode 0000 stops it as it stops anyone else.
    """
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in DAC_CAPABILITIES:
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "cannot drop root's file powers here")


def run_as_anyone(home: Path, *command: str) -> subprocess.CompletedProcess:
    """Run a command (``runeq ...`` unless it starts with the Python interpreter) without root's file powers.

    Skips the test where root cannot give them up.
    """
    import pytest

    argv = list(command) if command and command[0] == sys.executable else [*COMMAND, *command]
    try:
        return subprocess.run(
            argv, cwd=home, env={**os.environ, "HOME": str(home)}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60, preexec_fn=without_root_powers,
        )  # fmt: skip
    except subprocess.SubprocessError as exc:
        pytest.skip(str(exc))


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
