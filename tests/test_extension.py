"""Extension points, written as users' subclasses of runeq's accessors were.

``iter_json_data``, ``iter_csv_text`` and ``points`` fetch every page through the accessor's
own ``get_json_response(**params)`` / ``get_csv_response(**params)``, with runeq's parameters
(the call's, as pagination changed them, without the defaults); a subclass may name its
resource with ``_resource = "accel"``. Retries and the loop guard still apply.
"""

import pytest

from runeq_fn import Config
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import APIError, PaginationError
from runeq_fn.stream import v1

MORNING = 1609491600  # 2021-01-01 09:00 UTC
DEFAULTS = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 2}


class LoggedAccel(v1.Accel):
    """Logs every request's parameters, as a user might to trace a slow pull."""

    def __init__(self, cfg, **defaults):
        super().__init__(cfg, **defaults)
        self.seen = []

    def get_csv_response(self, **params):
        self.seen.append(("csv", params))
        return super().get_csv_response(**params)

    def get_json_response(self, **params):
        self.seen.append(("json", params))
        return super().get_json_response(**params)


def sent(emu):
    """The parameters of each request the emulator saw, as a dict."""
    return [dict(r.params) for r in emu.requests]


@pytest.mark.parametrize("pagination", ["page", "token", "mixed"])
def test_an_overriding_get_csv_response_sees_every_page_of_points_with_runeqs_parameters(pagination):
    with Emulator(pagination=pagination, page_size=20) as emu:  # 100 rows: 5 pages and the empty end
        accel = LoggedAccel(Config(**emu.config_values()), **DEFAULTS)
        points = list(accel.points(end_time=MORNING + 2))
        requests = sent(emu)
    assert len(points) == 100 and len(accel.seen) == len(requests) == 6
    for (fmt, params), query in zip(accel.seen, requests):
        assert fmt == "csv" and "patient_id" not in params  # the call's parameters; defaults are added inside
        assert {k: str(v) for k, v in {**DEFAULTS, **params}.items()} == query
    first, second = accel.seen[0][1], accel.seen[1][1]
    assert first == {"end_time": MORNING + 2}
    assert set(second) - {"end_time"} == ({"next_page_token"} if pagination != "page" else {"page"})


def test_iter_csv_text_and_iter_json_data_go_through_the_overrides_too():
    with Emulator(pagination="mixed", page_size=20) as emu:
        accel = LoggedAccel(Config(**emu.config_values()), **DEFAULTS)
        texts = list(accel.iter_csv_text(page=1))
        csv_calls = list(accel.seen)
        accel.seen.clear()
        results = list(accel.iter_json_data())
        json_calls = list(accel.seen)
        accel.seen.clear()
        day = {"start_time": MORNING - 9 * 3600, "end_time": MORNING + 15 * 3600, "resolution": 3600}
        available = list(accel.iter_csv_availability(**day)) + list(accel.iter_json_availability(**day))
        availability_calls = list(accel.seen)
    assert len(texts) == 4 and len(csv_calls) == 5 and csv_calls[0] == ("csv", {"page": 1})
    assert len(results) == 5 and [fmt for fmt, _ in json_calls] == ["json"] * 5
    assert available and [fmt for fmt, _ in availability_calls][:2] == ["csv", "csv"]
    assert {fmt for fmt, _ in availability_calls} == {"csv", "json"}
    assert all(params["expression"] == "availability(accel)" for _, params in availability_calls)


def test_a_caching_subclass_serves_a_second_pull_without_requests():
    class CachedAccel(v1.Accel):
        cache: dict = {}

        def get_csv_response(self, **params):
            key = tuple(sorted(params.items()))
            if key not in self.cache:
                self.cache[key] = super().get_csv_response(**params)
            return self.cache[key]

    with Emulator(pagination="token", page_size=20) as emu:
        accel = CachedAccel(Config(**emu.config_values()), **DEFAULTS)
        first = list(accel.points())
        asked = len(emu.requests)
        again = list(accel.points())
        assert len(emu.requests) == asked == 6
    assert first == again and len(first) == 100


def test_an_override_may_answer_with_its_own_response_object():
    class Recorded:
        """A user's recorded answer with requests' attribute names (not a runeq_fn Response)."""

        def __init__(self, status_code, headers, content):
            self.status_code, self.headers, self.content = status_code, headers, content

    class ReplayedAccel(v1.Accel):
        def get_csv_response(self, **params):
            answer = super().get_csv_response(**params)
            return Recorded(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)

    with Emulator(pagination="token", page_size=20) as emu:  # lower-case token header: still found
        cfg = Config(**emu.config_values())
        assert list(ReplayedAccel(cfg, **DEFAULTS).points()) == list(v1.Accel(cfg, **DEFAULTS).points())


class Minimal:
    """An answer with only what runeq's accessors read (as runeq's own tests made): no ``content``."""

    def __init__(self, answer):
        self.ok, self.status_code, self.text = answer.ok, answer.status_code, answer.text
        self.headers = dict(answer.headers)
        self.json = answer.json


