"""Bounded time and memory: one budget of tries, Retry-After within a cap, deadlines, a size limit,
errors that will not heal raised at once, each saying what happened."""

import time
from email.utils import formatdate

import pytest
from rawserver import RawServer, answer

from runeq_fn import Config, build_request, csv_points, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, TransportError

QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491610}


@pytest.fixture
def emu():
    with Emulator(page_size=100) as server:  # 500 rows: 5 pages and an empty one
        yield server


def points(emu, **values):
    config = Config(**emu.config_values(), **{"backoff": 0, **values})
    return list(stream.V1Client(config).Accel(**QUERY).points())


def first_page(emu, **values):
    config = Config(**emu.config_values(), **{"backoff": 0, **values})
    return next(pages(build_request(config, "accel", "csv", QUERY)))


MIX = [
    Fault("status", status=503),
    Fault("drop"),
    Fault("truncate"),
    Fault("bad_gzip"),
    Fault("close_delimited", cut=0.5),
    Fault("compressed", cut=0.5),
    Fault("status", status=429, retry_after=0),
]


@pytest.mark.parametrize("retries", [0, 2, 5])
def test_retries_bound_the_tries_of_a_page_whatever_the_mix_of_failures(emu, retries):
    for fault in MIX:
        emu.inject(fault)
    with pytest.raises(APIError) as err:
        points(emu, retries=retries)
    assert len(emu.requests) == retries + 1
    assert err.value.resume == {**QUERY, "page": 0}


def test_a_page_that_fails_in_every_way_once_still_arrives_with_enough_retries(emu):
    want = points(emu)
    emu.clear()
    for fault in MIX:
        emu.inject(fault)
    assert points(emu, retries=len(MIX)) == want
    assert len(emu.requests) == 6 + len(MIX)


def test_a_response_counts_its_tries_waits_throttles_and_wire_bytes(emu):
    emu.inject(Fault("status", status=429, retry_after=0, times=2))
    emu.inject(Fault("status", status=503))
    page = first_page(emu, retries=5, backoff=0.01)
    assert (page.attempts, page.throttled) == (4, 2)
    assert page.retry_wait > 0  # the third and fourth tries waited backoff * 2**(n-1)
    assert 0 < page.wire_bytes < len(page.content)  # gzip on the wire
    clean = first_page(emu)
    assert (clean.attempts, clean.throttled, clean.retry_wait) == (1, 0, 0.0)


def test_retry_after_longer_than_the_cap_is_an_error_naming_it_not_a_sleep(emu):
    emu.inject(Fault("status", status=429, retry_after=86400))
    with pytest.raises(APIError, match=r"asked to wait 86400 s .*Retry-After: 86400.*retry_after_max \(60 s\)") as err:
        points(emu)
    assert err.value.status_code == 429
    assert err.value.resume == {**QUERY, "page": 0}
    assert len(emu.requests) == 1


def test_retry_after_as_an_http_date_is_understood(emu):
    tomorrow = formatdate(time.time() + 86400, usegmt=True)
    emu.inject(Fault("status", status=503, retry_after=tomorrow))
    with pytest.raises(APIError, match=f"Retry-After: {tomorrow}") as err:
        points(emu, retry_after_max=3600)
    assert "asked to wait 86" in str(err.value)
    assert len(emu.requests) == 1


def test_retry_after_in_the_past_or_unreadable_falls_back_to_backoff(emu):
    want = points(emu)
    emu.clear()
    emu.inject(Fault("status", status=429, retry_after="soon"))
    emu.inject(Fault("status", status=503, retry_after="Thu, 01 Jan 2015 00:00:00 GMT"))
    assert points(emu, retries=2) == want
    assert len(emu.requests) == 8


def test_retry_after_past_the_pull_deadline_is_not_waited(emu):
    emu.inject(Fault("status", status=503, retry_after=30))
    with pytest.raises(TransportError, match=r"waiting 30 s .* would pass pull_deadline \(5 s\)"):
        points(emu, pull_deadline=5)
    assert len(emu.requests) == 1


