"""A Dask DataFrame of many queries, one partition per (query, time window), fetched where it is computed.

``read_points(config, resource, queries, window=...)`` builds the graph and
fetches nothing: each partition is one window of one query, pulled by the worker
that computes it (``pages`` there, over that worker's own connection pool) and
read by the Arrow parser (``runeq_fn.parse.arrow``). An optional extra:
``pip install 'runeq-fn[dask]'`` (dask, distributed, pandas and pyarrow),
imported inside the functions.

Credentials reach the workers in one of two ways:

- the ``Config`` itself, pickled into the graph: its secrets travel inside the
  pickle (as they must) but never show in its repr, in task names (Dask names
  tasks by a hash of their arguments) or in the workers' logs;
- a path (``read_points("/etc/rune/config", ...)``): each worker reads
  ``Config(path)`` itself, so no secret leaves the worker's machine; the file must
  exist there.

The columns are known before any page arrives (Dask needs them up front): the
Stream API's CSV columns for each resource (as the API documents them), or ``columns`` for what the
table does not know (``state``, ``expression`` queries).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..parse.arrow import arrow_tables, seconds_to_timestamps
from ..pull.build import build_request
from ..pull.options import count_option
from ..resources import known_columns, time_column
from ..times import unix_seconds

TEXT_COLUMNS = frozenset({"algorithm", "anatomy", "sensor", "band"})
"""Columns of text in the Stream API's CSV (lfp, band_power); every other known column holds numbers."""

@dataclass(frozen=True)
class Part:
    """One partition: a query narrowed to one window, and whether the window ends the query.

    A window that is not the last keeps only rows before its ``stop`` (the next
    window's start), so that a row at a boundary is read once even where the API
    would include ``end_time``.
    """

    query: dict
    start: float
    stop: float
    last: bool

    @property
    def patient_id(self) -> Any:
        """The query's patient (None when a client key implies it)."""
        return self.query.get("patient_id")


def column_types(resource: str, queries: Sequence[Mapping[str, Any]], columns: Mapping[str, str] | None) -> dict:
    """The Arrow type of each CSV column: ``columns`` (name to ``"double"`` or ``"string"``) or the known ones.

    >>> column_types("heartrate", [{}], None)
    {'time': DataType(double), 'bpm': DataType(double)}
    >>> column_types("state", [{"fields": "status"}], None)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: the columns of state queries are not known before the data arrive: pass columns={'time': 'double', 'status': 'string', ...}
    """
    import pyarrow as pa

    if columns is not None:
        try:
            return {name: pa.type_for_alias(kind) for name, kind in columns.items()}
        except (ValueError, TypeError) as exc:
            raise UsageError(f"columns maps names to 'double' or 'string': {exc}") from None
    found = [known_columns(resource, query) for query in queries]
    if found[0] is None:
        raise UsageError(
            f"the columns of {resource} queries are not known before the data arrive: "
            "pass columns={'time': 'double', 'status': 'string', ...}"
        )
    if any(names != found[0] for names in found):
        raise UsageError(f"the queries ask for different columns ({found}): read them as separate frames")
    return {name: pa.string() if name in TEXT_COLUMNS else pa.float64() for name in found[0]}


def windows(start: float, end: float, window: float | None) -> list[tuple[float, float]]:
    """``[start, end)`` cut into windows of ``window`` seconds (the last may be shorter); one when None.

    >>> windows(0, 25, 10), windows(0, 25, None)
    ([(0, 10), (10, 20), (20, 25)], [(0, 25)])
    """
    if window is None or end <= start:
        return [(start, end)]
    count = math.ceil((end - start) / window)
    bounds = [start + step * window for step in range(count)] + [end]
    return list(zip(bounds, bounds[1:]))


def seconds(query: Mapping[str, Any], key: str) -> float:
    """A query's ``start_time`` or ``end_time`` as unix seconds, with a clear error when missing.

    >>> seconds({"start_time": "10"}, "start_time"), seconds({"end_time": "2021-01-01T09:00:00Z"}, "end_time")
    (10, 1609491600)
    """
    if key not in query:
        raise UsageError(f"every query needs {key} (unix seconds) to be cut into windows: {dict(query)}")
    value = float(unix_seconds(key, query[key]))
    return int(value) if value.is_integer() else value


def parts(queries: Sequence[Mapping[str, Any]], window: float | None) -> list[Part]:
    """One ``Part`` per (query, window), queries in order, windows in time order.

    >>> [(p.start, p.stop, p.last) for p in parts([{"start_time": 0, "end_time": 25}], 10)]
    [(0, 10, False), (10, 20, False), (20, 25, True)]
    """
    if window is not None and not window > 0:
        raise UsageError(f"window must be a positive number of seconds, not {window!r}")
    found = []
    for query in queries:
        cuts = windows(seconds(query, "start_time"), seconds(query, "end_time"), window)
        for number, (start, stop) in enumerate(cuts, 1):
            found.append(Part({**query, "start_time": start, "end_time": stop}, start, stop, number == len(cuts)))
    return found


