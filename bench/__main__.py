"""Run the benchmarks and print their figures; a full run also writes bench/RESULTS.md.

    RUNEQ_PYTHON=.venv-runeq/bin/python .venv/bin/python -m bench [NAME ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from .benchmarks import BENCHMARKS
from .harness import HERE, runeq_python
from .report import Row, machine, results_markdown, table


def versions() -> str:
    """The versions that shape the figures: runeq's venv (numpy in it) and pyarrow beside runeq-fn."""
    code = "import importlib.metadata as m, platform; print(m.version('numpy'), platform.python_version())"
    numpy, python = subprocess.run(
        [runeq_python(), "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    try:
        arrow = f"pyarrow {version('pyarrow')}"
    except PackageNotFoundError:
        arrow = "no pyarrow"
    return f"runeq 0.15.0 with numpy {numpy} on Python {python}; runeq-fn with {arrow}."


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"no benchmark named {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    chosen = names or list(BENCHMARKS)
    print(f"{machine()}. {versions()}", flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        found, noted = BENCHMARKS[name]()
        rows += found
        notes += noted
        print(f"\n{name} ({time.perf_counter() - began:.0f} s)\n{table(found)}", flush=True)
    print(f"\nAll ({time.perf_counter() - started:.0f} s)\n{table(rows)}\n")
    print("\n".join(f"- {note}" for note in notes))
    if chosen == list(BENCHMARKS):
        with open(os.path.join(HERE, "RESULTS.md"), "w") as results:
            results.write(results_markdown(rows, notes, versions()))
        print("\nwrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
