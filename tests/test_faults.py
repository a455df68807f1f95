"""Reliability and credential safety, with faults injected into the emulator over loopback."""

import logging
import time

import pytest

from runeq_fn import Config, build_request, csv_points, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, PaginationError, ParseError, TransportError
from runeq_fn.policy import Policy

QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491610}
FAST = {"retries": 5, "backoff": 0.01, "read_timeout": 2.0}


@pytest.fixture
def emu():
    with Emulator(page_size=100) as server:  # 500 rows: 5 pages and an empty one
        yield server


def accel(emu, pagination_retries=FAST, **client):
    cfg = Config(**emu.config_values(), **pagination_retries)
    return stream.V1Client(cfg, **client).Accel(**QUERY)


def clean_pull(emu):
    points = list(accel(emu).points())
    emu.clear()
    return points


def statuses(emu, path="/v1/accel"):
    return [r.status for r in emu.requests if r.path.startswith(path)]


TRANSIENT = [
    Fault("status", status=503),
    Fault("status", status=500),
    Fault("status", status=502),
    Fault("status", status=504),
    Fault("status", status=429, retry_after=0),
    Fault("html", status=502),
    Fault("empty_error", status=503),
    Fault("drop"),
    Fault("truncate"),
    Fault("bad_gzip"),
]


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: f"{f.kind}-{f.status}")
def test_each_transient_fault_is_retried_to_the_same_data(emu, fault):
    want = clean_pull(emu)
    emu.inject(fault)
    assert list(accel(emu).points()) == want
    assert len(emu.requests) == 7  # 6 pages (the last empty) and one retry


def test_five_transient_faults_in_one_pull_give_the_clean_data(emu):
    want = clean_pull(emu)
    for fault in (Fault("status", status=503), Fault("drop"), Fault("truncate"),
                  Fault("status", status=429, retry_after=0), Fault("bad_gzip")):
        emu.inject(fault)
    with Emulator(page_size=100, pagination="token") as other:
        other.inject(Fault("status", times=5))
        assert list(accel(other).points()) == want
    assert list(accel(emu).points()) == want
    assert len(emu.requests) == 6 + 5


def test_retry_after_is_honoured(emu):
    emu.inject(Fault("status", status=429, retry_after=1))
    started = time.monotonic()
    list(accel(emu).points())
    assert time.monotonic() - started >= 1.0
    assert statuses(emu)[:2] == [429, 200]


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(emu, status):
    emu.inject(Fault("status", status=status, times=3))
    with pytest.raises(APIError) as err:
        list(accel(emu).points())
    assert err.value.status_code == status
    assert len(emu.requests) == 1


def test_when_retries_run_out_the_last_status_is_raised_with_resume(emu):
    emu.inject(Fault("status", status=503, times=99, path="/v1/accel"))
    with pytest.raises(APIError) as err:
        list(accel(emu, {"retries": 2, "backoff": 0}).points())
    assert err.value.status_code == 503
    assert err.value.details["type"] == "ServiceUnavailable"
    assert err.value.resume == {**QUERY, "page": 0}
    assert len(emu.requests) == 3


@pytest.mark.parametrize("kind", ["drop", "truncate", "bad_gzip"])
def test_broken_bodies_are_never_yielded(emu, kind):
    emu.inject(Fault(kind, times=99))
    got = []
    with pytest.raises(TransportError) as err:
        got.extend(accel(emu, {"retries": 2, "backoff": 0}).points())
    assert got == []
    assert err.value.resume == {**QUERY, "page": 0}
    assert "127.0.0.1" in str(err.value)


def test_a_hung_server_is_cut_off_by_the_read_timeout(emu):
    emu.inject(Fault("slow", seconds=1.5, times=99))
    started = time.monotonic()
    with pytest.raises(TransportError, match="in time"):
        list(accel(emu, {"retries": 1, "backoff": 0, "read_timeout": 0.2}).points())
    assert time.monotonic() - started < 1.5


def test_a_slow_answer_within_a_retry_is_recovered(emu):
    want = clean_pull(emu)
    emu.inject(Fault("slow", seconds=0.6))
    assert list(accel(emu, {**FAST, "read_timeout": 0.3}).points()) == want


def test_resume_after_an_error_mid_pull_completes_the_data(emu):
    want = clean_pull(emu)
    got = []
    accessor = accel(emu, {"retries": 0})
    points = accessor.points()
    got.extend(next(points) for _ in range(250))  # pages 0 to 2 read
    emu.inject(Fault("status", status=503, times=1))
    with pytest.raises(APIError) as err:
        got.extend(points)
    assert err.value.resume["page"] == 3
    got.extend(accessor.points(**err.value.resume))
    assert got == want