def ordered(found: Sequence[Part]) -> bool:
    """Whether the parts follow each other in time: windows of one query, or queries one after another.

    >>> ordered(parts([{"start_time": 0, "end_time": 20}], 10)), ordered(parts([{"start_time": 0, "end_time": 20}] * 2, 10))
    (True, False)
    """
    return all(
        before.stop <= after.start if not before.last else before.stop < after.start
        for before, after in zip(found, found[1:])
    )


def divisions(found: Sequence[Part]) -> tuple | None:
    """Dask's divisions for a time index: each window's start and the last one's stop, as UTC times."""
    import pandas as pd

    if not ordered(found):
        return None
    bounds = [part.start for part in found] + [found[-1].stop]
    return tuple(pd.Timestamp(bound, unit="s", tz="UTC") for bound in bounds)


def before(table: Any, stop: float) -> Any:
    """The rows whose time is before ``stop`` (a window's end).

    >>> import pyarrow as pa
    >>> before(pa.table({"time": [1.0, 2.0], "x": [0.5, 0.6]}), 2).to_pydict()
    {'time': [1.0], 'x': [0.5]}
    """
    import pyarrow.compute as pc

    return table.filter(pc.less(table.column(time_column(table.column_names)), stop))


def as_frame(table: Any, patient_id: Any, time_index: bool) -> Any:
    """A partition's rows as pandas: the table, the query's ``patient_id``, and time as a UTC index if asked."""
    import pyarrow as pa

    table = table.append_column("patient_id", pa.repeat(pa.scalar(patient_id, pa.string()), table.num_rows))
    if not time_index:
        return table.to_pandas()
    name = time_column(table.column_names)
    stamped = table.set_column(table.column_names.index(name), name, seconds_to_timestamps(table.column(name)))
    return stamped.to_pandas().set_index(name)


def read_part(
    part: Part, config: Any, resource: str, types: dict, time_index: bool, shards: int = 1, prefetch: int = 0
) -> Any:
    """Fetch and read one partition (this runs on the worker that computes it), in ``shards`` windows at once
    (unsharded when its query cannot shard, e.g. an expression: ``shards.shards_for``)."""
    import pyarrow as pa

    from ..config import Config
    from ..pull.shards import sharded_pages, shards_for

    cfg = Config(config) if isinstance(config, str) else config
    request = build_request(cfg, resource, "csv", part.query)
    tables = list(arrow_tables(sharded_pages(request, shards_for(request, shards), prefetch=prefetch), types=types))
    schema = pa.schema(list(types.items()))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return as_frame(table if part.last else before(table, part.stop), part.patient_id, time_index)


def read_points(
    config: Any,
    resource: str,
    queries: Sequence[Mapping[str, Any]],
    window: float | None = 86400,
    time_index: bool = True,
    columns: Mapping[str, str] | None = None,
    shards: int = 1,
    prefetch: int = 0,
) -> Any:
    """A lazy ``dask.dataframe`` of what ``points()`` gives for each query, plus its ``patient_id``.

    One partition per (query, ``window`` seconds; None: the whole query), made
    with ``dask.dataframe.from_map``; nothing is fetched until it is computed,
    and each partition is fetched by the worker computing it. ``config`` is a
    ``Config`` (pickled to the workers) or a config file's path (read by each
    worker). Every query needs ``start_time`` and ``end_time``.

    With ``time_index=True`` (the default) the ``time`` (or ``timestamp``)
    column is the index, UTC to the microsecond, and the divisions are known
    when the partitions follow each other in time (one query, or queries one
    after another); otherwise they are unknown.

    ``shards`` (time windows pulled at once) and ``prefetch`` (pages asked ahead)
    apply inside each partition, on its worker (``runeq_fn.pull.shards.sharded_pages``;
    a query that cannot shard, e.g. an expression, is read unsharded);
    they are checked here, before anything is computed.

    >>> from runeq_fn import Config
    >>> frame = read_points(Config(jwt="x.y.z", stream_url="http://127.0.0.1:9"), "accel",
    ...                     [{"patient_id": "P1", "device_id": "D", "start_time": 0, "end_time": 7200}], window=3600)
    >>> frame.npartitions, list(frame.columns), frame.known_divisions
    (2, ['x', 'y', 'z', 'patient_id'], True)
    """
    import dask.dataframe as dd
    import pyarrow as pa

    if not queries:
        raise UsageError("read_points needs at least one query")
    count_option("shards", shards, 1), count_option("prefetch", prefetch, 0)
    types = column_types(resource, queries, columns)
    found = parts(queries, window)
    meta = as_frame(pa.schema(list(types.items())).empty_table(), None, time_index)
    return dd.from_map(
        read_part,
        found,
        args=(config, resource, types, time_index, shards, prefetch),
        meta=meta,
        divisions=divisions(found) if time_index else None,
        label=f"runeq-{resource}",
        enforce_metadata=False,
    )
