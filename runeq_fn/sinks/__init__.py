"""Where a pull goes: files written atomically and resumably (durable, export), Parquet, DataFrames and Arrow tables, Dask."""
