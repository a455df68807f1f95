"""The nine resources of the Stream API V1: query parameters in, a lazy listing of rows out."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any

from . import data
from .data import Chunk, Row

TIME_SERIES = ("accel", "rotation", "heartrate", "probability_symptom", "lfp", "band_power", "state")
RESOURCES = TIME_SERIES + ("event", "span")
AVAILABILITY = {
    "accel": "availability(accel)",
    "rotation": "availability(rotation)",
    "heartrate": "availability(bpm)",
    "probability_symptom": "availability(probability)",
    "lfp": "availability(lfp)",
    "band_power": "availability(power)",
    "state": "availability(state)",
}
PERIODS = {
    "accel": data.ACCEL_PERIOD,
    "rotation": data.ROTATION_PERIOD,
    "heartrate": data.HEARTRATE_PERIOD,
    "probability_symptom": data.PROBABILITY_PERIOD,
    "lfp": data.LFP_PERIOD,
    "band_power": data.BAND_POWER_PERIOD,
    "state": data.STATE_PERIOD,
}
MIN_RESOLUTION = Fraction(300)
TIMESTAMPS = ("unix", "iso")
"""Values of the ``timestamp`` parameter served: unix seconds, or ISO 8601 UTC text in the time column."""
ROUNDINGS = tuple(f"{unit}-{way}" for unit in ("ms", "s") for way in ("floor", "ceil", "nearest"))
"""How ``Emulator(round_bounds=...)`` rounds ``start_time`` and ``end_time`` before filtering on them."""
STREAM_FILTERS = ("channel", "sensor", "anatomy", "algorithm", "band")


class ApiError(Exception):
    """An error answer: HTTP status, envelope type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Listing:
    """The ordered rows of a query, as chunks built on demand, and how to shape them as JSON.

    ``shape`` is ``"columns"`` (one list per column), ``"update"`` (columns plus a
    ``cardinality``) or ``"streams"`` (lfp availability per channel, ``streams`` holding each
    stream's parameters).
    """

    columns: tuple[str, ...]
    chunks: Callable[[], Iterator[Chunk]]
    shape: str = "columns"
    streams: tuple[dict[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Query:
    """A validated query: resource, format, patient, time range and the raw parameters."""

    resource: str
    fmt: str
    patient: str
    start: Fraction
    end: Fraction
    params: Mapping[str, str]
    blank_rate: float = 0.0
    inclusive_end: bool = False

    def get(self, name: str) -> str:
        """A parameter's value, or '' when absent."""
        return self.params.get(name, "")

    def end_for(self, period: Fraction) -> Fraction:
        """The exclusive end of the samples served: ``end``, or past a sample at ``end`` when inclusive.

        >>> Query("accel", "csv", "p", Fraction(0), Fraction(1), {}, inclusive_end=True).end_for(Fraction(1, 50))
        Fraction(51, 50)
        """
        if not self.inclusive_end:
            return self.end
        return (math.floor(self.end / period) + 1) * period


def bad(message: str) -> ApiError:
    """A 400 BadRequestError."""
    return ApiError(400, "BadRequestError", message)


def parse_number(params: Mapping[str, str], name: str) -> Fraction | None:
    """A finite numeric parameter as an exact fraction, None when absent.

    >>> parse_number({"start_time": "1609459200.02"}, "start_time")
    Fraction(80472960001, 50)
    >>> parse_number({}, "end_time") is None
    True
    """
    if name not in params:
        return None
    text = params[name].strip()
    try:
        value = float(text)
    except ValueError:
        raise bad(f"parameter {name} must be a number, got {params[name]!r}") from None
    if not math.isfinite(value):
        raise bad(f"parameter {name} must be a finite number")
    try:
        return Fraction(text)
    except ValueError:
        return Fraction(value)


def required_number(params: Mapping[str, str], name: str) -> Fraction:
    """A numeric parameter that must be present.

    >>> required_number({"end_time": "5"}, "end_time")
    Fraction(5, 1)
    """
    value = parse_number(params, name)
    if value is None:
        raise bad(f"missing required parameter: {name}")
    return value


def round_bound(value: Fraction, rule: str | None) -> Fraction:
    """A time bound as a server that keeps only milliseconds or seconds filters on it (None: exactly).

    >>> t = Fraction("1609491600.0125")
    >>> [float(round_bound(t, rule)) for rule in ("ms-floor", "ms-ceil", "s-ceil", "s-nearest")]
    [1609491600.012, 1609491600.013, 1609491601.0, 1609491600.0]
    >>> round_bound(t, None) == t
    True
    """
    if rule is None:
        return value
    unit, _, way = rule.partition("-")
    per_second = 1000 if unit == "ms" else 1
    scaled = value * per_second
    whole = math.floor(scaled) if way == "floor" else math.ceil(scaled) if way == "ceil" else round(scaled)
    return Fraction(whole, per_second)


def parse_page(params: Mapping[str, str]) -> int:
    """The 0-based ``page`` parameter (0 when absent).

    >>> parse_page({"page": "3"}), parse_page({})
    (3, 0)
    """
    text = params.get("page", "0").strip() or "0"
    if not text.isdigit():
        raise bad(f"parameter page must be a non-negative integer, got {text!r}")
    return int(text)


def split_list(text: str) -> tuple[str, ...]:
    """A comma-separated parameter as a tuple of non-empty items.

    >>> split_list("0, 1,")
    ('0', '1')
    """
    return tuple(item.strip() for item in text.split(",") if item.strip())


def compile_query(
    resource: str,
    fmt: str,
    params: Mapping[str, str],
    client_patient: str | None,
    blank_rate: float = 0.0,
    inclusive_end: bool = False,
    round_bounds: str | None = None,
) -> Listing:
    """Validate the parameters of ``/v1/<resource>.<fmt>`` and describe its rows.

    ``client_patient`` is the patient implied by client keys, None for other credentials.
    ``inclusive_end`` serves a row exactly at ``end_time`` too; ``round_bounds`` (one of
    ``ROUNDINGS``) filters on the bounds rounded so.
    """
    if (
        resource not in RESOURCES
        or fmt not in ("json", "csv")
        or (fmt == "csv" and resource in ("event", "span"))
    ):
        raise ApiError(404, "NotFoundError", f"no such resource: /v1/{resource}.{fmt}")
    start, end = required_number(params, "start_time"), required_number(params, "end_time")
    start, end = round_bound(start, round_bounds), round_bound(end, round_bounds)
    parse_page(params)
    if params.get("timestamp", "unix") not in TIMESTAMPS:
        raise bad(f"parameter timestamp must be one of {', '.join(TIMESTAMPS)}")
    patient = params.get("patient_id", "")
    if client_patient is not None:
        if patient and patient != client_patient:
            raise ApiError(403, "ForbiddenError", f"client key has no access to patient {patient}")
        patient = client_patient
    elif not patient:
        raise bad("missing required parameter: patient_id")
    if resource in TIME_SERIES and not params.get("device_id"):
        raise bad("missing required parameter: device_id")
    if resource == "probability_symptom" and params.get("symptom") not in ("tremor", "dyskinesia"):
        raise bad("parameter symptom must be 'tremor' or 'dyskinesia'")
    return _listing(Query(resource, fmt, patient, start, end, params, blank_rate, inclusive_end))


def _listing(q: Query) -> Listing:
    """Dispatch on resource and expression."""
    expression = q.get("expression")
    resolution = parse_number(q.params, "resolution")
    if resolution is not None and resolution < MIN_RESOLUTION:
        raise bad(f"parameter resolution must be at least {MIN_RESOLUTION}")
    if q.resource in ("event", "span"):
        if expression:
            raise bad(f"resource {q.resource} supports no expression")
        return _records(q)
    if expression == AVAILABILITY[q.resource]:
        return _availability(q, expression, resolution or MIN_RESOLUTION)
    if expression.startswith("availability("):
        raise bad(f"expression {expression!r} does not apply to {q.resource}; use {AVAILABILITY[q.resource]}")
    if q.resource == "lfp" and expression == "spectrogram(lfp)":
        columns = ("timestamp", "algorithm", "anatomy", "channel", "sensor") + data.SPECTROGRAM_COLUMNS
        return _streams_listing(
            q,
            data.LFP_CHANNELS,
            data.SPECTROGRAM_PERIOD,
            data.spectrogram_row,
            columns,
            tuple(range(5, len(columns))),
        )
    if q.resource == "state" and expression in ("event_type", "update"):
        return _state_expression(q, expression)
    if expression:
        raise bad(f"unknown expression {expression!r} for {q.resource}")
    return _raw(q)


# --------------------------------------------------------------------------------------------
# Raw time series


def one_cell(items: Sequence[Any], i: int) -> Row:
    """Row ``i`` of a one-column listing held in memory.

    >>> one_cell([10, 20], 1)
    (20,)
    """
    return (items[i],)


def mapped_cell(make: Callable[[Any], Row], rows: Callable[[int], Row], i: int) -> Row:
    """Row ``i`` made by ``make`` from the first cell of another listing's row ``i``.

    >>> mapped_cell(lambda t: (t, t * 2), lambda i: (i + 1,), 4)
    (5, 10)
    """
    return make(rows(i)[0])


def _series(
    q: Query,
    salt: str,
    period: Fraction,
    streams: int,
    row: Callable[[int, int, int], Row],
    numeric: tuple[int, ...],
) -> Callable[[], Iterator[Chunk]]:
    """Chunks for a time series of the query's patient and device, with optional blanks."""
    window_seed = data.seed_of(q.patient, q.get("device_id"))
    value_seed = data.seed_of(q.patient, q.get("device_id"), salt)
    blank_seed = data.seed_of(q.patient, q.get("device_id"), salt, "blank")
    rate = q.blank_rate

    def row_maybe_blank(tick: int, stream: int) -> Row:
        cells = row(value_seed, tick, stream)
        return data.blanked(cells, numeric, rate, blank_seed, tick, stream) if rate > 0 else cells

    return lambda: data.series_chunks(window_seed, q.start, q.end_for(period), period, streams, row_maybe_blank)


def _raw(q: Query) -> Listing:
    """Raw rows of a time series resource."""
    if q.resource in ("accel", "rotation"):
        row = data.accel_row if q.resource == "accel" else data.rotation_row
        return Listing(
            ("time", "x", "y", "z"),
            _series(q, q.resource, PERIODS[q.resource], 1, lambda s, t, _: row(s, t), (1, 2, 3)),
        )
    if q.resource == "heartrate":
        return Listing(
            ("time", "bpm"),
            _series(q, "heartrate", data.HEARTRATE_PERIOD, 1, lambda s, t, _: data.heartrate_row(s, t), (1,)),
        )
    if q.resource == "probability_symptom":
        salt = "probability_" + q.get("symptom")
        if q.get("severity"):
            return Listing(
                ("time",) + data.SEVERITIES,
                _series(
                    q,
                    salt,
                    data.PROBABILITY_PERIOD,
                    1,
                    lambda s, t, _: data.severity_row(s, t),
                    (1, 2, 3, 4, 5, 6),
                ),
            )
        return Listing(
            ("time", "probability"),
            _series(q, salt, data.PROBABILITY_PERIOD, 1, lambda s, t, _: data.probability_row(s, t), (1,)),
        )
    if q.resource == "lfp":
        if q.get("channels"):
            return _lfp_wide(q)
        return _streams_listing(
            q,
            data.LFP_CHANNELS,
            data.LFP_PERIOD,
            data.lfp_stacked_row,
            ("timestamp", "algorithm", "anatomy", "channel", "sensor", "potential"),
            (5,),
        )
    if q.resource == "band_power":
        return _streams_listing(
            q,
            data.BAND_POWER_STREAMS,
            data.BAND_POWER_PERIOD,
            data.band_power_row,
            ("timestamp", "algorithm", "anatomy", "channel", "sensor", "band", "power"),
            (6,),
        )
    return _state(q)


def select_streams(
    streams: tuple[dict[str, str], ...], params: Mapping[str, str]
) -> tuple[dict[str, str], ...]:
    """The streams whose metadata match every filter parameter given (comma lists allowed).

    >>> [s["channel"] for s in select_streams(data.LFP_CHANNELS, {"channel": "1"})]
    ['1']
    >>> len(select_streams(data.LFP_CHANNELS, {}))
    2
    """
    chosen = []
    for stream in streams:
        if all(stream.get(name) in split_list(params[name]) for name in STREAM_FILTERS if params.get(name)):
            chosen.append(stream)
    return tuple(chosen)


def _streams_listing(
    q: Query,
    streams: tuple[dict[str, str], ...],
    period: Fraction,
    row: Callable[[int, int, dict[str, str]], Row],
    columns: tuple[str, ...],
    numeric: tuple[int, ...],
) -> Listing:
    """Stacked rows: for each tick, one row per selected stream."""
    chosen = select_streams(streams, q.params)
    return Listing(
        columns, _series(q, q.resource, period, len(chosen), lambda s, t, i: row(s, t, chosen[i]), numeric)
    )


def _lfp_wide(q: Query) -> Listing:
    """Wide LFP rows ``timestamp,channel.<c>...`` for the channels asked, in that order."""
    channels = split_list(q.get("channels"))
    known = [c["channel"] for c in data.LFP_CHANNELS]
    for channel in channels:
        if channel not in known:
            raise bad(f"unknown channel {channel!r}; known: {','.join(known)}")
    indices = [int(c) for c in channels]

    def row(seed: int, tick: int, _: int) -> Row:
        return (data.time_of(tick, data.LFP_PERIOD), *(data.lfp_potential(seed, tick, i) for i in indices))

    columns = ("timestamp",) + tuple(f"channel.{c}" for c in channels)
    return Listing(columns, _series(q, "lfp", data.LFP_PERIOD, 1, row, tuple(range(1, len(columns)))))


# --------------------------------------------------------------------------------------------
# State


def _state_ticks(q: Query, event: str) -> Callable[[], Iterator[Chunk]]:
    """Chunks of state ticks: every tick, or with ``event`` only those where its field changed."""
    window_seed = data.seed_of(q.patient, q.get("device_id"))
    seed = data.seed_of(q.patient, q.get("device_id"), "state")
    changed_field = data.STATE_EVENTS.get(event)

    def chunks() -> Iterator[Chunk]:
        for lo, hi in data.windows_in(window_seed, q.start, q.end_for(data.STATE_PERIOD)):
            ticks: Sequence[int] = data.tick_span(lo, hi, data.STATE_PERIOD)
            if event:
                ticks = [t for t in ticks if changed_field and data.state_changed(seed, changed_field, t)]
            if ticks:
                yield Chunk(len(ticks), partial(one_cell, ticks))

    return chunks


def _state(q: Query) -> Listing:
    """State rows ``time,<fields>``: snapshots every 10 minutes, or the changes of one event type."""
    event = q.get("event")
    fields = split_list(q.get("fields")) or (
        (data.STATE_EVENTS[event],) if event in data.STATE_EVENTS else data.STATE_FIELDS
    )
    seed = data.seed_of(q.patient, q.get("device_id"), "state")
    ticks = _state_ticks(q, event)

    def chunks() -> Iterator[Chunk]:
        for chunk in ticks():
            yield Chunk(chunk.count, partial(mapped_cell, partial(_state_row, seed, fields=fields), chunk.row))

    return Listing(("time",) + fields, chunks)


def _state_row(seed: int, tick: int, fields: tuple[str, ...]) -> Row:
    """One state snapshot."""
    return (data.time_of(tick, data.STATE_PERIOD), *(data.state_value(seed, f, tick) for f in fields))


def _state_expression(q: Query, expression: str) -> Listing:
    """``event_type`` (the event types present) or ``update`` (the changes of ``event=``)."""
    seed = data.seed_of(q.patient, q.get("device_id"), "state")
    window_seed = data.seed_of(q.patient, q.get("device_id"))
    if expression == "event_type":

        def event_types() -> Iterator[Chunk]:
            if data.has_samples(window_seed, q.start, q.end, data.STATE_PERIOD):
                names = sorted(data.STATE_EVENTS)
                yield Chunk(len(names), lambda i: (names[i],))

        return Listing(("event_type",), event_types)
    event = q.get("event")
    if event not in data.STATE_EVENTS:
        raise bad(f"expression update needs event= one of {','.join(sorted(data.STATE_EVENTS))}")
    if q.fmt == "csv":
        raise bad("expression update is served as JSON only")
    name = data.STATE_EVENTS[event]
    ticks = _state_ticks(q, event)

    def update_row(tick: int) -> Row:
        return (data.time_of(tick, data.STATE_PERIOD), {name: data.state_value(seed, name, tick)})

    def chunks() -> Iterator[Chunk]:
        for chunk in ticks():
            yield Chunk(chunk.count, partial(mapped_cell, update_row, chunk.row))

    return Listing(("time", "update"), chunks, shape="update")


# --------------------------------------------------------------------------------------------
# Availability


def _availability(q: Query, expression: str, resolution: Fraction) -> Listing:
    """Epoch-aligned bins of ``resolution`` seconds, 1 where any sample falls in bin and range."""
    window_seed = data.seed_of(q.patient, q.get("device_id"))
    period = PERIODS[q.resource]
    first, count = data.availability_bins(q.start, q.end, resolution)
    streams: tuple[dict[str, str], ...] = ()
    any_stream = True
    if q.resource in ("lfp", "band_power"):
        chosen = select_streams(
            data.LFP_CHANNELS if q.resource == "lfp" else data.BAND_POWER_STREAMS, q.params
        )
        any_stream = bool(chosen)
        if q.resource == "lfp" and q.get("channel"):
            streams = tuple(
                {name: q.get(name) for name in STREAM_FILTERS if q.get(name)} | {"channel": s["channel"]}
                for s in chosen
            )

    def row(i: int) -> Row:
        lo = first + i * resolution
        hi = lo + resolution
        value = any_stream and data.has_samples(window_seed, max(lo, q.start), min(hi, q.end), period)
        return (data.as_time(lo), int(value))

    shape = "streams" if q.resource == "lfp" and q.get("channel") else "columns"
    return Listing(("time", expression), lambda: iter([Chunk(count, row)]), shape=shape, streams=streams)


# --------------------------------------------------------------------------------------------
# Events and spans


def _records(q: Query) -> Listing:
    """Events or spans, day by day, filtered by the dotted ``event`` prefixes."""
    device = q.get("device_id") or f"phone-{data.seed_of(q.patient) % 10**6:06d}"
    seed = data.seed_of(q.patient, q.get("device_id"), q.resource)
    prefixes = split_list(q.get("event"))
    of_day = data.events_of_day if q.resource == "event" else data.spans_of_day
    key = "time" if q.resource == "event" else "start_time"

    def chunks() -> Iterator[Chunk]:
        for day in data.day_range(q.start, q.end):
            records = [
                r
                for r in of_day(seed, day, device)
                if q.start <= r[key] < q.end_for(Fraction(1, 10**6)) and data.matches_event(r["display_name"], prefixes)
            ]
            if records:
                yield Chunk(len(records), partial(one_cell, records))

    return Listing((q.resource,), chunks)
