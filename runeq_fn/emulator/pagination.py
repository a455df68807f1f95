"""Server-side pagination: page tokens, which marker each page carries, and page bodies.

Rows of a query are ordered; page ``k`` holds rows ``[k * size, (k + 1) * size)``. A token
carries the row offset of the page it asks for, so page numbers and tokens address the same
row ranges and may be mixed freely.

Token format: unpadded urlsafe base64 of the compact JSON ``{"o": <offset>, "q": <hash>}``, where
``hash`` is 12 hex digits of SHA-256 over the path and the sorted query pairs without ``page`` and
``next_page_token``. A token whose JSON or hash does not match is refused with a 400.

Which marker a page carries (``mixed`` alternates by page index ``k``):

====================  ===================================  ==============================
scheme                token header                         JSON ``next_page``
====================  ===================================  ==============================
``page``              never                                ``k + 1`` while rows follow
``token``             while rows follow                    never
``mixed``, k even     while rows follow                    also ``k + 1`` when k % 4 == 0
``mixed``, k odd      never                                ``k + 1`` while rows follow
span (any scheme)     while rows follow                    never
====================  ===================================  ==============================

On ``mixed`` pages where k % 4 == 0 both markers point at the same next page: a client that lets
the token win (as it must) and one that follows ``next_page`` read the same rows, while the token
request carries no ``page``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .data import Row, seed_of, unit
from .resources import Listing

SCHEMES = ("page", "token", "mixed")
PAGING_PARAMS = ("page", "next_page_token")


def query_hash(path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """A short hash of a query, ignoring its paging parameters and their order.

    >>> query_hash("/v1/accel.csv", [("a", "1"), ("page", "3")]) == query_hash("/v1/accel.csv", [("a", "1")])
    True
    """
    kept = sorted((k, v) for k, v in pairs if k not in PAGING_PARAMS)
    return hashlib.sha256(json.dumps([path, kept]).encode()).hexdigest()[:12]


def encode_token(offset: int, qhash: str) -> str:
    """An opaque token for the page starting at row ``offset``.

    >>> decode_token(encode_token(300, "abc"), "abc")
    300
    """
    text = json.dumps({"o": offset, "q": qhash}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_token(token: str, qhash: str) -> int:
    """The row offset in a token issued for this query; ValueError if forged, garbled or foreign.

    >>> decode_token("garbage!", "abc")
    Traceback (most recent call last):
    ...
    ValueError: invalid next_page_token
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        content = json.loads(raw)
        offset, issued_for = content["o"], content["q"]
    except (ValueError, TypeError, KeyError):
        raise ValueError("invalid next_page_token") from None
    if issued_for != qhash or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError("invalid next_page_token")
    return offset


def markers(scheme: str, page: int, more: bool, span: bool) -> tuple[bool, bool]:
    """Whether a page carries (a token header, a JSON ``next_page``), per the table above.

    >>> markers("page", 0, True, False), markers("token", 0, True, False), markers("span", 0, True, True)
    ((False, True), (True, False), (True, False))
    >>> [markers("mixed", k, True, False) for k in range(4)]
    [(True, True), (False, True), (True, False), (False, True)]
    >>> markers("mixed", 0, False, False)
    (False, False)
    """
    if not more:
        return False, False
    if span or scheme == "token":
        return True, False
    if scheme == "page" or page % 2 == 1:
        return False, True
    return True, page % 4 == 0


def format_cell(cell: Any) -> str:
    """A CSV cell: empty for None, floats in their shortest positional form (no exponent).

    >>> [format_cell(c) for c in (None, 1609459200.02, 3, "on", 0.0001, -6.1e-05)]
    ['', '1609459200.02', '3', 'on', '0.0001', '-0.000061']
    """
    if cell is None:
        return ""
    if isinstance(cell, float):
        text = repr(cell)
        return format(Decimal(text), "f") if "e" in text else text
    return str(cell)


def iso_time(cell: Any) -> Any:
    """A unix time cell as ISO 8601 UTC text (microseconds when not whole), as ``timestamp=iso`` serves it.

    >>> iso_time(1609491600), iso_time(1609491600.004), iso_time(None)
    ('2021-01-01T09:00:00Z', '2021-01-01T09:00:00.004000Z', None)
    """
    if cell is None:
        return None
    exact = Fraction(format_cell(cell))
    seconds = math.floor(exact)
    micros = round((exact - seconds) * 1_000_000)
    fraction = f".{micros:06d}" if micros else ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + fraction + "Z"


