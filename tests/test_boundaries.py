"""Everything that crosses a process boundary pickles, keeps its secrets out of reprs and logs, and
every error raised while iterating says where to resume, however the pipeline is composed."""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import pickle
from collections.abc import Iterator
from functools import partial

import pytest
from standin import query_of, stand_in

from runeq_fn import Config, build_request, csv_points, errors, json_pages, pages
from runeq_fn.emulator import Emulator
from runeq_fn.errors import APIError, ParseError, RuneError
from runeq_fn.http.response import Headers, Response
from runeq_fn.parse.columns import csv_columns
from runeq_fn.policy import Policy
from runeq_fn.pull.cohort import Outcome, attempt, query_points

SECRET = "s3cr3t-never-shown-5678"
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491604}
ERROR_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, RuneError)),
    key=lambda cls: cls.__name__,
)


def an_error(cls: type[RuneError]) -> RuneError:
    """One error of the class, made as runeq-fn makes it, with ``resume`` set."""
    if issubclass(cls, APIError):
        return cls(503, {"message": "down", "type": "HTTPError"}, resume={"page": 3, "device_id": "d"})
    error = cls(f"{cls.__name__}: something went wrong")
    error.resume = {"page": 3}
    return error


def round_trip(value: object) -> object:
    return pickle.loads(pickle.dumps(value))


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_pickles_with_its_fields(cls: type[RuneError]) -> None:
    error = an_error(cls)
    copy = round_trip(error)
    assert type(copy) is cls
    assert (str(copy), copy.args, vars(copy)) == (str(error), error.args, vars(error))
    assert copy.resume is not None


def test_configs_requests_policies_responses_and_outcomes_pickle() -> None:
    values = {"access_token_id": "id", "access_token_secret": SECRET, "retries": 2}
    cognito = {"cognito_refresh_token": SECRET, "cognito_client_id": "c", "jwt": "j" * 20, "auth_method": "jwt"}
    for config in (Config(**values), Config(**cognito)):
        copy = round_trip(config)
        assert (repr(copy), copy.auth_headers, copy.policy) == (repr(config), config.auth_headers, config.policy)
        request = build_request(config, "accel", "csv", QUERY, policy=Policy(retries=1))
        assert round_trip(request) == request
        assert round_trip(request).headers == request.headers
    assert round_trip(build_request(Config(**cognito), "accel", "csv", {})).refresh is not None
    response = Response(200, Headers({"X-Rune-Next-Page-Token": "t"}), b"time,x\n1,2\n", "u", resume={"page": 1})
    copy = round_trip(response)
    assert (copy, copy.headers["x-rune-next-page-token"], copy.resume) == (response, "t", {"page": 1})
    for outcome in (Outcome(True, [{"time": 1.0}]), Outcome(False, error=an_error(APIError))):
        copy = round_trip(outcome)
        assert (copy.ok, copy.value, str(copy.error)) == (outcome.ok, outcome.value, str(outcome.error))


def test_a_pickled_config_keeps_its_secrets_out_of_reprs_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator(page_size=50) as emu:
        values = {**emu.config_values(), "cognito_refresh_token": "refresh-" + SECRET, "cognito_client_id": "c",
                  "auth_method": "access_token"}  # fmt: skip
        config = round_trip(Config(**values))
        request = round_trip(build_request(config, "accel", "csv", QUERY))
        shown = [repr(config), str(config), repr(request), repr(round_trip(Outcome(True, config)))]
        assert len(list(csv_points(pages(request)))) == 200
    secrets = [emu.credentials["access_token_secret"], SECRET]
    for secret in secrets:
        assert not [text for text in [*shown, caplog.text] if secret in text]
    assert secrets[0] in str(request.headers)  # the secret did travel: the checks above could fail


def pull_in_a_child(config: Config, query: dict) -> Outcome:
    return attempt(partial(query_points, config, "heartrate"), query)


def test_a_config_crosses_into_another_process_and_pulls_there() -> None:
    with Emulator(page_size=50) as emu:
        config = Config(**emu.config_values())
        queries = [{**QUERY, "patient_id": p, "end_time": QUERY["start_time"] + 300} for p in ("p1", "p2")]
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            outcomes = pool.map(partial(pull_in_a_child, config), queries)
        here = [pull_in_a_child(config, query) for query in queries]
    assert [o.value for o in outcomes] == [o.value for o in here]
    assert all(o.ok and len(o.value) == 60 for o in outcomes)


# -- resume, whichever way the pipeline is composed ---------------------------------------------------

TOO_LONG = 'time,x\n1,"' + "a" * 200_000 + '"\n'  # a cell past the csv module's field size limit


def csv_with_a_bad_second_page(path: str, headers: object) -> tuple[int, str, bytes]:
    page = int(query_of(path).get("page", 0))
    bodies = ["time,x\n1,2\n3,4\n", TOO_LONG, "time,x\n5,6\n", ""]
    return 200, "text/csv", bodies[page].encode()


def json_with_a_bad_second_page(path: str, headers: object) -> tuple[int, str, bytes]:
    page = int(query_of(path).get("page", 0))
    bodies = ['{"success": true, "result": {"time": [1]}, "next_page": 1}', '{"success": true}']
    return 200, "application/json", bodies[page].encode()


@pytest.fixture
def bad_csv() -> Iterator[Config]:
    with stand_in(csv_with_a_bad_second_page) as url:
        yield Config(jwt="not-a-real-jwt", stream_url=url)


@pytest.mark.parametrize(
    ("parse", "before"), [(csv_points, 2), (partial(csv_columns, engine="python"), 1)], ids=["points", "columns"]
)
def test_a_page_that_does_not_parse_carries_resume_in_a_bare_pipeline(bad_csv: Config, parse, before: int) -> None:
    request = build_request(bad_csv, "accel", "csv", {"device_id": "d"})
    got = []
    with pytest.raises(ParseError) as err:
        got.extend(parse(pages(request)))
    assert len(got) == before  # the first page's rows (or columns), none of the second's
    assert err.value.resume == {"device_id": "d", "page": 1}
    resumed = build_request(bad_csv, "accel", "csv", err.value.resume)
    assert next(pages(resumed)).content.decode() == TOO_LONG  # the failed page, fetched again


def test_a_json_page_without_a_result_carries_resume_in_a_bare_pipeline() -> None:
    with stand_in(json_with_a_bad_second_page) as url:
        request = build_request(Config(jwt="not-a-real-jwt", stream_url=url), "event", "json", {"patient_id": "p"})
        got = []
        with pytest.raises(ParseError, match="'result'") as err:
            got.extend(json_pages(pages(request)))
    assert got == [{"time": [1]}]
    assert err.value.resume == {"patient_id": "p", "page": 1}


def test_each_page_knows_the_parameters_that_fetch_it_again(bad_csv: Config) -> None:
    request = build_request(bad_csv, "accel", "csv", {"device_id": "d"})
    resumes = [response.resume for response in pages(request)]
    assert resumes == [{"device_id": "d", "page": n} for n in range(4)]
