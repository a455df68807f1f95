"""``runeq fetch --format parquet``: streamed, typed, atomic, resumable, and a cohort partitioned by patient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from extras import need
from failing import server_fails_after

from runeq_fn import Config, build_request, cli, pages
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError
from runeq_fn.sinks.durable import output_lock, part_paths
from runeq_fn.sinks.export import export_query

need("pyarrow", "pandas", "duckdb")

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from runeq_fn.sinks import parquet  # noqa: E402
from runeq_fn.sinks.frames import to_arrow  # noqa: E402

START, END = 1609491600, 1609491610  # 500 rows: 5 pages of 100
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": START, "end_time": END}
FLAGS = ["--device-id", "d1", "--start-time", str(START), "--end-time", str(END)]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=100) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "PAGES_PER_FILE", 2)  # 5 pages: chunks of pages 1-2, 3-4, 5


def config_file(emu: Emulator, folder: Path, auth: str = "access_token") -> Path:
    path = folder / f"{auth}.yml"
    path.write_text(yaml.safe_dump({**emu.config_values(auth), "retries": 0}))
    return path


def fetch(config: Path, *args: str) -> None:
    cli.main(["fetch", *args, "--config", str(config)])


def pulled(emu: Emulator, patient: str = "p1", name: str = "accel", **params) -> pa.Table:
    """The query read straight into Arrow, to compare the files with."""
    request = build_request(Config(**emu.config_values()), name, "csv", {**QUERY, "patient_id": patient, **params})
    return to_arrow(pages(request))


def test_a_dataset_folder_holds_the_pull_typed_and_readable_without_options(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet", "--output", str(out))
    files = sorted(path.name for path in out.iterdir())
    assert files == ["part-000000.parquet", "part-000002.parquet", "part-000004.parquet"]
    assert [pq.ParquetFile(out / name).num_row_groups for name in files] == [2, 2, 1]  # a row group per page
    expected = pulled(emu)
    assert expected.num_rows == 500 and expected.schema.types == [pa.float64()] * 4
    assert ds.dataset(out).to_table().equals(expected)
    assert pd.read_parquet(out).equals(expected.to_pandas())
    assert duckdb.sql(f"select count(*), sum(x) from '{out}/*.parquet'").fetchall()[0] == (
        500, pytest.approx(sum(expected.column("x").to_pylist()))
    )
    assert not Path(part_paths(out)[0]).exists() and not Path(part_paths(out)[1]).exists()


@pytest.mark.parametrize("empty_folders", [False, True])
def test_an_output_ending_in_a_slash_is_that_folder_new_or_empty(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_folders: bool
) -> None:
    monkeypatch.chdir(tmp_path)  # as the README's examples: --output accel/, --output cohort/
    if empty_folders:
        Path("accel").mkdir()
        Path("cohort").mkdir()
    config = config_file(emu, tmp_path)
    fetch(config, "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet", "--output", "accel/")
    fetch(config, "accel", "--patient-id", "p1,p2", *FLAGS, "--format", "parquet", "--output", "cohort/")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["accel", "access_token.yml", "cohort"]
    assert sorted(path.name for path in Path("accel").iterdir()) == [
        "part-000000.parquet", "part-000002.parquet", "part-000004.parquet"
    ]
    assert ds.dataset("accel").to_table().equals(pulled(emu))
    assert sorted(path.name for path in Path("cohort").iterdir()) == ["patient_id=p1", "patient_id=p2"]
    assert len(pd.read_parquet("cohort")) == 1000


def test_an_interrupted_pull_into_dir_slash_is_kept_beside_it_and_resumes(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("accel").mkdir()
    args = ["accel", "--patient-id", "p1", *FLAGS, "--format", "parquet", "--output", "accel/"]
    with pytest.raises(APIError):
        parquet.export_parquet(Config(str(config_file(emu, tmp_path))), "accel", QUERY, "accel/",
                       progress=server_fails_after(emu, 2))  # fmt: skip
    with pytest.raises(SystemExit):
        fetch(config_file(emu, tmp_path), *args, "--resume")
    assert "kept in accel.part: run the same command with --resume" in capsys.readouterr().err
    assert list(Path("accel").iterdir()) == [] and Path("accel.part.state").exists()
    emu.clear()
    fetch(config_file(emu, tmp_path), *args, "--resume")
    assert ds.dataset("accel").to_table().equals(pulled(emu))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["accel", "access_token.yml"]


def test_a_page_in_a_declared_charset_is_written_as_its_text(emu: Emulator, tmp_path: Path) -> None:
    emu.inject(Fault("non_utf8", charset="iso-8859-1", times=99))
    out = tmp_path / "latin.parquet"
    parquet.export_parquet(Config(**emu.config_values()), "accel", QUERY, out)
    assert set(pq.read_table(out).column("note").to_pylist()) == {"café"}


def test_one_parquet_file_with_timestamps(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "accel.parquet"
    fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet",
          "--output", str(out), "--timestamps")
    assert [path.name for path in tmp_path.iterdir() if "accel" in path.name] == ["accel.parquet"]
    table = pq.read_table(out)
    assert pq.ParquetFile(out).num_row_groups == 5
    assert table.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert table.column("time").cast(pa.int64())[1].as_py() == 1609491600_020_000_000
    assert table.drop_columns("time").equals(pulled(emu).drop_columns("time"))
    assert str(duckdb.sql(f"select min(time) from '{out}'").fetchall()[0][0]) == "2021-01-01 09:00:00+00:00"


def test_text_columns_stay_text(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "lfp.parquet"
    query = {**QUERY, "end_time": START + 1}
    export_query(Config(**emu.config_values()), "lfp", query, "parquet", out)
    schema = pq.read_schema(out)
    assert schema.field("anatomy").type == pa.string() and schema.field("potential").type == pa.float64()
    assert pq.read_table(out).equals(pulled(emu, name="lfp", end_time=START + 1))


def test_an_interrupted_pull_resumes_exactly(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "accel"
    cfg = Config(**emu.config_values(), retries=0)

    fail_after_three_pages = server_fails_after(emu, 3)

    with pytest.raises(APIError):
        export_query(cfg, "accel", QUERY, "parquet", out, progress=fail_after_three_pages)
    part, state = map(Path, part_paths(out))
    assert not out.exists()
    saved = json.loads(state.read_text())
    assert (saved["pages"], saved["rows"]) == (2, 200)  # the chunk of pages 1-2 is committed, page 3 is not
    assert sorted(path.name for path in part.iterdir()) == [".part-000002.parquet.tmp", "part-000000.parquet"]
    (part / "part-000002.parquet").write_bytes(b"as if killed after the rename, before the state")

    emu.clear()
    fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet",
          "--output", str(out), "--resume")
    first = dict(emu.requests[0].params)
    assert first["page"] == "2"  # the third page: the first one not committed
    assert ds.dataset(out).to_table().equals(pulled(emu))
    assert not part.exists() and not state.exists()


def test_resume_keeps_the_time_type_it_started_with(emu: Emulator, tmp_path: Path, capsys) -> None:
    out = tmp_path / "accel"
    cfg = Config(**emu.config_values(), retries=0)

    fail_after_three_pages = server_fails_after(emu, 3)

    with pytest.raises(APIError):
        parquet.export_parquet(cfg, "accel", QUERY, out, progress=fail_after_three_pages, timestamps=True)
    emu.clear()
    with pytest.raises(SystemExit):
        fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet",
              "--output", str(out), "--resume")
    assert "a pull with --timestamps: resume it the same way" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["event", "--format", "parquet", "--output", "x"], "event has no parquet output (it is JSON only)"),
        (["accel", "--format", "parquet"], "--format parquet needs --output DIR"),
        (["accel", "--format", "parquet", "--output", "full"], "--output full exists and is not an empty folder"),
        (["accel", "--patient-id", "a,b", "--format", "parquet", "--output", "c.parquet"], "a cohort is written as a dataset folder"),
        (["accel", "--format", "parquet", "--output", "x", "--resume"], "nothing to resume"),
        (["accel", "--format", "parquet", "--output", "x", "--timestams"], "did you mean --timestamps?"),
    ],
)
def test_usage_errors(emu: Emulator, tmp_path: Path, monkeypatch, capsys, args: list, fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        fetch(config_file(emu, tmp_path), *args)
    assert stop.value.code == 2 and fragment in capsys.readouterr().err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_a_cohort_is_one_dataset_partitioned_by_patient(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1,p2,p3", *FLAGS, "--format", "parquet",
          "--output", str(out))
    assert sorted(path.name for path in out.iterdir()) == ["patient_id=p1", "patient_id=p2", "patient_id=p3"]
    frame = pd.read_parquet(out)
    assert len(frame) == 1500 and sorted(frame["patient_id"].unique()) == ["p1", "p2", "p3"]
    for patient in ("p1", "p2", "p3"):
        mine = frame[frame["patient_id"] == patient].drop(columns="patient_id").reset_index(drop=True)
        assert mine.equals(pulled(emu, patient).to_pandas())
    counts = duckdb.sql(f"select patient_id, count(*) from '{out}/*/*.parquet' group by 1 order by 1").fetchall()
    assert counts == [("p1", 500), ("p2", 500), ("p3", 500)]


def test_a_failing_patient_loses_no_other_and_resume_pulls_only_what_is_missing(
    emu: Emulator, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "cohort"
    args = ["accel", "--patient-id", "patient-1,patient-2", *FLAGS, "--format", "parquet", "--output", str(out)]
    with pytest.raises(SystemExit):
        fetch(config_file(emu, tmp_path, "client_keys"), *args)  # a client key reads patient-1 only
    err = capsys.readouterr().err
    assert "1 of 2 patients failed (patient-2: " in err and "--resume" in err
    part = Path(f"{out}.part")
    assert not out.exists() and (part / "patient_id=patient-1" / "part-000000.parquet").exists()

    emu.clear()
    fetch(config_file(emu, tmp_path), *args, "--resume")
    assert {dict(r.params)["patient_id"] for r in emu.requests} == {"patient-2"}
    frame = pd.read_parquet(out)
    assert frame.groupby("patient_id", observed=True).size().to_dict() == {"patient-1": 500, "patient-2": 500}
    assert not part.exists()


def test_the_output_is_private_and_one_pull_at_a_time(emu: Emulator, tmp_path: Path, capsys) -> None:
    folder, single = tmp_path / "accel", tmp_path / "accel.parquet"
    for out in (folder, single):
        fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1", *FLAGS, "--format", "parquet",
              "--output", str(out))
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {0o600}
    assert single.stat().st_mode & 0o777 == 0o600
    with output_lock(tmp_path / "busy"), pytest.raises(SystemExit):
        fetch(config_file(emu, tmp_path), "accel", "--patient-id", "p1,p2", *FLAGS, "--format", "parquet",
              "--output", str(tmp_path / "busy"))
    assert "another runeq fetch is writing" in capsys.readouterr().err
