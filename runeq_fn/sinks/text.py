"""The text formats of an export (csv, jsonl, json): each page as the bytes to append and the ``Pull`` after them.

A cohort's pages get each row's ``patient_id`` first; JSON is strict (``nan`` and ``inf`` become ``null``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from ..errors import ParseError
from ..parse.points import csv_points, json_pages, page_text, rows
from ..pull.stats import Stats
from ..resources import known_columns
from .durable import Pull, pull_pages, wire_format


def with_patient_csv(text: str, patient: str) -> str:
    """A CSV page with a ``patient_id`` column first (rows rewritten by the csv module, line ends ``\\n``).

    >>> with_patient_csv("time,x\\n1,2\\n", "P1")
    'patient_id,time,x\\nP1,1,2\\n'
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        if row:
            writer.writerow(["patient_id" if number == 0 else patient, *row])
    return out.getvalue()


def with_patient(item: Any, patient: str) -> dict:
    """A JSON object with its patient's id first (an entry that is not an object is kept under ``result``).

    >>> with_patient({"time": 1.0}, "P1"), with_patient(3, "P1")
    ({'patient_id': 'P1', 'time': 1.0}, {'patient_id': 'P1', 'result': 3})
    """
    return {"patient_id": patient, **item} if isinstance(item, dict) else {"patient_id": patient, "result": item}


def csv_chunk(text: str, header: str | None) -> tuple[str, str, int]:
    """(header, text to append, rows) for one CSV page, given the header written so far.

    The first page is written whole; later pages lose their header line, which
    must match the first one.

    >>> csv_chunk("time,x\\n1,2\\n3,4", None)
    ('time,x', 'time,x\\n1,2\\n3,4\\n', 2)
    >>> csv_chunk("time,x\\r\\n5,6\\r\\n", "time,x")
    ('time,x', '5,6\\r\\n', 1)
    >>> csv_chunk("time,y\\n5,6\\n", "time,x")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ParseError: a CSV page's header 'time,y' differs from the first page's 'time,x': export as jsonl, where each row keeps its own keys
    """
    first, _, body = text.partition("\n")
    head = first.rstrip("\r")
    if header is not None and head != header:
        raise ParseError(
            f"a CSV page's header {head!r} differs from the first page's {header!r}: "
            "export as jsonl, where each row keeps its own keys"
        )
    chunk = text if header is None else body
    if chunk and not chunk.endswith("\n"):
        chunk += "\n"
    return head, chunk, sum(1 for _ in rows(body))


def json_chunk(items: Iterable[Any], array: bool, before: int) -> tuple[str, int]:
    """(text to append, items) for JSON objects: lines, or array entries after ``before`` others.

    >>> json_chunk([{"a": 1}, {"a": 2}], array=False, before=0)
    ('{"a":1}\\n{"a":2}\\n', 2)
    >>> json_chunk([{"a": 1}], array=True, before=0), json_chunk([{"a": 2}], array=True, before=1)
    (('[\\n{"a":1}', 1), (',\\n{"a":2}', 1))
    """
    parts: list[str] = []
    for item in items:
        text = strict_json(item)
        if array:
            parts.append(("[\n" if before + len(parts) == 0 else ",\n") + text)
        else:
            parts.append(text + "\n")
    return "".join(parts), len(parts)


def strict_json(item: Any) -> str:
    """One compact JSON text, strict: NaN and infinities become ``null``.

    >>> strict_json({"time": 1.0, "x": float("nan"), "y": [float("-inf"), 2.5]})
    '{"time":1.0,"x":null,"y":[null,2.5]}'
    """
    try:
        return json.dumps(item, separators=(",", ":"), allow_nan=False)
    except ValueError:  # rare: only then walk the item
        return json.dumps(finite(item), separators=(",", ":"), allow_nan=False)


