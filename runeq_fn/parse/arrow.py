"""CSV pages straight into Arrow: pyarrow's CSV reader on each page's bytes, no Python object per cell.

An optional extra (``pip install 'runeq-fn[arrow]'``): pyarrow is imported inside
the functions, so importing this module costs nothing.

The first page with rows fixes the columns and their types, and every later page
is read with those types:

- a column is ``double`` when every non-blank cell of that first page is a
  number pyarrow reads (``nan`` and ``inf`` included), else ``string``; a
  column blank all through the first page is ``double``; blank cells are null;
- a later page with text in a ``double`` column, or whose header names another
  set of columns (one more, one fewer), raises ``ParseError`` naming the page
  and the column: the types of a table, or of a Parquet file already written,
  cannot change half-way. ``points()`` (each cell converted on its own) and
  ``csv_columns`` (each page typed on its own) read such pulls; the same columns
  in another order are put back in the first page's order;
- a page with a header and no rows, or with blank lines only, adds no rows (the
  empty body that ends a query never reaches the parser);
- a row of another width than its header raises ``ParseError`` (``points()``
  pads a short row with None);
- a page is read in the charset its response declares (UTF-8 when none), as
  ``Response.text`` reads it: bytes not valid in that charset raise
  ``ParseError``, as they do from ``points()`` and ``csv_points``.

Numbers are what pyarrow reads as numbers: a cell ``float()`` accepts but
pyarrow does not (``" 7 "``, ``"1_0"``) makes its column text on the first page
and is an error on a later one.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ParseError
from ..resources import time_column
from .points import page_text, resume_at

BOM = b"\xef\xbb\xbf"


def is_utf8(name: str) -> bool:
    """True when a charset name is UTF-8 under any spelling Python knows.

    >>> is_utf8("UTF8"), is_utf8("iso-8859-1"), is_utf8("no-such-charset")
    (True, False, False)
    """
    try:
        return codecs.lookup(name).name == "utf-8"
    except LookupError:
        return False


def page_bytes(page: Any) -> bytes:
    """A page's body as UTF-8 bytes, without a byte-order mark: a response's content, or text encoded.

    A response in UTF-8 (declared, or no charset) gives its bytes as they came,
    which pyarrow checks; one in another charset is decoded by ``Response.text``
    (undecodable bytes raise ``ParseError``) and encoded as UTF-8.

    >>> page_bytes("time,x\\n1,2\\n"), page_bytes(b"\\xef\\xbb\\xbftime\\n")
    (b'time,x\\n1,2\\n', b'time\\n')
    >>> from runeq_fn.http.response import Headers, Response
    >>> page_bytes(Response(200, Headers({"Content-Type": "text/csv; charset=latin-1"}), b"note\\ncaf\\xe9\\n"))
    b'note\\ncaf\\xc3\\xa9\\n'
    """
    if isinstance(page, str):
        data = page.encode("utf-8", "surrogatepass")
    elif isinstance(page, (bytes, bytearray)):
        data = bytes(page)
    elif is_utf8(getattr(page, "encoding", None) or "utf-8"):
        data = page.content
    else:
        data = page.text.encode("utf-8")
    return data[len(BOM):] if data.startswith(BOM) else data


def header_names(data: bytes) -> list[str]:
    """The column names on a page's first non-blank line ([] when there is none).

    >>> header_names(b'\\ntime,"x, left"\\r\\n1,2\\n'), header_names(b"\\n\\n")
    (['time', 'x, left'], [])
    """
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        if line.strip():
            try:
                return next(csv.reader([line.decode("utf-8").rstrip("\r")]))
            except UnicodeDecodeError as exc:
                raise ParseError(f"a CSV header is not valid UTF-8: byte {start + exc.start} is {line[exc.start:exc.end]!r}") from None
        start = len(data) if end < 0 else end + 1
    return []


def read_page(data: bytes, types: dict[str, Any]) -> Any:
    """One page's bytes as a pyarrow Table, each named column read as its type; blank cells are null."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True
        ),
    )


def unreadable(exc: Exception, number: int, why: str = "") -> ParseError:
    """pyarrow's complaint about a page as a ``ParseError`` that names the page and what reads it.

    >>> unreadable(ValueError("Expected 2 columns, got 1"), 4)
    ParseError('CSV page 4 cannot be read as a table (Expected 2 columns, got 1); points() reads any page, each cell on its own')
    """
    return ParseError(
        f"CSV page {number} cannot be read as a table ({exc}){why}; points() reads any page, each cell on its own"
    )


