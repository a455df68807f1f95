"""DataFrames and Arrow tables from points, CSV pages or column dicts (optional extras).

pandas and pyarrow are imported inside the functions that use them, so this
module costs nothing to import; without them, ``to_dataframe`` and
``to_arrow`` say what to install: ``pip install 'runeq-fn[pandas]'`` or
``'runeq-fn[arrow]'``.

CSV pages go straight into Arrow when pyarrow is installed (``runeq_fn.parse.arrow``:
no Python object per cell, the first page fixing the column types). Otherwise,
and for the other inputs, every input is first seen as column dicts, one per
page, then made into one frame or table per page and concatenated:

- point dicts (``csv_points``, ``accessor.points()``), in batches of ``BATCH``;
- CSV pages (``Response`` objects or texts, as ``pages`` or ``iter_csv_text``
  yield), through ``runeq_fn.parse.columns.csv_columns``;
- column dicts (what ``csv_columns`` yields), as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from importlib.util import find_spec
from typing import Any

from toolz import partition_all, peek

from ..resources import time_column

BATCH = 65536
"""Points made into columns at a time: bounds the memory of lists built from points."""

def require(module: str, extra: str, user: str) -> Any:
    """Import an optional dependency, or say which extra installs it.

    >>> require("json", "json", "to_json").__name__
    'json'
    >>> require("no_such_module_here", "pandas", "to_dataframe")
    Traceback (most recent call last):
    ...
    ImportError: to_dataframe needs no_such_module_here: pip install 'runeq-fn[pandas]'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.partition(".")[0]
        raise ImportError(f"{user} needs {package}: pip install 'runeq-fn[{extra}]'", name=package) from None


def is_columns(item: Any) -> bool:
    """True for a column dict (every value a sequence or array), False for a point.

    >>> is_columns({"time": [1.0, 2.0], "x": (0.1, 0.2)}), is_columns({"time": 1.0, None: ["surplus"]})
    (True, False)
    """
    return (
        isinstance(item, Mapping)
        and bool(item)
        and all(hasattr(value, "__len__") and not isinstance(value, (str, bytes)) for value in item.values())
    )


def points_columns(points: Iterable[Mapping[Any, Any]]) -> dict[Any, list]:
    """Points as one column dict: keys in order of first appearance, None where a point lacks one.

    >>> points_columns([{"time": 1.0, "x": 2.0}, {"time": 3.0, "y": "on"}])
    {'time': [1.0, 3.0], 'x': [2.0, None], 'y': [None, 'on']}
    """
    batch = list(points)
    keys = dict.fromkeys(key for point in batch for key in point)
    return {key: [point.get(key) for point in batch] for key in keys}


def column_pages(data: Iterable[Any]) -> Iterator[Mapping[Any, Any]]:
    """Points, CSV pages or column dicts, as column dicts (one per page or batch of points).

    >>> list(column_pages([{"time": 1.0, "x": 2.0}, {"time": 2.0, "x": None}]))
    [{'time': [1.0, 2.0], 'x': [2.0, None]}]
    >>> list(column_pages([])), list(column_pages([{"time": [1.0]}]))
    ([], [{'time': [1.0]}])
    """
    try:
        first, items = peek(data)
    except StopIteration:
        return
    if is_columns(first):
        yield from items
    elif isinstance(first, Mapping):
        yield from map(points_columns, partition_all(BATCH, items))
    else:
        from ..parse.columns import csv_columns

        yield from csv_columns(items)


def csv_page_input(data: Iterable[Any]) -> tuple[bool, Iterable[Any]]:
    """(True when the items are CSV pages rather than points or column dicts, the same items).

    >>> csv_page_input(["time,x\\n1,2\\n"])[0], csv_page_input([{"time": 1.0}])[0], csv_page_input([])[0]
    (True, False, False)
    """
    try:
        first, items = peek(data)
    except StopIteration:
        return False, ()
    return not isinstance(first, Mapping), items


def arrow_reads_pages(data: Iterable[Any]) -> tuple[bool, Iterable[Any]]:
    """(True when the items are CSV pages and pyarrow is installed to read them, the same items)."""
    pages, items = csv_page_input(data)
    return pages and find_spec("pyarrow") is not None, items


def to_dataframe(data: Iterable[Any], time_index: bool = False) -> Any:
    """A pandas DataFrame of points, CSV pages or column dicts, pages concatenated in order.

    Missing values are NaN (None in text columns). With ``time_index=True`` the
    ``time`` (or ``timestamp``) column of unix seconds becomes a UTC
    ``DatetimeIndex``, to the microsecond. Needs ``pip install 'runeq-fn[pandas]'``.
    CSV pages are read by pyarrow when it is installed (``runeq_fn.parse.arrow``: the
    first page fixes the column types), else by ``csv_columns``.

    >>> frame = to_dataframe([{"time": 1609459200.02, "x": 1.0}, {"time": 1609459200.04, "x": None}], time_index=True)
    >>> frame
                                     x
    time
    2021-01-01 00:00:00.020+00:00  1.0
    2021-01-01 00:00:00.040+00:00  NaN
    >>> str(frame.index.dtype)
    'datetime64[ns, UTC]'
    """
    pd = require("pandas", "pandas", "to_dataframe")
    by_arrow, items = arrow_reads_pages(data)
    if by_arrow:
        frame = to_arrow(items).to_pandas()
    else:
        frames = [pd.DataFrame(dict(columns)) for columns in column_pages(items)]
        frame = pd.concat(frames, ignore_index=True).infer_objects() if frames else pd.DataFrame()
    if not time_index:
        return frame
    name = time_column(frame.columns)
    index = pd.DatetimeIndex(pd.to_datetime(frame[name], unit="s", utc=True), name=name).round("us")
    return frame.drop(columns=name).set_index(index)


def to_arrow(data: Iterable[Any], timestamps: bool = False) -> Any:
    """A pyarrow Table of points, CSV pages or column dicts, pages concatenated in order.

    CSV pages are read by pyarrow's CSV reader, no Python object per cell, the
    column types fixed by the first page (``runeq_fn.parse.arrow.arrow_tables``).
    From points and column dicts, columns missing from some pages are null
    there, and types are widened across pages. With ``timestamps=True`` the
    ``time`` (or ``timestamp``) column becomes ``timestamp[ns, tz=UTC]``, to the
    microsecond. Needs ``pip install 'runeq-fn[arrow]'``.

    >>> table = to_arrow([{"time": [1609459200.0], "x": [None]}, {"time": [1609459200.5], "x": [2.0]}], timestamps=True)
    >>> table.schema
    time: timestamp[ns, tz=UTC]
    x: double
    >>> table.column("time")[1]
    <pyarrow.TimestampScalar: '2021-01-01T00:00:00.500000000+0000'>
    """
    pa = require("pyarrow", "arrow", "to_arrow")
    from ..parse.arrow import arrow_tables, with_timestamps

    pages, items = csv_page_input(data)
    if pages:
        tables = list(arrow_tables(items))
    else:
        tables = [pa.table({str(key): values for key, values in columns.items()}) for columns in column_pages(items)]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return with_timestamps(table) if timestamps else table
