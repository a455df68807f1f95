"""runeq-fn: a functional client for the Rune Labs Stream API (V1).

Compose the core yourself::

    from toolz import pipe
    from runeq_fn import Config, build_request, pages, csv_points
    points = pipe(params, build_request(Config(), "accel", "csv"), pages, csv_points)

or use the runeq 0.15.0 surface: ``stream.V1Client(Config()).Accel(**defaults).points()``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import errors, stream
from .build import Request, build_request, merge_params
from .config import Config
from .pages import pages_with_next
from .parse import csv_pages, csv_points, json_pages
from .response import Response
from .shards import pages
from .transport import fetch

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .cohort import Outcome, cohort_points, fetch_many
    from .export import export_query
    from .frames import to_arrow, to_dataframe

LAZY = {
    "Outcome": "cohort",
    "cohort_points": "cohort",
    "fetch_many": "cohort",
    "export_query": "export",
    "to_arrow": "frames",
    "to_dataframe": "frames",
}
"""Names whose modules load on first use, so that ``import runeq_fn`` stays fast."""


def __getattr__(name: str) -> Any:
    """A name of ``LAZY``, imported from its module on first use (PEP 562)."""
    if name not in LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{LAZY[name]}", __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "Config",
    "Outcome",
    "Request",
    "Response",
    "build_request",
    "cohort_points",
    "csv_pages",
    "csv_points",
    "errors",
    "export_query",
    "fetch",
    "fetch_many",
    "json_pages",
    "merge_params",
    "pages",
    "pages_with_next",
    "stream",
    "to_arrow",
    "to_dataframe",
]
