"""Parsers from pages to results, CSV texts and points: pure, lazy, one page at a time.

Each takes an iterable of pages, where a page is a ``Response`` or already its
text, so they compose after ``pages`` or after anything that yields CSV text.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from functools import lru_cache, partial
from importlib.util import find_spec
from itertools import repeat
from typing import Any, NamedTuple, TypeVar

from ..errors import ParseError, RuneError, UsageError
from ..http.response import decode_body

log = logging.getLogger(__name__)

Point = dict[str | None, Any]
T = TypeVar("T")


def page_text(page: Any) -> str:
    """A page's text, whether it is a response, bytes (UTF-8) or already text; bytes that do not decode raise ``ParseError``.

    >>> page_text("time,x\\n"), page_text(b"time,x\\n")
    ('time,x\\n', 'time,x\\n')
    """
    if isinstance(page, str):
        return page
    if isinstance(page, (bytes, bytearray)):
        return decode_body(bytes(page))
    return page.text


@contextmanager
def resume_at(page: Any) -> Iterator[None]:
    """An error raised while reading ``page`` gets the page's ``resume`` (set by ``pages``) unless it has one.

    So ``csv_points(pages(request))`` raises errors that say where to resume, as the shim's do.

    >>> from runeq_fn.http.response import Response
    >>> try:
    ...     with resume_at(Response(200, resume={"page": 3})):
    ...         raise ParseError("bad page")
    ... except ParseError as exc:
    ...     exc.resume
    {'page': 3}
    """
    try:
        yield
    except RuneError as exc:
        if exc.resume is None:
            exc.resume = getattr(page, "resume", None)
        raise


def read_each(pages: Iterable[Any], read: Callable[[str], T]) -> Iterator[T]:
    """``read`` of each non-empty page's text (an empty body ends a CSV query), errors carrying ``resume``.

    >>> list(read_each(["time,x\\n1,2\\n", "", "t\\n"], len))
    [11, 2]
    """
    for page in pages:
        with resume_at(page):
            text = page_text(page)
            if not text:
                continue
            result = read(text)
        yield result


def json_pages(responses: Iterable[Any]) -> Iterator[Any]:
    """Each JSON page's ``result``.

    >>> from runeq_fn.http.response import Response
    >>> list(json_pages([Response(200, content=b'{"success": true, "result": {"time": [1]}}')]))
    [{'time': [1]}]
    """
    for response in responses:
        with resume_at(response):
            body = response.json()
            if not isinstance(body, dict) or "result" not in body:
                raise ParseError(f"a JSON page has no 'result': {page_text(response)[:80]!r}")
        yield body["result"]


def csv_pages(responses: Iterable[Any]) -> Iterator[str]:
    """Each non-empty CSV body, as text (an empty body ends a CSV query).

    >>> list(csv_pages(["time,x\\n1,2\\n", ""]))
    ['time,x\\n1,2\\n']
    """
    return read_each(responses, str)


def to_value(cell: str) -> Any:
    """One CSV cell as a value: blank is None, numbers are floats, the rest stays text.

    >>> [to_value(c) for c in ("", "1", "-2.5e-3", "nan", "inf", "on", " 7 ")]
    [None, 1.0, -0.0025, nan, inf, 'on', 7.0]
    """
    if not cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Where ``str.splitlines()`` ends a line and the csv module does not (besides ``\\r``, which both do)."""


def rows(text: str, splitlines: bool = False) -> Iterator[list[str]]:
    """The rows of one CSV text, blank lines skipped, with errors that name the line.

    With ``splitlines``, the text is cut into lines by ``str.splitlines()`` first,
    as runeq's ``points()`` did: a row also ends at ``LINE_BREAKS``, a quoted
    cell loses its line breaks, and a blank first line is the (empty) header, as
    ``csv.DictReader`` took it.

    >>> list(rows('time,note\\n1,"a, b"\\n\\n2,\\n'))
    [['time', 'note'], ['1', 'a, b'], ['2', '']]
    >>> list(rows('time,note\\n1,"a\\nb"\\f2,\\n', splitlines=True))
    [['time', 'note'], ['1', 'ab'], ['2', '']]
    """
    reader = csv.reader(text.splitlines() if splitlines else io.StringIO(text, newline=""))
    try:
        for row in reader:
            if row or (splitlines and reader.line_num == 1):
                yield row
    except csv.Error as exc:
        raise ParseError(f"CSV page is malformed at line {reader.line_num}: {exc}") from None


