"""Whole or absent, for every way a body can arrive: framing, compression, what arrived, its charset."""

import time

import pytest
from rawserver import RawServer, answer

from runeq_fn import Config, build_request, csv_points, json_pages, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import ParseError, TransportError
from runeq_fn.sinks.export import export_query

QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491610}
NO_RETRY = {"retries": 2, "backoff": 0}


@pytest.fixture(params=[True, False], ids=["gzip", "identity"])
def emu(request):
    with Emulator(page_size=100, gzip=request.param) as server:  # 500 rows: 5 pages and an empty one
        yield server


def accel(emu, **values):
    return stream.V1Client(Config(**emu.config_values(), **{"backoff": 0, **values})).Accel(**QUERY)


def clean_pull(emu):
    points = list(accel(emu).points())
    emu.clear()
    return points


def core_points(emu, **values):
    request = build_request(Config(**emu.config_values(), **values), "accel", "csv", QUERY)
    return csv_points(pages(request))


BODIES = [
    Fault("chunked"),
    Fault("close_delimited"),
    Fault("compressed", encoding="gzip"),
    Fault("compressed", encoding="deflate"),
]
CUT = [
    Fault("chunked", cut=0.5, times=99),  # at a chunk's end
    Fault("chunked", cut=0.3, times=99),  # inside a chunk
    Fault("close_delimited", cut=0.5, times=99),
    Fault("close_delimited", cut=0.999, times=99),  # the last row's line end missing
    Fault("compressed", encoding="gzip", cut=0.9, times=99),
    Fault("compressed", encoding="deflate", cut=0.9, times=99),
]


def name(fault):
    return f"{fault.kind}-{fault.encoding if fault.kind == 'compressed' else ''}-{fault.cut}"


@pytest.mark.parametrize("fault", BODIES, ids=name)
def test_every_framing_and_encoding_of_a_whole_page_gives_the_same_points(emu, fault):
    want = clean_pull(emu)
    emu.inject(Fault(fault.kind, encoding=fault.encoding, times=99))
    assert list(accel(emu, retries=0).points()) == want
    assert len(emu.requests) == 6


@pytest.mark.parametrize("fault", CUT, ids=name)
def test_a_page_cut_short_is_never_yielded(emu, fault):
    emu.inject(fault)
    got = []
    with pytest.raises(TransportError, match="not whole") as err:
        got.extend(core_points(emu, **NO_RETRY))
    assert got == []
    assert err.value.resume == {**QUERY, "page": 0}
    assert "gave up after 3 tries" in str(err.value)
    assert len(emu.requests) == 3


@pytest.mark.parametrize("fault", CUT, ids=name)
def test_a_page_cut_short_once_is_tried_again(emu, fault):
    want = clean_pull(emu)
    emu.inject(Fault(fault.kind, encoding=fault.encoding, cut=fault.cut, times=1))
    assert list(accel(emu, retries=1).points()) == want
    assert len(emu.requests) == 7


def test_a_close_delimited_page_cut_in_half_yields_no_point_of_it():
    """The issue's case: 1000 rows, the connection closed half way, no gzip."""
    with Emulator(page_size=1000, gzip=False) as emu:
        query = {**QUERY, "end_time": QUERY["start_time"] + 20}
        accessor = stream.V1Client(Config(**emu.config_values(), retries=1, backoff=0)).Accel(**query)
        emu.inject(Fault("close_delimited", cut=0.5, times=99))
        got = []
        with pytest.raises(TransportError, match="connection closed before the page ended"):
            got.extend(accessor.points())
        assert got == []