@pytest.mark.parametrize("pagination", ["token", "mixed"])
def test_resume_works_from_a_token_page_too(pagination):
    with Emulator(page_size=100, pagination=pagination) as emu:
        want = clean_pull(emu)
        accessor = accel(emu, {"retries": 0})
        got, points = [], accessor.points()
        got.extend(next(points) for _ in range(101))
        emu.inject(Fault("drop", times=1))
        with pytest.raises(TransportError) as err:
            got.extend(points)
        got = got[: err.value.resume["page"] * 100]
        got.extend(accessor.points(**err.value.resume))
        assert got == want


@pytest.mark.parametrize("pagination", ["page", "token"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_server_loop_stops_with_a_clear_error(pagination, fmt):
    with Emulator(page_size=100, pagination=pagination) as emu:
        emu.inject(Fault("repeat_token", times=99))
        accessor = accel(emu)
        iterate = accessor.iter_json_data if fmt == "json" else accessor.iter_csv_text
        got = []
        with pytest.raises(PaginationError, match="pagination loop") as err:
            got.extend(iterate(page=1))  # from page 0, a repeated next_page 0 reads as "no next page"
        # page 1 may be read once more under a token (opaque: it cannot be known to be page 1),
        # then the exact repeat stops the pull before the repeated page is delivered
        assert len(got) <= 1
        assert len(emu.requests) <= 3
        assert err.value.resume is not None


@pytest.mark.parametrize("prefetch", [0, 2])
def test_resuming_after_a_server_loop_reads_every_page_once(prefetch):
    with Emulator(page_size=100, pagination="token") as emu:
        want = clean_pull(emu)
        accessor = accel(emu, prefetch=prefetch)
        points = accessor.points()
        got = [next(points) for _ in range(150)]
        emu.inject(Fault("repeat_token", times=1))
        with pytest.raises(PaginationError) as err:
            got.extend(points)
        got.extend(accessor.points(**err.value.resume))
        assert got == want


def test_a_json_body_cut_short_is_a_parse_error_with_resume(emu):
    request = build_request(Config(**emu.config_values()), "accel", "json", QUERY)

    def fetch_cut(req):
        from runeq_fn.http.transport import fetch

        answer = fetch(req)
        return type(answer)(answer.status_code, answer.headers, answer.content[:50], answer.url)

    with pytest.raises(ParseError, match="not JSON") as err:
        list(pages(request, fetch=fetch_cut))
    assert err.value.resume["start_time"] == QUERY["start_time"]


def test_credentials_do_not_follow_a_redirect_to_another_host():
    with Emulator(page_size=100) as first, Emulator(host="127.0.0.2") as second:
        first.inject(Fault("redirect", location=second.url))
        with pytest.raises(APIError) as err:
            list(accel(first).points())
        assert err.value.status_code == 401
        [landed] = second.requests
        assert not [h for h in landed.header_names if h.startswith("x-rune")]
        assert landed.auth is None


def test_credentials_follow_a_redirect_on_the_same_host(emu):
    want = clean_pull(emu)
    emu.inject(Fault("redirect", status=307, location=emu.url))
    assert list(accel(emu).points()) == want
    assert statuses(emu)[:2] == [307, 200]


def test_an_expired_jwt_is_refreshed_once_through_cognito():
    with Emulator(page_size=100, jwt_expired=True) as emu:
        values = emu.config_values(auth="cognito_refresh")
        cfg = Config(**values, jwt=emu.credentials["jwt"], auth_method="cognito_refresh")
        points = list(stream.V1Client(cfg).Accel(**QUERY).points())
        assert len(points) == 500
        kinds = [(r.method, r.path.split(".")[0], r.status) for r in emu.requests]
        assert kinds[:3] == [("GET", "/v1/accel", 401), ("POST", "/cognito", 200), ("GET", "/v1/accel", 200)]
        assert [k for k in kinds if k[2] == 401] == [kinds[0]]


def test_a_refreshed_jwt_that_is_refused_again_raises_401():
    with Emulator(jwt_expired=True) as emu:
        cfg = Config(jwt=emu.credentials["jwt"], stream_url=emu.url)
        with pytest.raises(APIError) as err:
            list(stream.V1Client(cfg).Accel(**QUERY).points())
        assert err.value.status_code == 401
        assert len(emu.requests) == 1


def test_refresh_auth_without_a_refresh_token_is_false(emu):
    assert Config(**emu.config_values()).refresh_auth() is False


@pytest.mark.parametrize("auth", ["access_token", "client_keys", "jwt"])
def test_secrets_never_reach_logs_reprs_or_errors(auth, caplog):
    caplog.set_level(logging.DEBUG)
    with Emulator(page_size=100) as emu:
        secrets = [v for k, v in emu.credentials.items() if k != "cognito_client_id"]
        cfg = Config(**emu.config_values(auth=auth), retries=1, backoff=0)
        accessor = stream.V1Client(cfg).Accel(**QUERY)
        texts = [repr(cfg), repr(stream.V1Client(cfg)), repr(accessor)]
        texts.append(repr(build_request(cfg, "accel", "csv", QUERY)))
        texts.append(repr(accessor.get_csv_response()))
        emu.inject(Fault("status", status=503, times=9))
        with pytest.raises(APIError) as err:
            list(accessor.points())
        texts += [str(err.value), repr(err.value), repr(err.value.resume)]
        emu.clear()
        emu.inject(Fault("drop", times=9))
        with pytest.raises(TransportError) as err:
            list(accessor.points())
        texts += [str(err.value), repr(err.value), caplog.text]
    blob = "\n".join(texts)
    assert "127.0.0.1" in blob
    for secret in secrets:
        assert secret not in blob


def test_the_functional_api_takes_a_policy_per_call(emu):
    emu.inject(Fault("status", status=503, times=3))
    request = build_request(Config(**emu.config_values()), "accel", "csv", QUERY, policy=Policy(retries=1, backoff=0))
    with pytest.raises(APIError):
        list(csv_points(pages(request)))
    assert len(emu.requests) == 2


def test_a_cognito_config_gets_its_first_jwt_when_made(emu):
    cfg = Config(**emu.config_values(auth="cognito_refresh"))
    assert cfg.auth_method == "cognito_refresh"
    assert [(r.method, r.path.rstrip("/")) for r in emu.requests] == [("POST", "/cognito")]
    assert len(list(stream.V1Client(cfg).Accel(**QUERY).points())) == 500


def test_a_refused_refresh_token_says_so():
    with Emulator() as emu:
        values = {**emu.config_values(auth="cognito_refresh"), "cognito_refresh_token": "revoked"}
        with pytest.raises(APIError, match="400 NotAuthorizedException"):
            Config(**values)


def test_a_redirect_loop_raises_instead_of_ending_the_pull(emu):
    accessor = accel(emu)
    points = accessor.points()
    got = [next(points) for _ in range(150)]
    emu.inject(Fault("redirect", status=302, times=99, location=emu.url))
    with pytest.raises(TransportError, match="redirect") as err:
        got.extend(points)
    assert len(got) == 200 and err.value.resume["page"] == 2


def test_a_redirect_does_not_use_up_the_retries(emu):
    want = clean_pull(emu)
    emu.inject(Fault("redirect", status=307, location=emu.url))
    assert list(accel(emu, {"retries": 0}).points()) == want


def test_a_json_body_that_is_not_an_object_is_a_parse_error(emu):
    request = build_request(Config(**emu.config_values()), "accel", "json", QUERY)

    def fetch_list(req):
        from runeq_fn.http.transport import fetch

        answer = fetch(req)
        return type(answer)(answer.status_code, answer.headers, b"[1, 2]", answer.url)

    with pytest.raises(ParseError, match="not an object with a 'result'"):
        list(pages(request, fetch=fetch_list))


def test_a_header_value_with_a_line_break_fails_without_showing_it(emu):
    request = build_request(Config(**emu.config_values()), "accel", "csv", QUERY)
    bad = type(request)(request.url, request.params, headers=(("X-Rune-User-Access-Token", "sec\nret"),))
    with pytest.raises(TransportError, match="line breaks") as err:
        list(pages(bad))
    assert "sec" not in str(err.value)


def test_many_requests_refused_at_once_refresh_the_jwt_once():
    from runeq_fn import fetch_many

    with Emulator(page_size=100, jwt_expired=True, delay=0.05) as emu:
        values = emu.config_values(auth="cognito_refresh")
        cfg = Config(**values, jwt=emu.credentials["jwt"], auth_method="cognito_refresh")
        queries = {n: {**QUERY, "patient_id": f"patient-{n}"} for n in range(6)}
        outcomes = fetch_many(queries, lambda q: len(list(stream.V1Client(cfg).Accel(**q).points())), max_workers=6)
        assert [o.unwrap() for o in outcomes.values()] == [500] * 6
        assert sum(r.path.startswith("/cognito") for r in emu.requests) == 1


def test_a_page_that_does_not_parse_carries_resume_and_leaves_no_half_page(emu):
    from runeq_fn.http.transport import fetch
    from runeq_fn.pull.pages import parsed_pages

    too_long = "x" * 200_000

    def fetch_corrupting_page_2(req):
        answer = fetch(req)
        if req.param("page") == 2:
            body = answer.content + f'"{too_long}"\n'.encode()
            return type(answer)(answer.status_code, answer.headers, body, answer.url)
        return answer

    request = build_request(Config(**emu.config_values()), "accel", "csv", QUERY)
    got = []
    with pytest.raises(ParseError) as err:
        got.extend(parsed_pages(request, lambda r: csv_points([r]), fetch=fetch_corrupting_page_2))
    assert len(got) == 200
    assert err.value.resume == {**QUERY, "page": 2}