class MinimalAccel(v1.Accel):
    def get_csv_response(self, **params):
        return Minimal(super().get_csv_response(**params))

    def get_json_response(self, **params):
        return Minimal(super().get_json_response(**params))


@pytest.mark.parametrize("pagination", ["page", "token"])
def test_an_override_may_answer_with_only_ok_status_text_json_and_headers(pagination):
    with Emulator(pagination=pagination, page_size=20) as emu:
        cfg = Config(**emu.config_values())
        mine, plain = MinimalAccel(cfg, **DEFAULTS), v1.Accel(cfg, **DEFAULTS)
        assert list(mine.points()) == list(plain.points())
        assert list(mine.iter_csv_text()) == list(plain.iter_csv_text())
        assert list(mine.iter_json_data()) == list(plain.iter_json_data())
        with pytest.raises(APIError) as refused:
            list(mine.points(page="x"))
    assert refused.value.status_code == 400


def test_an_overrides_json_is_what_json_pages_read():
    class Replaced:
        ok, status_code, headers, text = True, 200, {}, "not json at all"

        def json(self):
            return {"success": True, "result": {"time": [1]}}

    class Answering(v1.Event):
        def get_json_response(self, **params):
            return Replaced()

    assert list(Answering(Config(jwt="not-a-real-jwt"), **DEFAULTS).iter_json_data()) == [{"time": [1]}]


def test_a_signing_subclass_changes_every_request():
    class SignedAccel(v1.Accel):
        def get_csv_response(self, **params):
            return super().get_csv_response(**params, signature=f"sig-{len(params)}")

    with Emulator(pagination="page", page_size=20) as emu:
        points = list(SignedAccel(Config(**emu.config_values()), **DEFAULTS).points())
        assert len(points) == 100
        assert [q["signature"] for q in sent(emu)] == ["sig-0"] + ["sig-1"] * 5  # {} then {"page": n}


def test_retries_and_the_loop_guard_still_apply_around_an_override():
    with Emulator(pagination="token", page_size=20) as emu:
        cfg = Config(**emu.config_values(), backoff=0)
        emu.inject(Fault("status", status=503, times=2))
        accel = LoggedAccel(cfg, **DEFAULTS)
        assert len(list(accel.points())) == 100
        assert len(accel.seen) == 6 and len(emu.requests) == 8  # the 503s were retried inside
        emu.clear()
        emu.inject(Fault("repeat_token", times=99))  # every page's token points back at itself
        looping = LoggedAccel(cfg, **DEFAULTS)
        with pytest.raises(PaginationError, match="pagination loop"):
            list(looping.points())
        assert len(looping.seen) == len(emu.requests) == 2  # the first page, then its token's page once


def test_prefetch_goes_through_the_override():
    with Emulator(pagination="page", page_size=20) as emu:
        accel = LoggedAccel(Config(**emu.config_values()), **DEFAULTS)
        accel.prefetch = 3
        assert len(list(accel.points())) == 100
        asked = {params.get("page", 0) for _, params in accel.seen}
        # every request went through it, guessed pages past the end too (some may still be in flight)
        assert {int(q.get("page", 0)) for q in sent(emu)} <= asked and set(range(6)) <= asked


def test_a_subclass_names_its_resource_with_a_string_as_in_runeq():
    class MyAccel(v1.StreamV1CSVBase):
        _resource = "accel"

    class MyAccelWithAvailability(MyAccel):
        _availability = "availability(accel)"

    with Emulator(pagination="page", page_size=20) as emu:
        cfg = Config(**emu.config_values())
        assert list(MyAccel(cfg, **DEFAULTS).points()) == list(v1.Accel(cfg, **DEFAULTS).points())
        with pytest.raises(NotImplementedError, match="MyAccel does not support an availability query"):
            next(MyAccel(cfg, **DEFAULTS).iter_csv_availability())
        day = {"start_time": MORNING - 9 * 3600, "end_time": MORNING + 15 * 3600, "resolution": 3600}
        available = list(MyAccelWithAvailability(cfg, **DEFAULTS).iter_json_availability(**day))
        assert available and dict(emu.requests[-1].params)["expression"] == "availability(accel)"
    assert v1.Accel._resource == "accel" and v1.Span._resource == "span"


def test_type_checkers_accept_a_subclass_of_an_accessor(tmp_path):
    from mypy import api

    user_code = tmp_path / "my_accessors.py"
    user_code.write_text(
        "from typing import Any\n"
        "from runeq_fn import Config\n"
        "from runeq_fn.http.response import Response\n"
        "from runeq_fn.stream import v1\n\n\n"
        "class LoggedAccel(v1.Accel):\n"
        "    def get_csv_response(self, **params: Any) -> Response:\n"
        "        return super().get_csv_response(**params)\n\n\n"
        "class MyEvents(v1.Event):\n"
        "    pass\n\n\n"
        "accel: v1.StreamV1CSVBase = LoggedAccel(Config(jwt='j'))\n"
        "events: v1.StreamV1Base = MyEvents(Config(jwt='j'))\n"
    )
    out, err, status = api.run([str(user_code), "--ignore-missing-imports", "--follow-imports=silent"])
    assert status == 0, out + err