def finite(value: Any) -> Any:
    """The value with every NaN or infinite float, however deep, replaced by None.

    >>> finite({"a": [1.0, float("nan")], "b": {"c": float("inf")}, "d": "nan"})
    {'a': [1.0, None], 'b': {'c': None}, 'd': 'nan'}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def closing(pull: Pull) -> bytes:
    """What ends a complete output: the JSON array's bracket; for CSV without a row, the header.

    An empty CSV still has its header (the resource's known columns, ``known_columns``),
    so that a reader of CSV sees the columns and no rows; nothing where the columns
    depend on the data (state, expression queries).

    >>> closing(Pull("event", "json", {}, None, rows=0)), closing(Pull("event", "json", {}, None, rows=3))
    (b'[]\\n', b'\\n]\\n')
    >>> closing(Pull("accel", "csv", {}, None)), closing(Pull("accel", "csv", {}, None, header="time,x,y,z"))
    (b'time,x,y,z\\n', b'')
    """
    if pull.format == "csv":
        columns = known_columns(pull.resource, pull.query) if pull.header is None else None
        if columns and pull.patients is not None:
            columns = ["patient_id", *columns]
        return (",".join(columns) + "\n").encode("utf-8") if columns else b""
    if pull.format != "json":
        return b""
    return b"[]\n" if pull.rows == 0 else b"\n]\n"


def entries(name: str, result: Any) -> list:
    """The entries of a JSON-only resource's result: its list under the resource's name.

    A result of another shape (an expression's, say) is one entry.

    >>> entries("event", {"event": [{"id": 1}, {"id": 2}]}), entries("span", {"cardinality": 0})
    ([{'id': 1}, {'id': 2}], [{'cardinality': 0}])
    """
    listed = result.get(name) if isinstance(result, dict) else None
    return listed if isinstance(listed, list) else [result]


def page_items(name: str, response: Any, patient: str | None = None) -> Iterator[Any]:
    """The objects of one page: CSV rows as points, or a JSON result's entries (with ``patient_id`` for a cohort)."""
    if wire_format(name) == "csv":
        found: Iterable[Any] = csv_points([response])
    else:
        found = (entry for result in json_pages([response]) for entry in entries(name, result))
    yield from found if patient is None else (with_patient(item, patient) for item in found)


def advance(pull: Pull, response: Any, following: dict | None) -> tuple[bytes, Pull]:
    """One page's step: the bytes to append and the pull after them (pure).

    >>> from runeq_fn.http.response import Response
    >>> data, after = advance(Pull.start("heartrate", "jsonl", {}), Response(200, content=b"time,bpm\\n5,61\\n"), None)
    >>> data, after.pages, after.rows, after.bytes, after.next
    (b'{"time":5.0,"bpm":61.0}\\n', 1, 1, 24, None)
    """
    header, text, count = pull.header, "", 0
    patient = pull.patients[0] if pull.patients else None
    if pull.format != "csv":
        text, count = json_chunk(page_items(pull.resource, response, patient), pull.format == "json", pull.rows)
    elif response.content:
        page = page_text(response)
        header, text, count = csv_chunk(page if patient is None else with_patient_csv(page, patient), pull.header)
    data = text.encode("utf-8")
    following_params, patients = following, pull.patients
    if following is None and patients and len(patients) > 1:  # this patient is done: the next one
        following_params, patients = {**pull.query, "patient_id": patients[1]}, patients[1:]
    return data, replace(
        pull,
        patients=patients,
        next=following_params,
        pages=pull.pages + bool(response.content),
        rows=pull.rows + count,
        bytes=pull.bytes + len(data),
        header=header,
    )


def steps(
    config: Any, pull: Pull, prefetch: int = 0, stats: Stats | None = None, deadline: float | None = None
) -> Iterator[tuple[bytes, Pull]]:
    """The pull's remaining pages as (bytes, pull) steps (see ``pull_pages``)."""
    for response, following, windows in pull_pages(config, pull, prefetch, stats, deadline):
        data, pull = advance(pull, response, following)
        yield data, replace(pull, windows=windows)
