"""The rest of runeq 0.15.0's public surface, as code written against it uses it.

Module paths and names, Config's methods, ``BaseConfig`` and the response object of
``get_json_response``/``get_csv_response``, each against the emulator over loopback.
"""

import pickle

import pytest

from runeq_fn import Config
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, ConfigError

MORNING = 1609491600  # 2021-01-01 09:00 UTC: the emulator has data
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 1}


@pytest.fixture(scope="module")
def emu():
    with Emulator(page_size=20) as emulator:
        yield emulator


def test_runeq_module_paths_and_names():
    import runeq_fn.stream.v1
    from runeq_fn import errors, stream
    from runeq_fn.stream import v1

    assert runeq_fn.stream.v1 is v1 is stream.v1
    assert stream.V1Client is v1.V1Client
    for name in ("Accel", "BandPower", "Event", "HeartRate", "LFP", "ProbabilitySymptom", "Rotation", "Span", "State"):
        cls = getattr(v1, name)
        assert getattr(stream, name) is cls and cls.__module__ == "runeq_fn.stream.v1"
        assert issubclass(cls, v1.StreamV1CSVBase if name not in ("Event", "Span") else v1.StreamV1Base)
    assert issubclass(v1.StreamV1CSVBase, v1.StreamV1Base)
    assert issubclass(errors.APIError, errors.RuneError) and issubclass(errors.InitializationError, errors.RuneError)


# -- Config -----------------------------------------------------------------------------------


def test_a_missing_config_file_is_also_a_file_not_found_error(tmp_path):
    missing = str(tmp_path / "nowhere" / "config")
    with pytest.raises(FileNotFoundError, match="no config file at .*runeq configure setup"):
        Config(missing)
    cfg = Config(jwt="j")
    with pytest.raises(FileNotFoundError) as caught:
        cfg.load_yaml(missing)
    assert isinstance(caught.value, ConfigError)  # and a ValueError, a RuneError
    assert pickle.loads(pickle.dumps(caught.value)).args == caught.value.args


def test_load_yaml_sets_the_file_values_over_the_current_ones(tmp_path):
    path = tmp_path / "config"
    path.write_text("jwt: from-file\nstream_url: http://127.0.0.1:9\n")
    cfg = Config(access_token_id="a", access_token_secret="not-a-real-secret", graph_url="http://127.0.0.1:8")
    cfg.load_yaml(str(path))
    assert (cfg.auth_method, cfg.stream_url, cfg.graph_url) == ("jwt", "http://127.0.0.1:9", "http://127.0.0.1:8")
    assert cfg.auth_headers == {"X-Rune-User-Access-Token": "from-file"}
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        cfg.load_yaml(str(path))
    assert (cfg.auth_method, cfg.stream_url) == ("jwt", "http://127.0.0.1:9")


def test_set_values_takes_runeqs_keywords_and_infers_from_the_call():
    cfg = Config(access_token_id="a", access_token_secret="not-a-real-secret")
    cfg.set_values(client_key_id="k", client_access_key="not-a-real-key", stream_url="http://127.0.0.1:7")
    assert cfg.auth_method == "client_keys" and cfg.stream_url == "http://127.0.0.1:7"
    # the access token given before is kept: naming its method picks it again
    cfg.set_values(auth_method="access_token")
    assert cfg.auth_headers["X-Rune-User-Access-Token-Id"] == "a"
    cfg.set_values(jwt="j", colour="blue")  # unknown keywords are ignored (with a warning)
    assert cfg.auth_method == "jwt"


@pytest.mark.parametrize(
    "values, message",
    [
        ({}, "complete set of credentials"),
        ({"access_token_id": "only-the-id"}, "complete set of credentials"),
        ({"jwt": "j", "access_token_id": "x"}, "more than one kind"),
        ({"auth_method": "bogus", "jwt": "j"}, "invalid auth_method 'bogus'"),
        ({"auth_method": "client_keys", "client_key_id": "k"}, "client_access_key is not set"),
    ],
)
def test_set_values_errors_are_value_errors_and_change_nothing(values, message):
    cfg = Config(access_token_id="a", access_token_secret="not-a-real-secret", stream_url="http://127.0.0.1:5")
    with pytest.raises(ValueError, match=message):
        cfg.set_values(stream_url="http://127.0.0.1:6", **values)
    assert (cfg.auth_method, cfg.stream_url) == ("access_token", "http://127.0.0.1:5")
    assert cfg.auth_headers["X-Rune-User-Access-Token-Id"] == "a"
    assert cfg.get("client_key_id") is None