def lines_within(text: str, limit: int) -> bool:
    """True when no line of the text can be longer than ``limit``; False when one may be.

    Cheap and cautious: it looks for a newline in each window of ``limit // 2``
    characters (any longer line would cover a whole window) and may say False
    for lines of between half and all of the limit.

    >>> lines_within("1,2\\n3,4\\n", 8), lines_within("1,2\\n3456789,0\\n", 8)
    (True, False)
    """
    half = max(1, limit // 2)
    return all(text.find("\n", start, start + half) >= 0 for start in range(0, len(text) - half + 1, half))


def splittable(text: str) -> bool:
    """Whether the csv module reads this text as splitting its lines on commas would.

    True for a text with no quote, carriage return or NUL and no line that may
    pass the csv module's field size limit.

    >>> splittable("time,x\\n1,2\\n"), splittable('time,x\\n1,"2"\\n'), splittable("time,x\\r\\n1,2\\r\\n")
    (True, False, False)
    """
    return not ('"' in text or "\r" in text or "\0" in text) and lines_within(text, csv.field_size_limit())


def plain_lines(text: str) -> list[str] | None:
    """A page's lines (header first), when splitting it on newlines and commas reads it as ``csv`` does.

    That holds for a ``splittable`` page with no blank line (but a final newline)
    and as many commas on every line as in the header. Any other page gives None:
    read it row by row with ``rows``.

    >>> plain_lines("time,x\\n1,2\\n3,\\n"), plain_lines("time,x\\n1\\n"), plain_lines('time,x\\n1,"2"\\n')
    (['time,x', '1,2', '3,'], None, None)
    """
    if not splittable(text):
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines or "" in lines:
        return None
    if set(map(str.count, lines, repeat(","))) != {lines[0].count(",")}:
        return None
    return lines


def plain_table(text: str) -> tuple[list[str], list[list[str]]] | None:
    """A page's header and columns of cells, for a page ``plain_lines`` splits; None for any other.

    >>> plain_table("time,x\\n1,2\\n3,\\n")
    (['time', 'x'], [['1', '3'], ['2', '']])
    >>> plain_table('time,note\\n1,"a, b"\\n') is None, plain_table("time,x\\n1\\n") is None
    (True, True)
    """
    lines = plain_lines(text)
    if lines is None:
        return None
    header = lines[0].split(",")
    width = len(header)
    cells = ",".join(lines[1:]).split(",") if len(lines) > 1 else []
    return header, [cells[column::width] for column in range(width)]


JSON_NUMBER_BYTES = b"0123456789.eE+-, \tNaIinfty"
"""Every byte a row of JSON numbers (and ``NaN``, ``Infinity``) may hold: no ``null``, ``true`` or brackets."""


def json_numbers(rows: list[str]) -> list[float | None] | None:
    """The cells of plain rows, row after row, as floats (None where blank), in one ``json.loads``.

    One C call where splitting makes a string per cell and ``float()`` a call per cell; the same values:
    JSON's numbers are a subset of what ``float()`` reads, and ``json`` makes each
    with ``float()`` of its text (``parse_int=float``). None when a cell is
    anything else (``.5``, ``+7``, ``nan``, text): convert such rows cell by cell.

    >>> json_numbers(["1,,-2.5e1", ",NaN,"]), json_numbers(["1,.5"]), json_numbers(["1,null"])
    ([1.0, None, -25.0, None, nan, None], None, None)
    """
    flat = ",".join(rows)
    if not flat.isascii() or flat.encode("ascii").translate(None, JSON_NUMBER_BYTES):
        return None
    while ",," in flat:  # each pass fills every other blank of a run
        flat = flat.replace(",,", ",null,")
    flat = ("null" if flat.startswith(",") else "") + flat + ("null" if flat.endswith(",") else "")
    try:
        return json.loads(f"[{flat}]", parse_int=float)
    except ValueError:
        return None


def blank_indexes(cells: Sequence[Any], blank: Any = "") -> list[int]:
    """Where the blank cells (or other ``blank`` values) are (``index`` scans for them at C speed).

    >>> blank_indexes(["1", "", "2", ""]), blank_indexes([1.0, None], None)
    ([1, 3], [1])
    """
    found: list[int] = []
    at = -1
    try:
        while True:
            at = cells.index(blank, at + 1)
            found.append(at)
    except ValueError:
        return found


def float_cells(cells: Sequence[str]) -> tuple[list[Any], list[int]] | None:
    """The cells as floats (0.0 where blank) and where the blanks are; None when another cell is not a number.

    One ``map(float, ...)`` over the whole column: the cost of a call per cell is
    paid only where a column holds text.

    >>> float_cells(["1", "", "-2.5e1"]), float_cells(["1", "on"])
    (([1.0, 0.0, -25.0], [1]), None)
    """
    blanks = blank_indexes(cells)
    values: list[Any] = list(cells)
    for at in blanks:
        values[at] = "0"
    try:
        return list(map(float, values)), blanks
    except ValueError:
        return None


def numbers(cells: Sequence[str]) -> list[float | None] | None:
    """The cells as floats, None for blanks; None instead when another cell is not a number.

    >>> numbers(["1", "", "-2.5e1", "nan"]), numbers(["1", "on"])
    ([1.0, None, -25.0, nan], None)
    """
    found = float_cells(cells)
    if found is None:
        return None
    values, blanks = found
    for at in blanks:
        values[at] = None
    return values


def cell_values(cells: Sequence[str]) -> list[Any]:
    """A column's cells converted one by one as ``to_value`` does, numbers in bulk.

    >>> cell_values(["1", "", "high"])
    [1.0, None, 'high']
    """
    values = numbers(cells)
    return list(map(to_value, cells)) if values is None else values


class Conversion(NamedTuple):
    """How CSV cells become values, for ``text_points``: the core's rule (``PLAIN``) or the shim's numpy one.

    And where rows end: the csv module's rule (the core) or ``str.splitlines()``'s (the shim's, as runeq).
    ``number`` converts a cell that is a number and raises ``ValueError`` for any
    other (a blank too); ``cell`` applies the whole rule to one cell; ``column``
    to a whole column at once; ``missing`` is the value of a key a short row lacks;
    ``arrow_column`` makes a column pyarrow read as doubles into those values, and
    ``numbers`` a list of floats with None at blanks.
    """

    number: Callable[[str], Any]
    cell: Callable[[str], Any]
    column: Callable[[Sequence[str]], list]
    missing: Any = None
    splitlines: bool = False
    """Rows end where ``str.splitlines()`` ends lines (the shim, as runeq), not where the csv module does."""
    arrow_column: Callable[[Any], list] = lambda column: column.to_pylist()
    """A pyarrow column of doubles (null where blank) as the values ``column`` gives (the arrow engine)."""
    numbers: Callable[[list], list] = lambda values: values
    """Floats and None (for blanks) as the values ``column`` gives (``json_numbers``'s)."""


PLAIN = Conversion(float, to_value, cell_values)
"""The core's conversion: numbers are ``float``, blanks and missing keys ``None``, text stays text."""

PLAIN_LINES = PLAIN._replace(splitlines=True)
"""``PLAIN`` with rows cut as runeq cut them: the shim's ``points()`` without numpy."""


def row_point(header: list[str], row: list[str], conversion: Conversion = PLAIN) -> Point:
    """One row as a point dict, keyed by the header (runeq's rules for odd rows).

    A short row gets ``conversion.missing`` (None) for the missing keys; a long
    one keeps the surplus, unconverted, as a list under the key None.

    >>> row_point(["time", "x", "y"], ["1", ""])
    {'time': 1.0, 'x': None, 'y': None}
    >>> row_point(["time"], ["1", "2", "z"])
    {'time': 1.0, None: ['2', 'z']}
    """
    width = len(header)
    point: Point = dict(zip(header, map(conversion.cell, row)))
    if len(row) > width:
        log.warning("a CSV row had more values than its header: %d > %d", len(row), width)
        point[None] = row[width:]
    else:
        for key in header[len(row):]:
            point[key] = conversion.missing
    return point


def row_points(text: str, conversion: Conversion = PLAIN) -> Iterator[Point]:
    """The points of one CSV page, read row by row with the csv module (quotes, odd rows).

    >>> list(row_points('time,x\\n1,"2"\\n3\\n'))
    [{'time': 1.0, 'x': 2.0}, {'time': 3.0, 'x': None}]
    """
    number = conversion.number
    lines = rows(text, conversion.splitlines)
    header = next(lines, None)
    if header is None:
        return
    width = len(header)
    for row in lines:
        if len(row) == width:
            try:
                yield dict(zip(header, map(number, row)))
                continue
            except ValueError:
                pass
        yield row_point(header, row, conversion)


@lru_cache(maxsize=64)
def point_builder(header: tuple[str, ...]) -> Callable[..., Point]:
    """A function of one value per column that makes one point: a dict display compiled for this header.

    About three times as fast as ``dict(zip(header, values))``, with the same
    result (a key named twice keeps its first place and its last value). Every
    key is written with ``repr()``, so a header's text is only ever a string literal.

    >>> point_builder(("time", "x", "time"))(1.0, 2.0, 3.0)
    {'time': 3.0, 'x': 2.0}
    >>> point_builder(("x'}; import os; {'",))(1.0)
    {"x'}; import os; {'": 1.0}
    """
    names = [f"v{at}" for at in range(len(header))]
    items = ", ".join(f"{str(key)!r}: {name}" for key, name in zip(header, names))
    return eval(f"lambda {', '.join(names)}: {{{items}}}", {"__builtins__": {}})  # noqa: S307 (keys are repr()s)


ENGINES = ("auto", "python", "arrow")


def chosen_engine(engine: str) -> str:
    """The engine that reads pages: ``"python"`` or ``"arrow"`` (``"auto"``: arrow where pyarrow is installed).

    >>> chosen_engine("python")
    'python'
    >>> chosen_engine("fast")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: engine must be one of auto, python, arrow, not 'fast'
    """
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "python" or (engine == "auto" and find_spec("pyarrow") is None):
        return "python"
    if find_spec("pyarrow") is None:
        raise ImportError("engine='arrow' needs pyarrow: pip install 'runeq-fn[arrow]'")
    return "arrow"


def page_points(text: str, conversion: Conversion = PLAIN, engine: str = "python") -> list[Point]:
    """The points of one CSV page, read whole by an engine (``chosen_engine``'s).

    ``"arrow"`` reads a plain page of numbers with pyarrow (``arrow_points``);
    any page it cannot read as Python does goes to ``text_points``, so both give the same.

    >>> page_points("time,x\\n1,2\\n", engine="arrow") == page_points("time,x\\n1,2\\n") == [{"time": 1.0, "x": 2.0}]
    True
    """
    if engine == "arrow":
        points = arrow_points(text, conversion)
        if points is not None:
            return points
    return list(text_points(text, conversion))


def arrow_readable(text: str) -> bool:
    """Whether pyarrow's CSV reader cuts this page into the cells Python does.

    True for a ``splittable`` page that starts with its header line and has no
    ``(`` below it: pyarrow reads ``nan(...)`` as NaN, where ``float()`` refuses it.

    >>> arrow_readable("time,x\\n1,2\\n"), arrow_readable('time,x\\n1,"2"\\n'), arrow_readable("x\\nnan(1)\\n")
    (True, False, False)
    """
    header, _, body = text.partition("\n")
    return bool(header) and "(" not in body and splittable(text)


def arrow_table(data: Any, width: int, kind: str) -> Any:
    """A page's rows below its header, every column read as one arrow type; None where pyarrow refuses.

    ``data`` is the page as an arrow buffer; blank cells are nulls.
    """
    import pyarrow as pa
    from pyarrow import csv

    names = [str(column) for column in range(width)]
    try:
        return csv.read_csv(
            data,
            read_options=csv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.type_for_alias(kind)),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        return None


def arrow_points(text: str, conversion: Conversion = PLAIN) -> list[Point] | None:
    """One page's points read by pyarrow; None where it cannot read the page as Python does.

    It reads a page whose cells are all numbers or blank, every row as wide as
    its header (``arrow_readable``, and no ``LINE_BREAKS`` where rows end as
    ``str.splitlines()`` ends them), each column made values by
    ``conversion.arrow_column`` and the points by ``point_builder``. The floats
    are ``float()``'s, bit for bit. Any other page (text, quotes, ragged rows)
    gives None: read it with ``text_points``.

    >>> arrow_points("time,x\\n1,\\n2,3e2\\n"), arrow_points("time,x\\n1,on\\n"), arrow_points("time,x\\n1\\n")
    ([{'time': 1.0, 'x': None}, {'time': 2.0, 'x': 300.0}], None, None)
    """
    import pyarrow as pa

    if not arrow_readable(text) or (conversion.splitlines and breaks_lines(text)):
        return None
    header = text.partition("\n")[0].split(",")
    table = arrow_table(pa.py_buffer(text.encode("utf-8", "surrogatepass")), len(header), "float64")
    if table is None:
        return None
    return list(map(point_builder(tuple(header)), *map(conversion.arrow_column, table.columns)))


def breaks_lines(text: str) -> bool:
    """Whether ``str.splitlines()`` ends a line of this text where the csv module does not.

    >>> breaks_lines("time,x\\n1,2\\n"), breaks_lines("time,x\\n1,2\\x0c3\\n")
    (False, True)
    """
    return any(map(text.__contains__, LINE_BREAKS))


def text_points(text: str, conversion: Conversion = PLAIN) -> Iterator[Point]:
    """The points of one CSV page: a plain page converted in bulk, any other row by row.

    ``conversion`` says how cells become values (``PLAIN``: float and None). A
    plain page of numbers is read by ``json_numbers`` in one call; a plain page
    with other cells column by column (``conversion.column``).

    >>> list(text_points("time,x\\n1,2\\n3,\\n")), list(text_points("time,x\\n1,.5\\n3,on\\n"))
    ([{'time': 1.0, 'x': 2.0}, {'time': 3.0, 'x': None}], [{'time': 1.0, 'x': 0.5}, {'time': 3.0, 'x': 'on'}])
    """
    lines = None if conversion.splitlines and breaks_lines(text) else plain_lines(text)
    if lines is None:
        return row_points(text, conversion)
    header = lines[0].split(",")
    build = point_builder(tuple(header))
    numbers = json_numbers(lines[1:]) if len(lines) > 1 else None
    if numbers is not None:
        return map(build, *[iter(conversion.numbers(numbers))] * len(header))  # row after row, width at a time
    cells = ",".join(lines[1:]).split(",") if len(lines) > 1 else []
    return map(build, *(conversion.column(cells[column::len(header)]) for column in range(len(header))))


def csv_points(pages: Iterable[Any], engine: str = "auto") -> Iterator[Point]:
    """Every row of every CSV page as a dict keyed by that page's header.

    Values follow runeq's conversion per cell: blank is None, what ``float()``
    accepts is a float, anything else stays text. ``engine`` is ``"python"``,
    ``"arrow"`` (pyarrow must be installed) or ``"auto"`` (arrow where pyarrow is
    installed): both give the same points; a page is read whole before any of
    its rows is yielded, so a page that fails to parse yields none.

    >>> list(csv_points(["time,x\\n1,2\\n", "time,x\\n3,high\\n", ""]))
    [{'time': 1.0, 'x': 2.0}, {'time': 3.0, 'x': 'high'}]
    """
    read = partial(page_points, conversion=PLAIN, engine=chosen_engine(engine))  # a bad engine fails at the call
    return flattened(read_each(pages, read))


def flattened(pages_items: Iterator[Iterable[T]]) -> Iterator[T]:
    """The items of every page, as a generator: closing it closes the pages under it (and their pull).

    >>> list(flattened(iter([[1, 2], [], [3]])))
    [1, 2, 3]
    """
    with closing(pages_items) if isinstance(pages_items, Generator) else nullcontext():
        for items in pages_items:
            yield from items