@pytest.mark.parametrize("content_type", [None, "", "text/plain"], ids=["text/html", "none", "text/plain"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_html_page_with_status_200_is_an_error_saying_what_arrived(emu, fmt, content_type):
    emu.inject(Fault("html", status=200, content_type=content_type, times=99))
    accessor = accel(emu, retries=3)
    got = []
    with pytest.raises(TransportError, match=f"expected a {fmt.upper()} page but an HTML page") as err:
        got.extend(accessor.points() if fmt == "csv" else accessor.iter_json_data())
    assert got == []
    assert "<html><body><h1>200 OK</h1></body></html>" in str(err.value)
    assert err.value.status_code == 200
    assert len(emu.requests) == 1  # a login page does not go away by asking again


def test_a_csv_header_that_changes_mid_pull_keys_each_page_by_its_own_header(emu):
    want = clean_pull(emu)
    for read in (core_points(emu), accel(emu).points()):
        got = [next(read) for _ in range(150)]  # pages 0 and 1 read
        emu.inject(Fault("header_change", times=2))  # pages 2 and 3: columns in reverse order
        got.extend(read)
        assert got == want
        assert list(got[250]) == list(reversed(list(want[250])))


def test_a_csv_export_refuses_a_header_that_changes_mid_pull(emu):
    import io

    def change_after_the_first_page(pull):
        if pull.pages == 1:
            emu.inject(Fault("header_change"))

    with pytest.raises(ParseError, match="differs from the first page's"):
        export_query(Config(**emu.config_values()), "accel", QUERY, "csv", io.BytesIO(), progress=change_after_the_first_page)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_bytes_that_are_not_utf8_are_an_error_on_every_route(emu, fmt):
    accessor = accel(emu)
    core = build_request(Config(**emu.config_values()), "accel", fmt, QUERY)
    reads = {
        "csv": [lambda: accessor.points(), lambda: csv_points(pages(core)), lambda: accessor.iter_csv_text()],
        "json": [lambda: accessor.iter_json_data(), lambda: json_pages(pages(core))],
    }[fmt]
    for read in reads:
        emu.inject(Fault("non_utf8", path="/v1/accel"))
        with pytest.raises(ParseError, match=r"not valid utf-8 .*byte \d+ is b'\\xe9'"):
            list(read())
        emu.clear()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_is_decoded_by_the_charset_the_response_declares(emu, fmt):
    emu.inject(Fault("non_utf8", charset="iso-8859-1"))
    accessor = accel(emu)
    if fmt == "csv":
        first = next(accessor.points())
        assert first["note"] == "café"
    else:
        request = build_request(Config(**emu.config_values()), "accel", "json", QUERY)
        assert next(pages(request)).json()["note"] == "café"


def test_idle_keep_alive_connections_closed_by_the_server_cost_no_try():
    with Emulator(page_size=100, idle_timeout=0.2) as emu:
        accessor = accel(emu, retries=0)
        first = list(accessor.points())
        time.sleep(0.5)  # every pooled connection has been closed by the server by now
        assert list(accessor.points()) == first
        assert len(emu.requests) == 12


def test_a_chunked_body_from_a_raw_server_that_ends_without_its_last_chunk_is_not_whole():
    body = b"time,x\n1,2\n"
    cut = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n" + b"b\r\n" + body + b"\r\n"
    with RawServer([cut] * 2) as raw:
        request = build_request(Config(jwt="j", stream_url=raw.url, retries=1, backoff=0), "accel", "csv", QUERY)
        with pytest.raises(TransportError, match="not whole|broke"):
            list(csv_points(pages(request)))
        assert len(raw.heads) == 2


def test_a_body_with_no_length_from_a_raw_server_is_whole_only_when_its_shape_is():
    whole, cut = b"time,x\n1,2\n3,4\n", b"time,x\n1,2\n3,"
    with RawServer([answer(body=whole, length=False)]) as raw:
        request = build_request(Config(jwt="j", stream_url=raw.url, retries=0), "accel", "csv", QUERY)
        assert list(csv_points(pages(request))) == [{"time": 1.0, "x": 2.0}, {"time": 3.0, "x": 4.0}]
    with RawServer([answer(body=cut, length=False)] * 2) as raw:
        request = build_request(Config(jwt="j", stream_url=raw.url, retries=1, backoff=0), "accel", "csv", QUERY)
        with pytest.raises(TransportError, match="connection closed before the page ended"):
            list(csv_points(pages(request)))
        assert len(raw.heads) == 2


def test_csv_pages_given_as_bytes_are_decoded_strictly_too():
    assert list(csv_points([b"time,x\n1,2\n"])) == [{"time": 1.0, "x": 2.0}]
    with pytest.raises(ParseError, match="not valid utf-8"):
        list(csv_points([b"time,note\n1,caf\xe9\n"]))
