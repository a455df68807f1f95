"""``runeq_fn.sinks.dask.read_points`` on a real ``distributed.LocalCluster`` of two worker processes."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from extras import need

from runeq_fn import Config, build_request, pages
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, UsageError
from runeq_fn.http.routes import manager, route
from runeq_fn.sinks.frames import to_dataframe

need("dask", "pandas", "pyarrow")

import pandas as pd  # noqa: E402

from runeq_fn.sinks.dask import read_points  # noqa: E402

START = 1609491600  # 09:00 UTC: 50 Hz accelerometry
QUERIES = [
    {"patient_id": "p1", "device_id": "d", "start_time": START, "end_time": START + 30},
    {"patient_id": "p2", "device_id": "d", "start_time": START + 10, "end_time": START + 40},
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=400) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # imported here, not at collection: distributed installs tblib's exception pickling process-wide
    need("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(
        cluster
    ) as connected:
        yield connected


def config(emu: Emulator) -> Config:
    return Config(**emu.config_values(), retries=0)


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal frames; patient_id is text in both (Dask makes text columns pyarrow strings, NA for missing)."""
    assert isinstance(got["patient_id"].dtype, pd.StringDtype)
    pd.testing.assert_frame_equal(got, expected.astype({"patient_id": got["patient_id"].dtype}))


def single_machine(emu: Emulator, queries: list[dict]) -> pd.DataFrame:
    """The same queries pulled here, one after the other, with their patient."""
    frames = []
    for query in queries:
        frame = to_dataframe(pages(build_request(config(emu), "accel", "csv", query)), time_index=True)
        frames.append(frame.assign(patient_id=pd.Series(query["patient_id"], index=frame.index, dtype="str")))
    return pd.concat(frames)


def test_workers_fetch_each_window_and_the_result_is_the_single_machine_pull(emu: Emulator, client: Any) -> None:
    emu.clear()
    frame = read_points(config(emu), "accel", QUERIES, window=10)
    assert frame.npartitions == 6 and emu.requests == []  # nothing fetched until compute
    got = frame.compute()
    here = manager(route(emu.url, config(emu).policy)).connection_from_url(emu.url)
    assert here.num_connections == 0  # not one request from this process
    assert {dict(r.params)["patient_id"] for r in emu.requests} == {"p1", "p2"}
    expected = single_machine(emu, QUERIES)
    assert len(got) == 3000
    same(got, expected)


def test_divisions_are_known_within_one_series(emu: Emulator, client: Any) -> None:
    one = read_points(config(emu), "accel", QUERIES[:1], window=10)
    assert one.known_divisions
    assert one.divisions[1] == pd.Timestamp(START + 10, unit="s", tz="UTC")
    got = one.compute()
    for number in range(one.npartitions):
        part = one.get_partition(number).compute()
        assert one.divisions[number] <= part.index.min() and part.index.max() < one.divisions[number + 1]
    assert got.index.is_monotonic_increasing and len(got) == 1500
    assert not read_points(config(emu), "accel", QUERIES, window=10).known_divisions  # two series overlap


def test_each_worker_may_read_its_own_config_file(emu: Emulator, client: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(emu.config_values()))
    got = read_points(str(path), "accel", QUERIES[:1], window=15).compute()
    same(got, single_machine(emu, QUERIES[:1]))


def test_a_config_file_missing_on_the_workers_is_a_clear_error(emu: Emulator, client: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "not-there.yml")
    with pytest.raises(FileNotFoundError, match="no config file at .*not-there.yml"):
        read_points(missing, "accel", QUERIES[:1], window=15).compute()


def test_secrets_stay_out_of_reprs_task_names_and_worker_logs(emu: Emulator, client: Any) -> None:
    secret = emu.config_values()["access_token_secret"]
    frame = read_points(config(emu), "accel", QUERIES, window=10)
    shown = [repr(frame), str(frame.__dask_keys__()), str(dict(frame.__dask_graph__()))]
    assert all(secret not in text for text in shown)
    emu.inject(Fault("status", status=400, times=99))
    try:
        with pytest.raises(APIError) as failed:
            frame.compute()
    finally:
        emu.clear()
    assert secret not in str(failed.value)
    logs = client.get_worker_logs()
    assert any("Compute Failed" in line for lines in logs.values() for _, line in lines)
    assert all(secret not in line for lines in logs.values() for _, line in lines)


def test_a_config_pickles_without_its_lock_and_keeps_its_secrets_out_of_its_repr(emu: Emulator) -> None:
    cfg = config(emu)
    copy = pickle.loads(pickle.dumps(cfg))
    assert copy.auth_headers == cfg.auth_headers and repr(copy) == repr(cfg)
    assert copy.refreshed_headers({}) == cfg.auth_headers  # its lock is a new one
    assert emu.config_values()["access_token_secret"] not in repr(copy)


def test_columns_must_be_known_before_the_data(emu: Emulator) -> None:
    query = {**QUERIES[0], "event": "therapy_status", "fields": "status"}
    with pytest.raises(UsageError, match="pass columns="):
        read_points(config(emu), "state", [query])
    typed = read_points(config(emu), "state", [query], columns={"time": "double", "status": "string"})
    assert list(typed.columns) == ["status", "patient_id"]
    with pytest.raises(UsageError, match="every query needs end_time"):
        read_points(config(emu), "accel", [{"patient_id": "p1", "start_time": START}])


def test_an_expression_query_with_shards_is_read_unsharded_as_on_every_other_surface(emu: Emulator) -> None:
    # sharded_pages refused it, on the worker, only once the frame was computed
    import dask

    query = {**QUERIES[0], "end_time": START + 3600, "expression": "availability(accel)", "resolution": 300}
    columns = {"time": "double", "availability(accel)": "double"}
    with dask.config.set(scheduler="sync"):
        sharded = read_points(config(emu), "accel", [query], window=1800, columns=columns, shards=4).compute()
        whole = read_points(config(emu), "accel", [query], window=1800, columns=columns).compute()
    pd.testing.assert_frame_equal(sharded, whole)
    assert len(whole) == 12