@pytest.mark.parametrize(
    "prop, values, missing",
    [
        ("access_token_auth_headers", {"jwt": "j"}, "access_token_id"),
        ("client_auth_headers", {"jwt": "j"}, "client_key_id"),
        ("jwt_auth_headers", {"client_key_id": "k", "client_access_key": "not-a-real-key"}, "jwt"),
    ],
)
def test_each_methods_headers_raise_value_error_when_its_credential_is_missing(prop, values, missing):
    cfg = Config(**values)
    with pytest.raises(ValueError, match=f"{missing} is not set"):
        getattr(cfg, prop)
    assert cfg.refresh_auth() is False  # no Cognito refresh token configured


def test_base_config_subclass_supplies_its_own_auth_headers(emu):
    from runeq_fn import stream
    from runeq_fn.config import BaseConfig

    class VaultConfig(BaseConfig):
        """A user's config: credentials from elsewhere, e.g. a secrets store."""

        def __init__(self, url):
            self.stream_url = url
            self.asked = 0

        @property
        def auth_headers(self):
            self.asked += 1
            return {
                "X-Rune-User-Access-Token-Id": emu.credentials["access_token_id"],
                "X-Rune-User-Access-Token-Secret": emu.credentials["access_token_secret"],
            }

    cfg = VaultConfig(emu.url)
    assert isinstance(Config(jwt="j"), BaseConfig) and cfg.refresh_auth() is False
    points = list(stream.V1Client(cfg).Accel(**QUERY).points())
    assert len(points) == 50 and cfg.asked >= 1
    with pytest.raises(NotImplementedError, match="must define the auth_headers property"):
        list(stream.V1Client(BaseConfig()).Accel(**QUERY).points())


# -- the response object ----------------------------------------------------------------------


def test_get_csv_response_has_the_requests_surface(emu):
    from runeq_fn import stream

    accel = stream.V1Client(Config(**emu.config_values())).Accel(**QUERY)
    r = accel.get_csv_response()
    assert (r.status_code, r.ok, r.reason, r.encoding) == (200, True, "OK", "utf-8")
    assert r.headers["content-type"] == r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers.get("X-RUNE-NEXT-PAGE-TOKEN") is None  # page numbers: no token
    assert r.url.startswith(emu.url + "/v1/accel.csv?") and "patient_id=patient-1" in r.url
    lines = list(r.iter_lines())
    assert lines[0] == b"time,x,y,z" and len(lines) == 21 and lines == r.content.splitlines()
    assert list(r.iter_lines(decode_unicode=True)) == r.text.splitlines()
    assert b"".join(r.iter_content(7)) == r.content and len(next(r.iter_content(7))) == 7
    assert "".join(r.iter_content(None, decode_unicode=True)) == r.text
    assert r.raise_for_status() is None
    with pytest.raises(AttributeError):
        r.encoding = "latin-1"  # read-only: text is decoded by the response's own charset
    j = accel.get_json_response()
    assert j.json()["success"] is True and j.headers["CONTENT-TYPE"].startswith("application/json")


@pytest.mark.parametrize(
    "fault, details",
    [
        (Fault("status", status=404), {"message": "emulated fault 404", "type": "NotFound"}),
        (Fault("html", status=403), {"message": "<html><body><h1>403 Forbidden</h1></body></html>", "type": "HTTPError"}),
        (Fault("empty_error", status=400), {"message": "HTTP 400 with an empty body", "type": "HTTPError"}),
    ],
)
def test_an_error_status_is_returned_and_raise_for_status_raises_api_error(emu, fault, details):
    from runeq_fn import stream

    accel = stream.V1Client(Config(**emu.config_values())).Accel(**QUERY)
    emu.inject(fault)
    r = accel.get_csv_response()
    assert (r.status_code, r.ok) == (fault.status, False)
    assert r.reason == {404: "Not Found", 403: "Forbidden", 400: "Bad Request"}[fault.status]
    with pytest.raises(APIError) as caught:
        r.raise_for_status()
    assert (caught.value.status_code, caught.value.details) == (fault.status, details)
