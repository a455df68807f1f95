"""``runeq demo``: the walkthrough runs against its own emulator and touches nothing in HOME."""

from __future__ import annotations

import re
from pathlib import Path

from commands import run

SECTIONS = (
    "accel.iter_json_data()",
    "accel.iter_csv_text()",
    "accel.points()",
    "accel.points(end_time=+30 s)",
    "accel availability, whole day",
    'pipe(params, build_request(cfg, "heartrate", "csv"), pages, csv_points)',
    "ProbabilitySymptom(tremor)",
    "HTTP requests the emulator saw",
)


def value_of(output: str, label: str) -> str:
    """The value printed after a summary label."""
    match = re.search(rf"^{re.escape(label)} +(.*)$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


def test_demo_prints_the_walkthrough_and_writes_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for section in SECTIONS:
        assert section in result.stdout
    # two minutes of 50 Hz accelerometry, in pages of 2,000 rows
    assert value_of(result.stdout, "accel.iter_json_data()") == "3 pages, 6,000 entries"
    assert value_of(result.stdout, "accel.points()").startswith("6,000 points, 2021-01-01T09:00:00Z")
    assert value_of(result.stdout, "accel.points(end_time=+30 s)") == "1,500 points"
    requests = value_of(result.stdout, "HTTP requests the emulator saw")
    total, by_status = re.fullmatch(r"(\d+) \((.*)\)", requests).groups()
    assert by_status == f"200: {total}"
    assert list(tmp_path.iterdir()) == []
