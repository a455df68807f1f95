"""One try of a page: send the GET, follow redirects (credentials stay with their origin), read the whole body in time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..config.auth import AUTH_HEADER_NAMES
from ..policy import Policy
from .body import Broken, Decoder, Refused, compressed, not_data, too_large, whole_by_shape
from .failures import proxy_refused
from .hooks import watch_socket
from .request import Request
from .response import Headers, Response
from .routes import manager, route

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
READ_SIZE = 256 * 1024
"""The most one read takes off the socket: the deadline and the size limit are checked between reads."""
PRIVATE_HEADERS = frozenset(name.lower() for name in AUTH_HEADER_NAMES | {"Authorization", "Cookie"})
"""Headers that never follow a redirect to another origin."""


def timeout_policy(policy: Policy, remaining: float | None = None) -> Any:
    """urllib3's ``Timeout``: a hung server cannot hang a pull; none outlasts a deadline ``remaining`` s away.

    >>> t = timeout_policy(Policy(read_timeout=5))
    >>> t.connect_timeout, t.read_timeout
    (10.0, 5)
    >>> timeout_policy(Policy(read_timeout=5), remaining=2.0).read_timeout
    2.0
    """
    from urllib3.util import Timeout

    connect, read = policy.connect_timeout, policy.read_timeout
    if remaining is not None:
        connect, read = min(connect, remaining), min(read, remaining)
    return Timeout(connect=connect, read=read)


def route_kind(url: str) -> str:
    """What a Stream API route serves: ``csv``, ``json``, or '' for anything else.

    >>> route_kind("http://h/v1/accel.csv?page=1"), route_kind("http://h/v1/event.json"), route_kind("http://h/")
    ('csv', 'json', '')
    """
    path = urlsplit(url).path
    return path.rpartition(".")[2] if path.endswith((".csv", ".json")) else ""


def url_origin(url: str) -> tuple:
    """Scheme, host and port of a URL: what must stay the same for credentials to follow a redirect.

    >>> url_origin("http://h:80/a") == url_origin("http://h:80/b"), url_origin("http://h/a") == url_origin("https://h/a")
    (True, False)
    """
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def redirect_target(url: str, location: str) -> str:
    """The URL a ``Location`` leads to from ``url``; ``Refused`` unless it is http(s).

    >>> redirect_target("http://h/v1/accel.csv?page=1", "/v1/accel.csv?page=2")
    'http://h/v1/accel.csv?page=2'
    >>> redirect_target("http://h/v1/accel.csv", "file:///etc/passwd")
    Traceback (most recent call last):
    ...
    runeq_fn.http.body.Refused: redirected to file:///etc/passwd, which is not an http or https URL: not followed
    """
    try:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError:
        raise Refused(f"redirected to {location[:100]!r}, which is not a URL: not followed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}"[:100]
        raise Refused(f"redirected to {shown}, which is not an http or https URL: not followed")
    return target


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers without credentials or cookies, for a redirect to another origin.

    >>> public_headers({"X-Rune-User-Access-Token": "t", "accept-encoding": "gzip", "Cookie": "c"})
    {'accept-encoding': 'gzip'}
    """
    return {name: value for name, value in headers.items() if name.lower() not in PRIVATE_HEADERS}


def try_deadline(request: Request) -> float:
    """When the try starting now must be over (``time.monotonic()``): the page's deadline or the pull's."""
    ends = time.monotonic() + request.policy.try_seconds
    return ends if request.deadline is None else min(ends, request.deadline)


def check_deadline(request: Request, deadline: float) -> float:
    """Seconds left before ``deadline``; past it, ``Refused`` (the pull's) or ``Broken`` (the page's)."""
    left = deadline - time.monotonic()
    if left > 0:
        return left
    if request.deadline is not None and request.deadline <= deadline:
        raise Refused(f"the pull took longer than pull_deadline ({request.policy.pull_deadline:g} s)")
    raise Broken(
        f"the page took longer than page_deadline ({request.policy.try_seconds:g} s) to arrive "
        "(a body that trickles in?)"
    )


