"""The one table of Stream V1 resources and their parameters; the shim's classes are made from its rows.

Not runeq's ``runeq.resources`` (the Graph API: organisations, patients, devices, projects),
which runeq-fn does not cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .errors import UsageError


class Resource(NamedTuple):
    """One row of the resource table."""

    name: str
    """Path segment: ``/v1/<name>.json``."""
    accessor: str
    """Class name in the runeq 0.15.0 shim."""
    formats: tuple[str, ...]
    availability: str | None
    """The availability expression, or None where there is none."""
    token_only: bool = False
    """Pagination by token alone (span)."""
    summary: str = ""
    time_column: str = "time"
    """The column of unix seconds in its CSV and JSON (one of ``TIME_COLUMNS``)."""
    parameters: tuple[tuple[str, str], ...] = ()
    """The resource's own query parameters beside ``COMMON_PARAMETERS``, each with its meaning."""


COMMON_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("patient_id", "the patient (required with an access token or a JWT; a client key implies its patient)"),
    ("device_id", "the device (required for time series, optional for event and span)"),
    ("start_time", "the start, unix seconds (required); rows with start_time <= t < end_time"),
    ("end_time", "the end, unix seconds (required)"),
    ("expression", "what to compute instead of the raw data, e.g. availability(accel)"),
    ("resolution", "the bin width in seconds of an availability expression (300 is the finest)"),
    ("timestamp", "the time format: unix (the default) or iso"),
    ("page", "the page number to start at (0-based); set by pagination"),
    ("next_page_token", "the page token to go on from; set by pagination"),
)
"""The query parameters every resource takes, each with its meaning."""

STREAM_FILTERS = (
    ("channels", "a comma list of channels: one wide column each (channel.0, channel.1, ...)"),
    ("channel", "keep the streams of these channels (comma list)"),
    ("sensor", "keep the streams of these sensors (comma list)"),
    ("anatomy", "keep the streams of these anatomies (comma list)"),
    ("algorithm", "keep the streams of these algorithms (comma list)"),
)
EVENT_FILTER = (
    ("event", "only events of this type, dotted (namespace.type.enum); a prefix matches all below it"),
)


RESOURCES: tuple[Resource, ...] = (
    Resource("accel", "Accel", ("json", "csv"), "availability(accel)",
             summary="Watch accelerometry (g), columns time,x,y,z."),
    Resource("band_power", "BandPower", ("json", "csv"), "availability(power)",
             summary="Band power computed by an implant.", time_column="timestamp",
             parameters=STREAM_FILTERS[1:]),
    Resource("event", "Event", ("json",), None,
             summary="Patient events (medication, symptoms, ...), JSON only.", parameters=EVENT_FILTER),
    Resource("heartrate", "HeartRate", ("json", "csv"), "availability(bpm)",
             summary="Heart rate (beats per minute), columns time,bpm."),
    Resource("lfp", "LFP", ("json", "csv"), "availability(lfp)",
             summary="Local field potentials (volts) recorded by an implant.", time_column="timestamp",
             parameters=STREAM_FILTERS),
    Resource("probability_symptom", "ProbabilitySymptom", ("json", "csv"),
             "availability(probability)",
             summary="Probability of a symptom (tremor, dyskinesia).",
             parameters=(("symptom", "tremor or dyskinesia (required)"),
                         ("severity", "* for one column per severity instead of one probability"))),
    Resource("rotation", "Rotation", ("json", "csv"), "availability(rotation)",
             summary="Watch gyroscope (rad/s), columns time,x,y,z."),
    Resource("span", "Span", ("json",), None, token_only=True,
             summary="Events with a duration, JSON only, token pagination.", parameters=EVENT_FILTER),
    Resource("state", "State", ("json", "csv"), "availability(state)",
             summary="Device settings over time.",
             parameters=(("event", "the kind of setting, e.g. therapy_status"),
                         ("fields", "the columns wanted, a comma list, in that order"))),
)

BY_NAME = {r.name: r for r in RESOURCES}
PARAMETERS = frozenset(name for r in RESOURCES for name, _ in COMMON_PARAMETERS + r.parameters)
"""Every query parameter of the Stream API V1: ``runeq fetch`` warns about any other.

>>> sorted(PARAMETERS - {name for name, _ in COMMON_PARAMETERS})[:4]
['algorithm', 'anatomy', 'channel', 'channels']
"""

TIME_COLUMNS = ("time", "timestamp")
"""The names of a column of unix seconds, in the order looked for."""

SEVERITIES = ("mild", "moderate", "none", "slight", "strong", "unknown")
"""The columns of probability_symptom's CSV when the query names a ``severity``."""


def resource(name: str) -> Resource:
    """Look a resource up by name, with an error that lists the valid names (and never shows the name given).

    >>> resource("accel").availability
    'availability(accel)'
    >>> resource("acel")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: unknown resource (did you mean accel?): use one of accel, band_power, event, heartrate, lfp, probability_symptom, rotation, span, state
    """
    import difflib

    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        names = ", ".join(sorted(BY_NAME))
        close = difflib.get_close_matches(str(name), sorted(BY_NAME), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown resource{hint}: use one of {names}") from None


def time_column(names: Iterable[Any]) -> str:
    """The column of unix seconds: ``time``, else ``timestamp`` (lfp, band power).

    >>> time_column(["timestamp", "channel.0"])
    'timestamp'
    >>> time_column(["x"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: no time or timestamp column to make times of; the columns are ['x']
    """
    names = list(names)
    for name in TIME_COLUMNS:
        if name in names:
            return name
    raise UsageError(f"no time or timestamp column to make times of; the columns are {names}")


def time_column_of(name: str) -> str:
    """The time column of a resource's rows (``Resource.time_column``); ``time`` for a name not in the table.

    >>> time_column_of("accel"), time_column_of("lfp"), time_column_of("nothing")
    ('time', 'timestamp', 'time')
    """
    row = BY_NAME.get(name)
    return "time" if row is None else row.time_column


def known_columns(resource: str, query: Mapping[str, Any]) -> list[str] | None:
    """The CSV columns a query of a resource gives, as the API documents them; None where they depend on the query.

    >>> known_columns("accel", {}), known_columns("lfp", {"channels": "0,1"})
    (['time', 'x', 'y', 'z'], ['timestamp', 'channel.0', 'channel.1'])
    >>> known_columns("state", {"fields": "status"}) is None
    True
    """
    if "expression" in query:
        return None
    if resource in ("accel", "rotation"):
        return ["time", "x", "y", "z"]
    if resource == "heartrate":
        return ["time", "bpm"]
    if resource == "probability_symptom":
        return ["time", *SEVERITIES] if query.get("severity") else ["time", "probability"]
    if resource == "lfp" and query.get("channels") is not None:
        channels = query["channels"]
        listed = channels if isinstance(channels, (list, tuple)) else str(channels).split(",")
        return ["timestamp", *(f"channel.{str(c).strip()}" for c in listed)]
    if resource == "lfp":
        return ["timestamp", "algorithm", "anatomy", "channel", "sensor", "potential"]
    if resource == "band_power":
        return ["timestamp", "algorithm", "anatomy", "channel", "sensor", "band", "power"]
    return None
