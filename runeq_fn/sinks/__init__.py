"""Where a pull goes, and what a pull onto disk needs around it.

Files written atomically and resumably: ``export`` (csv, jsonl, json: ``export_query``),
``text`` (the bytes of each page in those formats), ``durable`` (the ``Pull`` state,
part, state and lock files, shared with ``parquet``); ``parquet`` (Parquet files and
datasets), ``frames`` (DataFrames and Arrow tables), ``dask`` (Dask partitions).
Around them, for ``runeq fetch`` and ``runeq sync``: ``inputs`` (the config and the
query from flags), ``progress`` (the line on a terminal) and ``interrupted`` (what
an interrupted pull left at its output).
"""
