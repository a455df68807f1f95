"""runeq-fn: a functional client for the Rune Labs Stream API (V1).

Compose the core yourself::

    from toolz import pipe
    from runeq_fn import Config, build_request, pages, csv_points
    points = pipe(params, build_request(Config(), "accel", "csv"), pages, csv_points)

or use the runeq 0.15.0 surface: ``stream.V1Client(Config()).Accel(**defaults).points()``.
"""

from . import errors, stream
from .build import Request, build_request, merge_params
from .config import Config
from .pages import pages
from .parse import csv_pages, csv_points, json_pages
from .response import Response
from .transport import fetch

__version__ = "0.1.0"

__all__ = [
    "Config",
    "Request",
    "Response",
    "build_request",
    "csv_pages",
    "csv_points",
    "errors",
    "fetch",
    "json_pages",
    "merge_params",
    "pages",
    "stream",
]
