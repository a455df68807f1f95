"""The emulator over real loopback HTTP, with only the standard library as client."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import socket
import time
from fractions import Fraction
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runeq_fn.emulator import Emulator, Fault
from runeq_fn.emulator.data import take
from runeq_fn.emulator.fixture import rune_emulator  # noqa: F401 - the fixture under test
from runeq_fn.emulator.resources import compile_query

DAY0 = 1609459200  # 2021-01-01 00:00 UTC
WORN = DAY0 + 9 * 3600  # 09:00, always inside a wear window
BASE = {"patient_id": "patient-7", "device_id": "watch-3"}
TOKEN = "X-Rune-Next-Page-Token"


def auth_headers(emu: Emulator, method: str = "access_token") -> dict[str, str]:
    """The request headers of one auth method."""
    c = emu.credentials
    if method == "access_token":
        return {
            "X-Rune-User-Access-Token-Id": c["access_token_id"],
            "X-Rune-User-Access-Token-Secret": c["access_token_secret"],
        }
    if method == "client_keys":
        return {
            "X-Rune-Client-Key-ID": c["client_key_id"],
            "X-Rune-Client-Access-Key": c["client_access_key"],
        }
    return {"X-Rune-User-Access-Token": c["jwt"]}


def fetch(
    emu: Emulator,
    path: str,
    params: dict | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
    url: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers (lower-case names), raw body."""
    split = urlsplit(url or emu.url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    try:
        target = path + ("?" + urlencode(params) if params else "")
        all_headers = auth_headers(emu) if headers is None else headers
        conn.request(method, target, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(
    emu: Emulator, path: str, params: dict, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """Status and decoded JSON body."""
    status, _, body = fetch(emu, path, params, headers)
    return status, json.loads(body)


def csv_pages(emu: Emulator, path: str, params: dict) -> list[str]:
    """Every non-empty CSV page, following runeq's CSV rule: token if present, else page counter."""
    params = dict(params)
    pages, counter = [], params.get("page", 0)
    while True:
        status, headers, body = fetch(emu, path, params)
        assert status == 200, body
        if not body:
            return pages
        pages.append(body.decode())
        counter += 1
        if TOKEN.lower() in headers:
            params.pop("page", None)
            params["next_page_token"] = headers[TOKEN.lower()]
        else:
            params.pop("next_page_token", None)
            params["page"] = counter
        assert len(pages) < 500


def json_pages(emu: Emulator, path: str, params: dict) -> list[dict]:
    """Every JSON page's result, following runeq's JSON rule: the token wins over next_page."""
    params = dict(params)
    results = []
    while True:
        status, headers, body = fetch(emu, path, params)
        assert status == 200, body
        content = json.loads(body)
        results.append(content["result"])
        token, next_page = headers.get(TOKEN.lower()), content.get("next_page")
        if token:
            params.pop("page", None)
            params["next_page_token"] = token
        elif next_page:
            params.pop("next_page_token", None)
            params["page"] = next_page
        else:
            return results
        assert len(results) < 500


def csv_rows(pages: list[str]) -> list[str]:
    """Data lines of CSV pages, after checking each page's header is the first page's."""
    header = pages[0].split("\n", 1)[0] if pages else ""
    rows = []
    for page in pages:
        assert page.endswith("\n")
        lines = page.split("\n")[:-1]
        assert lines[0] == header
        rows.extend(lines[1:])
    return rows


def json_rows(results: list[dict]) -> list:
    """Entries of JSON pages, column lists zipped into rows (or the event/span objects)."""
    rows = []
    for result in results:
        if "event" in result or "span" in result:
            rows.extend(result.get("event", result.get("span")))
        else:
            rows.extend(zip(*result.values()))
    return rows


# --------------------------------------------------------------------------------------------
# Lifecycle and API surface


def test_fixture_serves(rune_emulator: Emulator) -> None:  # noqa: F811
    assert rune_emulator.page_size == 100
    status, _ = get_json(rune_emulator, "/v1/accel.json", {**BASE, "start_time": WORN, "end_time": WORN + 1})
    assert status == 200


def test_config_values_per_auth_method() -> None:
    with Emulator() as emu:
        assert emu.config_values() == {
            "access_token_id": emu.credentials["access_token_id"],
            "access_token_secret": emu.credentials["access_token_secret"],
            "stream_url": emu.url,
            "cognito_url": emu.url + "/cognito",
        }
        assert set(emu.config_values(auth="client_keys")) >= {"client_key_id", "client_access_key"}
        assert set(emu.config_values(auth="jwt")) >= {"jwt"}
        assert set(emu.config_values(auth="cognito_refresh")) >= {
            "cognito_client_id",
            "cognito_refresh_token",
        }
        with pytest.raises(ValueError):
            emu.config_values(auth="password")


def test_stop_closes_listening_socket_and_connections() -> None:
    emu = Emulator().start()
    host, port = urlsplit(emu.url).hostname, urlsplit(emu.url).port
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/v1/accel.json", headers=auth_headers(emu))
    conn.getresponse().read()
    emu.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/v1/accel.json", headers=auth_headers(emu))
        conn.getresponse().read()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()


def test_invalid_options_rejected() -> None:
    for kwargs in ({"pagination": "cursor"}, {"page_size": 0}, {"blank_rate": 2.0}):
        with pytest.raises(ValueError):
            Emulator(**kwargs)
    with pytest.raises(ValueError):
        Fault("explode")


# --------------------------------------------------------------------------------------------
# Auth


RANGE = {"start_time": WORN, "end_time": WORN + 1}


@pytest.mark.parametrize("method", ["access_token", "client_keys", "jwt"])
def test_each_auth_method_is_accepted(rune_emulator: Emulator, method: str) -> None:  # noqa: F811
    params = {**RANGE, "device_id": "watch-3"}
    if method != "client_keys":
        params["patient_id"] = "patient-7"
    status, content = get_json(rune_emulator, "/v1/accel.json", params, auth_headers(rune_emulator, method))
    assert status == 200 and content["success"] is True
    assert rune_emulator.requests[-1].auth == method


def test_header_names_match_case_insensitively(rune_emulator: Emulator) -> None:  # noqa: F811
    headers = {name.lower(): value for name, value in auth_headers(rune_emulator).items()}
    assert fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE}, headers)[0] == 200
    headers = {name.upper(): value for name, value in auth_headers(rune_emulator).items()}
    assert fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE}, headers)[0] == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Rune-User-Access-Token-Id": "emulator-access-token-id", "X-Rune-User-Access-Token-Secret": "no"},
        {"X-Rune-Client-Key-ID": "emulator-client-key-id"},
        {"X-Rune-User-Access-Token": "not.a.jwt"},
    ],
)
def test_missing_or_wrong_credentials_401(rune_emulator: Emulator, headers: dict) -> None:  # noqa: F811
    status, content = get_json(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE}, headers)
    assert status == 401
    assert content["success"] is False
    assert content["error"]["type"] == "AuthenticationError" and content["error"]["message"]


