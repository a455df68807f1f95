"""csv_columns against a plain reference reading, and its two engines against each other.

Also the plain reading behind both csv_points and csv_columns (``plain_table``): where it
answers, it must read a page exactly as the csv module does.
"""

import csv
import io
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn.errors import ParseError, UsageError
from runeq_fn.http.response import Response
from runeq_fn.parse import columns
from runeq_fn.parse import points as parse
from runeq_fn.parse.columns import csv_columns
from runeq_fn.parse.points import arrow_readable, csv_points, lines_within, plain_table


def reference_columns(text):
    """The SPEC of csv_columns, read with csv.reader: the slow, obvious way."""
    lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not lines:
        return {}
    header, body = lines[0], lines[1:]
    if any(len(row) != len(header) for row in body):
        raise ParseError("uneven rows")
    result = {}
    for at, name in enumerate(header):
        cells = [row[at] for row in body]
        try:
            result[name] = [float(c) if c else None for c in cells]
        except ValueError:
            result[name] = [c or None for c in cells]
    return result


def same(a, b):
    """Equality where NaN equals NaN and a float is never a str."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def outcome(read, text):
    """What reading one page gives: its columns, or the ParseError."""
    try:
        return read(text)
    except ParseError:
        return ParseError


float_forms = st.one_of(
    st.integers(-10**15, 10**15).map(str),
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:e}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.4f}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.25g}"),
    st.sampled_from([
        "nan", "NaN", "-nan", "+nan", "inf", "-inf", "Infinity", "-iNfInItY", "1e3", "1E-3", ".5", "5.",
        "-0", "+7", "007", " 7 ", "\t7", "7\u00a0", "1_000", "1__0", "\u0661", "nan(1)", "0x10", "1e", ".",
        "1e400", "4.9e-324", "2.4703282292062328e-324", "0.1000000000000000055511151231257827",
    ]),
)
words = st.one_of(
    st.sampled_from(["on", "off", "high", "n/a", "NULL", "true", "2021-01-04", " ", "x y"]),
    st.text(alphabet="abcxyz019 .-+_()", min_size=1, max_size=6),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
)
names = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789 ", min_size=1, max_size=8),
                 min_size=1, max_size=5)


@st.composite
def pages(draw):
    """A CSV page: numeric columns (many float forms, blanks) and text columns, mostly plain.

    Now and then a row is short or long, or the lines end in CRLF, or a cell needs quotes.
    """
    header = draw(names)
    numeric = [draw(st.booleans()) for _ in header]
    blank_rate = draw(st.sampled_from([0.0, 0.05, 0.5]))
    count = draw(st.integers(0, 12))
    body = []
    for _ in range(count):
        row = []
        for is_number in numeric:
            if draw(st.floats(0, 1)) < blank_rate:
                row.append("")
            else:
                row.append(draw(float_forms if is_number else words))
        body.append(row)
    if body and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(body) - 1))
        body[at] = body[at][:-1] if draw(st.booleans()) else body[at] + ["1"]
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(["\n"] * 5 + ["\r\n"]))).writerows([header, *body])
    return out.getvalue()


@given(pages())
def test_python_engine_follows_the_reference(text):
    got = outcome(lambda t: next(csv_columns([t], engine="python")), text)
    want = outcome(reference_columns, text)
    assert got is want if want is ParseError else same(got, want)


@given(pages())
def test_the_engines_give_the_same_lists(text):
    pytest.importorskip("pyarrow")
    python = outcome(lambda t: next(csv_columns([t], engine="python")), text)
    arrow = outcome(lambda t: next(csv_columns([t], engine="arrow")), text)
    assert arrow is python if python is ParseError else same(arrow, python)


@given(pages())
def test_plain_reading_is_the_csv_reading(text):
    table = plain_table(text)
    if table is not None:
        header, cells = table
        lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        assert header == lines[0]
        assert cells == [[row[at] for row in lines[1:]] for at in range(len(header))]


@given(st.text(alphabet="ab\n", max_size=60), st.integers(0, 12))
def test_lines_within_never_passes_a_long_line(text, limit):
    if lines_within(text, limit):
        assert max(map(len, text.split("\n"))) <= limit


def test_arrow_reads_ordinary_pages_itself():
    pa = pytest.importorskip("pyarrow")
    text = "time,x,note\n1609459200.02,,on\n1609459200.04,-0.5,\n"
    assert arrow_readable(text)
    assert parse.arrow_table(pa.py_buffer(text.encode()), 3, "string") is not None
    assert next(csv_columns([text], engine="arrow")) == {
        "time": [1609459200.02, 1609459200.04], "x": [None, -0.5], "note": ["on", None],
    }


def test_columns_are_typed_whole_where_points_are_typed_per_cell():
    text = "time,x\n1,1.5\n2,n/a\n3,\n"
    assert next(csv_columns([text], engine="python")) == {"time": [1.0, 2.0, 3.0], "x": ["1.5", "n/a", None]}
    assert [p["x"] for p in csv_points([text])] == [1.5, "n/a", None]


def test_pages_may_be_responses_and_each_page_keeps_its_header():
    texts = ["time,x\n1,2\n", "", "time,y\n3,4\n"]
    pages_ = [Response(200, content=t.encode()) for t in texts]
    assert list(csv_columns(pages_, engine="python")) == [{"time": [1.0], "x": [2.0]}, {"time": [3.0], "y": [4.0]}]
    assert list(csv_columns(["time,x\n"], engine="python")) == [{"time": [], "x": []}]


def test_uneven_rows_are_refused_with_the_row_named():
    with pytest.raises(ParseError, match="row 2 has 3 values, its header 2"):
        next(csv_columns(["a,b\n1,2\n3,4,5\n"], engine="python"))


@pytest.mark.parametrize("read", [csv_columns, csv_points], ids=["csv_columns", "csv_points"])
def test_engines_are_checked_before_any_page_is_read(monkeypatch, read):
    with pytest.raises(UsageError, match="engine must be one of auto, python, arrow"):
        read([], engine="numpy")
    monkeypatch.setattr(parse, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'runeq-fn\[arrow\]'"):
        read([], engine="arrow")
    assert columns.page_reader("auto") is columns.python_columns
    assert list(read(["time\n1\n"], engine="auto")) in ([{"time": 1.0}], [{"time": [1.0]}])


@pytest.mark.parametrize("engine", ["python", "arrow"])
def test_a_field_past_the_csv_limit_fails_as_the_csv_module_does(engine):
    if engine == "arrow":
        pytest.importorskip("pyarrow")
    text = "time,x\n1," + "7" * 40 + "\n"
    limit = csv.field_size_limit(30)
    try:
        with pytest.raises(ParseError, match="field larger than field limit"):
            list(csv_points([text]))
        with pytest.raises(ParseError, match="field larger than field limit"):
            list(csv_columns([text], engine=engine))
    finally:
        csv.field_size_limit(limit)
