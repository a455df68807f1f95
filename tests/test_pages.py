"""Pagination over HTTP: any split of the same rows into pages yields the same points."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolz import compose, pipe

from runeq_fn import Config, build_request, csv_points, json_pages, pages, stream
from runeq_fn.emulator import Emulator
from runeq_fn.errors import APIError

START = 1609491600  # 2021-01-01 09:00 UTC, inside a wear window
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": START, "end_time": START + 6}


@pytest.fixture(scope="module")
def servers():
    """One emulator per pagination scheme; tests change their page size."""
    with Emulator(pagination="page") as a, Emulator(pagination="token") as b, Emulator(pagination="mixed") as c:
        yield {"page": a, "token": b, "mixed": c}


def pull(emu, page_size, prefetch=0, fmt="csv", query=QUERY):
    emu.page_size = page_size
    request = build_request(Config(**emu.config_values()), "accel", fmt, query)
    if fmt == "csv":
        return list(csv_points(pages(request, prefetch=prefetch)))
    columns = list(json_pages(pages(request, prefetch=prefetch)))
    return [dict(zip(page, row)) for page in columns for row in zip(*page.values())]


@settings(max_examples=40)
@given(
    scheme=st.sampled_from(["page", "token", "mixed"]),
    page_size=st.integers(1, 400),
    prefetch=st.integers(0, 4),
    fmt=st.sampled_from(["csv", "json"]),
    seconds=st.integers(1, 8),  # end <= start is refused
)
def test_any_split_into_pages_yields_the_same_points(servers, scheme, page_size, prefetch, fmt, seconds):
    query = {**QUERY, "end_time": START + seconds}
    whole = pull(servers["page"], 10**6, fmt=fmt, query=query)
    assert len(whole) == 50 * seconds
    assert pull(servers[scheme], page_size, prefetch, fmt, query) == whole


@pytest.mark.parametrize("scheme", ["page", "token", "mixed"])
def test_the_shim_and_a_toolz_pipeline_agree(servers, scheme):
    emu = servers[scheme]
    emu.page_size = 70
    cfg = Config(**emu.config_values())
    by_pipe = pipe(QUERY, build_request(cfg, "accel", "csv"), pages, csv_points, list)
    by_compose = compose(list, csv_points, pages(prefetch=3), build_request(cfg, "accel", "csv"))(QUERY)
    by_shim = list(stream.V1Client(cfg).Accel(**QUERY).points())
    assert by_pipe == by_compose == by_shim
    assert len(by_shim) == 300


def test_nothing_is_fetched_before_the_first_item(servers):
    emu = servers["page"]
    emu.page_size = 100
    emu.clear()
    points = stream.V1Client(Config(**emu.config_values())).Accel(**QUERY).points()
    assert emu.requests == []
    next(points)
    assert len(emu.requests) == 1


@pytest.mark.parametrize("depth", [1, 3])
def test_prefetch_keeps_at_most_depth_requests_ahead(depth):
    with Emulator(pagination="page", page_size=10, delay=0.05) as emu:
        # no retries: the requests still in flight when the server stops must not linger
        config = Config(**emu.config_values(), retries=0)
        points = stream.V1Client(config, prefetch=depth).Accel(**QUERY).points()
        for _ in range(15):  # into the second page
            next(points)
        points.close()
        assert 2 <= len(emu.requests) <= 2 + depth


def test_prefetch_never_guesses_for_a_token_server(servers):
    emu = servers["token"]
    emu.page_size = 50
    emu.clear()
    assert len(pull(emu, 50, prefetch=4)) == 300
    assert len(emu.requests) == 7  # six pages and the empty one: no wasted guesses


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_prefetch_by_page_number_uses_its_guesses(fmt):
    with Emulator(pagination="page", page_size=30) as emu:  # 300 rows: 10 pages
        assert len(pull(emu, 30, prefetch=4, fmt=fmt)) == 300
        # every page once, and at most the guesses in flight past the end
        assert 10 <= len(emu.requests) <= 10 + 1 + 4


def test_shim_methods_are_lazy_like_runeq_even_about_errors():
    with Emulator() as emu:
        client = stream.V1Client(Config(**emu.config_values()))
        unavailable = client.Event().iter_json_availability()  # no error yet, as in runeq 0.15.0
        bad_page = client.Accel(**QUERY).points(page="first")
        with pytest.raises(NotImplementedError):
            next(unavailable)
        assert emu.requests == []
        # as in runeq, the page goes to the server unchecked, and its 400 comes back as APIError
        with pytest.raises(APIError, match="400 BadRequestError: .*page must be a non-negative integer"):
            next(bad_page)
        assert [dict(r.params)["page"] for r in emu.requests] == ["first"]


def test_a_pull_closed_early_does_not_hold_up_the_program_end():
    import subprocess
    import sys

    script = """
from runeq_fn import Config, stream
from runeq_fn.emulator import Emulator, Fault
emu = Emulator(pagination="page", page_size=10).start()
points = stream.V1Client(Config(**emu.config_values()), prefetch=3).Accel(
    patient_id="p", device_id="d", start_time=1609491600, end_time=1609491606).points()
next(points)
import time
while len(emu.requests) < 4:  # the first page and the 3 ahead are past the fault queue: only later pages are slow
    time.sleep(0.01)
emu.inject(Fault("slow", seconds=60, times=99))
for _ in range(15):
    next(points)  # the prefetched pages ahead now hang on the slow server
points.close()
print("closed", flush=True)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "closed\n"