def test_client_keys_imply_patient_1_and_forbid_others(rune_emulator: Emulator) -> None:  # noqa: F811
    keys = auth_headers(rune_emulator, "client_keys")
    implied = fetch(rune_emulator, "/v1/accel.csv", {**RANGE, "device_id": "w"}, keys)
    explicit = fetch(
        rune_emulator, "/v1/accel.csv", {**RANGE, "device_id": "w", "patient_id": "patient-1"}, keys
    )
    assert implied[0] == explicit[0] == 200 and implied[2] == explicit[2]
    status, content = get_json(
        rune_emulator, "/v1/accel.csv", {**RANGE, "device_id": "w", "patient_id": "p2"}, keys
    )
    assert status == 403 and content["error"]["type"]


def cognito(emu: Emulator, refresh_token: str, client_id: str | None = None) -> tuple[int, dict, dict]:
    """Call the emulated Cognito InitiateAuth."""
    body = json.dumps(
        {
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {"REFRESH_TOKEN": refresh_token},
            "ClientId": client_id or emu.credentials["cognito_client_id"],
        }
    ).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    }
    status, response_headers, raw = fetch(emu, "/cognito/", None, headers, "POST", body)
    return status, response_headers, json.loads(raw)


def test_cognito_refresh_issues_working_jwts() -> None:
    with Emulator(jwt_expired=True) as emu:
        params = {**BASE, **RANGE}
        assert fetch(emu, "/v1/accel.csv", params, auth_headers(emu, "jwt"))[0] == 401
        status, headers, content = cognito(emu, emu.credentials["cognito_refresh_token"])
        assert status == 200 and headers["content-type"] == "application/x-amz-json-1.1"
        result = content["AuthenticationResult"]
        assert result["ExpiresIn"] == 3600 and result["TokenType"] == "Bearer"
        second = cognito(emu, emu.credentials["cognito_refresh_token"])[2]["AuthenticationResult"]
        assert second["AccessToken"] != result["AccessToken"]
        for jwt in (result["AccessToken"], second["AccessToken"]):
            assert fetch(emu, "/v1/accel.csv", params, {"X-Rune-User-Access-Token": jwt})[0] == 200
        assert emu.requests[1].auth is None  # the Cognito call carries no Stream API credentials


def test_cognito_refuses_bad_refresh_token(rune_emulator: Emulator) -> None:  # noqa: F811
    status, _, content = cognito(rune_emulator, "stolen")
    assert status == 400
    assert content == {"__type": "NotAuthorizedException", "message": "Invalid Refresh Token"}
    assert cognito(rune_emulator, rune_emulator.credentials["cognito_refresh_token"], "other")[0] == 400


