"""Deterministic data generators for the emulator: pure functions of seeds and sample indices.

The data model, for every (patient, device) pair:

- Each UTC day from 2000-01-01 to 2099-12-31 has two *wear windows*: one that starts between
  08:00 and 08:55 and ends between 11:00 and 11:55, and one that starts between 13:00 and 14:55
  and ends between 18:00 and 19:55 (five-minute steps, chosen by hashing the pair and the day).
  So 09:00-11:00 and 15:00-18:00 UTC always hold data; nights never do.
- A time series samples at a fixed period inside the windows: sample ``tick`` is at
  ``tick * period`` seconds. Values depend only on the seed and the tick, never on the query, so
  any page of any query is computed alone, in time proportional to its size.
- Events and spans are a few per day, generated day by day.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

Row = tuple[Any, ...]

DAY = 86400
FIRST_DAY = 10957  # 2000-01-01
END_DAY = 47482  # 2100-01-01, exclusive
TAU = 2 * math.pi
_MASK = (1 << 64) - 1

ACCEL_PERIOD = Fraction(1, 50)
ROTATION_PERIOD = Fraction(1, 50)
HEARTRATE_PERIOD = Fraction(5)
PROBABILITY_PERIOD = Fraction(60)
LFP_PERIOD = Fraction(1, 250)
BAND_POWER_PERIOD = Fraction(1)
SPECTROGRAM_PERIOD = Fraction(1)
STATE_PERIOD = Fraction(600)

SEVERITIES = ("mild", "moderate", "none", "slight", "strong", "unknown")
SPECTROGRAM_COLUMNS = tuple(f"f_{f}hz" for f in range(125))

LFP_CHANNELS: tuple[dict[str, str], ...] = (
    {"algorithm": "raw", "anatomy": "left_stn", "channel": "0", "sensor": "ZERO_THREE_LEFT"},
    {"algorithm": "raw", "anatomy": "right_stn", "channel": "1", "sensor": "ZERO_THREE_RIGHT"},
)
BANDS = ("alpha", "beta")
BAND_POWER_STREAMS: tuple[dict[str, str], ...] = tuple(
    {**channel, "algorithm": "band_power", "band": band} for channel in LFP_CHANNELS for band in BANDS
)

STATE_FIELDS = (
    "therapy_status",
    "active_group",
    "amplitude_ma",
    "rate_hz",
    "pulse_width_us",
    "battery_percent",
)
STATE_EVENTS = {
    "therapy_status": "therapy_status",
    "group_change": "active_group",
    "amplitude_change": "amplitude_ma",
}


# --------------------------------------------------------------------------------------------
# Hashing


def seed_of(*parts: str) -> int:
    """A stable 64-bit seed from text parts.

    >>> seed_of("patient-1", "watch-1") == seed_of("patient-1", "watch-1")
    True
    >>> seed_of("patient-1", "watch-1") == seed_of("patient-1", "watch-2")
    False
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def mix(seed: int, *keys: int) -> int:
    """A splitmix64-style hash of a seed and integer keys.

    >>> mix(1, 2) == mix(1, 2) and mix(1, 2) != mix(1, 3)
    True
    """
    x = seed & _MASK
    for key in keys:
        x = (x ^ (key & _MASK)) + 0x9E3779B97F4A7C15 & _MASK
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 31
    return x


def unit(seed: int, *keys: int) -> float:
    """A uniform number in [0, 1) from a seed and keys.

    >>> 0.0 <= unit(7, 1, 2) < 1.0
    True
    """
    return mix(seed, *keys) / 2.0**64


@lru_cache(maxsize=4096)
def phase(seed: int, key: int) -> float:
    """A fixed phase angle in [0, 2*pi) for a seed and key.

    >>> 0.0 <= phase(7, 1) < TAU
    True
    """
    return TAU * unit(seed, key)


def signed(seed: int, *keys: int) -> float:
    """A uniform number in [-1, 1) from a seed and keys.

    >>> -1.0 <= signed(7, 1, 2) < 1.0
    True
    """
    return 2.0 * unit(seed, *keys) - 1.0


def noise3(seed: int, tick: int) -> tuple[float, float, float]:
    """Three uniform numbers in [-1, 1) from one hash (21 bits each), for the 50-250 Hz series.

    >>> all(-1.0 <= n < 1.0 for n in noise3(7, 1)) and noise3(7, 1) != noise3(7, 2)
    True
    """
    h = mix(seed, tick)
    scale = 1.0 / (1 << 20)
    return (
        (h & 0x1FFFFF) * scale - 1.0,
        (h >> 21 & 0x1FFFFF) * scale - 1.0,
        (h >> 42 & 0x1FFFFF) * scale - 1.0,
    )


