"""The Cognito refresh (a POST) is read as a page is: within the deadlines, under max_page_bytes."""

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any

from rawserver import RawServer, answer

from runeq_fn import Config, build_request, csv_points, pages
from runeq_fn.errors import TransportError

COGNITO = {"cognito_refresh_token": "r" * 20, "cognito_client_id": "cid"}
QUERY = {"patient_id": "p", "device_id": "d", "start_time": 0, "end_time": 1}
JSON = (("Content-Type", "application/x-amz-json-1.1"),)


def outcome(run: Callable[[], Any], seconds: float = 15) -> BaseException | None:
    """The error ``run`` raised, run in a thread that must end within ``seconds`` (else the test fails, not hangs)."""
    raised: list[BaseException | None] = [None]

    def target() -> None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            raised[0] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: the answer is read without bound"
    return raised[0]


def trickle() -> list[bytes]:
    """An answer whose head arrives at once and whose body, a byte at a time, for a minute."""
    head = answer(200, b"", JSON, length=False).replace(b"Connection: close", b"Content-Length: 100000")
    return [head] + [b" "] * 200


def test_a_cognito_answer_that_trickles_in_ends_by_page_deadline():
    with RawServer([trickle()]) as cognito:
        settings = {"read_timeout": 1, "page_deadline": 2, "pull_deadline": 3, "retries": 0}
        error = outcome(lambda: Config(**COGNITO, cognito_url=cognito.url, **settings))
    assert isinstance(error, TransportError)
    assert "page_deadline (2 s)" in str(error)


def test_a_cognito_refresh_after_a_401_mid_pull_ends_by_the_pull_deadline():
    token = json.dumps({"AuthenticationResult": {"AccessToken": "a.b.c"}}).encode()
    with RawServer([answer(200, token, JSON), trickle()]) as cognito, RawServer([answer(401)]) as api:
        settings = {"read_timeout": 1, "page_deadline": 60, "pull_deadline": 2, "retries": 0}
        cfg = Config(**COGNITO, cognito_url=cognito.url, stream_url=api.url, **settings)
        error = outcome(lambda: list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY)))))
    assert isinstance(error, TransportError)
    assert "pull_deadline (2 s)" in str(error)


def test_a_compressed_cognito_answer_larger_than_max_page_bytes_is_refused():
    bomb = gzip.compress(b" " * 5_000_000)
    with RawServer([answer(200, bomb, (*JSON, ("Content-Encoding", "gzip")))]) as cognito:
        error = outcome(lambda: Config(**COGNITO, cognito_url=cognito.url, max_page_bytes=100_000, retries=0))
    assert isinstance(error, TransportError)
    assert "larger than max_page_bytes (100,000 bytes decoded)" in str(error)


def test_a_compressed_cognito_answer_is_decoded():
    token = json.dumps({"AuthenticationResult": {"AccessToken": "a.b.c"}}).encode()
    with RawServer([answer(200, gzip.compress(token), (*JSON, ("Content-Encoding", "gzip")))]) as cognito:
        cfg = Config(**COGNITO, cognito_url=cognito.url)
    assert cfg.get("jwt") == "a.b.c"
