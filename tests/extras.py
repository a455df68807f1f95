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



# What each doctest of runeq_fn that needs an optional extra needs, by its name (conftest.py asks).
DOCTEST_NEEDS = {
    "runeq_fn.parse.arrow.arrow_tables": ("pyarrow",),
    "runeq_fn.parse.arrow.first_table": ("pyarrow",),
    "runeq_fn.parse.arrow.read_table": ("pyarrow",),
    "runeq_fn.parse.arrow.seconds_to_timestamps": ("pyarrow",),
    "runeq_fn.parse.points.arrow_points": ("pyarrow",),
    "runeq_fn.parse.points.page_points": ("pyarrow",),
    "runeq_fn.sinks.dask.before": ("pyarrow",),
    "runeq_fn.sinks.dask.column_types": ("pyarrow",),
    "runeq_fn.sinks.dask.read_points": ("dask", "pandas", "pyarrow"),
    "runeq_fn.sinks.frames.to_arrow": ("pyarrow",),
    "runeq_fn.sinks.frames.to_dataframe": ("pandas",),
    "runeq_fn.sinks.parquet.export_parquet": ("pyarrow",),
    "runeq_fn.stream.numeric.numpy_arrow_column": ("numpy", "pyarrow"),
    "runeq_fn.stream.numeric.numpy_cell": ("numpy",),
    "runeq_fn.stream.numeric.numpy_column": ("numpy",),
    "runeq_fn.stream.numeric.numpy_conversion": ("numpy",),
    "runeq_fn.stream.numeric.numpy_numbers": ("numpy",),
    "runeq_fn.sync.files.header_types": ("pyarrow",),
    "runeq_fn.sync.files.page_tables": ("pyarrow",),
    "runeq_fn.sync.sync": ("pyarrow",),
}
