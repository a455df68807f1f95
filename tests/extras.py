"""Optional extras in tests: skipped on a machine without them, a failure in CI (``CI`` set).

``make test`` installs every extra the tests use, so CI never skips one silently.
"""

from __future__ import annotations

import importlib
import os

import pytest


def need(*modules: str) -> None:
    """Skip the calling test (or module, when called at its top) unless every module imports; fail in CI."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            message = f"{module} is not installed (`make test` installs the extras)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message, allow_module_level=True)