# --------------------------------------------------------------------------------------------
# Parameters and errors


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/accel.csv", {"device_id": "d", "patient_id": "p", "end_time": 2}, "start_time"),
        ("/v1/accel.csv", {"device_id": "d", "patient_id": "p", "start_time": 1}, "end_time"),
        ("/v1/accel.json", {"patient_id": "p", **RANGE}, "device_id"),
        ("/v1/accel.json", {"device_id": "d", **RANGE}, "patient_id"),
        ("/v1/probability_symptom.csv", {**BASE, **RANGE}, "symptom"),
        ("/v1/accel.csv", {**BASE, "start_time": "noon", "end_time": 2}, "start_time"),
        ("/v1/accel.csv", {**BASE, "start_time": 1, "end_time": "nan"}, "end_time"),
        ("/v1/accel.csv", {**BASE, **RANGE, "page": "one"}, "page"),
        ("/v1/accel.csv", {**BASE, **RANGE, "page": "-1"}, "page"),
        (
            "/v1/accel.json",
            {**BASE, **RANGE, "expression": "availability(accel)", "resolution": "x"},
            "resolution",
        ),
        (
            "/v1/accel.json",
            {**BASE, **RANGE, "expression": "availability(accel)", "resolution": 60},
            "resolution",
        ),
        ("/v1/accel.json", {**BASE, **RANGE, "expression": "availability(bpm)"}, "availability(accel)"),
        ("/v1/event.json", {"patient_id": "p", **RANGE, "expression": "availability(event)"}, "expression"),
    ],
)
def test_bad_parameters_400(rune_emulator: Emulator, path: str, params: dict, named: str) -> None:  # noqa: F811
    status, content = get_json(rune_emulator, path, params)
    assert status == 400
    assert content["error"]["type"] == "BadRequestError"
    assert named in content["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/nothing.json", "/v1/event.csv", "/v1/span.csv", "/v2/accel.json", "/"])
def test_unknown_resource_404(rune_emulator: Emulator, path: str) -> None:  # noqa: F811
    status, content = get_json(rune_emulator, path, {**BASE, **RANGE})
    assert status == 404
    assert content == {
        "success": False,
        "error": {"message": content["error"]["message"], "type": "NotFoundError"},
    }


def test_unknown_parameters_are_ignored(rune_emulator: Emulator) -> None:  # noqa: F811
    plain = fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE})
    extra = fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE, "flavour": "mint", "timestamp": "unix"})
    assert plain[2] == extra[2]


# --------------------------------------------------------------------------------------------
# Data


def test_same_query_same_bytes_across_emulators() -> None:
    params = {**BASE, "start_time": WORN, "end_time": WORN + 30}
    with Emulator(page_size=500) as first, Emulator(page_size=500) as second:
        a = fetch(first, "/v1/accel.csv", params)[2]
        assert a == fetch(first, "/v1/accel.csv", params)[2] == fetch(second, "/v1/accel.csv", params)[2]
        other_patient = fetch(first, "/v1/accel.csv", {**params, "patient_id": "patient-8"})[2]
        other_device = fetch(first, "/v1/accel.csv", {**params, "device_id": "watch-4"})[2]
        assert len({a, other_patient, other_device}) == 3


def test_rows_fall_in_half_open_range_and_look_plausible(rune_emulator: Emulator) -> None:  # noqa: F811
    start, end = WORN + 0.02, WORN + 1.0
    lines = fetch(rune_emulator, "/v1/accel.csv", {**BASE, "start_time": start, "end_time": end})[2].decode()
    rows = [list(map(float, line.split(","))) for line in lines.splitlines()[1:]]
    assert len(rows) == 49 and rows[0][0] == start and rows[-1][0] == WORN + 0.98
    for _, x, y, z in rows:
        assert 0.9 < math.sqrt(x * x + y * y + z * z) < 1.1
    assert lines.splitlines()[2].startswith("1609491600.04,")  # compact times, not fixed decimals


def test_nights_have_no_data_days_do(rune_emulator: Emulator) -> None:  # noqa: F811
    night = {**BASE, "start_time": DAY0 + 3600, "end_time": DAY0 + 2 * 3600}
    assert fetch(rune_emulator, "/v1/heartrate.csv", night)[2] == b""
    status, content = get_json(rune_emulator, "/v1/heartrate.json", night)
    assert content == {"success": True, "result": {"time": [], "bpm": []}}
    day = {**BASE, "start_time": WORN, "end_time": WORN + 100}
    bpm = [int(line.split(b",")[1]) for line in fetch(rune_emulator, "/v1/heartrate.csv", day)[2].split()[1:]]
    assert len(bpm) == 20 and all(50 <= b <= 120 for b in bpm)