def discard(answer: Any) -> None:
    """Close an answer that was not read to its end and hand its connection back to the pool."""
    answer.close()
    answer.release_conn()


def send(request: Request, url: str, deadline: float) -> Any:
    """GET ``url`` and follow redirects; the urllib3 answer, its body not yet read."""
    from urllib3 import exceptions as e

    headers = {**dict(request.headers), "Accept-Encoding": "gzip"}
    for _ in range(MAX_REDIRECTS + 1):
        left = check_deadline(request, deadline)
        way = route(url, request.policy)
        http = manager(way)  # a proxy or CA bundle from the environment is checked here (ConfigError)
        try:
            answer = http.request(
                "GET",
                url,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=timeout_policy(request.policy, left),
                preload_content=False,
                decode_content=False,
            )
        except e.ReadTimeoutError:
            check_deadline(request, deadline)
            raise
        except e.HTTPError:  # urllib3's URL errors are ValueErrors too
            raise
        except ValueError:
            # http.client refuses a header value with a line break; its message would show the value
            raise Refused(
                "the request could not be sent: a header holds a character HTTP does not allow "
                "(check the credentials for line breaks)"
            ) from None
        if answer.status == 407 and way.proxy:
            discard(answer)
            raise proxy_refused(url, way)
        location = answer.headers.get("Location")
        if answer.status not in REDIRECT_STATUSES or not location:
            return answer
        discard(answer)
        target = redirect_target(url, location)
        if url_origin(target) != url_origin(url):
            headers = public_headers(headers)
        url = target
    raise Refused(f"more than {MAX_REDIRECTS} redirects in a row (a redirect loop?): not followed")


def read_body(request: Request, answer: Any, deadline: float) -> tuple[bytes, int]:
    """The whole decoded body of an answer and the bytes it took on the wire, or ``Broken``/``Refused``.

    Reads a chunk at a time, checking the deadline and ``max_page_bytes`` between
    reads; a compressed stream must reach its end marker. The connection goes back
    to the pool in every case.
    """
    from urllib3 import exceptions as e

    limit = request.policy.max_page_bytes
    try:
        decoder = Decoder(answer.headers.get("Content-Encoding", ""), limit)
        if not decoder.compressed and (answer.length_remaining or 0) > limit:
            raise too_large(limit)
        chunks, wire = [], 0
        while True:
            try:
                data = answer.read1(READ_SIZE, decode_content=False)
            except e.ReadTimeoutError:
                check_deadline(request, deadline)
                raise
            if not data:
                break
            wire += len(data)
            chunks.append(decoder.feed(data))
            check_deadline(request, deadline)
        decoder.finish()
    except BaseException:
        discard(answer)
        raise
    answer.release_conn()
    return b"".join(chunks), wire


def close_delimited(answer: Any) -> bool:
    """Whether an answer's body ends where its connection closes: no length, not chunked."""
    return not answer.chunked and answer.length_remaining is None


def attempt(request: Request, url: str) -> Response:
    """One try of a page: its whole answer, or ``Broken``/``Refused``/a urllib3 error."""
    deadline = try_deadline(request)
    try:
        answer = send(request, url, deadline)
        unframed = close_delimited(answer)
        content, wire = read_body(request, answer, deadline)
    finally:
        watch_socket(None)
    response = Response(answer.status, Headers(answer.headers), content, url, wire_bytes=wire)
    if 200 <= answer.status < 300:
        kind = route_kind(url)
        if unframed and not compressed(answer.headers.get("Content-Encoding", "")) and not whole_by_shape(content, kind):
            raise Broken(
                f"the connection closed before the page ended (no Content-Length, and the {kind.upper()} "
                "body stops mid-way)"
            )
        arrived = not_data(kind, answer.headers.get("Content-Type"), content)
        if arrived is not None:
            raise Refused(
                f"expected a {kind.upper()} page but {arrived}; a proxy or captive portal in the way? "
                "Check the network and stream_url",
                answer.status,
            )
    return response
