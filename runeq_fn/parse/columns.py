"""CSV pages as columns: one dict of column lists per page, typed column by column, for DataFrames.

Two engines read a page and give the same lists: ``"python"`` (str.split, or the
csv module where a page has quotes) and ``"arrow"`` (pyarrow's CSV reader, an
optional extra: ``pip install 'runeq-fn[arrow]'``, imported only when used).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import ParseError
from .points import arrow_readable, arrow_table, chosen_engine, numbers, plain_table, read_each, rows

Columns = dict[str, list[Any]]


def csv_columns(pages: Iterable[Any], engine: str = "auto") -> Iterator[Columns]:
    """One dict of column lists per CSV page, keyed by that page's header.

    Pages are responses or texts, as for ``csv_points``; empty bodies are skipped.
    A column whose non-blank cells are all numbers (text that ``float()``
    accepts) is a list of floats; a column with any other cell is a list of str.
    Blank cells are None in both.

    How it differs from ``points()``: points are converted cell by cell, so a
    column of numbers with one ``"n/a"`` gives floats and one str; here that
    whole column stays text (``"1.5"`` stays ``"1.5"``), as a DataFrame column
    has one type. And every row must be as wide as the header (``ParseError``
    otherwise), where points pad short rows and keep surplus cells.

    ``engine`` is ``"arrow"`` (pyarrow must be installed), ``"python"``, or
    ``"auto"``: arrow when pyarrow is installed. Both give the same lists.

    >>> list(csv_columns(["time,x,note\\n1,2,a\\n3,,\\n", ""], engine="python"))
    [{'time': [1.0, 3.0], 'x': [2.0, None], 'note': ['a', None]}]
    """
    return read_each(pages, page_reader(engine))


def page_reader(engine: str) -> Callable[[str], Columns]:
    """The function that reads one page's columns with an engine (checked before any page is read).

    >>> page_reader("python").__name__
    'python_columns'
    >>> page_reader("fast")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: engine must be one of auto, python, arrow, not 'fast'
    """
    return python_columns if chosen_engine(engine) == "python" else arrow_columns


def typed_column(cells: Sequence[str]) -> list[Any]:
    """Floats (None for blanks) when every non-blank cell is a number, else the text (None for blanks).

    >>> typed_column(["1", "", "2"]), typed_column(["1", "", "n/a"])
    ([1.0, None, 2.0], ['1', None, 'n/a'])
    """
    values = numbers(cells)
    return [cell or None for cell in cells] if values is None else values


def csv_table(text: str) -> tuple[list[str], list[Sequence[str]]]:
    """A page's header and columns read with the csv module; every row must be as wide as the header.

    >>> csv_table('a,b\\n1,"x, y"\\n')
    (['a', 'b'], [('1',), ('x, y',)])
    >>> csv_table("a,b\\n1,2\\n3\\n")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ParseError: CSV data row 2 has 1 values, its header 2: csv_columns needs rows as wide as the header
    """
    lines = rows(text)
    header = next(lines, [])
    body = list(lines)
    for number, row in enumerate(body, 1):
        if len(row) != len(header):
            raise ParseError(
                f"CSV data row {number} has {len(row)} values, its header {len(header)}: "
                "csv_columns needs rows as wide as the header"
            )
    return header, list(zip(*body)) if body else [() for _ in header]


def python_columns(text: str) -> Columns:
    """One page's columns read by Python: split where the page is plain, else with the csv module.

    >>> python_columns('time,note\\n1,"a, b"\\n2,\\n')
    {'time': [1.0, 2.0], 'note': ['a, b', None]}
    """
    header, columns = plain_table(text) or csv_table(text)
    return dict(zip(header, map(typed_column, columns)))


def arrow_column(column: Any) -> list[Any]:
    """One column of text cells typed: pyarrow's numbers where it parses them all, else Python's rule.

    pyarrow refuses some numbers that ``float()`` accepts (``" 7 "``, ``"1_0"``):
    such a column goes through ``typed_column``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.float64()).to_pylist()
    except pa.ArrowInvalid:
        return typed_column(column.fill_null("").to_pylist())


def arrow_columns(text: str) -> Columns:
    """One page's columns read by pyarrow, where it reads the page as Python does; else by Python.

    All columns are read as numbers first (the common page); a page with a text
    column is read again as text and typed column by column. A page pyarrow
    refuses (rows of another width) goes to ``python_columns``, which says why.
    """
    import pyarrow as pa

    if not arrow_readable(text):
        return python_columns(text)
    header = text.partition("\n")[0].split(",")
    data = pa.py_buffer(text.encode("utf-8", "surrogatepass"))
    table = arrow_table(data, len(header), "float64")
    if table is not None:
        return dict(zip(header, table.to_pydict().values()))
    table = arrow_table(data, len(header), "string")
    if table is None:
        return python_columns(text)
    return dict(zip(header, map(arrow_column, table.columns)))