def test_severity_shares_sum_to_one(rune_emulator: Emulator) -> None:  # noqa: F811
    params = {**BASE, "start_time": WORN, "end_time": WORN + 7200, "symptom": "dyskinesia", "severity": "*"}
    rows = csv_rows(csv_pages(rune_emulator, "/v1/probability_symptom.csv", params))
    assert len(rows) == 120
    header = csv_pages(rune_emulator, "/v1/probability_symptom.csv", params)[0].split("\n", 1)[0]
    assert header == "time,mild,moderate,none,slight,strong,unknown"
    for row in rows:
        shares = [float(v) for v in row.split(",")[1:]]
        assert abs(sum(shares) - 1.0) < 1e-6 and all(0 <= s <= 1 for s in shares)
    plain = csv_rows(csv_pages(rune_emulator, "/v1/probability_symptom.csv", {**params, "severity": ""}))
    assert all(0 <= float(row.split(",")[1]) <= 1 for row in plain)


def test_lfp_wide_and_stacked_agree(rune_emulator: Emulator) -> None:  # noqa: F811
    params = {**BASE, "start_time": WORN, "end_time": WORN + 0.5}
    wide = csv_pages(rune_emulator, "/v1/lfp.csv", {**params, "channels": "1,0"})
    assert wide[0].startswith("timestamp,channel.1,channel.0\n")
    wide_rows = [row.split(",") for row in csv_rows(wide)]
    stacked = csv_pages(rune_emulator, "/v1/lfp.csv", params)
    assert stacked[0].startswith("timestamp,algorithm,anatomy,channel,sensor,potential\n")
    stacked_rows = [row.split(",") for row in csv_rows(stacked)]
    assert len(wide_rows) == 125 and len(stacked_rows) == 250
    for i, (timestamp, ch1, ch0) in enumerate(wide_rows):
        assert stacked_rows[2 * i][0] == stacked_rows[2 * i + 1][0] == timestamp
        assert (stacked_rows[2 * i][3], stacked_rows[2 * i][5]) == ("0", ch0)
        assert (stacked_rows[2 * i + 1][3], stacked_rows[2 * i + 1][5]) == ("1", ch1)
        assert "e" not in ch0 and abs(float(ch0)) < 1e-3
    assert float(wide_rows[1][0]) - float(wide_rows[0][0]) == pytest.approx(0.004, abs=1e-6)
    only_1 = csv_rows(csv_pages(rune_emulator, "/v1/lfp.csv", {**params, "channel": "1"}))
    assert only_1 == [",".join(row) for row in stacked_rows if row[3] == "1"]
    none = csv_pages(rune_emulator, "/v1/lfp.csv", {**params, "channel": "1", "anatomy": "left_stn"})
    assert none == []


def test_band_power_spectrogram_and_state_shapes(rune_emulator: Emulator) -> None:  # noqa: F811
    params = {**BASE, "start_time": WORN, "end_time": WORN + 2}
    band = csv_pages(rune_emulator, "/v1/band_power.csv", params)[0].splitlines()
    assert band[0] == "timestamp,algorithm,anatomy,channel,sensor,band,power" and len(band) == 9
    spectrum = csv_pages(rune_emulator, "/v1/lfp.csv", {**params, "expression": "spectrogram(lfp)"})[0]
    header = spectrum.splitlines()[0].split(",")
    assert header[:5] == ["timestamp", "algorithm", "anatomy", "channel", "sensor"]
    assert header[5] == "f_0hz" and header[-1] == "f_124hz" and len(spectrum.splitlines()) == 5
    day = {**BASE, "start_time": DAY0, "end_time": DAY0 + 86400}
    state = csv_pages(
        rune_emulator,
        "/v1/state.csv",
        {**day, "event": "therapy_status", "fields": "amplitude_ma,therapy_status"},
    )
    lines = csv_rows(state)
    assert state[0].startswith("time,amplitude_ma,therapy_status\n")
    assert all(line.split(",")[2] in ("on", "off") for line in lines)
    statuses = [line.split(",")[2] for line in lines]
    snapshots = dict(
        line.split(",")[:2] for line in csv_rows(csv_pages(rune_emulator, "/v1/state.csv", day))
    )  # time -> therapy_status, every 600 s while connected
    for line in lines:  # rows with event= are the ticks where therapy_status changed
        time_text, _, status_now = line.split(",")
        assert snapshots[time_text] == status_now
        assert snapshots.get(str(int(time_text) - 600), "unknown") != status_now
    status, content = get_json(
        rune_emulator, "/v1/state.json", {**day, "expression": "update", "event": "therapy_status"}
    )
    assert content["result"]["cardinality"] == len(content["result"]["time"]) == len(lines)
    assert [u["therapy_status"] for u in content["result"]["update"]] == statuses
    status, content = get_json(rune_emulator, "/v1/state.json", {**day, "expression": "event_type"})
    assert "therapy_status" in content["result"]["event_type"]


