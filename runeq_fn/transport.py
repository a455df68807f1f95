"""The one place that speaks HTTP: a shared urllib3 pool, retries and timeouts as data.

``fetch(request)`` returns a whole, verified ``Response`` or raises; it never
returns a body shorter than announced or a gzip stream that did not decode.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .build import Request
from .config import AUTH_HEADER_NAMES
from .errors import APIError, TransportError
from .policy import Policy
from .response import Headers, Response

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 10
USER_AGENT = "runeq-fn/0.1"

_pool_lock = threading.Lock()
_pool: Any = None
_thread = threading.local()


def on_sent(callback: Callable[[], None] | None) -> None:
    """Have this thread's requests call ``callback`` once each is on the wire, before its answer.

    Prefetching uses it to know when the consumer may go back to parsing.
    """
    _thread.on_sent = callback


def signalling(connection_class: type) -> type:
    """A urllib3 connection class whose ``request`` calls the thread's ``on_sent`` callback once sent."""

    class Signalling(connection_class):  # type: ignore[misc, valid-type]
        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)
            callback = getattr(_thread, "on_sent", None)
            if callback is not None:
                callback()

    return Signalling


def pool() -> Any:
    """The process's one ``PoolManager`` (made on first use, shared by all threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import urllib3
            from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

            _pool = urllib3.PoolManager(num_pools=8, maxsize=16, headers={"User-Agent": USER_AGENT})
            _pool.pool_classes_by_scheme = {
                scheme: type(base.__name__, (base,), {"ConnectionCls": signalling(base.ConnectionCls)})
                for scheme, base in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool))
            }
        return _pool


def retry_policy(policy: Policy) -> Any:
    """urllib3's ``Retry`` for GETs: transient statuses and connection errors, backoff with jitter.

    Each kind of failure has ``policy.retries`` tries of its own, and redirects
    have ``MAX_REDIRECTS`` apart from them: a redirect never uses up a retry, and
    running out of redirects raises instead of handing back the 3xx as a page.
    Auth headers are removed when a redirect leaves the host.

    >>> retry = retry_policy(Policy(retries=3))
    >>> retry.status, retry.redirect, sorted(retry.status_forcelist)
    (3, 10, [429, 500, 502, 503, 504])
    >>> "x-rune-user-access-token" in retry.remove_headers_on_redirect
    True
    """
    from urllib3.util import Retry

    return Retry(
        total=policy.retries + MAX_REDIRECTS,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        other=policy.retries,
        redirect=MAX_REDIRECTS,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff,
        backoff_max=policy.backoff_max,
        backoff_jitter=policy.backoff / 2,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=True,
        remove_headers_on_redirect=AUTH_HEADER_NAMES | {"Authorization", "Cookie"},
    )


def timeout_policy(policy: Policy) -> Any:
    """urllib3's ``Timeout``: a hung server cannot hang a pull.

    >>> t = timeout_policy(Policy(read_timeout=5))
    >>> t.connect_timeout, t.read_timeout
    (10.0, 5)
    """
    from urllib3.util import Timeout

    return Timeout(connect=policy.connect_timeout, read=policy.read_timeout)


def error_details(status: int, body: bytes) -> dict[str, Any]:
    """An error body's details: the API's ``error`` object, else the start of the body.

    >>> error_details(400, b'{"success": false, "error": {"message": "no", "type": "BadRequestError"}}')
    {'message': 'no', 'type': 'BadRequestError'}
    >>> error_details(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    {'message': '<html><body><h1>502 Bad Gateway</h1></body></html>', 'type': 'HTTPError'}
    >>> error_details(500, b"")
    {'message': 'HTTP 500 with an empty body', 'type': 'HTTPError'}
    >>> error_details(400, b'{"__type": "NotAuthorizedException", "message": "Invalid Refresh Token"}')
    {'message': 'Invalid Refresh Token', 'type': 'NotAuthorizedException'}
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    if isinstance(data, dict) and "__type" in data:  # AWS's shape, from the Cognito refresh
        return {"message": data.get("message", ""), "type": data["__type"]}
    text = body[:200].decode("utf-8", errors="replace").strip()
    return {"message": text or f"HTTP {status} with an empty body", "type": "HTTPError"}


def transport_error(exc: Exception, url: str) -> TransportError:
    """Turn a urllib3 exception into a ``TransportError`` that says what to do."""
    from urllib3 import exceptions as e

    reason = getattr(exc, "reason", None) or exc
    host = url.split("?", 1)[0]
    if isinstance(reason, e.NewConnectionError):
        message = f"cannot connect to {host}: is the server up and stream_url right?"
    elif isinstance(reason, (e.ReadTimeoutError, e.ConnectTimeoutError, TimeoutError)):
        message = f"no answer from {host} in time; raise read_timeout/connect_timeout if the server is slow"
    elif isinstance(reason, e.DecodeError):
        message = f"the compressed body from {host} did not decode"
    elif isinstance(reason, e.ResponseError):
        message = f"{host} kept failing until retries ran out: {reason}"
    else:
        message = f"the connection to {host} broke ({reason}); retries ran out"
    return TransportError(0, {"message": message, "type": "TransportError"})


def fetch(request: Request) -> Response:
    """GET a request through the shared pool and read the whole body.

    Transient statuses and broken connections are retried by urllib3; a body
    cut short or a gzip stream that does not decode is retried here, from the
    same budget of tries and with the same backoff. An error status that is not
    retried (or outlasts the retries) is returned, not raised (``pages.check``).
    """
    from urllib3 import exceptions as e

    headers = {**dict(request.headers), "Accept-Encoding": "gzip"}
    url = request.full_url
    retry = retry_policy(request.policy)
    while True:
        try:
            answer = pool().request(
                "GET",
                url,
                headers=headers,
                retries=retry,
                timeout=timeout_policy(request.policy),
                preload_content=True,
                decode_content=True,
            )
        except (e.DecodeError, e.ProtocolError) as exc:
            try:
                retry = retry.increment("GET", url, error=exc)
            except e.MaxRetryError:
                raise transport_error(exc, url) from None
            retry.sleep()
        except e.HTTPError as exc:
            raise transport_error(exc, url) from None
        except ValueError:
            # http.client refuses a header value with a line break; its message would show the value
            raise TransportError(
                0,
                {
                    "message": f"the request to {url.split('?', 1)[0]} could not be sent: a header "
                    "holds a character HTTP does not allow (check the credentials for line breaks)",
                    "type": "TransportError",
                },
            ) from None
        else:
            return Response(answer.status, Headers(answer.headers), answer.data, url)


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
    """POST a JSON body (no retries: it is not idempotent) and return the parsed answer."""
    from urllib3 import exceptions as e

    try:
        answer = pool().request(
            "POST",
            url,
            body=json.dumps(body).encode(),
            headers=dict(headers),
            retries=False,
            timeout=timeout_policy(Policy()),
        )
    except e.HTTPError as exc:
        raise transport_error(exc, url) from None
    if answer.status >= 400:
        raise APIError(answer.status, error_details(answer.status, answer.data))
    try:
        return json.loads(answer.data)
    except ValueError:
        raise APIError(answer.status, error_details(answer.status, answer.data)) from None
