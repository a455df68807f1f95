"""runeq-fn: a functional client for the Rune Labs Stream API (V1).

Compose the core yourself:

    from toolz import pipe
    from runeq_fn import Config, build_request, pages, csv_points
    points = pipe(params, build_request(Config(), "accel", "csv"), pages, csv_points)

or use the runeq 0.15.0 surface: ``stream.V1Client(Config()).Accel(**defaults).points()``.

The public names (``__all__``):

- ``Config``: credentials and settings, from ``~/.rune/config``, a file or keywords.
- ``build_request``: a query as a ``Request`` (URL, parameters, headers, paging kind); curried.
- ``Request``, ``Response``: a request to send; a page as it arrived, whole.
- ``merge_params``: the call's parameters over the defaults, key by key, as runeq merged them.
- ``fetch``: one page over HTTP, with retries.
- ``pages``, ``pages_with_next``: the pages of a query, following its pagination lazily; curried.
- ``csv_points``, ``csv_pages``, ``json_pages``: the parsers, one page at a time.
- ``to_dataframe``, ``to_arrow``: a pull as a pandas DataFrame or a pyarrow Table (the extras
  pandas and arrow).
- ``cohort_points``, ``fetch_many``, ``Outcome``: many queries at once, each with its own outcome.
- ``export_query``: a whole query into a file, atomic and resumable (what ``runeq fetch`` does).
- ``stream``: the runeq 0.15.0 surface (``V1Client`` and the accessors).
- ``errors``: the error classes, each with its cause and fix.

``to_dataframe``, ``to_arrow``, ``cohort_points``, ``fetch_many``, ``Outcome`` and
``export_query`` are imported on first use, so ``import runeq_fn`` stays fast; none imports an
optional extra before it needs it. Other modules: ``runeq_fn.pull.shards`` (time-sharded pulls),
``runeq_fn.parse.columns`` (``csv_columns``), ``runeq_fn.parse.arrow``, ``runeq_fn.sinks.parquet``,
``runeq_fn.sinks.dask``, ``runeq_fn.policy`` (``Policy``), ``runeq_fn.pull.stats`` (``Stats``),
``runeq_fn.resources`` (the table of resources) and ``runeq_fn.emulator``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import errors, stream
from .config import Config
from .http.request import Request, merge_params
from .http.response import Response
from .http.transport import fetch
from .parse.points import csv_pages, csv_points, json_pages
from .pull.build import build_request
from .pull.pages import pages_with_next
from .pull.shards import pages

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .pull.cohort import Outcome, cohort_points, fetch_many
    from .sinks.export import export_query
    from .sinks.frames import to_arrow, to_dataframe

LAZY = {
    "Outcome": "pull.cohort",
    "cohort_points": "pull.cohort",
    "fetch_many": "pull.cohort",
    "export_query": "sinks.export",
    "to_arrow": "sinks.frames",
    "to_dataframe": "sinks.frames",
}
"""Names whose modules load on first use, so that ``import runeq_fn`` stays fast."""


def __dir__() -> list[str]:
    """Every name of the module, those loaded on first use included (``dir``, ``help``, completion).

    >>> import runeq_fn
    >>> {"to_dataframe", "export_query", "Config"} <= set(dir(runeq_fn))
    True
    """
    return sorted(set(globals()) | set(LAZY))


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
