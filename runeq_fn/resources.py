"""The one table of Stream V1 resources; the shim's classes are made from its rows."""

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


RESOURCES: tuple[Resource, ...] = (
    Resource("accel", "Accel", ("json", "csv"), "availability(accel)",
             summary="Watch accelerometry (g), columns time,x,y,z."),
    Resource("band_power", "BandPower", ("json", "csv"), "availability(power)",
             summary="Band power computed by an implant."),
    Resource("event", "Event", ("json",), None,
             summary="Patient events (medication, symptoms, ...), JSON only."),
    Resource("heartrate", "HeartRate", ("json", "csv"), "availability(bpm)",
             summary="Heart rate (beats per minute), columns time,bpm."),
    Resource("lfp", "LFP", ("json", "csv"), "availability(lfp)",
             summary="Local field potentials (volts) recorded by an implant."),
    Resource("probability_symptom", "ProbabilitySymptom", ("json", "csv"),
             "availability(probability)",
             summary="Probability of a symptom (tremor, dyskinesia)."),
    Resource("rotation", "Rotation", ("json", "csv"), "availability(rotation)",
             summary="Watch gyroscope (rad/s), columns time,x,y,z."),
    Resource("span", "Span", ("json",), None, token_only=True,
             summary="Events with a duration, JSON only, token pagination."),
    Resource("state", "State", ("json", "csv"), "availability(state)",
             summary="Device settings over time."),
)

BY_NAME = {r.name: r for r in RESOURCES}


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
