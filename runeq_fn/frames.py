"""DataFrames and Arrow tables from points, CSV pages or column dicts (optional extras).

pandas and pyarrow are imported inside the functions that use them, so this
module costs nothing to import; without them, ``to_dataframe`` and
``to_arrow`` say what to install: ``pip install 'runeq-fn[pandas]'`` or
``'runeq-fn[arrow]'``.

Every input is first seen as column dicts, one per page, then made into one
frame or table per page and concatenated:

- point dicts (``csv_points``, ``accessor.points()``), in batches of ``BATCH``;
- CSV pages (``Response`` objects or texts, as ``pages`` or ``iter_csv_text``
  yield), through ``runeq_fn.columns.csv_columns``;
- column dicts (what ``csv_columns`` yields), as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from toolz import partition_all, peek

from .errors import UsageError

BATCH = 65536
"""Points made into columns at a time: bounds the memory of lists built from points."""

TIME_COLUMNS = ("time", "timestamp")


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
        raise ImportError(f"{user} needs {module}: pip install 'runeq-fn[{extra}]'", name=module) from None


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
        from .columns import csv_columns

        yield from csv_columns(items)


def time_column(names: Iterable[Any]) -> str:
    """The column of unix seconds: ``time``, else ``timestamp`` (lfp, band power).

    >>> time_column(["timestamp", "channel.0"])
    'timestamp'
    >>> time_column(["x"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: no time or timestamp column to make times of; the columns are ['x']
    """
    names = list(names)
    for name in TIME_COLUMNS:
        if name in names:
            return name
    raise UsageError(f"no time or timestamp column to make times of; the columns are {names}")


def to_dataframe(data: Iterable[Any], time_index: bool = False) -> Any:
    """A pandas DataFrame of points, CSV pages or column dicts, pages concatenated in order.

    Missing values are NaN (None in text columns). With ``time_index=True`` the
    ``time`` (or ``timestamp``) column of unix seconds becomes a UTC
    ``DatetimeIndex``, to the microsecond. Needs ``pip install 'runeq-fn[pandas]'``.

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
    frames = [pd.DataFrame(dict(columns)) for columns in column_pages(data)]
    frame = pd.concat(frames, ignore_index=True).infer_objects() if frames else pd.DataFrame()
    if not time_index:
        return frame
    name = time_column(frame.columns)
    index = pd.DatetimeIndex(pd.to_datetime(frame[name], unit="s", utc=True), name=name).round("us")
    return frame.drop(columns=name).set_index(index)


def to_arrow(data: Iterable[Any], timestamps: bool = False) -> Any:
    """A pyarrow Table of points, CSV pages or column dicts, pages concatenated in order.

    Columns missing from some pages are null there, and types are widened across
    pages. With ``timestamps=True`` the ``time`` (or ``timestamp``) column
    becomes ``timestamp[us, tz=UTC]``. Needs ``pip install 'runeq-fn[arrow]'``.

    >>> table = to_arrow([{"time": [1609459200.0], "x": [None]}, {"time": [1609459200.5], "x": [2.0]}], timestamps=True)
    >>> table.schema
    time: timestamp[us, tz=UTC]
    x: double
    >>> table.column("time")[1]
    <pyarrow.TimestampScalar: '2021-01-01T00:00:00.500000+0000'>
    """
    pa = require("pyarrow", "arrow", "to_arrow")
    tables = [
        pa.table({str(key): values for key, values in columns.items()}) for columns in column_pages(data)
    ]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    if not timestamps:
        return table
    import pyarrow.compute as pc

    name = time_column(table.column_names)
    micros = pc.round(pc.multiply(table.column(name).cast(pa.float64()), 1e6)).cast(pa.int64())
    times = micros.cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(table.column_names.index(name), name, times)
