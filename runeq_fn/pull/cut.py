"""Cutting a window's pages to its edges on the parsed time: CSV by records, JSON by its time list (pure).

A window is asked past its inner edges; here its rows are kept when ``lo <= t < hi``,
so a row at an edge comes once whatever the server's end rule or rounding.
"""

from __future__ import annotations

import calendar
import codecs
import csv
import io
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from ..errors import ParseError
from ..parse.points import splittable

ISO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?", re.I)


def cell_time(text: str) -> Fraction | None:
    """A time cell as exact unix seconds: a number, or ISO 8601 text (UTC unless it names an offset); None otherwise.

    >>> cell_time("1609491600.02"), cell_time("2021-01-01T09:00:00.020000Z"), cell_time("2021-01-01T10:00:00+01:00")
    (Fraction(80474580001, 50), Fraction(80474580001, 50), Fraction(1609491600, 1))
    >>> cell_time(""), cell_time("n/a")
    (None, None)
    """
    text = text.strip()
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        pass
    match = ISO_TIME.fullmatch(text)
    if match is None:
        return None
    *fields, fraction, zone = match.groups()
    exact = Fraction(calendar.timegm(tuple(int(f) for f in fields)))
    if fraction:
        exact += Fraction(int(fraction), 10 ** len(fraction))
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        exact -= sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return exact


def csv_records(text: str) -> list[str]:
    """A CSV text's records, each with its line end: a record is one line, or more when a quoted cell holds a line break.

    >>> csv_records('time,note\\r\\n1,"a\\nb"\\n2,c\\n')
    ['time,note\\r\\n', '1,"a\\nb"\\n', '2,c\\n']
    """
    lines = io.StringIO(text, newline="").readlines()
    if splittable(text):  # as the parser decides: the csv module reads it as its lines
        return lines
    records, reader, done = [], csv.reader(lines), 0
    for _ in reader:
        records.append("".join(lines[done : reader.line_num]))
        done = reader.line_num
    return records


def record_cells(record: str) -> list[str]:
    """The cells of one CSV record (``csv_records``).

    >>> record_cells("1609491600.02,1,2\\r\\n"), record_cells('"x,\\ny",5\\n')
    (['1609491600.02', '1', '2'], ['x,\\ny', '5'])
    """
    if '"' not in record:
        return record.rstrip("\r\n").split(",")
    return next(csv.reader(io.StringIO(record, newline="")), [])


def time_cell(record: str, index: int) -> str:
    """The text of one CSV record's cell at ``index`` (empty when the record is shorter), splitting no further.

    >>> time_cell("1609491600.02,1,2\\r\\n", 0), time_cell('"x,y",5\\n', 1), time_cell("1\\n", 3)
    ('1609491600.02', '5', '')
    """
    cells = record.split(",", index + 1) if '"' not in record else record_cells(record)
    return cells[index] if index < len(cells) else ""


def record_time(record: str, index: int) -> Fraction | None:
    """The time cell of one CSV record, exactly (``cell_time``); None when it is blank or not a time.

    >>> record_time("1609491600.02,1,2\\r\\n", 0), record_time('"x,y",5\\n', 1), record_time(",1\\n", 0)
    (Fraction(80474580001, 50), Fraction(5, 1), None)
    """
    return cell_time(time_cell(record, index))


def in_time_order(records: Sequence[str], index: int) -> bool:
    """Whether the records' times never go back, so that the first and the last bound every one.

    Read as floats, which is cheap, and exactly (``cell_time``) where two differently written
    times tie as floats. A time that is not a plain number (ISO 8601 text) says no: the
    cut then reads every row's time exactly.

    >>> in_time_order(["1,a\\n", "1.5,b\\n", "1.5,c\\n"], 0), in_time_order(["1,a\\n", "3,b\\n", "2,c\\n"], 0)
    (True, False)
    >>> in_time_order(["1609491600.0000000001,a\\n", "1609491600.0000000002,b\\n"], 0)
    True
    >>> in_time_order(["1609491600.0000000002,a\\n", "1609491600.0000000001,b\\n"], 0)
    False
    """
    try:  # time_cell's split, inlined: this runs on every row of every page a window hands on
        texts = [r.split(",", index + 1)[index] if '"' not in r else time_cell(r, index) for r in records]
        times = list(map(float, texts))
    except (IndexError, ValueError):  # a short row, or a time that is no plain number: read exactly
        return False
    following = times[1:]
    if not all(map(operator.le, times, following)):
        return False
    if not any(map(operator.eq, times, following)):
        return True
    ties = ((s, u) for a, b, s, u in zip(times, following, texts, texts[1:]) if a == b and s != u)
    return all(exactly_not_after(s, u) for s, u in ties)


def exactly_not_after(text: str, later: str) -> bool:
    """Whether one time cell is at or before another, read exactly (False where either is not a time).

    >>> exactly_not_after("0.1", "0.10"), exactly_not_after("0.2", "0.1"), exactly_not_after("inf", "Infinity")
    (True, False, False)
    """
    t, u = cell_time(text), cell_time(later)
    return t is not None and u is not None and t <= u


