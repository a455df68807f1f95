"""``runeq_fn.parse.arrow``: CSV pages to Arrow tables, the first page fixing the types, and its use by frames."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from extras import need
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn import Config, build_request, pages
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import ParseError
from runeq_fn.http.response import Response
from runeq_fn.parse.columns import python_columns
from runeq_fn.sinks.frames import to_arrow, to_dataframe

need("pyarrow")

import pyarrow as pa  # noqa: E402

from runeq_fn.parse.arrow import arrow_tables  # noqa: E402

NUMBER = st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr)
WORD = st.text("abcdefghij", min_size=1, max_size=5)


@st.composite
def typed_pages(draw: st.DrawFn) -> list[str]:
    """Pages of one header whose columns each hold numbers (and blanks) or words (and blanks)."""
    width = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(["number", "word"]), min_size=width, max_size=width))
    header = ",".join(f"c{at}" for at in range(width))
    texts = []
    for _ in range(draw(st.integers(1, 3))):
        rows = []
        for _ in range(draw(st.integers(1, 5))):
            cells = [draw(st.one_of(st.just(""), NUMBER if kind == "number" else WORD)) for kind in kinds]
            rows.append(",".join(cells))
        texts.append("\n".join([header, *rows]) + "\n")
    return texts


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


def model(texts: list[str]) -> tuple[list[dict], bool]:
    """The tables the module's rules give, read with Python, and whether a later page breaks them."""
    types: dict[str, bool] | None = None  # column -> holds text
    tables = []
    for text in texts:
        columns = python_columns(text)
        if not next(iter(columns.values()), []):
            continue
        texty = {name: any(isinstance(v, str) for v in values) for name, values in columns.items()}
        if types is None:
            types = texty
        elif any(texty[name] and not types[name] for name in texty):
            return tables, True
        tables.append({name: [None if v is None else (str(v) if types[name] else float(v)) for v in values]
                       for name, values in columns.items()})
    return tables, False


@given(typed_pages())
def test_tables_hold_the_cells_python_reads(texts: list[str]) -> None:
    expected, breaks = model(texts)
    got = []
    with pytest.raises(ParseError, match="a column of numbers cannot take text") if breaks else nullcontext():
        for table in arrow_tables(texts):
            got.append(table)
    assert len(got) == len(expected)
    for table, columns in zip(got, expected):
        assert table.column_names == list(columns)
        for name, values in columns.items():
            texty = table.schema.field(name).type == pa.string()
            assert texty or table.schema.field(name).type == pa.float64()
            assert same(table.column(name).to_pylist(), values)


def test_the_first_page_with_rows_fixes_the_types() -> None:
    texts = ["time,note\n", "\n\n", "time,note\n1,\n2,\n", "time,note\n3,\n"]
    tables = list(arrow_tables(texts))
    assert [t.num_rows for t in tables] == [2, 1]  # the header-only and blank pages add nothing
    assert tables[0].schema == tables[1].schema == pa.schema({"time": pa.float64(), "note": pa.float64()})


def test_text_in_a_column_of_numbers_on_a_later_page_is_an_error_naming_it() -> None:
    tables = arrow_tables(["time,x\n1,2\n", "time,x\n3,n/a\n"])
    assert next(tables).to_pydict() == {"time": [1.0], "x": [2.0]}
    with pytest.raises(ParseError, match=r"CSV page 2 .*'n/a'.*fixed by the first page.*points\(\)"):
        next(tables)


def test_a_column_that_is_text_on_the_first_page_takes_numbers_later() -> None:
    tables = list(arrow_tables(["time,note\n1,on\n", "time,note\n2,5\n"]))
    assert tables[1].column("note").to_pylist() == ["5"]


def test_a_page_with_other_columns_is_an_error_and_reordered_columns_are_put_back() -> None:
    with pytest.raises(ParseError, match=r"CSV page 2 has the columns time, x, y .*\(more: y\)"):
        list(arrow_tables(["time,x\n1,2\n", "time,x,y\n3,4,5\n"]))
    with pytest.raises(ParseError, match=r"\(fewer: x\)"):
        list(arrow_tables(["time,x\n1,2\n", "time\n3\n"]))
    with pytest.raises(ParseError, match="a column named twice"):
        list(arrow_tables(["time,x,x\n1,2,3\n"]))
    tables = list(arrow_tables(["time,x\n1,2\n", "x,time\n4,3\n"]))
    assert tables[1].column_names == ["time", "x"] and tables[1].to_pydict() == {"time": [3.0], "x": [4.0]}


