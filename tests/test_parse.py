"""The parsers against a plain reference reading of generated CSV and JSON pages."""

import csv
import io
import math
import struct
import threading

import pytest
from extras import need
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn import Config, csv_pages, csv_points, json_pages
from runeq_fn.emulator import Emulator
from runeq_fn.errors import ParseError
from runeq_fn.http.response import Response
from runeq_fn.parse.points import (
    LINE_BREAKS,
    PLAIN_LINES,
    arrow_points,
    json_numbers,
    page_points,
    row_point,
    text_points,
)
from runeq_fn.stream import v1


def reference_value(cell):
    if cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


def csv_lines(text):
    return io.StringIO(text, newline="")


def reference_points(texts, lines=csv_lines):
    """The SPEC's rules, read with csv.DictReader: the slow, obvious way (``lines=str.splitlines``: runeq's)."""
    for text in texts:
        if not text:
            continue
        for row in csv.DictReader(lines(text), restval=None):
            yield {
                k: (v if k is None else None if v is None else reference_value(v))
                for k, v in row.items()
            }


def same(a, b):
    """Equality where NaN equals NaN (the parsers keep the float's identity per value)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


float_forms = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:e}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.3f}"),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e3", "1E-3", ".5", "5.", "-0", "+7", " 7 "]),
)
cells = st.one_of(
    st.just(""),
    float_forms,
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=12),
)
headers = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789", min_size=1, max_size=8),
    min_size=1, max_size=6, unique=True,
)


line_breaking_cells = st.one_of(
    cells, st.tuples(float_forms, st.sampled_from(LINE_BREAKS + "\r\n"), float_forms).map("".join)
)
"""Cells that ``str.splitlines()`` cuts in two and the csv module does not (quoted where they hold \\r or \\n)."""


@st.composite
def csv_text(draw, cells=cells):
    header = draw(headers)
    width = len(header)
    body = draw(st.lists(st.lists(cells, min_size=max(1, width - 2), max_size=width + 2), max_size=20))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()




@pytest.fixture(scope="module", params=["python", "arrow"])
def engine(request):
    """Each engine in turn; the arrow engine needs pyarrow (module scope: hypothesis runs each test's examples in one call)."""
    if request.param == "arrow":
        need("pyarrow")
    return request.param


@pytest.fixture(scope="module")
def arrow():
    need("pyarrow")


plain_pages = st.builds(
    lambda header, rows: "\n".join(",".join(row) for row in [header, *rows]) + "\n",
    st.just(["time", "x", "y"]),
    st.lists(st.lists(st.one_of(st.just(""), float_forms), min_size=3, max_size=3), min_size=1, max_size=20),
)
"""Pages of numbers and blanks, no quotes, every row as wide as its header: what the arrow engine reads itself."""


@given(texts=st.lists(st.one_of(csv_text(), plain_pages), max_size=4))
def test_csv_points_agree_with_a_reference_reading(engine, texts):
    got = list(csv_points(texts, engine=engine))
    want = list(reference_points(texts))
    assert len(got) == len(want)
    assert all(same(g, w) for g, w in zip(got, want))


@given(text=st.one_of(csv_text(), plain_pages))
def test_fast_path_and_each_engine_agree_with_the_per_cell_rule(engine, text):
    lines = list(csv.reader(io.StringIO(text, newline="")))
    header, body = lines[0], [r for r in lines[1:] if r]
    expected = [row_point(header, r) for r in body]
    assert all(same(g, w) for g, w in zip(text_points(text), expected, strict=True))
    assert all(same(g, w) for g, w in zip(page_points(text, engine=engine), expected, strict=True))


@given(text=plain_pages)
def test_the_arrow_engine_reads_plain_pages_of_numbers_itself_bit_for_bit(arrow, text):
    got = arrow_points(text)
    assert got is not None
    want = list(text_points(text))
    assert [[struct.pack("<d", v).hex() if v is not None else v for v in p.values()] for p in got] == [
        [struct.pack("<d", v).hex() if v is not None else v for v in p.values()] for p in want
    ]


def bits(value):
    return struct.pack("<d", value).hex() if isinstance(value, float) else value


json_cells = st.one_of(
    st.just(""), float_forms, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0.0", " 1 ", "null", "true"])
)


@given(st.lists(st.lists(json_cells, min_size=3, max_size=3).map(",".join), min_size=1, max_size=10))
def test_json_numbers_are_float_of_each_cell_bit_for_bit_where_they_read_the_rows(rows):
    got = json_numbers(rows)
    if got is not None:
        assert [bits(v) for v in got] == [bits(None if c == "" else float(c)) for c in ",".join(rows).split(",")]


json_forms = st.one_of(
    st.just(""), st.integers().map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)


@given(st.lists(st.lists(json_forms, min_size=2, max_size=2).map(",".join), min_size=1, max_size=10))
def test_json_numbers_read_rows_of_json_numbers_and_blanks(rows):
    got = json_numbers(rows)
    assert got is not None
    assert [bits(v) for v in got] == [bits(None if c == "" else float(c)) for c in ",".join(rows).split(",")]


def test_json_numbers_refuse_what_json_reads_but_a_cell_is_not():
    for rows in (["1,null"], ["true,1"], ["[1],2"], ["1,.5"], ["+1,2"], ["01,2"], ["1 2,3"], ["1,nan"]):
        assert json_numbers(rows) is None, rows


@given(texts=st.lists(csv_text(), max_size=4))
def test_points_do_not_depend_on_responses_or_texts(engine, texts):
    responses = [Response(200, content=t.encode()) for t in texts]
    assert all(
        same(a, b) for a, b in zip(csv_points(responses, engine=engine), csv_points(texts), strict=True)
    )


@given(text=st.one_of(csv_text(line_breaking_cells), plain_pages))
def test_the_shims_rows_end_where_str_splitlines_ends_them_as_in_runeq(engine, text):
    got = page_points(text, PLAIN_LINES, engine)
    want = list(reference_points([text], lines=str.splitlines))
    assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))


