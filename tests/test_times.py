"""Times in Python as the command line takes them: unix seconds, ISO 8601, datetimes, pandas Timestamps;
and a range that holds no time, or a time in milliseconds, refused before any request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from extras import need
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn import Config, build_request, cli, csv_points, pages, stream
from runeq_fn.emulator import Emulator
from runeq_fn.errors import UsageError

CFG = Config(jwt="not-a-real-jwt", stream_url="http://127.0.0.1:9")
START, END = 1609491600, 1609491602  # 2021-01-01 09:00:00 to 09:00:02 UTC
QUERY = {"patient_id": "p1", "device_id": "d1"}
moments = st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.timezones())


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=50) as emulator:
        yield emulator


def sent(query: dict) -> tuple:
    """The times of the request built for ``query``, as sent."""
    request = build_request(CFG, "accel", "csv", query)
    return request.param("start_time"), request.param("end_time")


@given(moments)
def test_an_aware_datetime_and_its_iso_text_are_sent_as_the_same_unix_seconds(moment: datetime) -> None:
    seconds = round(moment.timestamp(), 6)
    later = moment.astimezone(timezone.utc) + timedelta(seconds=1)  # wall-clock addition is not a second in a DST fold
    assert sent({"start_time": moment, "end_time": later}) == pytest.approx((seconds, seconds + 1), abs=1e-6)
    assert sent({"start_time": moment.isoformat(), "end_time": later.isoformat()}) == sent(
        {"start_time": moment, "end_time": later}
    )


@given(st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1)))
def test_a_naive_datetime_is_utc_as_iso_text_without_an_offset_is(moment: datetime) -> None:
    aware = moment.replace(tzinfo=timezone.utc)
    end = aware + timedelta(hours=1)
    assert sent({"start_time": moment, "end_time": end}) == sent({"start_time": aware, "end_time": end})
    assert sent({"start_time": moment.isoformat(), "end_time": end}) == sent({"start_time": aware, "end_time": end})


@given(st.one_of(st.integers(-10**10, 10**10), st.floats(-1e10, 1e10, allow_nan=False)), st.integers(1, 10**6))
def test_numbers_are_sent_as_given(start: float, length: int) -> None:
    times = sent({"start_time": start, "end_time": start + length})
    assert times == (start, start + length) and type(times[0]) is type(start)


def test_whole_seconds_are_ints_and_fractions_floats() -> None:
    assert sent({"start_time": "2021-01-01T09:00:00Z", "end_time": "2021-01-01T10:00:00.5+01:00"}) == (START, START + 0.5)
    assert type(sent({"start_time": datetime(2021, 1, 1, 9)})[0]) is int


def test_a_pandas_timestamp_is_a_time() -> None:
    need("pandas")
    import pandas as pd

    stamps = (pd.Timestamp("2021-01-01 10:00", tz="Europe/Paris"), pd.Timestamp("2021-01-01 09:00:02"))
    assert sent(dict(zip(("start_time", "end_time"), stamps))) == (START, END)


@pytest.mark.parametrize(
    ("times", "fragment"),
    [
        ({"start_time": END, "end_time": START}, "end_time is before start_time: swap them"),
        ({"start_time": START, "end_time": "1609491600"}, "end_time equals start_time"),
        ({"start_time": "2021-01-02", "end_time": datetime(2021, 1, 1, tzinfo=timezone.utc)}, "swap them"),
        ({"start_time": START * 1000, "end_time": END * 1000}, "start_time looks like milliseconds: divide by 1000"),
        ({"start_time": START, "end_time": "soon-S3CRET"}, "end_time must be unix seconds, ISO 8601 text or a datetime"),
        ({"start_time": [START]}, "start_time must be unix seconds"),
        ({"start_time": True}, "start_time must be unix seconds"),
        ({"start_time": float("nan")}, "start_time must be a finite number"),
    ],
)
def test_a_range_without_time_or_a_time_not_in_seconds_is_refused_before_any_request(
    emu: Emulator, times: dict, fragment: str
) -> None:
    cfg = Config(**emu.config_values())
    with pytest.raises(UsageError, match=fragment) as refused:
        list(csv_points(pages(build_request(cfg, "accel", "csv", {**QUERY, **times}))))
    assert "S3CRET" not in str(refused.value)
    assert emu.requests == []


def test_the_shim_takes_iso_times_and_datetimes_and_sends_unix_seconds(emu: Emulator) -> None:
    client = stream.V1Client(Config(**emu.config_values()))
    numbers = list(client.Accel(**QUERY, start_time=START, end_time=END).points())
    emu.clear()
    iso = list(client.Accel(**QUERY, start_time="2021-01-01T09:00:00Z").points(
        end_time=datetime(2021, 1, 1, 10, 0, 2, tzinfo=timezone(timedelta(hours=1)))))  # fmt: skip
    assert iso == numbers and len(numbers) == 100
    assert dict(emu.requests[0].params)["start_time"] == str(START)
    assert dict(emu.requests[0].params)["end_time"] == str(END)


@pytest.mark.parametrize(
    ("times", "fragment"),
    [({"start_time": END, "end_time": START}, "swap them"), ({"end_time": END * 1000}, "looks like milliseconds")],
)
def test_the_shim_refuses_a_range_without_time_before_any_request(emu: Emulator, times: dict, fragment: str) -> None:
    accel = stream.V1Client(Config(**emu.config_values())).Accel(**QUERY, start_time=START)
    with pytest.raises(UsageError, match=fragment):
        list(accel.points(**times))
    assert emu.requests == []


def test_the_command_line_refuses_a_reversed_range_before_sending(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["fetch", "accel", "--emulator", "--start-time", "2021-01-01T10:00:00Z", "--end-time", "2021-01-01T09:00:00Z"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == "runeq: error: --end-time is before --start-time: swap them (the range [--start-time, --end-time) holds no time)\n"