def first_table(data: bytes, names: list[str], number: int) -> Any:
    """The first page with its types fixed: ``double`` where every non-blank cell is a number, else ``string``.

    All columns are read as numbers first (the common page, read once); a page
    with text is read again as text and each column made numbers where it can be.

    >>> first_table(b"time,note,x\\n1,on,\\n2,,nan\\n", ["time", "note", "x"], 1).schema.types
    [DataType(double), DataType(string), DataType(double)]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return read_page(data, dict.fromkeys(names, pa.float64()))
    except pa.ArrowInvalid:
        pass
    try:
        text = read_page(data, dict.fromkeys(names, pa.string()))
    except pa.ArrowInvalid as exc:
        raise unreadable(exc, number) from None
    columns = []
    for column in text.columns:
        try:
            columns.append(pc.cast(column, pa.float64()))
        except pa.ArrowInvalid:
            columns.append(column)
    return pa.table(columns, names=text.column_names)


def header_mismatch(names: list[str], expected: list[str], number: int) -> ParseError:
    """The error for a page whose columns are not the first page's.

    >>> header_mismatch(["time", "x", "y"], ["time", "x"], 3)
    ParseError('CSV page 3 has the columns time, x, y where the first page had time, x (more: y): ...')
    """
    more, fewer = [n for n in names if n not in expected], [n for n in expected if n not in names]
    what = "; ".join(
        part for part in (f"more: {', '.join(more)}" if more else "", f"fewer: {', '.join(fewer)}" if fewer else "")
        if part
    ) or "a column named twice"
    return ParseError(
        f"CSV page {number} has the columns {', '.join(names)} where the first page had {', '.join(expected)} "
        f"({what}): the types of a table are fixed by its first page; read this pull with points() or "
        "csv_columns, which take each page as it comes"
    )


def page_table(data: bytes, names: list[str], types: dict[str, Any], number: int) -> Any:
    """A later page read with the fixed types, its columns in the first page's order."""
    import pyarrow as pa

    expected = list(types)
    if sorted(names) != sorted(expected):
        raise header_mismatch(names, expected, number)
    try:
        table = read_page(data, types)
    except pa.ArrowInvalid as exc:
        raise unreadable(
            exc, number, ": its column types are fixed by the first page, and a column of numbers cannot take text"
        ) from None
    return table.select(expected)


def read_table(page: Any, types: dict[str, Any] | None, number: int) -> tuple[Any, dict[str, Any] | None]:
    """One page as (its Table, or None when it has no rows; the column types fixed once it is read).

    ``types`` is None until a page with rows has fixed them; ``number`` names the page in errors,
    which carry the page's ``resume`` (as ``points.resume_at`` gives them).

    >>> table, types = read_table("time,note\\n1,on\\n", None, 1)
    >>> table.num_rows, types
    (1, {'time': DataType(double), 'note': DataType(string)})
    >>> read_table("time,note\\n", types, 2)
    (None, {'time': DataType(double), 'note': DataType(string)})
    """
    with resume_at(page):
        data = page_bytes(page)
        try:
            return typed_table(data, types, number)
        except ParseError:
            page_text(page)  # bytes not valid in the page's charset: say that, as every other route does
            raise


def typed_table(data: bytes, types: dict[str, Any] | None, number: int) -> tuple[Any, dict[str, Any] | None]:
    """``read_table`` of a page's UTF-8 bytes."""
    names = header_names(data)
    if not names:
        return None, types
    if len(set(names)) != len(names):
        raise header_mismatch(names, list(types or names), number)
    if types is None:
        table = first_table(data, names, number)
        if table.num_rows:
            types = dict(zip(table.column_names, table.schema.types))
    else:
        table = page_table(data, names, types, number)
    return (table if table.num_rows else None), types


def arrow_tables(
    pages: Iterable[Any], timestamps: bool = False, types: dict[str, Any] | None = None
) -> Iterator[Any]:
    """One pyarrow Table per CSV page with rows, typed as the first such page fixes (see the module).

    Pages are responses, bytes or texts; a page that does not parse raises
    ``ParseError`` before any of its rows is yielded. With ``timestamps=True``
    the ``time`` (or ``timestamp``) column is ``timestamp[ns, tz=UTC]``, to the
    microsecond (unix seconds as doubles hold no finer time). ``types`` (column
    name to Arrow type) fixes the types before the first page, as when resuming.

    >>> [t.to_pydict() for t in arrow_tables(["time,x\\n", "time,x\\n1,2\\n", "\\n", "x,time\\n,3\\n"])]
    [{'time': [1.0], 'x': [2.0]}, {'time': [3.0], 'x': [None]}]
    >>> next(arrow_tables(["time,x\\n1609459200.5,2\\n"], timestamps=True)).column("time")[0]
    <pyarrow.TimestampScalar: '2021-01-01T00:00:00.500000000+0000'>
    """
    for number, page in enumerate(pages, 1):
        table, types = read_table(page, types, number)
        if table is not None:
            yield with_timestamps(table) if timestamps else table


def seconds_to_timestamps(seconds: Any) -> Any:
    """Unix seconds (a numeric Arrow array) as ``timestamp[ns, tz=UTC]``, rounded to the microsecond.

    >>> import pyarrow as pa
    >>> seconds_to_timestamps(pa.array([1609459200.02, None])).to_pylist()[0].isoformat()
    '2021-01-01T00:00:00.020000+00:00'
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    micros = pc.round(pc.multiply(seconds.cast(pa.float64()), 1e6)).cast(pa.int64())
    return pc.multiply(micros, 1000).cast(pa.timestamp("ns", tz="UTC"))


def with_timestamps(table: Any) -> Any:
    """The table with its ``time`` (or ``timestamp``) column of unix seconds as UTC timestamps."""
    name = time_column(table.column_names)
    return table.set_column(table.column_names.index(name), name, seconds_to_timestamps(table.column(name)))
