"""The benchmarks' plumbing: child processes spoken to in JSON lines, alternating rounds, medians."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Callable
from statistics import median
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "worker.py")
REPLY_TIMEOUT = 120.0


class BenchError(RuntimeError):
    """A child process failed, stopped or did not answer in time."""


def runeq_python() -> str:
    """The interpreter of runeq 0.15.0's venv, from ``RUNEQ_PYTHON``."""
    python = os.environ.get("RUNEQ_PYTHON", "")
    if not os.path.exists(python):
        raise BenchError("RUNEQ_PYTHON must name the python of runeq 0.15.0's venv (`make bench` sets it)")
    return python


class Child:
    """A child process that answers each line written to it with one line of JSON."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(HERE)
        )

    def read(self) -> dict[str, Any]:
        """The next line of JSON, or ``BenchError`` if none comes in time."""
        ready, _, _ = select.select([self.process.stdout], [], [], REPLY_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise BenchError(f"{' '.join(self.argv[:3])} gave no answer")
        reply = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{' '.join(self.argv[:3])}: {reply['error']}")
        return reply

    def ask(self, message: str) -> dict[str, Any]:
        self.process.stdin.write(message + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        """Close its input (it stops at end of input), and kill it if it does not."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def worker(lib: str) -> Child:
    """A worker process running ``runeq`` (in its own venv) or ``runeq_fn``."""
    python = runeq_python() if lib == "runeq" else sys.executable
    return Child([python, WORKER, lib])


def task(name: str, **args: Any) -> str:
    """One task line for a worker.

    >>> task("idle")
    '{"task": "idle", "args": {}}'
    """
    return json.dumps({"task": name, "args": args})


class Server(Child):
    """The emulator in its own process (``bench.serve``): its ``url`` and ``config`` are read at start."""

    def __init__(self, **options: Any) -> None:
        super().__init__([sys.executable, "-m", "bench.serve", json.dumps(options)])
        hello = self.read()
        self.url: str = hello["url"]
        self.config: dict[str, str] = hello["config"]


def alternate(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Time each contender once per round, in turn, the order reversed every other round.

    >>> alternate(3, {"a": lambda: 1.0, "b": lambda: 2.0})
    {'a': [1.0, 1.0, 1.0], 'b': [2.0, 2.0, 2.0]}
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for number in range(rounds):
        for name in names if number % 2 == 0 else reversed(names):
            times[name].append(contenders[name]())
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """Each contender's median.

    >>> medians({"a": [3.0, 1.0, 2.0]})
    {'a': 2.0}
    """
    return {name: median(values) for name, values in times.items()}
