"""The declared floors are the ones tested: ``make test-min`` installs constraints-min.txt exactly."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def install_requires() -> list[str]:
    """setup.cfg's ``install_requires``, one requirement a line."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]


def test_every_dependency_has_a_floor_and_constraints_min_pins_exactly_it() -> None:
    requirements = install_requires()
    assert requirements and all(">=" in r and "<" not in r.partition(";")[0] for r in requirements)
    pins = [line.strip() for line in (ROOT / "constraints-min.txt").read_text().splitlines() if line.strip()]
    assert pins == [r.replace(">=", "==", 1) for r in requirements]
