"""Parsers from pages to results, CSV texts and points: pure, lazy, one page at a time.

Each takes an iterable of pages, where a page is a ``Response`` or already its
text, so they compose after ``pages`` or after anything that yields CSV text.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import ParseError

log = logging.getLogger(__name__)

Point = dict[str | None, Any]


def page_text(page: Any) -> str:
    """A page's text, whether it is a response or already text.

    >>> page_text("time,x\\n"), page_text(b"time,x\\n")
    ('time,x\\n', 'time,x\\n')
    """
    if isinstance(page, str):
        return page
    if isinstance(page, (bytes, bytearray)):
        return bytes(page).decode("utf-8", errors="replace")
    return page.text


def json_pages(responses: Iterable[Any]) -> Iterator[Any]:
    """Each JSON page's ``result``.

    >>> from runeq_fn.response import Response
    >>> list(json_pages([Response(200, content=b'{"success": true, "result": {"time": [1]}}')]))
    [{'time': [1]}]
    """
    for response in responses:
        body = response.json()
        if not isinstance(body, dict) or "result" not in body:
            raise ParseError(f"a JSON page has no 'result': {page_text(response)[:80]!r}")
        yield body["result"]


def csv_pages(responses: Iterable[Any]) -> Iterator[str]:
    """Each non-empty CSV body, as text (an empty body ends a CSV query).

    >>> list(csv_pages(["time,x\\n1,2\\n", ""]))
    ['time,x\\n1,2\\n']
    """
    for response in responses:
        text = page_text(response)
        if text:
            yield text


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


def rows(text: str) -> Iterator[list[str]]:
    """The rows of one CSV text, blank lines skipped, with errors that name the line.

    >>> list(rows('time,note\\n1,"a, b"\\n\\n2,\\n'))
    [['time', 'note'], ['1', 'a, b'], ['2', '']]
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as exc:
        raise ParseError(f"CSV page is malformed at line {reader.line_num}: {exc}") from None


def row_point(header: list[str], row: list[str]) -> Point:
    """One row as a point dict, keyed by the header (runeq's rules for odd rows).

    A short row gets None for the missing keys; a long one keeps the surplus,
    unconverted, as a list under the key None.

    >>> row_point(["time", "x", "y"], ["1", ""])
    {'time': 1.0, 'x': None, 'y': None}
    >>> row_point(["time"], ["1", "2", "z"])
    {'time': 1.0, None: ['2', 'z']}
    """
    width = len(header)
    point: Point = dict(zip(header, map(to_value, row)))
    if len(row) > width:
        log.warning("a CSV row had more values than its header: %d > %d", len(row), width)
        point[None] = row[width:]
    else:
        for key in header[len(row):]:
            point[key] = None
    return point


def text_points(text: str) -> Iterator[Point]:
    """The points of one CSV page.

    >>> list(text_points("time,x\\n1,2\\n3,\\n"))
    [{'time': 1.0, 'x': 2.0}, {'time': 3.0, 'x': None}]
    """
    lines = rows(text)
    header = next(lines, None)
    if header is None:
        return
    width = len(header)
    for row in lines:
        if len(row) == width:
            try:
                yield dict(zip(header, map(float, row)))
                continue
            except ValueError:
                pass
        yield row_point(header, row)


def csv_points(pages: Iterable[Any]) -> Iterator[Point]:
    """Every row of every CSV page as a dict keyed by that page's header.

    Values follow runeq's conversion per cell: blank is None, what ``float()``
    accepts is a float, anything else stays text.

    >>> list(csv_points(["time,x\\n1,2\\n", "time,x\\n3,high\\n", ""]))
    [{'time': 1.0, 'x': 2.0}, {'time': 3.0, 'x': 'high'}]
    """
    for text in csv_pages(pages):
        yield from text_points(text)