def with_iso_times(listing: Listing, rows: Sequence[Row]) -> list[Row]:
    """The rows with their time column (the first, ``time`` or ``timestamp``) as ISO 8601 text.

    >>> with_iso_times(Listing(("time", "bpm"), lambda: iter(())), [(1609491600, 61)])
    [('2021-01-01T09:00:00Z', 61)]
    >>> with_iso_times(Listing(("span",), lambda: iter(())), [({"start_time": 1},)])
    [({'start_time': 1},)]
    """
    if listing.columns[0] not in ("time", "timestamp"):
        return list(rows)
    return [(iso_time(row[0]), *row[1:]) for row in rows]


ODD_ROW_KINDS = ("quoted", "quoted_text", "text", "short", "long")


def odd_row(row: Row, kind: str) -> Row:
    """A row as a sloppy server might write it.

    ``quoted``: the second cell in quotes; ``quoted_text``: the second cell is text
    with a comma and a quote, quoted as CSV does; ``text``: the second cell is text;
    ``short``: the last cell left out; ``long``: two cells more than the header.

    >>> [odd_row((1, 2.5, None), kind) for kind in ODD_ROW_KINDS]
    [(1, '"2.5"', None), (1, '"n/a, ""see"" note"', None), (1, 'n/a', None), (1, 2.5), (1, 2.5, None, 7, 'extra')]
    """
    at = 1 if len(row) > 1 else 0
    if kind == "short":
        return row[:-1] if len(row) > 1 else row
    if kind == "long":
        return (*row, 7, "extra")
    cell = {"quoted": f'"{format_cell(row[at])}"', "quoted_text": '"n/a, ""see"" note"', "text": "n/a"}[kind]
    return (*row[:at], cell, *row[at + 1:])


def odd_rows(rows: Sequence[Row], first: int, rates: Mapping[str, float], query: str = "") -> list[Row]:
    """Rows ``first``, ``first + 1``, ... of a query, each kind of ``odd_row`` at its rate, chosen by hash
    (of ``query`` too, so that queries differ).

    >>> odd_rows([(1, 2.5, 3), (2, 3.5, 4)], 0, {"short": 1.0})
    [(1, 2.5), (2, 3.5)]
    """
    seed = seed_of("odd rows", query)

    def one(index: int, row: Row) -> Row:
        for key, kind in enumerate(ODD_ROW_KINDS):
            if unit(seed, index, key) < rates.get(kind, 0.0):
                return odd_row(row, kind)
        return row

    return [one(first + i, row) for i, row in enumerate(rows)]


def render_csv(columns: Sequence[str], rows: Sequence[Row]) -> bytes:
    """A CSV page: the header and the rows, each line ending in a newline; empty when no rows.

    >>> render_csv(("time", "bpm"), [(1, 60), (6, None)])
    b'time,bpm\\n1,60\\n6,\\n'
    >>> render_csv(("time", "bpm"), [])
    b''
    """
    if not rows:
        return b""
    lines = [",".join(columns)]
    lines.extend(",".join(format_cell(c) for c in row) for row in rows)
    return ("\n".join(lines) + "\n").encode()


def json_result(listing: Listing, rows: Sequence[Row]) -> dict[str, Any]:
    """A page's ``result`` object, shaped as the listing says.

    >>> from .resources import Listing
    >>> json_result(Listing(("time", "x"), lambda: iter(())), [(1, 0.5), (2, None)])
    {'time': [1, 2], 'x': [0.5, None]}
    """
    columns = {name: [row[i] for row in rows] for i, name in enumerate(listing.columns)}
    if listing.shape == "update":
        return {"cardinality": len(rows), **columns}
    if listing.shape == "streams":
        values = columns[listing.columns[1]]
        return {
            "streams": [
                {"time": columns["time"], "availability": values, "parameters": dict(p)}
                for p in listing.streams
            ]
        }
    return columns


def render_json(result: dict[str, Any], next_page: int | None) -> bytes:
    """A JSON success body, with ``next_page`` when given.

    >>> render_json({"time": []}, 2)
    b'{"success":true,"result":{"time":[]},"next_page":2}'
    """
    body: dict[str, Any] = {"success": True, "result": result}
    if next_page is not None:
        body["next_page"] = next_page
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(kind: str, message: str) -> bytes:
    """The JSON error envelope.

    >>> error_body("NotFoundError", "no such resource")
    b'{"success":false,"error":{"message":"no such resource","type":"NotFoundError"}}'
    """
    return json.dumps(
        {"success": False, "error": {"message": message, "type": kind}}, separators=(",", ":")
    ).encode()
