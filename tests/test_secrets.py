"""Secrets stay out of every message, even when a server echoes them back; a config changed after
it is made is checked as a new one is."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from commands import run
from standin import stand_in

from runeq_fn import Config, build_request, csv_points, pages, stream
from runeq_fn.errors import APIError, ConfigError, RuneError

SECRET = "s3cr3t-echoed-back-9876"
TOKEN_ID = "token-id-1"
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": 1609491600, "end_time": 1609491610}


def echo(status: int, html: bool) -> object:
    """A server that answers every request with ``status``, quoting the credentials it was sent."""

    def answer(path: str, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        sent = {k: v for k, v in headers.items() if k.lower().startswith("x-rune")}
        if html:
            return status, "text/html", f"<html><body>bad credentials {sent}</body></html>".encode()
        error = {"message": f"invalid token secret {headers.get('X-Rune-User-Access-Token-Secret')}",
                 "type": "BadRequestError", "sent": sent}  # fmt: skip
        return status, "application/json", json.dumps({"success": False, "error": error}).encode()

    return answer


@pytest.fixture(params=[(400, False), (500, True)], ids=["400-json", "500-html"])
def echoing(request: pytest.FixtureRequest) -> Iterator[str]:
    with stand_in(echo(*request.param)) as url:
        yield url


def config_for(url: str) -> Config:
    return Config(access_token_id=TOKEN_ID, access_token_secret=SECRET, stream_url=url, retries=0)


def assert_masked(error: RuneError) -> None:
    shown = [str(error), repr(error), repr(getattr(error, "details", None)), repr(error.args)]
    assert not [text for text in shown if SECRET in text]
    assert "****9876" in str(error)  # the echo was there, masked (so this test can fail)
    assert TOKEN_ID in str(error)  # an id is not a secret


def test_an_echoed_secret_is_masked_in_a_bare_pipeline(echoing: str) -> None:
    with pytest.raises(APIError) as err:
        list(csv_points(pages(build_request(config_for(echoing), "accel", "csv", QUERY))))
    assert_masked(err.value)
    assert err.value.resume is not None


def test_an_echoed_secret_is_masked_in_the_shim(echoing: str) -> None:
    with pytest.raises(APIError) as err:
        list(stream.V1Client(config_for(echoing)).Accel(**QUERY).points())
    assert_masked(err.value)


def test_an_echoed_secret_is_masked_on_the_command_line(echoing: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"access_token_id": TOKEN_ID, "access_token_secret": SECRET,
                                      "stream_url": echoing, "retries": 0}))  # fmt: skip
    config.chmod(0o600)
    done = run(tmp_path, "fetch", "accel", "--patient-id", "p1", "--config", str(config))
    assert done.returncode == 2
    assert SECRET not in done.stderr + done.stdout and "****9876" in done.stderr


def test_a_refresh_token_echoed_by_cognito_is_masked() -> None:
    def cognito(path: str, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        body = {"__type": "NotAuthorizedException", "message": f"Invalid Refresh Token: {SECRET}"}
        return 400, "application/x-amz-json-1.1", json.dumps(body).encode()

    with stand_in(cognito) as url, pytest.raises(APIError) as err:
        Config(cognito_refresh_token=SECRET, cognito_client_id="client", cognito_url=url)
    assert "NotAuthorizedException" in str(err.value)
    assert SECRET not in str(err.value) + repr(err.value.details) and "****9876" in str(err.value)


# -- a config changed after it is made -----------------------------------------------------------


@pytest.fixture
def config() -> Config:
    return Config(access_token_id=TOKEN_ID, access_token_secret=SECRET, stream_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("stream_url", "ftp://stream.runelabs.io", "stream_url in the assignment to stream_url must be an http"),
        ("stream_url", "https://me:pw@stream.runelabs.io", "must not hold a user name or password"),
        ("cognito_url", "not a url", "cognito_url in the assignment to cognito_url must be an http"),
        ("retries", "many", "retries in the assignment to retries must be a whole number"),
        ("read_timeout", 0, "read_timeout in the assignment to read_timeout must be a number of seconds above 0"),
        ("access_token_secret", "line\nbreak", "has spaces at an end or a line break"),
        ("access_token_secret", None, "a complete set of credentials was not provided"),
        ("auth_method", "jwt", "jwt is not set"),
        ("auth_method", "oauth", "invalid auth_method 'oauth'"),
    ],
)
def test_an_assigned_key_is_checked_as_in_a_new_config(config: Config, key: str, value: object, message: str) -> None:
    before = (config.stream_url, config.policy, config.auth_headers, config.get(key))
    with pytest.raises(ConfigError, match=message) as err:
        setattr(config, key, value)
    assert "line\nbreak" not in str(err.value)
    assert (config.stream_url, config.policy, config.auth_headers, config.get(key)) == before  # unchanged


def test_an_assigned_key_takes_effect_everywhere(config: Config) -> None:
    config.stream_url = "http://127.0.0.1:9999/"
    config.retries = "2"
    config.read_timeout = 1.5
    request = build_request(config, "accel", "csv", {})
    assert request.url == "http://127.0.0.1:9999/v1/accel.csv"
    assert (request.policy.retries, request.policy.read_timeout) == (2, 1.5)
    with pytest.raises(ConfigError, match="more than one kind"):
        config.jwt = "a.jwt.value"  # as Config(access_token_id=..., access_token_secret=..., jwt=...) is refused
    config.auth_method = "access_token"
    config.jwt = "a.jwt.value"
    config.auth_method = "jwt"
    assert config.auth_headers == {"X-Rune-User-Access-Token": "a.jwt.value"}


@pytest.mark.parametrize("key", ["stream_url", "cognito_url"])
def test_plain_http_to_another_host_warns_for_stream_and_cognito_urls(
    config: Config, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="runeq_fn.config")
    Config(jwt="not-a-real-jwt", **{key: "http://example.com:8080"})
    assert f"{key} http://example.com is plain http" in caplog.text
    caplog.clear()
    setattr(config, key, "http://example.org")
    assert f"{key} http://example.org is plain http" in caplog.text
    caplog.clear()
    setattr(config, key, "http://127.0.0.1:1")
    assert caplog.text == ""
