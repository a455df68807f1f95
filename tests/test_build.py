"""The request builder, parameter merging and the pure pagination steps."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn import Config, build_request, merge_params
from runeq_fn.errors import UsageError
from runeq_fn.http.request import Request, encode_params
from runeq_fn.http.response import Headers, Response
from runeq_fn.pull.paging import csv_step, json_step, span_step
from runeq_fn.resources import RESOURCES

keys = st.sampled_from(["patient_id", "device_id", "start_time", "end_time", "page", "expression", "x"])
values = st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False))
param_dicts = st.dictionaries(keys, values, max_size=5)

CFG = Config(access_token_id="id-1", access_token_secret="secret-1", stream_url="http://127.0.0.1:9/ignored/path")


@given(param_dicts, param_dicts)
def test_call_parameters_override_defaults_key_by_key(defaults, params):
    merged = merge_params(defaults, params)
    assert set(merged) == set(defaults) | set(params)
    for key, value in merged.items():
        assert value == (params[key] if key in params else defaults[key])
    assert list(merged)[: len(params)] == list(params)


@given(st.sampled_from(RESOURCES), st.sampled_from(["json", "csv"]), param_dicts,
       st.integers(-10**10, 10**10), st.integers(1, 10**9))  # fmt: skip
def test_build_request_puts_every_parameter_on_the_url(res, fmt, params, start, length):
    params = {key: value for key, value in params.items() if key not in ("page", "start_time", "end_time")}
    params.update(start_time=start, end_time=start + length)
    if fmt not in res.formats:
        with pytest.raises(UsageError, match="use json"):
            build_request(CFG, res.name, fmt, params)
        return
    request = build_request(CFG, res.name, fmt)(params)
    parts = urlsplit(request.full_url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:9", f"/v1/{res.name}.{fmt}")
    assert parse_qsl(parts.query, keep_blank_values=True) == [(k, str(v)) for k, v in params.items()]
    assert dict(request.headers) == CFG.auth_headers
    assert request.paging == ("span" if res.name == "span" else fmt)


def test_lists_are_comma_separated_and_none_is_left_out():
    assert encode_params([("channels", [0, 1]), ("page", None), ("fields", ("a", "b"))]) == (
        "channels=0%2C1&fields=a%2Cb"
    )


def test_unknown_resource_and_bad_page_are_usage_errors():
    with pytest.raises(UsageError, match=r"unknown resource \(did you mean accel\?\): use one of accel"):
        build_request(CFG, "accl", "csv", {})
    with pytest.raises(UsageError, match="page must be a whole number"):
        build_request(CFG, "accel", "csv", {"page": "first"})


def test_credentials_stay_out_of_the_request_repr():
    request = build_request(CFG, "accel", "csv", {"device_id": "d"})
    assert "secret-1" not in repr(request)


def page(body=b"x\n1\n", token=None):
    headers = Headers({"X-Rune-Next-Page-Token": token} if token is not None else {})
    return Response(200, headers, body)


@given(st.integers(0, 50), st.lists(st.one_of(st.none(), st.text("ab", min_size=1, max_size=3)), max_size=8))
def test_csv_counter_counts_pages_whatever_the_tokens(start, tokens):
    request = Request("u", (("page", start),), paging="csv", index=start)
    for n, token in enumerate(tokens, 1):
        request = csv_step(request, page(token=token))
        assert request.index == start + n
        if token is None:
            assert request.param("page") == start + n and request.param("next_page_token") is None
        else:
            assert request.param("next_page_token") == token and request.param("page") is None
    assert csv_step(request, page(body=b"")) is None


def test_json_token_wins_over_next_page_and_falsy_ends():
    first = Request("u", (("page", 0),))
    both = Response(200, Headers({"X-Rune-Next-Page-Token": "t"}), b'{"result": {}, "next_page": 1}')
    assert json_step(first, both).params == (("next_page_token", "t"),)
    assert json_step(first, Response(200, Headers(), b'{"result": {}, "next_page": 0}')) is None


def test_span_keeps_page_and_only_follows_tokens():
    first = Request("u", (("page", 2),), paging="span")
    assert span_step(first, page(b"{}", token="t")).params == (("page", 2), ("next_page_token", "t"))
    assert span_step(first, page(b'{"next_page": 3}')) is None