def test_a_trickling_body_is_cut_off_by_the_page_deadline_and_tried_again(emu):
    emu.inject(Fault("trickle", seconds=0.05, times=99))
    with pytest.raises(TransportError, match=r"took longer than page_deadline \(0.3 s\).*gave up after 2 tries"):
        points(emu, retries=1, page_deadline=0.3, read_timeout=1)
    assert len(emu.requests) == 2


def test_a_trickling_body_is_cut_off_by_the_pull_deadline_without_a_retry(emu):
    emu.inject(Fault("trickle", seconds=0.05, times=99))
    with pytest.raises(TransportError, match=r"the pull took longer than pull_deadline \(0.5 s\)") as err:
        points(emu, retries=3, pull_deadline=0.5, read_timeout=1)
    assert err.value.resume == {**QUERY, "page": 0}
    assert len(emu.requests) == 1


def test_the_pull_deadline_spans_pages_and_starts_with_the_pull(emu):
    config = Config(**emu.config_values(), pull_deadline=0.5, read_timeout=1, backoff=0)
    accessor = stream.V1Client(config).Accel(**QUERY)
    pull = accessor.points()
    time.sleep(0.6)  # the deadline starts at the first page asked for, not at the call
    got = [next(pull) for _ in range(150)]
    emu.inject(Fault("trickle", seconds=0.05, times=99))
    with pytest.raises(TransportError, match="pull_deadline") as err:
        got.extend(pull)
    assert len(got) == 200 and err.value.resume["page"] == 2


@pytest.mark.parametrize("kind", ["bomb", "endless"])
def test_a_page_larger_than_max_page_bytes_is_an_error_and_not_retried(emu, kind):
    emu.inject(Fault(kind, size=64 * 2**20, times=99))
    with pytest.raises(TransportError, match=r"larger than max_page_bytes \(1,048,576 bytes decoded\)") as err:
        points(emu, max_page_bytes=2**20, retries=3)
    assert err.value.resume == {**QUERY, "page": 0}
    assert len(emu.requests) == 1


def test_a_content_length_past_max_page_bytes_is_refused_before_reading():
    big = answer(body=b"time,x\n" + b"1,2\n" * 1000)
    with RawServer([big]) as raw:
        config = Config(jwt="j", stream_url=raw.url, max_page_bytes=1000, retries=2)
        with pytest.raises(TransportError, match="larger than max_page_bytes"):
            list(csv_points(pages(build_request(config, "accel", "csv", QUERY))))
        assert len(raw.heads) == 1


def test_a_redirect_to_a_file_url_is_reported_as_such_and_not_retried(emu):
    emu.inject(Fault("redirect", location="file://", times=99))
    with pytest.raises(TransportError, match=r"redirected to file:///v1/accel.csv, which is not an http or https URL"):
        points(emu, retries=3)
    assert len(emu.requests) == 1


REFUSED = {
    "header-line-past-64KiB": answer(headers=[("X-Long", "a" * 70000)]),
    "101-headers": answer(headers=[(f"X-{n}", "a") for n in range(101)]),
    "two-content-lengths": answer(body=b"time,x\n", headers=[("Content-Length", "7, 8")], length=False),
    "no-status-line": b"garbage\r\n\r\n",
}


@pytest.mark.parametrize("reply", REFUSED.values(), ids=REFUSED.keys())
def test_an_answer_the_http_library_refuses_is_reported_and_not_retried(reply):
    with RawServer([reply]) as raw:
        config = Config(jwt="j", stream_url=raw.url, retries=3, backoff=0)
        with pytest.raises(TransportError, match="refuses") as err:
            list(csv_points(pages(build_request(config, "accel", "csv", QUERY))))
        assert len(raw.heads) == 1
        assert err.value.resume == {**QUERY, "page": 0}


def test_an_unknown_content_encoding_is_reported_and_not_retried():
    reply = answer(body=b"\x00\x01", headers=[("Content-Type", "text/csv"), ("Content-Encoding", "br")])
    with RawServer([reply]) as raw:
        config = Config(jwt="j", stream_url=raw.url, retries=3, backoff=0)
        with pytest.raises(TransportError, match="encoded as 'br', which runeq-fn does not decode"):
            list(csv_points(pages(build_request(config, "accel", "csv", QUERY))))
        assert len(raw.heads) == 1