def test_events_filter_by_dotted_prefix(rune_emulator: Emulator) -> None:  # noqa: F811
    week = {"patient_id": "patient-7", "start_time": DAY0, "end_time": DAY0 + 7 * 86400}
    events = json_rows(json_pages(rune_emulator, "/v1/event.json", week))
    assert len(events) >= 7 * 4
    keys = ["time", "created_time", "device_id", "id", "event_namespace", "event_type", "event_enum"]
    assert all(set(keys + ["display_name", "payload"]) <= set(e) for e in events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    meds = json_rows(json_pages(rune_emulator, "/v1/event.json", {**week, "event": "patient.medication"}))
    assert len(meds) == 21 and {"name", "dosage_quantity", "failed_dose"} <= set(meds[0]["payload"])
    spans = json_rows(json_pages(rune_emulator, "/v1/span.json", {**week, "event": "device.healthkit.sleep"}))
    assert len(spans) == 7
    for span in spans:
        assert span["start_time_min"] <= span["start_time"] < span["end_time"] <= span["end_time_max"]
        assert "time" not in span


def test_blank_rate_blanks_data_cells_only() -> None:
    with Emulator(blank_rate=0.5) as emu:
        params = {**BASE, "start_time": WORN, "end_time": WORN + 20}
        rows = [line.split(",") for line in fetch(emu, "/v1/accel.csv", params)[2].decode().splitlines()[1:]]
        cells = [cell for row in rows for cell in row[1:]]
        assert all(row[0] for row in rows)
        assert 0.4 < cells.count("") / len(cells) < 0.6
        content = get_json(emu, "/v1/accel.json", params)[1]
        assert None in content["result"]["x"] and None not in content["result"]["time"]


# --------------------------------------------------------------------------------------------
# Pagination


SAME_ROWS_QUERIES = [
    ("/v1/accel", {**BASE, "start_time": WORN - 1.5, "end_time": WORN + 9.31}),
    ("/v1/lfp", {**BASE, "start_time": WORN, "end_time": WORN + 0.9, "channel": "0"}),
    (
        "/v1/heartrate",
        {**BASE, "start_time": DAY0, "end_time": DAY0 + 86400, "expression": "availability(bpm)"},
    ),
    ("/v1/state", {**BASE, "start_time": DAY0, "end_time": DAY0 + 2 * 86400}),
]


@pytest.mark.parametrize(("path", "params"), SAME_ROWS_QUERIES)
def test_page_token_and_mixed_schemes_give_the_same_rows(path: str, params: dict) -> None:
    by_scheme = {}
    for scheme in ("page", "token", "mixed"):
        with Emulator(pagination=scheme, page_size=37) as emu:
            csv = csv_rows(csv_pages(emu, path + ".csv", params))
            js = json_rows(json_pages(emu, path + ".json", params))
            by_scheme[scheme] = (csv, js)
            assert len(csv) == len(js) > 37 * 2
            assert [row.split(",")[0] for row in csv] == [str(row[0]) for row in js]
    assert by_scheme["page"] == by_scheme["token"] == by_scheme["mixed"]
    with Emulator(page_size=100000) as emu:
        assert csv_rows(csv_pages(emu, path + ".csv", params)) == by_scheme["page"][0]


def test_page_scheme_markers_and_past_end(rune_emulator: Emulator) -> None:  # noqa: F811
    params = {**BASE, "start_time": WORN, "end_time": WORN + 5}  # 250 rows, pages of 100
    pages = [get_json(rune_emulator, "/v1/accel.json", {**params, "page": k})[1] for k in range(4)]
    assert [p.get("next_page") for p in pages] == [1, 2, None, None]
    assert [len(p["result"]["time"]) for p in pages] == [100, 100, 50, 0]
    status, headers, body = fetch(rune_emulator, "/v1/accel.csv", {**params, "page": 3})
    assert status == 200 and body == b"" and headers["content-length"] == "0"
    assert TOKEN.lower() not in headers
    assert fetch(rune_emulator, "/v1/accel.csv", {**params, "page": 2})[2].count(b"\n") == 51


def test_token_scheme_markers_and_validation() -> None:
    with Emulator(pagination="token", page_size=100) as emu:
        params = {**BASE, "start_time": WORN, "end_time": WORN + 5}
        _, headers, body = fetch(emu, "/v1/accel.json", params)
        assert TOKEN.lower() in headers and "next_page" not in json.loads(body)
        token = fetch(emu, "/v1/accel.csv", params)[1][TOKEN.lower()]
        # token wins over page, and maps to the same rows as page=1
        by_token = fetch(emu, "/v1/accel.csv", {**params, "next_page_token": token, "page": 0})[2]
        assert by_token == fetch(emu, "/v1/accel.csv", {**params, "page": 1})[2]
        last = fetch(emu, "/v1/accel.csv", {**params, "page": 2})
        assert last[2] and TOKEN.lower() not in last[1]
        assert fetch(emu, "/v1/accel.csv", {**params, "page": 3})[2] == b""
        for forged in ("garbage", token[:-3] + "xyz", "eyJvIjoxMDAsInEiOiJ4In0"):
            status, content = get_json(emu, "/v1/accel.csv", {**params, "next_page_token": forged})
            assert status == 400 and "next_page_token" in content["error"]["message"]
        other_query = {**params, "device_id": "watch-9", "next_page_token": token}
        assert fetch(emu, "/v1/accel.csv", other_query)[0] == 400
        assert fetch(emu, "/v1/accel.json", {**params, "next_page_token": token})[0] == 400


def test_mixed_scheme_sometimes_sends_both_markers() -> None:
    with Emulator(pagination="mixed", page_size=10) as emu:
        params = {**BASE, "start_time": WORN, "end_time": WORN + 2}  # 100 rows, 10 pages
        seen = []
        for k in range(10):
            _, headers, body = fetch(emu, "/v1/accel.json", {**params, "page": k})
            seen.append((TOKEN.lower() in headers, "next_page" in json.loads(body)))
        assert seen[:4] == [(True, True), (False, True), (True, False), (False, True)]
        assert seen[-1] == (False, False)


def test_span_uses_tokens_only() -> None:
    with Emulator(pagination="page", page_size=3) as emu:
        params = {"patient_id": "patient-7", "start_time": DAY0, "end_time": DAY0 + 5 * 86400}
        _, headers, body = fetch(emu, "/v1/span.json", params)
        assert TOKEN.lower() in headers and "next_page" not in json.loads(body)
        pages = json_pages(emu, "/v1/span.json", params)
        assert len(json_rows(pages)) > 6 and all(len(p["span"]) <= 3 for p in pages)
        assert all("page" not in dict(r.params) for r in emu.requests)


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(DAY0 - 86400, DAY0 + 3 * 86400),
    length=st.integers(0, 3 * 86400),
    bins=st.integers(1, 48),
)
def test_availability_bins_align_to_epoch(start: int, length: int, bins: int) -> None:
    resolution = 300 * bins
    end = start + length
    params = {**BASE, "start_time": str(start), "end_time": str(end), "expression": "availability(accel)"}
    listing = compile_query("accel", "json", {**params, "resolution": str(resolution)}, None)
    rows = take(listing.chunks(), 0, 10**6)
    first = start // resolution * resolution
    expected = math.ceil((end - first) / resolution) if end > start else 0
    assert len(rows) == expected
    assert [r[0] for r in rows] == [first + i * resolution for i in range(expected)]
    assert {r[1] for r in rows} <= {0, 1}


