"""Doctests of runeq_fn that need an optional extra skip without it, and fail in CI, as tests do (tests/extras.py)."""

import pytest
from _pytest.doctest import DoctestItem

from tests.extras import DOCTEST_NEEDS, need


def pytest_runtest_setup(item: pytest.Item) -> None:
    if isinstance(item, DoctestItem):
        need(*DOCTEST_NEEDS.get(item.name, ()))
