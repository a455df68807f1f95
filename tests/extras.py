"""Optional extras in tests: skipped on a machine without them, a failure in CI (``CI`` set).

``make test`` installs every extra the tests use, so CI never skips one silently; ``make test-min``
installs none. The doctests of runeq_fn say what they need in ``DOCTEST_NEEDS`` (conftest.py asks).
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


# What the doctests of runeq_fn need, by the doctest's name or its module's (then every doctest of the module).
DOCTEST_NEEDS = {
    "runeq_fn.parse.arrow": ("pyarrow",),
    "runeq_fn.parse.points.arrow_points": ("pyarrow",),
    "runeq_fn.parse.points.page_points": ("pyarrow",),
    "runeq_fn.sinks.dask": ("dask", "pandas", "pyarrow"),
    "runeq_fn.sinks.frames": ("pandas", "pyarrow"),
    "runeq_fn.sinks.parquet": ("pyarrow",),
    "runeq_fn.stream.numeric": ("numpy", "pyarrow"),
    "runeq_fn.sync.files.header_types": ("pyarrow",),
    "runeq_fn.sync.files.page_tables": ("pyarrow",),
    "runeq_fn.sync.sync": ("pyarrow",),
}


def doctest_needs(name: str) -> tuple[str, ...]:
    """The modules the doctest ``name`` needs: its own entry's and those of the modules it is in.

    >>> doctest_needs("runeq_fn.sinks.parquet.export_cohort"), doctest_needs("runeq_fn.sync.sync")
    (('pyarrow',), ('pyarrow',))
    >>> doctest_needs("runeq_fn.sync.plan"), doctest_needs("runeq_fn.sync.synced")
    ((), ())
    """
    parts = name.split(".")
    return tuple(module for i in range(1, len(parts) + 1) for module in DOCTEST_NEEDS.get(".".join(parts[:i]), ()))
