"""Times as the Stream API takes them: unix seconds, from whatever a caller holds (pure, no I/O).

``start_time`` and ``end_time`` may be unix seconds (an int, a float, numpy's
numbers, or text such as ``"1609491600"``), ISO 8601 text
(``"2021-01-01T09:00:00Z"``; no offset means UTC), or a ``datetime``
(pandas' ``Timestamp`` is one; a naive one is taken as UTC, as ISO text
without an offset is). Numbers are sent as given; the others become unix
seconds, an int when whole. The command line and ``build_request`` read them
with the same functions, so a time means the same everywhere.

No error here shows the value it refuses: it may be a secret typed in the wrong place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timezone
from numbers import Real
from typing import Any

from .errors import UsageError

TIME_PARAMS = ("start_time", "end_time")
MILLISECONDS = 1e11
"""Unix seconds beyond this are past the year 5138: the value is almost surely in milliseconds."""
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def flag_name(name: str) -> str:
    """How the command line spells a parameter.

    >>> flag_name("start_time")
    '--start-time'
    """
    return "--" + name.replace("_", "-")


def time_error(label: str) -> UsageError:
    """The error for a time that cannot be read, for a flag (``--start-time``) or a parameter.

    >>> print(time_error("--end-time"))
    --end-time must be unix seconds or ISO 8601, e.g. 2021-01-01T09:00:00Z (no offset means UTC)
    """
    kinds = "unix seconds or ISO 8601" if label.startswith("--") else "unix seconds, ISO 8601 text or a datetime"
    return UsageError(f"{label} must be {kinds}, e.g. 2021-01-01T09:00:00Z (no offset means UTC)")


def moment_seconds(moment: datetime) -> int | float:
    """A datetime as unix seconds, exact to the microsecond; naive means UTC.

    >>> moment_seconds(datetime(2021, 1, 1, 9)), moment_seconds(datetime.fromisoformat("2021-01-01T10:00:00.25+01:00"))
    (1609491600, 1609491600.25)
    """
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - EPOCH
    whole = delta.days * 86400 + delta.seconds
    return whole if not delta.microseconds else whole + delta.microseconds / 1e6


def parsed_seconds(label: str, value: Any) -> Any:
    """A time as it is sent, before its range is checked: numbers as given, the rest as unix seconds."""
    if isinstance(value, bool):
        raise time_error(label)
    if isinstance(value, Real):
        return value
    if isinstance(value, datetime):
        return moment_seconds(value)
    if isinstance(value, date):
        return moment_seconds(datetime(value.year, value.month, value.day))
    if not isinstance(value, str):
        raise time_error(label)
    text = value.strip()
    try:
        float(text)
        return text
    except ValueError:
        pass
    try:
        return moment_seconds(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text))
    except ValueError:
        raise time_error(label) from None


def unix_seconds(label: str, value: Any) -> Any:
    """A time parameter as sent on the wire: numbers (and numeric text) as given, the rest as unix seconds.

    ``label`` names it in errors: a flag (``--start-time``) or a parameter
    (``start_time``). A value past 1e11 is refused as milliseconds.

    >>> unix_seconds("start_time", 1609491600), unix_seconds("--end-time", "1609491600")
    (1609491600, '1609491600')
    >>> unix_seconds("start_time", "2021-01-01T10:00:00.25+01:00"), unix_seconds("end_time", "2021-01-02")
    (1609491600.25, 1609545600)
    >>> unix_seconds("start_time", datetime(2021, 1, 1, 9, tzinfo=timezone.utc))
    1609491600
    >>> unix_seconds("--start-time", "yesterday")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --start-time must be unix seconds or ISO 8601, e.g. 2021-01-01T09:00:00Z (no offset means UTC)
    >>> unix_seconds("start_time", 1609491600000)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: start_time looks like milliseconds: divide by 1000 (unix seconds are expected)
    """
    sent = parsed_seconds(label, value)
    number = float(sent)
    if not math.isfinite(number):
        raise UsageError(f"{label} must be a finite number of unix seconds")
    if abs(number) > MILLISECONDS:
        raise UsageError(f"{label} looks like milliseconds: divide by 1000 (unix seconds are expected)")
    return sent


def with_times(query: Mapping[str, Any], label: Any = str) -> dict[str, Any]:
    """The query with its times as sent (see ``unix_seconds``); ``label(name)`` names a time in errors.

    >>> with_times({"device_id": "d", "end_time": "2021-01-01T09:00:00Z", "start_time": None})
    {'device_id': 'd', 'end_time': 1609491600, 'start_time': None}
    """
    return {
        key: unix_seconds(label(key), value) if key in TIME_PARAMS and value is not None else value
        for key, value in query.items()
    }


def check_range(query: Mapping[str, Any], label: Any = str) -> None:
    """Refuse a query whose ``end_time`` is not after its ``start_time`` (its times as sent): it holds no time.

    >>> check_range({"start_time": 10, "end_time": "20"}), check_range({"start_time": 10})
    (None, None)
    >>> check_range({"start_time": 20, "end_time": 10})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: end_time is before start_time: swap them (the range [start_time, end_time) holds no time)
    """
    start, end = query.get("start_time"), query.get("end_time")
    if start is None or end is None:
        return
    first, last = label("start_time"), label("end_time")
    if float(end) < float(start):
        problem = f"{last} is before {first}: swap them"
    elif float(end) == float(start):
        problem = f"{last} equals {first}: give an {last} after it"
    else:
        return
    raise UsageError(f"{problem} (the range [{first}, {last}) holds no time)")