# --------------------------------------------------------------------------------------------
# Time


def as_time(value: Fraction) -> int | float:
    """An exact time as an int when whole, else the nearest float.

    >>> as_time(Fraction(1609459200)), as_time(Fraction(80472960001, 50))
    (1609459200, 1609459200.02)
    """
    return value.numerator if value.denominator == 1 else value.numerator / value.denominator


def time_of(tick: int, period: Fraction) -> int | float:
    """The unix time of a sample.

    >>> time_of(80472960001, Fraction(1, 50))
    1609459200.02
    >>> time_of(268243200, Fraction(6))
    1609459200
    """
    scaled = tick * period.numerator
    return scaled if period.denominator == 1 else scaled / period.denominator


def wear_windows(seed: int, day: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The two wear windows ``[start, end)`` of a UTC day index, in unix seconds.

    >>> (morning, afternoon) = wear_windows(seed_of("patient-1", "watch-1"), 18628)
    >>> morning[0] <= 1609491600 and morning[1] >= 1609498800  # 09:00 to 11:00 covered
    True
    """
    h = mix(seed, day)
    base = day * DAY
    return (
        (base + 8 * 3600 + (h % 12) * 300, base + 11 * 3600 + (h >> 8) % 12 * 300),
        (base + 13 * 3600 + (h >> 16) % 24 * 300, base + 18 * 3600 + (h >> 24) % 24 * 300),
    )


def day_range(start: Fraction, end: Fraction) -> range:
    """The UTC day indices that overlap ``[start, end)``, clipped to the years 2000-2099.

    >>> list(day_range(Fraction(1609459200), Fraction(1609459200 + 2 * DAY)))
    [18628, 18629]
    """
    first = max(FIRST_DAY, math.floor(start / DAY))
    stop = min(END_DAY, math.ceil(end / DAY))
    return range(first, max(first, stop))


def windows_in(seed: int, start: Fraction, end: Fraction) -> Iterator[tuple[Fraction, Fraction]]:
    """The wear windows clipped to ``[start, end)``, in time order, non-empty ones only.

    >>> s = seed_of("patient-1", "watch-1")
    >>> list(windows_in(s, Fraction(1609495200), Fraction(1609495300)))
    [(Fraction(1609495200, 1), Fraction(1609495300, 1))]
    """
    for day in day_range(start, end):
        for lo, hi in wear_windows(seed, day):
            lo_clip, hi_clip = max(start, Fraction(lo)), min(end, Fraction(hi))
            if lo_clip < hi_clip:
                yield lo_clip, hi_clip


def tick_span(lo: Fraction, hi: Fraction, period: Fraction) -> range:
    """The ticks whose time lies in ``[lo, hi)``.

    >>> tick_span(Fraction(10), Fraction(11), Fraction(1, 4))
    range(40, 44)
    """
    return range(math.ceil(lo / period), math.ceil(hi / period))


# --------------------------------------------------------------------------------------------
# Paging over chunks of rows


@dataclass(frozen=True)
class Chunk:
    """A run of ``count`` rows; ``row(i)`` builds the i-th one on demand."""

    count: int
    row: Callable[[int], Row]


def take(chunks: Iterable[Chunk], offset: int, limit: int) -> list[Row]:
    """Rows ``[offset, offset + limit)`` of the concatenated chunks, built lazily.

    >>> take([Chunk(3, lambda i: (i,)), Chunk(2, lambda i: (10 + i,))], 2, 2)
    [(2,), (10,)]
    """
    rows: list[Row] = []
    for chunk in chunks:
        if len(rows) >= limit:
            break
        if offset >= chunk.count:
            offset -= chunk.count
            continue
        stop = min(chunk.count, offset + limit - len(rows))
        rows.extend(chunk.row(i) for i in range(offset, stop))
        offset = 0
    return rows


def series_chunks(
    seed: int,
    start: Fraction,
    end: Fraction,
    period: Fraction,
    streams: int,
    row: Callable[[int, int], Row],
) -> Iterator[Chunk]:
    """One chunk per wear window: ``streams`` rows per tick, ``row(tick, stream)``."""
    for lo, hi in windows_in(seed, start, end):
        ticks = tick_span(lo, hi, period)
        if ticks:
            yield Chunk(len(ticks) * streams, _tick_row(ticks.start, streams, row))


def _tick_row(first: int, streams: int, row: Callable[[int, int], Row]) -> Callable[[int], Row]:
    """Map a row index within a window to ``row(tick, stream)``."""
    return lambda i: row(first + i // streams, i % streams)


def has_samples(seed: int, lo: Fraction, hi: Fraction, period: Fraction) -> bool:
    """Whether any sample of the period falls in ``[lo, hi)`` inside a wear window.

    >>> s = seed_of("patient-1", "watch-1")
    >>> has_samples(s, Fraction(1609495200), Fraction(1609495500), Fraction(1, 50))
    True
    >>> has_samples(s, Fraction(1609459200), Fraction(1609459500), Fraction(1, 50))
    False
    """
    return any(tick_span(a, b, period) for a, b in windows_in(seed, lo, hi))


def availability_bins(start: Fraction, end: Fraction, resolution: Fraction) -> tuple[Fraction, int]:
    """The first bin start (aligned to the epoch) and the number of bins covering ``[start, end)``.

    >>> availability_bins(Fraction(1000), Fraction(1700), Fraction(300))
    (Fraction(900, 1), 3)
    >>> availability_bins(Fraction(1000), Fraction(1000), Fraction(300))
    (Fraction(900, 1), 0)
    """
    first = math.floor(start / resolution) * resolution
    if end <= start:
        return first, 0
    return first, math.ceil((end - first) / resolution)


def blanked(row: Row, numeric: tuple[int, ...], rate: float, seed: int, *keys: int) -> Row:
    """The row with each numeric cell blanked (None) with probability ``rate``, by hash.

    >>> blanked((1, 2.0, 3.0), (1, 2), 1.0, 0, 5)
    (1, None, None)
    >>> blanked((1, 2.0, 3.0), (1, 2), 0.0, 0, 5)
    (1, 2.0, 3.0)
    """
    return tuple(None if i in numeric and unit(seed, *keys, i) < rate else cell for i, cell in enumerate(row))


# --------------------------------------------------------------------------------------------
# Time series values


def accel_row(seed: int, tick: int) -> Row:
    """``time,x,y,z`` in g: gravity on -z, slow tilt, small noise (50 Hz).

    >>> t, x, y, z = accel_row(seed_of("p", "d"), 80472960001)
    >>> t, 0.9 < (x * x + y * y + z * z) ** 0.5 < 1.1
    (1609459200.02, True)
    """
    t = time_of(tick, ACCEL_PERIOD)
    n1, n2, n3 = noise3(seed, tick)
    x = 0.12 * math.sin(TAU * t / 7.0 + phase(seed, 1)) + 0.02 * n1
    y = 0.18 * math.sin(TAU * t / 11.0 + phase(seed, 2)) + 0.02 * n2
    z = -math.sqrt(max(0.0, 1.0 - x * x - y * y)) + 0.02 * n3
    return (t, round(x, 4), round(y, 4), round(z, 4))


def rotation_row(seed: int, tick: int) -> Row:
    """``time,x,y,z`` in rad/s: slow swings plus noise (50 Hz).

    >>> all(abs(v) < 1.0 for v in rotation_row(seed_of("p", "d"), 80472960001)[1:])
    True
    """
    t = time_of(tick, ROTATION_PERIOD)
    noise = noise3(seed, tick)
    return (t,) + tuple(
        round(0.5 * math.sin(TAU * t / (2.3 + axis) + phase(seed, axis)) + 0.05 * noise[axis - 1], 4)
        for axis in (1, 2, 3)
    )


def heartrate_row(seed: int, tick: int) -> Row:
    """``time,bpm``: a whole bpm in 50..120, one every 5 s.

    >>> t, bpm = heartrate_row(seed_of("p", "d"), 321891840)
    >>> t, 50 <= bpm <= 120
    (1609459200, True)
    """
    t = time_of(tick, HEARTRATE_PERIOD)
    base = 62 + mix(seed, 0) % 14
    bpm = base + 16 * math.sin(TAU * t / 5400 + phase(seed, 1)) + 4 * signed(seed, tick)
    return (t, int(min(120, max(50, round(bpm)))))


def probability_row(seed: int, tick: int) -> Row:
    """``time,probability`` in [0, 1], one a minute.

    >>> 0.0 <= probability_row(seed_of("p", "d"), 26824320)[1] <= 1.0
    True
    """
    t = time_of(tick, PROBABILITY_PERIOD)
    p = 0.45 + 0.4 * math.sin(TAU * t / 7200 + phase(seed, 1)) + 0.08 * signed(seed, tick)
    return (t, round(min(1.0, max(0.0, p)), 3))


def severity_row(seed: int, tick: int) -> Row:
    """``time`` and the six severity shares, rounded; the last takes the remainder so they sum to 1.

    >>> row = severity_row(seed_of("p", "d"), 26824320)
    >>> abs(sum(row[1:]) - 1.0) < 1e-6 and min(row[1:]) >= 0
    True
    """
    weights = [unit(seed, tick, i) ** 2 for i in range(5)]
    weights.append(0.05 + 0.2 * unit(seed, tick, 5))
    total = sum(weights)
    shares = [round(w / total, 4) for w in weights[:-1]]
    return (time_of(tick, PROBABILITY_PERIOD), *shares, round(1.0 - sum(shares), 4))


def lfp_potential(seed: int, tick: int, channel: int) -> float:
    """One LFP sample in volts (about 1e-4), 250 Hz.

    >>> abs(lfp_potential(seed_of("p", "d"), 402364800000, 0)) < 0.001
    True
    """
    t = tick / 250
    beta = 0.9 * math.sin(TAU * (20 + channel) * t + phase(seed, 2 * channel + 1))
    slow = 0.5 * math.sin(TAU * 3.7 * t + phase(seed, 2 * channel + 2))
    return round(1e-4 * (beta + slow + 0.6 * noise3(seed, tick)[channel]), 6)


def lfp_stacked_row(seed: int, tick: int, stream: dict[str, str]) -> Row:
    """``timestamp,algorithm,anatomy,channel,sensor,potential`` for one channel."""
    potential = lfp_potential(seed, tick, int(stream["channel"]))
    return (
        time_of(tick, LFP_PERIOD),
        stream["algorithm"],
        stream["anatomy"],
        stream["channel"],
        stream["sensor"],
        potential,
    )


def band_power_row(seed: int, tick: int, stream: dict[str, str]) -> Row:
    """``timestamp,algorithm,anatomy,channel,sensor,band,power`` (arbitrary units, 1 Hz)."""
    t = time_of(tick, BAND_POWER_PERIOD)
    key = BAND_POWER_STREAMS.index(stream)
    base = 900.0 if stream["band"] == "alpha" else 1800.0
    power = base * (1 + 0.3 * math.sin(TAU * t / 900 + phase(seed, key)) + 0.15 * signed(seed, tick, key))
    meta = (stream["algorithm"], stream["anatomy"], stream["channel"], stream["sensor"], stream["band"])
    return (t, *meta, round(power, 2))


def spectrogram_row(seed: int, tick: int, stream: dict[str, str]) -> Row:
    """``timestamp,algorithm,anatomy,channel,sensor,f_0hz..f_124hz``: a 1/f spectrum with a beta bump.

    >>> len(spectrogram_row(0, 1609459200, LFP_CHANNELS[0]))
    130
    """
    key = int(stream["channel"])
    meta = (stream["algorithm"], stream["anatomy"], stream["channel"], stream["sensor"])
    values = tuple(
        round((2.0 / (f + 1) + (0.3 if 13 <= f <= 30 else 0.0)) * (1 + 0.2 * signed(seed, tick, key, f)), 5)
        for f in range(125)
    )
    return (time_of(tick, SPECTROGRAM_PERIOD), *meta, *values)


# --------------------------------------------------------------------------------------------
# Device state


def state_value(seed: int, field: str, tick: int) -> str | int | float | None:
    """The value of a state field at a tick (600 s steps); None for an unknown field.

    >>> state_value(0, "therapy_status", 2682432) in ("on", "off")
    True
    >>> state_value(0, "no_such_field", 2682432) is None
    True
    """
    if field == "therapy_status":
        return "off" if unit(seed, 11, tick // 3) < 0.3 else "on"
    if field == "active_group":
        draw = unit(seed, 12, tick // 9)
        return "A" if draw < 0.7 else "B" if draw < 0.9 else "C"
    if field == "amplitude_ma":
        return round(1.0 + 3.0 * unit(seed, 13, tick // 3), 1)
    if field == "rate_hz":
        return {"A": 130, "B": 150, "C": 180}[str(state_value(seed, "active_group", tick))]
    if field == "pulse_width_us":
        return 60
    if field == "battery_percent":
        return 96 - tick % 144 // 3
    return None


def state_changed(seed: int, field: str, tick: int) -> bool:
    """Whether a field's value at ``tick`` differs from the previous tick's.

    >>> state_changed(0, "pulse_width_us", 2682432)
    False
    """
    return state_value(seed, field, tick) != state_value(seed, field, tick - 1)


# --------------------------------------------------------------------------------------------
# Events and spans


def _record(seed: int, day: int, index: int, device_id: str, display: str, payload: dict) -> dict:
    """The fields common to events and spans."""
    namespace, event_type, enum = display.split(".")
    return {
        "device_id": device_id,
        "id": f"event-{mix(seed, day, index):016x}",
        "event_namespace": namespace,
        "event_type": event_type,
        "event_enum": enum,
        "display_name": display,
        "payload": payload,
    }


def events_of_day(seed: int, day: int, device_id: str) -> list[dict]:
    """The point events of a UTC day, in time order: three medication logs and symptom reports.

    >>> [e["display_name"] for e in events_of_day(seed_of("p"), 18628, "phone")][:2]
    ['patient.medication.log', 'patient.symptom.dyskinesia']
    """
    base = day * DAY
    events = []
    for i, hour in enumerate((8, 13, 19)):
        t = base + hour * 3600 + int(unit(seed, day, i) * 2400)
        payload = {
            "name": "Carbidopa/Levodopa 25/100",
            "dosage_quantity": 1.5 if i == 0 else 1.0,
            "dosage_unit": "tablet",
            "failed_dose": unit(seed, day, i, 1) < 0.05,
        }
        events.append((t, _record(seed, day, i, device_id, "patient.medication.log", payload)))
    for i in range(1 + mix(seed, day, 9) % 2):
        t = base + (10 + 6 * i) * 3600 + int(unit(seed, day, 10 + i) * 3000)
        symptom = ("tremor", "dyskinesia", "slowness")[mix(seed, day, 20 + i) % 3]
        payload = {
            "severity": ("slight", "mild", "moderate", "strong")[mix(seed, day, 30 + i) % 4],
            "note": "",
        }
        events.append((t, _record(seed, day, 10 + i, device_id, f"patient.symptom.{symptom}", payload)))
    events.sort(key=lambda pair: pair[0])
    return [{"time": t, "created_time": t + 30 + int(unit(seed, t) * 600), **record} for t, record in events]


def spans_of_day(seed: int, day: int, device_id: str) -> list[dict]:
    """The spans starting on a UTC day: a HealthKit workout on most days and a night of sleep.

    >>> [s["display_name"] for s in spans_of_day(seed_of("p"), 18628, "watch")][-1]
    'device.healthkit.sleep'
    """
    base = day * DAY
    spans = []
    if mix(seed, day, 1) % 4:
        start = base + 16 * 3600 + int(unit(seed, day, 2) * 7200)
        activity = ("walking", "cycling", "yoga")[mix(seed, day, 3) % 3]
        minutes = 20 + mix(seed, day, 4) % 50
        payload = {
            "activity_type": activity,
            "energy_kcal": round(minutes * (3.0 + 4.0 * unit(seed, day, 5)), 1),
            "distance_m": round(minutes * 80.0, 1) if activity != "yoga" else 0.0,
        }
        spans.append(
            (
                start,
                start + 60 * minutes,
                _record(seed, day, 1, device_id, "device.healthkit.workout", payload),
            )
        )
    start = base + 22 * 3600 + 1800 + int(unit(seed, day, 6) * 5400)
    end = start + 6 * 3600 + 1800 + int(unit(seed, day, 7) * 7200)
    payload = {"value": "asleep", "source": "Apple Watch"}
    spans.append((start, end, _record(seed, day, 2, device_id, "device.healthkit.sleep", payload)))
    return [
        {
            "start_time_min": start - 60,
            "start_time": start,
            "end_time": end,
            "end_time_max": end + 60,
            "created_time": end + 120 + int(unit(seed, start) * 600),
            **record,
        }
        for start, end, record in spans
    ]


def matches_event(display_name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a dotted name is one of, or below one of, the prefixes (no prefixes: everything).

    >>> matches_event("device.healthkit.sleep", ("device.healthkit",))
    True
    >>> matches_event("device.healthkitx.sleep", ("device.healthkit",))
    False
    """
    return not prefixes or any(display_name == p or display_name.startswith(p + ".") for p in prefixes)