def inside(t: Fraction | None, lo: Fraction | None, hi: Fraction | None) -> bool:
    """Whether a row's time is in [lo, hi) (an open side when None); ``ParseError`` for a row without a time.

    >>> inside(Fraction(5), Fraction(5), None), inside(Fraction(5), None, Fraction(5))
    (True, False)
    """
    if t is None:
        raise ParseError("a sharded pull cuts rows on their time, and a row's time is neither unix seconds "
                         "nor ISO 8601: pull it with shards=1")
    return (lo is None or lo <= t) and (hi is None or t < hi)


def cut_csv(text: str, column: str, lo: Fraction | None, hi: Fraction | None) -> str:
    """A CSV page's text with only the rows whose time is in [lo, hi), other records kept as they were; empty when none is.

    A page whose first and last rows are inside and whose rows are in time order
    (``in_time_order``, read as floats) is returned as is, without reading the
    times between exactly; any other page is cut row by row. A quoted cell may hold a
    line break: rows are CSV records, not lines, read as the parser reads them
    (``csv.Error`` where it would fail).

    >>> page = "time,x\\n4,a\\n5,b\\n6,c\\n"
    >>> cut_csv(page, "time", Fraction(5), Fraction(6)), cut_csv(page, "time", Fraction(7), None)
    ('time,x\\n5,b\\n', '')
    >>> cut_csv(page, "time", None, None) is page
    True
    >>> cut_csv("time,x\\n5,a\\n9,b\\n6,c\\n", "time", Fraction(5), Fraction(7))  # not in time order
    'time,x\\n5,a\\n6,c\\n'
    """
    if not text or (lo is None and hi is None):
        return text
    head, *records = csv_records(text)
    header = [cell.lstrip("\ufeff") for cell in record_cells(head)]
    if column not in header:
        raise ParseError(f"a sharded pull cuts rows on their time, and this page has no {column} column: "
                         "pull it with shards=1")
    index = header.index(column)
    body = [record for record in records if record.strip()]
    if not body:
        return text
    ends = (body[0], body[-1])
    if all(inside(record_time(record, index), lo, hi) for record in ends) and in_time_order(body, index):
        return text
    kept = [record for record in body if inside(record_time(record, index), lo, hi)]
    return "".join([head, *kept]) if kept else ""


def json_time(value: Any) -> Fraction | None:
    """A JSON time value exactly as written (a float by its shortest text, ISO 8601 text as ``cell_time``); else None.

    >>> json_time(1609491600.02), json_time(7), json_time("2021-01-01T09:00:00Z"), json_time(None)
    (Fraction(80474580001, 50), Fraction(7, 1), Fraction(1609491600, 1), None)
    """
    if isinstance(value, str):
        return cell_time(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def cut_json(text: str, column: str, lo: Fraction | None, hi: Fraction | None) -> str:
    """A JSON time series page with only the rows whose time is in [lo, hi): its result's columns cut alike.

    A result is columnar (``{"time": [...], "x": [...]}``): every list as long
    as the time list keeps the same rows. A page that is whole inside comes
    back as is, one with no row inside as empty text (as ``cut_csv``'s: no
    result of only empty columns is handed on); one without a time list to cut
    on is refused (``ParseError``), since its rows cannot be placed in a window.
    A body that is not JSON is left for the parser to report.

    >>> page = '{"result": {"time": [4, 5, 6], "x": [1, 2, 3]}}'
    >>> cut_json(page, "time", Fraction(5), Fraction(6)), cut_json(page, "time", Fraction(4), None) is page
    ('{"result": {"time": [5], "x": [2]}}', True)
    >>> cut_json(page, "time", Fraction(7), None), cut_json('{"result": {"time": []}}', "time", None, Fraction(5))
    ('', '')
    """
    if not text or (lo is None and hi is None):
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return text
    if not any(isinstance(v, list) and v for v in result.values()):
        return ""  # no rows
    times = result.get(column)
    if not isinstance(times, list):
        raise ParseError(f"a JSON page without a {column!r} list cannot be cut at a shard window's edge: use shards=1")
    keep = [inside(json_time(t), lo, hi) for t in times]
    if all(keep):
        return text
    if not any(keep):
        return ""
    cut = {
        key: [v for v, kept in zip(value, keep) if kept] if isinstance(value, list) and len(value) == len(times) else value
        for key, value in result.items()
    }
    return json.dumps({**body, "result": cut})


def cut_page(response: Any, paging: str, column: str, lo: Fraction | None, hi: Fraction | None) -> Any:
    """The response with its rows cut to [lo, hi) (the same object when nothing is cut), CSV or JSON by its route.

    The rows are read as the parsers read them: the body decoded by its declared
    charset (``Response.text``), the cut written back in it; CSV records as the
    parser splits them. A body that does not decode, or a CSV page the csv module
    refuses, is left whole for the parser to report (``ParseError``), as unsharded.
    """
    if not response.content or (lo is None and hi is None):
        return response
    try:
        text = response.text
    except ParseError:
        return response
    try:
        cut = cut_json(text, column, lo, hi) if paging == "json" else cut_csv(text, column, lo, hi)
    except csv.Error:  # e.g. a cell past the csv module's size limit: the parser refuses the page, as unsharded
        return response
    if cut is text:
        return response
    return replace(response, content=cut.encode(codecs.lookup(response.encoding).name) if cut else b"")