def test_a_short_row_or_bytes_not_utf8_are_errors() -> None:
    with pytest.raises(ParseError, match=r"CSV page 1 cannot be read .*Expected 2 columns, got 1"):
        list(arrow_tables(["time,x\n1,2\n3\n"]))
    with pytest.raises(ParseError, match=r"not valid utf-8 .*byte 9 is b'\\xff'"):
        list(arrow_tables([Response(200, content=b"time,x\n1,\xff\n")]))
    for undecodable in (b"time,x\n1,2\n3,\xff\n", b"time,caf\xe9\n1,2\n", b"time,x\n1,a\xff\n"):
        with pytest.raises(ParseError, match="not valid utf-8"):
            list(arrow_tables([undecodable]))


LATIN = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491602}


def test_a_page_in_a_declared_charset_is_read_in_it_on_every_arrow_route() -> None:
    need("pandas")
    from runeq_fn.parse.points import csv_points
    from runeq_fn.sinks.dask import Part, read_part

    with Emulator(page_size=1000) as emu:  # one page: the fault changes every page it serves
        request = build_request(Config(**emu.config_values()), "accel", "csv", LATIN)
        reads = {
            "points": lambda: [point["note"] for point in csv_points(pages(request))],
            "to_arrow": lambda: to_arrow(pages(request)).column("note").to_pylist(),
            "to_dataframe": lambda: list(to_dataframe(pages(request))["note"]),
            "dask": lambda: list(read_part(Part(LATIN, 0, 0, True), Config(**emu.config_values()), "accel",
                                           {"time": pa.float64(), "x": pa.float64(), "y": pa.float64(),
                                            "z": pa.float64(), "note": pa.string()}, False)["note"]),
        }
        for route, read in reads.items():
            emu.inject(Fault("non_utf8", charset="iso-8859-1", times=9))
            assert set(read()) == {"café"}, route
            emu.clear()
            emu.inject(Fault("non_utf8", times=9))  # Latin-1 bytes under a Content-Type declaring UTF-8
            with pytest.raises(ParseError, match=r"not valid utf-8 \(as declared\): byte \d+ is b'\\xe9'"):
                read()
            emu.clear()


def test_an_arrow_read_error_carries_the_page_resume() -> None:
    with Emulator(page_size=50) as emu:
        request = build_request(Config(**emu.config_values()), "accel", "csv", LATIN)
        second = [response.resume for response in pages(request)][1]
        # a note column (page 2 has one more), and Latin-1 bytes under a UTF-8 Content-Type
        for fault in (Fault("non_utf8", charset="iso-8859-1"), Fault("non_utf8")):

            def fault_on_the_second_page(fault: Fault = fault) -> Iterator[Any]:
                for number, response in enumerate(pages(request)):
                    yield response
                    if number == 0:
                        emu.inject(fault)

            with pytest.raises(ParseError) as raised:
                list(arrow_tables(fault_on_the_second_page()))
            emu.clear()
            assert raised.value.resume == second and second["page"] == 1


def test_responses_with_a_byte_order_mark_and_quotes_are_read() -> None:
    table = next(arrow_tables([Response(200, content=b'\xef\xbb\xbftime,note\n1,"a, b"\n2,\n')]))
    assert table.to_pydict() == {"time": [1.0, 2.0], "note": ["a, b", None]}


def test_timestamps_are_utc_nanoseconds_to_the_microsecond() -> None:
    table = next(arrow_tables(["timestamp,v\n1609459200.004,1\n1609459200.008,2\n"], timestamps=True))
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert table.column("timestamp").cast(pa.int64()).to_pylist() == [1609459200_004_000_000, 1609459200_008_000_000]


def test_frames_read_pages_with_the_arrow_parser() -> None:
    need("pandas")
    drifting = ["time,x\n1,2\n", "time,x\n3,n/a\n"]  # csv_columns would type each page on its own
    with pytest.raises(ParseError, match="CSV page 2"):
        to_arrow(drifting)
    with pytest.raises(ParseError, match="CSV page 2"):
        to_dataframe(drifting)


def test_an_lfp_pull_keeps_its_text_columns() -> None:
    need("pandas")
    with Emulator(page_size=40) as emu:
        request = build_request(Config(**emu.config_values()), "lfp", "csv",
                                {"patient_id": "p", "device_id": "d", "start_time": 1609491600,
                                 "end_time": 1609491600.2})
        table = to_arrow(pages(request), timestamps=True)
        frame = to_dataframe(pages(request))
    assert table.schema.field("anatomy").type == pa.string()
    assert table.schema.field("potential").type == pa.float64()
    assert table.num_rows == len(frame) > 40 and set(frame["anatomy"]) == {"left_stn", "right_stn"}