def test_availability_matches_raw_data(rune_emulator: Emulator) -> None:  # noqa: F811
    day = {**BASE, "start_time": DAY0 + 1234.5, "end_time": DAY0 + 86400 - 17}
    raw = csv_rows(csv_pages(rune_emulator, "/v1/heartrate.csv", day))
    times = [float(row.split(",")[0]) for row in raw]
    avail = json_rows(
        json_pages(rune_emulator, "/v1/heartrate.json", {**day, "expression": "availability(bpm)"})
    )
    assert avail[0][0] == DAY0 + 1200 and len(avail) == math.ceil((86400 - 17 - 1200) / 300)
    for bin_start, value in avail:
        inside = any(bin_start <= t < bin_start + 300 for t in times)
        assert value == int(inside)
    assert {v for _, v in avail} == {0, 1}
    csv = csv_pages(rune_emulator, "/v1/heartrate.csv", {**day, "expression": "availability(bpm)"})
    assert csv[0].startswith("time,availability(bpm)\n")
    _, content = get_json(
        rune_emulator,
        "/v1/lfp.json",
        {**day, "expression": "availability(lfp)", "channel": "0", "resolution": 3600},
    )
    (stream,) = content["result"]["streams"]
    assert (
        stream["parameters"] == {"channel": "0"} and len(stream["time"]) == len(stream["availability"]) == 24
    )


def test_availability_is_cheap_for_long_ranges() -> None:
    params = {**BASE, "start_time": "0", "end_time": "4102444800", "expression": "availability(accel)"}
    listing = compile_query("accel", "json", {**params, "resolution": "300"}, None)
    assert len(take(listing.chunks(), 5 * 10**6, 10)) == 10