@given(text=csv_text(line_breaking_cells))
def test_the_core_keeps_the_csv_modules_rows(engine, text):
    got = csv_points([text], engine=engine)
    assert all(same(g, w) for g, w in zip(got, reference_points([text]), strict=True))


def test_line_breaks_split_the_shims_rows_only():
    page = 'time,x\n1,2\x0c3,4\n5,"6\n"\n\u20287,8\n'
    assert list(text_points(page, PLAIN_LINES)) == [
        {"time": 1.0, "x": 2.0}, {"time": 3.0, "x": 4.0}, {"time": 5.0, "x": 6.0}, {"time": 7.0, "x": 8.0}
    ]
    assert list(csv_points([page])) == [
        {"time": 1.0, "x": "2\x0c3", None: ["4"]}, {"time": 5.0, "x": 6.0}, {"time": 7.0, "x": 8.0}
    ]


def test_a_blank_first_line_is_the_shims_empty_header_as_in_runeq(caplog):
    assert list(text_points("\x0ctime,x\n1,2\n", PLAIN_LINES)) == [{None: ["time", "x"]}, {None: ["1", "2"]}]
    assert "more values than its header" in caplog.text


def test_values_are_plain_floats_and_none():
    [point] = csv_points(["time,x,y,note\n1609459200.02,1e3,,on\n"])
    assert point == {"time": 1609459200.02, "x": 1000.0, "y": None, "note": "on"}
    assert type(point["x"]) is float


def test_short_and_long_rows_follow_runeq_rules(caplog):
    points = list(csv_points(["a,b,c\n1\n1,2,3,4,5\n"]))
    assert points[0] == {"a": 1.0, "b": None, "c": None}
    assert points[1] == {"a": 1.0, "b": 2.0, "c": 3.0, None: ["4", "5"]}
    assert "more values than its header" in caplog.text


