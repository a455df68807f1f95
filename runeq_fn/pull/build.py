"""Requests as plain data, built from a config and query parameters without I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from ..curried import curry
from ..errors import UsageError
from ..http.request import Pairs, Request, merge_params
from ..policy import Policy, with_network_of
from ..resources import resource
from ..times import TIME_PARAMS, check_range, parsed_seconds, with_times


def origin(url: str) -> str:
    """Scheme and host of a URL: runeq joined ``/v1/...`` onto it, dropping any path.

    >>> origin("https://stream.runelabs.io/some/path?x=1")
    'https://stream.runelabs.io'
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise UsageError(f"stream_url {url!r} is not an absolute URL such as https://stream.runelabs.io")
    return f"{parts.scheme}://{parts.netloc}"


def start_index(params: Mapping[str, Any]) -> int:
    """The page a query starts at: the caller's ``page``, or 0.

    >>> start_index({"page": "2"}), start_index({})
    (2, 0)
    >>> start_index({"page": "two"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: page must be a whole number (0 for the first page)
    """
    page = params.get("page")
    if page is None:
        return 0
    try:
        return int(page)
    except (TypeError, ValueError):
        raise UsageError("page must be a whole number (0 for the first page)") from None


def readable(key: str, value: Any) -> bool:
    """Whether ``build_request`` can read a parameter's value: a ``page`` number, a time (any other is sent as it is).

    >>> readable("page", "2"), readable("page", "x"), readable("end_time", "yesterday"), readable("symptom", "x")
    (True, False, False, True)
    """
    try:
        if key == "page":
            start_index({key: value})
        elif key in TIME_PARAMS and value is not None:
            parsed_seconds(key, value)
    except UsageError:
        return False
    return True


@curry
def build_request(
    config: Any,
    name: str,
    fmt: str,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    policy: Policy | None = None,
) -> Request:
    """The first request of a query: ``/v1/<name>.<fmt>`` on the config's stream URL.

    ``defaults`` fill in what ``params`` do not name, as an accessor's defaults do;
    only the ``page`` in ``params`` starts the CSV page counter (runeq's rule).
    ``policy`` overrides the config's retries and timeouts for this query (the
    config's ``proxy`` and ``ca_bundle`` hold unless it names its own).

    ``start_time`` and ``end_time`` may be unix seconds, ISO 8601 text or a
    ``datetime`` (``runeq_fn.times``): they are sent as unix seconds, numbers as
    given. A range whose end is not after its start, or a time in milliseconds,
    is refused here, before anything is sent.

    ``config`` is a ``Config`` (anything with ``stream_url`` and ``auth_headers``).
    Curried, so ``build_request(cfg, "accel", "csv")`` is a function of params.

    >>> from runeq_fn import Config
    >>> cfg = Config(jwt="not-a-real-jwt", stream_url="http://127.0.0.1:8000")
    >>> build_request(cfg, "accel", "csv", {"device_id": "d1", "start_time": 0})
    Request(url='http://127.0.0.1:8000/v1/accel.csv', params=(('device_id', 'd1'), ('start_time', 0)), defaults=(), paging='csv', index=0)
    >>> build_request(cfg, "accel", "csv", {"start_time": "2021-01-01T09:00:00Z"}).params
    (('start_time', 1609491600),)
    >>> build_request(cfg, "event", "csv", {})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: event has no csv format: use json
    """
    res = resource(name)
    fmt = str(fmt).lower()
    if fmt not in res.formats:
        raise UsageError(f"{name} has no {fmt} format: use {' or '.join(res.formats)}")
    paging = "span" if res.token_only else fmt
    params, defaults = with_times(params), with_times(defaults or {})
    check_range(merge_params(defaults, params))
    return Request(
        url=f"{origin(config.stream_url)}/v1/{name}.{fmt}",
        params=tuple(params.items()),
        defaults=tuple(defaults.items()),
        headers=tuple(config.auth_headers.items()),
        paging=paging,
        index=start_index(params),
        policy=with_network_of(getattr(config, "policy", Policy()), policy),
        refresh=auth_refresher(config),
    )


def auth_refresher(config: Any) -> Callable[[Pairs], Pairs] | None:
    """A function from the auth headers a server refused to fresh ones (a Cognito refresh).

    None unless the config holds a Cognito refresh token and client id.
    """
    get = getattr(config, "get", None)
    if get is None or not (get("cognito_refresh_token") and get("cognito_client_id")):
        return None
    return partial(refreshed_pairs, config)  # a partial, not a closure: a Request must pickle


def refreshed_pairs(config: Any, refused: Pairs) -> Pairs:
    """The config's auth headers after a server refused ``refused``, as pairs."""
    return tuple(config.refreshed_headers(dict(refused)).items())
