"""Fetching a page: the loop of tries around one try (``attempt``), its waits and deadlines; and the one POST.

``fetch(request)`` returns a whole, verified ``Response`` or raises; it never
returns a body shorter than announced, cut off with its connection, or a
compressed stream that did not reach its end. One budget of tries covers every
kind of failure, with backoff or ``Retry-After`` between tries; redirects,
deadlines and size limits are handled in each try (``attempt``), explicitly,
with urllib3 doing single requests (``retries=False``) through the pool manager
of the URL's route (``routes``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from ..config.cognito import POSTERS
from ..errors import APIError, TransportError
from ..policy import Policy, backoff_wait, retry_after_seconds
from .attempt import attempt, check_deadline, discard, read_body, timeout_policy, try_deadline
from .body import Broken, Refused
from .failures import heals, host_of, proxy_refused, transport_error
from .flight import check_stop, stoppable_sleep
from .hooks import watch_socket
from .request import Request
from .response import Response, error_details
from .routes import manager, route

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_pull_deadline: ContextVar[float | None] = ContextVar("runeq_fn_pull_deadline", default=None)


@contextmanager
def pull_deadline(deadline: float | None) -> Iterator[None]:
    """Within this block, this thread's fetches of requests without a deadline keep ``deadline``.

    For code that makes its own requests for a pull's pages (the shim's
    ``get_*_response`` overrides), so that the pull's deadline still holds.
    """
    token = _pull_deadline.set(deadline)
    try:
        yield
    finally:
        _pull_deadline.reset(token)


def pause(request: Request, response: Response | None, failures: int) -> float:
    """Seconds to wait before the next try: ``Retry-After`` where the answer has one, else backoff.

    A wait longer than ``retry_after_max`` is not waited: ``APIError`` naming it.
    Neither is one that would pass the pull's deadline: ``TransportError``.
    """
    policy = request.policy
    host = host_of(request.url)
    asked_for = response.headers.get("Retry-After") if response is not None else None
    asked = retry_after_seconds(asked_for, time.time())
    if response is not None and asked is not None and asked > policy.retry_after_max:
        raise APIError(
            response.status_code,
            {
                "message": f"{host} answered {response.status_code} and asked to wait {asked:g} s before trying "
                f"again (Retry-After: {asked_for}), more than retry_after_max ({policy.retry_after_max:g} s): "
                "try later, or raise retry_after_max",
                "type": "RetryAfter",
            },
        )
    wait = asked if asked is not None else backoff_wait(policy, failures)
    if request.deadline is not None and time.monotonic() + wait >= request.deadline:
        raise TransportError(
            response.status_code if response is not None else 0,
            {
                "message": f"waiting {wait:g} s to try {host} again would pass pull_deadline "
                f"({policy.pull_deadline:g} s)",
                "type": "TransportError",
            },
        )
    return wait


def fetch(request: Request) -> Response:
    """GET a request through the shared pool and read the whole body, trying up to ``retries + 1`` times.

    A 429/5xx answer, a broken connection, a timeout or a body that is not whole
    each use up one try of the same budget, with backoff (or ``Retry-After``)
    between tries. An error that no try mends is raised at once. An error status
    that is not retried (or outlasts the tries) is returned, not raised
    (``pages.check``). The response carries its tries, waits and wire bytes.
    """
    from urllib3 import exceptions as e

    if request.deadline is None and _pull_deadline.get() is not None:
        request = replace(request, deadline=_pull_deadline.get())
    url = request.full_url
    way = route(url, request.policy)
    tries, waited, throttled = 0, 0.0, 0
    while True:
        check_stop()  # a try hung up by a stop is not tried again
        tries += 1
        response: Response | None = None
        try:
            response = attempt(request, url)
        except (Broken, Refused, e.HTTPError) as exc:
            if not heals(exc):
                raise transport_error(exc, url, way) from None
            failure = exc
        else:
            throttled += response.status_code == 429
            if response.status_code not in RETRY_STATUSES:
                return replace(response, attempts=tries, retry_wait=waited, throttled=throttled)
        if tries > request.policy.retries:
            if response is not None:
                return replace(response, attempts=tries, retry_wait=waited, throttled=throttled)
            raise transport_error(failure, url, way, tries) from None
        wait = pause(request, response, tries)
        stoppable_sleep(wait)
        waited += wait


def post_json(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], policy: Policy | None = None
) -> Any:
    """POST a JSON body (no retries: it is not idempotent) and return the parsed answer.

    It goes the way ``policy`` routes it (proxy, CA bundle), as the GETs do, and
    its answer is read as a page's is: within ``page_deadline`` and the thread's
    pull deadline (``pull_deadline``), at most ``max_page_bytes``, whole.
    """
    from urllib3 import exceptions as e

    policy = policy or Policy()
    # the POST keeps a page's bounds: the same deadlines and size limit, checked by the same reader
    bounds = Request(url, policy=policy, deadline=_pull_deadline.get())
    deadline = try_deadline(bounds)
    way = route(url, policy)
    try:
        answer = manager(way).request(
            "POST",
            url,
            body=json.dumps(body).encode(),
            headers=dict(headers),
            retries=False,
            timeout=timeout_policy(policy, check_deadline(bounds, deadline)),
            preload_content=False,
            decode_content=False,
        )
        if answer.status == 407 and way.proxy:
            discard(answer)
            raise proxy_refused(url, way)
        content, _ = read_body(bounds, answer, deadline)
    except (Broken, Refused, e.HTTPError) as exc:
        raise transport_error(exc, url, way) from None
    finally:
        watch_socket(None)
    if answer.status >= 400:
        raise APIError(answer.status, error_details(answer.status, content))
    try:
        return json.loads(content)
    except ValueError:
        raise APIError(answer.status, error_details(answer.status, content)) from None


POSTERS[:] = [post_json]  # the Cognito refresh POSTs this way (config.cognito.POSTERS)