# --------------------------------------------------------------------------------------------
# Transport: gzip, keep-alive, faults, log


def test_gzip_round_trip() -> None:
    params = {**BASE, "start_time": WORN, "end_time": WORN + 10}
    with Emulator() as emu:
        plain = fetch(emu, "/v1/accel.csv", params)
        assert "content-encoding" not in plain[1]
        zipped = fetch(
            emu, "/v1/accel.csv", params, {**auth_headers(emu), "Accept-Encoding": "gzip, deflate"}
        )
        assert zipped[1]["content-encoding"] == "gzip"
        assert int(zipped[1]["content-length"]) == len(zipped[2]) < len(plain[2])
        assert gzip.decompress(zipped[2]) == plain[2]
        assert emu.requests[-1].gzip and emu.requests[-1].body_bytes == len(zipped[2])
        assert plain[1]["content-type"] == "text/csv; charset=utf-8"
        assert fetch(emu, "/v1/accel.json", params)[1]["content-type"] == "application/json"
    with Emulator(gzip=False) as emu:
        zipped = fetch(emu, "/v1/accel.csv", params, {**auth_headers(emu), "Accept-Encoding": "gzip"})
        assert "content-encoding" not in zipped[1] and zipped[2] == plain[2]


def test_keep_alive_serves_two_requests_on_one_connection(rune_emulator: Emulator) -> None:  # noqa: F811
    split = urlsplit(rune_emulator.url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=5)
    target = "/v1/accel.csv?" + urlencode({**BASE, **RANGE})
    conn.request("GET", target, headers=auth_headers(rune_emulator))
    first = conn.getresponse()
    assert first.version == 11 and first.read()
    sock = conn.sock
    conn.request("GET", target, headers=auth_headers(rune_emulator))
    second = conn.getresponse()
    assert second.read() and conn.sock is sock is not None
    conn.close()


def test_status_fault_with_retry_after(rune_emulator: Emulator) -> None:  # noqa: F811
    rune_emulator.inject(Fault("status", times=2, status=429, retry_after=3, path="/v1/accel"))
    params = {**BASE, **RANGE}
    assert fetch(rune_emulator, "/v1/heartrate.csv", params)[0] == 200  # other path: untouched
    for _ in range(2):
        status, headers, body = fetch(rune_emulator, "/v1/accel.csv", params)
        assert status == 429 and headers["retry-after"] == "3"
        assert json.loads(body)["error"]["type"] == "TooManyRequests"
    assert fetch(rune_emulator, "/v1/accel.csv", params)[0] == 200
    assert [r.status for r in rune_emulator.requests] == [200, 429, 429, 200]


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "body"),
    [
        (
            Fault("html", status=502),
            502,
            "text/html; charset=utf-8",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        (Fault("empty_error", status=500), 500, None, b""),
        (Fault("status"), 503, "application/json", None),
    ],
)
def test_error_body_faults(rune_emulator: Emulator, fault: Fault, status: int, content_type, body) -> None:  # noqa: F811
    rune_emulator.inject(fault)
    got_status, headers, got_body = fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE})
    assert got_status == status and headers.get("content-type") == content_type
    if body is not None:
        assert got_body == body
    else:
        assert json.loads(got_body)["error"]["type"] == "ServiceUnavailable"


def test_drop_fault_closes_without_answer(rune_emulator: Emulator) -> None:  # noqa: F811
    rune_emulator.inject(Fault("drop"))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE})
    assert fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE})[0] == 200
    assert [(r.status, r.body_bytes) for r in rune_emulator.requests][0] == (0, 0)


def test_truncate_fault_sends_half_the_body(rune_emulator: Emulator) -> None:  # noqa: F811
    rune_emulator.inject(Fault("truncate"))
    with pytest.raises(http.client.IncompleteRead) as caught:
        fetch(rune_emulator, "/v1/accel.csv", {**BASE, "start_time": WORN, "end_time": WORN + 10})
    full = rune_emulator.requests[-1]
    assert len(caught.value.partial) == full.body_bytes > 0


def test_bad_gzip_fault(rune_emulator: Emulator) -> None:  # noqa: F811
    rune_emulator.inject(Fault("bad_gzip"))
    headers = {**auth_headers(rune_emulator), "Accept-Encoding": "gzip"}
    status, response_headers, body = fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE}, headers)
    assert status == 200 and response_headers["content-encoding"] == "gzip"
    assert int(response_headers["content-length"]) == len(body)
    with pytest.raises(OSError):
        gzip.decompress(body)


