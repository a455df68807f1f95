"""The one table of Stream V1 resources and their parameters; the shim's classes are made from its rows.

Not runeq's ``runeq.resources`` (the Graph API: organisations, patients, devices, projects),
which runeq-fn does not cover.
"""

from __future__ import annotations

from typing import NamedTuple

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
    parameters: tuple[tuple[str, str], ...] = ()
    """The resource's own query parameters beside ``COMMON_PARAMETERS``, each with its meaning."""


COMMON_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("patient_id", "the patient (required with an access token or a JWT; a client key implies its patient)"),
    ("device_id", "the device (required for time series, optional for event and span)"),
    ("start_time", "the start, unix seconds (required); rows with start_time <= t < end_time"),
    ("end_time", "the end, unix seconds (required)"),
    ("expression", "what to compute instead of the raw data, e.g. availability(accel)"),
    ("resolution", "the bin width in seconds of an availability expression (300 is the finest)"),
    ("timestamp", "the time format: unix, the only one (and the default)"),
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
             summary="Band power computed by an implant.", parameters=STREAM_FILTERS[1:]),
    Resource("event", "Event", ("json",), None,
             summary="Patient events (medication, symptoms, ...), JSON only.", parameters=EVENT_FILTER),
    Resource("heartrate", "HeartRate", ("json", "csv"), "availability(bpm)",
             summary="Heart rate (beats per minute), columns time,bpm."),
    Resource("lfp", "LFP", ("json", "csv"), "availability(lfp)",
             summary="Local field potentials (volts) recorded by an implant.", parameters=STREAM_FILTERS),
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


def resource(name: str) -> Resource:
    """Look a resource up by name, with an error that lists the valid names.

    >>> resource("accel").availability
    'availability(accel)'
    >>> resource("acel")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: unknown resource 'acel': use one of accel, band_power, event, heartrate, lfp, probability_symptom, rotation, span, state
    """
    try:
        return BY_NAME[name]
    except KeyError:
        names = ", ".join(sorted(BY_NAME))
        raise UsageError(f"unknown resource {name!r}: use one of {names}") from None
