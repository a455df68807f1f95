"""``runeq_fn.sinks.frames``: DataFrames and Arrow tables from points, CSV pages and column dicts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from extras import need

from runeq_fn import Config, build_request, pages, stream
from runeq_fn.emulator import Emulator
from runeq_fn.errors import UsageError
from runeq_fn.parse.columns import csv_columns
from runeq_fn.sinks.frames import to_arrow, to_dataframe

QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": 1609491600, "end_time": 1609491604}  # 200 rows


@pytest.fixture(scope="module")
def cfg() -> Iterator[Config]:
    with Emulator(page_size=60) as emu:  # 200 rows: 4 pages
        yield Config(**emu.config_values())


def accel_pages(cfg: Config, name: str = "accel", **params) -> Iterator:
    return pages(build_request(cfg, name, "csv", {**QUERY, **params}))


def test_points_pages_and_columns_give_the_same_frame(cfg: Config) -> None:
    need("pandas")
    from_points = to_dataframe(stream.V1Client(cfg).Accel(**QUERY).points())
    from_pages = to_dataframe(accel_pages(cfg))
    from_columns = to_dataframe(csv_columns(accel_pages(cfg)))
    assert list(from_points.columns) == ["time", "x", "y", "z"]
    assert len(from_points) == 200 and list(from_points.index) == list(range(200))  # pages concatenated
    assert set(map(str, from_points.dtypes)) == {"float64"}
    assert from_points.equals(from_pages) and from_points.equals(from_columns)


def test_time_index_is_utc_to_the_microsecond(cfg: Config) -> None:
    need("pandas")
    frame = to_dataframe(accel_pages(cfg), time_index=True)
    assert str(frame.index.dtype) == "datetime64[ns, UTC]" and frame.index.name == "time"
    assert list(frame.columns) == ["x", "y", "z"]
    assert str(frame.index[0]) == "2021-01-01 09:00:00+00:00"
    assert str(frame.index[1]) == "2021-01-01 09:00:00.020000+00:00"  # 50 Hz, no float residue
    assert frame.index.is_monotonic_increasing and frame.index.is_unique


def test_lfp_is_indexed_by_its_timestamp_column(cfg: Config) -> None:
    need("pandas")
    frame = to_dataframe(accel_pages(cfg, "lfp", end_time=1609491600.1), time_index=True)
    assert frame.index.name == "timestamp"
    assert {"anatomy", "channel", "potential"} <= set(frame.columns)
    assert str(frame["potential"].dtype) == "float64"
    assert set(frame["anatomy"]) == {"left_stn", "right_stn"}  # text columns stay text


def test_columns_that_vary_by_page_are_widened() -> None:
    need("pandas")
    frame = to_dataframe(
        [{"time": [1.0, 2.0], "x": [None, None]}, {"time": [3.0], "x": [0.5], "note": ["on"]}]
    )
    assert str(frame["x"].dtype) == "float64"  # an all-blank first page does not make x text
    assert frame["x"].isna().tolist() == [True, True, False]
    assert frame["note"].tolist()[2] == "on" and frame["note"].isna().tolist()[:2] == [True, True]


def test_empty_input_is_an_empty_frame() -> None:
    need("pandas", "pyarrow")
    assert to_dataframe([]).empty
    assert to_arrow(iter([])).num_rows == 0


def test_time_index_needs_a_time_column() -> None:
    need("pandas")
    with pytest.raises(UsageError, match="no time or timestamp column"):
        to_dataframe([{"x": 1.0}], time_index=True)


def test_arrow_tables_from_points_and_pages_agree(cfg: Config) -> None:
    need("pyarrow")
    import pyarrow as pa

    from_points = to_arrow(stream.V1Client(cfg).Accel(**QUERY).points())
    from_pages = to_arrow(accel_pages(cfg))
    assert from_points.equals(from_pages)
    assert from_points.schema.types == [pa.float64()] * 4 and from_points.num_rows == 200
    stamped = to_arrow(accel_pages(cfg), timestamps=True)
    assert stamped.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert stamped.column("time")[1].value == 1609491600_020000_000


def test_missing_pandas_says_which_extra_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'runeq-fn\[pandas\]'"):
        to_dataframe([{"time": 1.0}])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'runeq-fn\[arrow\]'"):
        to_arrow([{"time": 1.0}])


def test_importing_costs_no_optional_dependency() -> None:
    code = (
        "import sys, runeq_fn.sinks.frames, runeq_fn.sinks.export, runeq_fn.pull.cohort; "
        "print(' '.join(m for m in ('pandas', 'pyarrow', 'numpy', 'tqdm', 'dask', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
