"""A pytest fixture serving an emulator for one test: ``from runeq_fn.emulator.fixture import rune_emulator``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import Emulator


@pytest.fixture
def rune_emulator() -> Iterator[Emulator]:
    """An emulator on a free loopback port with 100-entry pages, stopped after the test."""
    with Emulator(page_size=100) as emulator:
        yield emulator
