"""Rows of figures, the machine they were measured on, and the markdown table of both."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Row:
    """One line of results: what was measured, each side's figure, and whether the target is met."""

    benchmark: str
    measure: str
    runeq: str = ""
    runeq_fn: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


HEADINGS = ("benchmark", "measure", "runeq 0.15.0", "runeq-fn", "ratio", "target", "met")


def ms(seconds: float) -> str:
    """Seconds as milliseconds, to one decimal.

    >>> ms(0.18523)
    '185.2 ms'
    """
    return f"{seconds * 1000:.1f} ms"


def mb(kib: float) -> str:
    """KiB as MB (10^6 bytes), to one decimal.

    >>> mb(40960)
    '41.9 MB'
    """
    return f"{kib * 1024 / 1e6:.1f} MB"


def timed(benchmark: str, measure: str, runeq: float | None, runeq_fn: float, target: float | None) -> Row:
    """A row of two median times, their ratio (runeq / runeq-fn), and the ratio target (None: figures only).

    >>> timed("parse", "points()", 0.2, 0.08, 2.0)
    Row(benchmark='parse', measure='points()', runeq='200.0 ms', runeq_fn='80.0 ms', ratio='2.50x', target='>= 2x', met=True)
    """
    ratio = None if runeq is None else runeq / runeq_fn
    return Row(
        benchmark,
        measure,
        "" if runeq is None else ms(runeq),
        ms(runeq_fn),
        "" if ratio is None else f"{ratio:.2f}x",
        "" if target is None else f">= {target:g}x",
        None if target is None or ratio is None else ratio >= target,
    )


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform says elsewhere)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line on the machine: cores as ``nproc`` counts them, CPU model, Python version."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores (nproc), {cpu_model()}, Python {platform.python_version()}"


def cell(value: object) -> str:
    """A table cell: met as yes/no, nothing as blank.

    >>> cell(True), cell(None), cell("1.0 ms")
    ('yes', '', '1.0 ms')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


def table(rows: list[Row]) -> str:
    """The rows as a markdown table.

    >>> print(table([Row("import", "import x", "1.0 ms", "0.1 ms", "10.00x", ">= 10x", True)]))
    | benchmark | measure | runeq 0.15.0 | runeq-fn | ratio | target | met |
    |---|---|---|---|---|---|---|
    | import | import x | 1.0 ms | 0.1 ms | 10.00x | >= 10x | yes |
    """
    lines = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    for row in rows:
        lines.append("| " + " | ".join(cell(getattr(row, f.name)) for f in fields(row)) + " |")
    return "\n".join(lines)


def results_markdown(rows: list[Row], notes: list[str], versions: str) -> str:
    """The text of bench/RESULTS.md: the machine, the table, and notes."""
    return "\n".join([
        "# Benchmarks: runeq 0.15.0 vs runeq-fn",
        "",
        f"Machine: {machine()}. {versions}",
        "",
        "Made by `make bench`: each figure is the median of alternating rounds; runeq runs in its own",
        "venv, each client in a process of its own; ratio = runeq time / runeq-fn time.",
        "",
        table(rows),
        "",
        *[f"- {note}" for note in notes],
        "",
    ])