def test_repeat_token_fault_loops() -> None:
    params = {**BASE, "start_time": WORN, "end_time": WORN + 5}
    with Emulator(pagination="token", page_size=100) as emu:
        emu.inject(Fault("repeat_token", times=3))
        token = fetch(emu, "/v1/accel.json", params)[1][TOKEN.lower()]
        for _ in range(2):
            assert (
                fetch(emu, "/v1/accel.json", {**params, "next_page_token": token})[1][TOKEN.lower()] == token
            )
        normal = fetch(emu, "/v1/accel.json", {**params, "next_page_token": token})[1][TOKEN.lower()]
        assert normal != token
    with Emulator(pagination="page", page_size=100) as emu:
        emu.inject(Fault("repeat_token"))
        assert get_json(emu, "/v1/accel.json", {**params, "page": 1})[1]["next_page"] == 1


def test_redirect_fault_to_second_emulator() -> None:
    params = {**BASE, **RANGE}
    with Emulator() as first, Emulator(host="127.0.0.2") as second:
        assert second.url.startswith("http://127.0.0.2:")
        first.inject(Fault("redirect", location=second.url))
        status, headers, _ = fetch(first, "/v1/accel.csv", params)
        assert status == 302
        location = urlsplit(headers["location"])
        assert location.netloc == urlsplit(second.url).netloc and location.path == "/v1/accel.csv"
        target = location.path + "?" + location.query
        again = fetch(second, target, None)
        assert again[0] == 200 and again[2] == fetch(first, "/v1/accel.csv", params)[2]
        first.inject(Fault("redirect", status=307, location=second.url + "/"))
        assert fetch(first, "/v1/accel.csv", params)[0] == 307


def test_slow_fault_and_delay() -> None:
    with Emulator(delay=0.05) as emu:
        emu.inject(Fault("slow", seconds=1.0))
        split = urlsplit(emu.url)
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=0.3)
        with pytest.raises(TimeoutError):
            conn.request("GET", "/v1/accel.csv?" + urlencode({**BASE, **RANGE}), headers=auth_headers(emu))
            conn.getresponse()
        conn.close()
        assert fetch(emu, "/v1/accel.csv", {**BASE, **RANGE})[0] == 200


def test_clear_drops_log_and_pending_faults(rune_emulator: Emulator) -> None:  # noqa: F811
    rune_emulator.inject(Fault("drop"))
    rune_emulator.clear()
    assert fetch(rune_emulator, "/v1/accel.csv", {**BASE, **RANGE})[0] == 200
    assert len(rune_emulator.requests) == 1


def test_request_log_and_access_log_hold_no_secrets() -> None:
    lines: list[str] = []
    with Emulator(log=lines.append) as emu:
        secrets = list(emu.credentials.values())
        for method in ("access_token", "client_keys", "jwt"):
            fetch(emu, "/v1/accel.csv", {**BASE, **RANGE}, auth_headers(emu, method))
        fetch(emu, "/v1/accel.csv", {**BASE, **RANGE, "leak": secrets[1]})
        issued = cognito(emu, emu.credentials["cognito_refresh_token"])[2]["AuthenticationResult"][
            "AccessToken"
        ]
        fetch(emu, "/v1/accel.csv", {**BASE, **RANGE}, {"X-Rune-User-Access-Token": issued})
        record = emu.requests[0]
        assert record.method == "GET" and record.path == "/v1/accel.csv" and record.status == 200
        assert ("patient_id", "patient-7") in record.params
        assert "x-rune-user-access-token-secret" in record.header_names
        text = repr(emu.requests) + "\n".join(lines)
        for secret in secrets + [issued]:
            assert secret not in text
        assert lines[0].startswith("GET /v1/accel.csv?patient_id=patient-7&") and lines[0].endswith("ms")
        assert " 200 " in lines[0] and "B " in lines[0]
    assert Fraction(record.params[2][1]) == WORN


def test_cache_serves_the_same_bytes() -> None:
    """A caching emulator answers a repeated query with the bytes it built the first time."""
    params = {**BASE, "start_time": WORN, "end_time": WORN + 4}
    with Emulator(page_size=50) as plain, Emulator(page_size=50, cache=True) as cached:
        want = fetch(plain, "/v1/accel.csv", params)
        first = fetch(cached, "/v1/accel.csv", params)
        again = fetch(cached, "/v1/accel.csv", params)
        assert want[0] == first[0] == again[0] == 200
        assert want[2] == first[2] == again[2]
        assert cached._cache and plain._cache is None


def test_access_log_line_is_written_before_the_answer_leaves() -> None:
    """A client that has its answer finds the line logged (Ctrl-C right after loses none), even with a slow log."""
    lines: list[str] = []

    def slow_log(line: str) -> None:
        time.sleep(0.2)
        lines.append(line)

    with Emulator(log=slow_log) as emu:
        assert fetch(emu, "/v1/accel.csv", {**BASE, **RANGE})[0] == 200
        assert len(lines) == 1 and lines[0].startswith("GET /v1/accel.csv?")