def test_quoted_fields_keep_commas_and_newlines():
    [point] = csv_points(['time,note\n1,"took 2 pills, late\nand slept"\n'])
    assert point["note"] == "took 2 pills, late\nand slept"


def test_csv_pages_drops_empty_bodies_only():
    assert list(csv_pages(["a\n1\n", "", "a\n"])) == ["a\n1\n", "a\n"]


def test_json_pages_yield_each_result_and_reject_cut_off_json():
    ok = Response(200, content=b'{"success": true, "result": {"time": [1, 2]}, "next_page": 1}')
    assert list(json_pages([ok])) == [{"time": [1, 2]}]
    with pytest.raises(ParseError, match="not JSON"):
        list(json_pages([Response(200, content=b'{"success": true, "res')]))
    with pytest.raises(ParseError, match="no 'result'"):
        list(json_pages([Response(200, content=b"[1, 2]")]))


def points_or_parse_error(text, engine):
    """The points of a page, or the message of its ParseError (any other error escapes)."""
    try:
        return list(csv_points([text], engine=engine))
    except ParseError as exc:
        return str(exc)


@given(text=st.text(max_size=200))
def test_arbitrary_text_gives_points_or_a_parse_error_and_the_same_from_each_engine(engine, text):
    assert same(points_or_parse_error(text, engine), points_or_parse_error(text, "python"))


@given(st.binary(max_size=200))
def test_arbitrary_json_bodies_give_results_or_a_parse_error(body):
    try:
        list(json_pages([Response(200, content=body)]))
    except ParseError:
        pass


def test_a_byte_order_mark_does_not_stick_to_the_first_key():
    [point] = csv_points([Response(200, content="\ufefftime,x\n1,2\n".encode())])
    assert point == {"time": 1.0, "x": 2.0}


def test_a_page_that_fails_to_parse_yields_none_of_its_rows(engine):
    too_long = "x" * (csv.field_size_limit() + 1)
    got = []
    with pytest.raises(ParseError):
        got.extend(csv_points(["a\n1\n", f'a\n2\n"{too_long}"\n'], engine=engine))
    assert got == [{"a": 1.0}]


# -- where pages are parsed ----------------------------------------------------------------------

MORNING = 1609491600
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 2}


def test_with_prefetch_the_shim_parses_each_page_in_the_thread_that_fetched_it(monkeypatch):
    threads = []

    def recording(*args):
        threads.append(threading.current_thread().name)
        return page_points(*args)

    monkeypatch.setattr(v1, "page_points", recording)
    with Emulator(page_size=20) as emu:
        cfg = Config(**emu.config_values())
        one_by_one = list(v1.V1Client(cfg).Accel(**QUERY).points())
        assert set(threads) == {threading.current_thread().name}
        threads.clear()
        ahead = list(v1.V1Client(cfg, prefetch=4).Accel(**QUERY).points())
    assert ahead == one_by_one and len(ahead) == 100
    assert threads and set(threads) == {"runeq-prefetch"}


def test_a_page_parsed_ahead_that_fails_raises_when_it_is_reached_with_its_resume():
    class BrokenSecondPage(v1.Accel):
        def get_csv_response(self, **params):
            answer = super().get_csv_response(**params)
            return Response(200, content=b"time,x\n\xff\n") if params.get("page") == 1 else answer

    with Emulator(pagination="page", page_size=20) as emu:
        accessor = BrokenSecondPage(Config(**emu.config_values()), **QUERY)
        accessor.prefetch = 4
        got = []
        with pytest.raises(ParseError) as failed:
            got.extend(accessor.points())
    assert len(got) == 20 and failed.value.resume["page"] == 1


@pytest.mark.parametrize("page", ["x\nnan(1)\n", 'x\n"1"\n', "x\r\n1\r\n", "time,x\n1\n", "time,x\n1,on\n"])
def test_the_arrow_engine_leaves_to_python_the_pages_pyarrow_would_read_otherwise(arrow, page):
    assert arrow_points(page) is None
    assert same(list(csv_points([page], engine="arrow")), list(csv_points([page], engine="python")))
