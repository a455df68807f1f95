"""The one place that speaks HTTP: shared urllib3 pools, and the loop that tries a page.

``fetch(request)`` returns a whole, verified ``Response`` or raises; it never
returns a body shorter than announced, cut off with its connection, or a
compressed stream that did not reach its end. One budget of tries covers every
kind of failure; redirects, waits, deadlines and size limits are handled here,
explicitly, with urllib3 doing single requests (``retries=False``).

Requests go out through one pool manager per network route (proxy and CA
bundle), so that every query on the same network shares its connections. A
forked child starts with no pools: a keep-alive connection shared with the
parent would hand each process the other's answers.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..config.auth import AUTH_HEADER_NAMES
from ..config.cognito import POSTERS
from ..config.network import check_ca_bundle, check_proxy, hide_password, with_scheme
from ..errors import APIError, TransportError
from ..policy import Policy, backoff_wait, retry_after_seconds
from .body import Broken, Decoder, Refused, compressed, not_data, too_large, whole_by_shape
from .flight import CONNECTIONS_PER_HOST, check_stop, current_stop, stoppable_sleep
from .request import Request
from .response import Headers, Response, error_details

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
USER_AGENT = "runeq-fn/0.1"
READ_SIZE = 256 * 1024
"""The most one read takes off the socket: the deadline and the size limit are checked between reads."""
PRIVATE_HEADERS = frozenset(name.lower() for name in AUTH_HEADER_NAMES | {"Authorization", "Cookie"})
"""Headers that never follow a redirect to another origin."""

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
"""Where a CA bundle is looked for in the environment, first found wins (requests' order, then OpenSSL's)."""

_pool_lock = threading.Lock()
_pools: dict[tuple[str | None, str | None], Any] = {}
_thread = threading.local()
_pull_deadline: ContextVar[float | None] = ContextVar("runeq_fn_pull_deadline", default=None)


def forget_pools() -> None:
    """Drop every pool manager (and so every kept connection) without touching it, for a forked child.

    Nothing of the parent's pools is called: a lock in them may have been held
    by a thread the child does not have. Their sockets close when collected;
    the parent's copies stay open for the parent.
    """
    global _pool_lock, _pools
    _pool_lock = threading.Lock()
    _pools = {}


os.register_at_fork(after_in_child=forget_pools)


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


def on_sent(callback: Callable[[], None] | None) -> None:
    """Have this thread's requests call ``callback`` once each is on the wire, before its answer.

    Prefetching uses it to know when the consumer may go back to parsing.
    """
    _thread.on_sent = callback


def watch_socket(sock: Any | None) -> None:
    """Make ``sock`` the one this thread's request is on (None: none), hung up if its pull is stopped.

    The previous socket is forgotten: its connection may serve other requests.
    """
    previous = getattr(_thread, "watched", None)
    stop = current_stop()
    if previous is not None and stop is not None:
        stop.forget(previous)
    _thread.watched = sock
    if sock is not None and stop is not None:
        stop.watch(sock)


def signalling(connection_class: type) -> type:
    """A urllib3 connection class whose ``request``, once sent, watches its socket and calls ``on_sent``."""

    class Signalling(connection_class):  # type: ignore[misc, valid-type]
        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)
            watch_socket(self.sock)
            callback = getattr(_thread, "on_sent", None)
            if callback is not None:
                callback()

    return Signalling


@dataclass(frozen=True)
class Route:
    """How a URL is reached: through which proxy (None: directly), trusting which CA bundle.

    ``proxy_from`` and ``ca_from`` name where each came from (the config key or
    an environment variable), for error messages. The proxy may hold a password:
    the repr hides it.

    >>> Route("http://me:pw@proxy:3128", "HTTPS_PROXY")
    Route(proxy='http://me:****@proxy:3128', proxy_from='HTTPS_PROXY', ca_bundle=None, ca_from='')
    """

    proxy: str | None = None
    proxy_from: str = ""
    ca_bundle: str | None = None
    ca_from: str = ""

    def __repr__(self) -> str:
        shown = hide_password(self.proxy) if self.proxy else None
        return (
            f"Route(proxy={shown!r}, proxy_from={self.proxy_from!r}, "
            f"ca_bundle={self.ca_bundle!r}, ca_from={self.ca_from!r})"
        )


def environment_value(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, the lower-case spelling first (as curl and requests read them); blank is unset.

    >>> environment_value({"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"}, "https_proxy")
    'http://b:2'
    >>> environment_value({"NO_PROXY": " "}, "no_proxy") is None
    True
    """
    for spelling in (name.lower(), name.upper()):
        value = environ.get(spelling, "").strip()
        if value:
            return value
    return None


def without_httpoxy(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment less ``HTTP_PROXY`` when running as a CGI script (``REQUEST_METHOD`` set).

    There a client's ``Proxy:`` request header arrives as ``HTTP_PROXY`` ("httpoxy",
    CVE-2016-1000110); as urllib and requests do, only that upper-case spelling
    is dropped: ``http_proxy`` cannot come from a header.

    >>> without_httpoxy({"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://evil:1", "http_proxy": "http://ok:2"})
    {'REQUEST_METHOD': 'GET', 'http_proxy': 'http://ok:2'}
    """
    if "REQUEST_METHOD" not in environ:
        return environ
    return {name: value for name, value in environ.items() if name != "HTTP_PROXY"}


def environment_proxy(scheme: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The proxy the environment names for a URL scheme, and the variable it came from.

    ``<scheme>_proxy`` first, then ``all_proxy``; a proxy without a scheme is taken as http://.
    Under CGI, ``HTTP_PROXY`` is not read (see ``without_httpoxy``).

    >>> environment_proxy("https", {"ALL_PROXY": "proxy.example:3128"})
    ('http://proxy.example:3128', 'ALL_PROXY')
    >>> environment_proxy("http", {"HTTPS_PROXY": "http://proxy.example:3128"}) is None
    True
    >>> environment_proxy("http", {"HTTP_PROXY": "http://proxy.example:3128", "REQUEST_METHOD": "GET"}) is None
    True
    """
    environ = without_httpoxy(environ)
    for name in (f"{scheme}_proxy", "all_proxy"):
        value = environment_value(environ, name)
        if value is not None:
            spelled = name.lower() if environ.get(name.lower(), "").strip() else name.upper()
            return with_scheme(value), spelled
    return None


def bypasses_proxy(url: str, no_proxy: str | None) -> bool:
    """Whether ``NO_PROXY`` says to reach ``url`` directly.

    Entries are comma or space separated: ``*`` (every host), a domain (itself
    and its subdomains; a leading dot is allowed), an IP address, a CIDR network
    (``10.0.0.0/8``), any of them with ``:port`` to match that port only.

    >>> no_proxy = "example.com, .internal:8443, 10.0.0.0/8, ::1"
    >>> [bypasses_proxy(u, no_proxy) for u in (
    ...     "https://api.example.com/v1", "https://badexample.com", "https://db.internal:8443",
    ...     "https://db.internal", "http://10.1.2.3:8080", "http://[::1]:80", "http://11.0.0.1")]
    [True, False, True, False, True, True, False]
    >>> bypasses_proxy("https://stream.runelabs.io", "*"), bypasses_proxy("https://stream.runelabs.io", None)
    (True, False)
    """
    if not no_proxy:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return any(no_proxy_matches(entry, host, port) for entry in re.split(r"[\s,]+", no_proxy) if entry)


def no_proxy_matches(entry: str, host: str, port: int) -> bool:
    """Whether one ``NO_PROXY`` entry covers ``host`` on ``port`` (see ``bypasses_proxy``).

    >>> no_proxy_matches("127.0.0.0/8", "127.0.0.1", 80), no_proxy_matches(".example.com", "example.com", 443)
    (True, True)
    """
    if entry == "*":
        return True
    name, entry_port = entry.lower(), ""
    if name.startswith("["):  # [v6] or [v6]:port
        name, _, rest = name[1:].partition("]")
        entry_port = rest[1:]
    elif name.count(":") == 1:  # host:port; a bare IPv6 address has more colons
        name, _, entry_port = name.partition(":")
    if entry_port and entry_port != str(port):
        return False
    name = name.strip(".")
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == name or host.endswith("." + name)
    try:
        return address in ipaddress.ip_network(name, strict=False)
    except ValueError:
        return False


def route(url: str, policy: Policy, environ: Mapping[str, str] | None = None) -> Route:
    """The route to ``url``: the policy's proxy and CA bundle, else the environment's.

    The config's ``proxy`` replaces the ``*_PROXY`` variables, and its
    ``ca_bundle`` replaces ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and
    ``SSL_CERT_FILE``; ``NO_PROXY`` applies to either proxy, and so does the
    config's ``no_proxy``, which adds to it.

    >>> env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost"}
    >>> route("https://stream.runelabs.io/v1/accel.csv", Policy(), env)
    Route(proxy='http://proxy:3128', proxy_from='HTTPS_PROXY', ca_bundle=None, ca_from='')
    >>> route("https://localhost:8443/v1/accel.csv", Policy(), env).proxy is None
    True
    >>> route("https://127.0.0.1:8443/v1/accel.csv", Policy(no_proxy="127.0.0.1"), env).proxy is None
    True
    >>> route("https://h", Policy(), {"SSL_CERT_FILE": "/b.pem", "REQUESTS_CA_BUNDLE": "/a.pem"}).ca_bundle
    '/a.pem'
    """
    environ = os.environ if environ is None else environ
    proxy: tuple[str, str] | None = None
    if policy.proxy:
        proxy = (with_scheme(policy.proxy), "proxy")
    else:
        proxy = environment_proxy(urlsplit(url).scheme, environ)
    no_proxy = ",".join(filter(None, (policy.no_proxy, environment_value(environ, "no_proxy"))))
    if proxy is not None and bypasses_proxy(url, no_proxy):
        proxy = None
    bundle: tuple[str, str] | None = (policy.ca_bundle, "ca_bundle") if policy.ca_bundle else None
    for name in CA_BUNDLE_VARIABLES:
        if bundle is None and environ.get(name, "").strip():
            bundle = (environ[name].strip(), name)
    return Route(*(proxy or (None, "")), *(bundle or (None, "")))


def manager(way: Route) -> Any:
    """The one pool manager of a route: a ``PoolManager``, or a ``ProxyManager`` (CONNECT for https).

    A proxy or CA bundle from the environment is checked here, once per route,
    with an error that names the variable.
    """
    key = (way.proxy, way.ca_bundle)
    with _pool_lock:
        if key not in _pools:
            _pools[key] = new_manager(way)
        return _pools[key]


def new_manager(way: Route) -> Any:
    """A fresh pool manager for a route, its connections announcing when a request is sent (``on_sent``)."""
    import urllib3
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    options: dict[str, Any] = {"num_pools": 8, "maxsize": CONNECTIONS_PER_HOST, "headers": {"User-Agent": USER_AGENT}}
    if way.ca_bundle is not None:
        options["ca_certs"] = check_ca_bundle(way.ca_from, way.ca_bundle, origin(way.ca_from))
    if way.proxy is None:
        built = urllib3.PoolManager(**options)
    else:
        check_proxy(way.proxy_from, way.proxy, origin(way.proxy_from))
        address, credentials = split_credentials(way.proxy)
        headers = urllib3.util.make_headers(proxy_basic_auth=credentials) if credentials else {}
        built = urllib3.ProxyManager(address, proxy_headers=headers, **options)
    built.pool_classes_by_scheme = {
        scheme: type(base.__name__, (base,), {"ConnectionCls": signalling(base.ConnectionCls)})
        for scheme, base in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool))
    }
    return built


def origin(name: str) -> str:
    """Where a setting named ``name`` comes from: the config for its own keys, else the environment.

    >>> origin("ca_bundle"), origin("SSL_CERT_FILE")
    ('the config', 'the environment')
    """
    return "the config" if name in ("proxy", "ca_bundle") else "the environment"


def split_credentials(proxy: str) -> tuple[str, str | None]:
    """A proxy URL without its ``user:password@``, and those credentials (percent-decoded) for Basic auth.

    >>> split_credentials("http://me:p%40ss@proxy:3128")
    ('http://proxy:3128', 'me:p@ss')
    >>> split_credentials("http://proxy:3128/")
    ('http://proxy:3128/', None)
    """
    from urllib.parse import unquote, urlunsplit

    parts = urlsplit(proxy)
    if parts.username is None:
        return proxy, None
    address = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return address, f"{unquote(parts.username)}:{unquote(parts.password or '')}"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """An exception and every exception it wraps (urllib3's ``reason`` and ``original_error``, args, causes).

    >>> [type(e).__name__ for e in causes(OSError(ValueError("x")))]
    ['OSError', 'ValueError']
    """
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend((getattr(current, "reason", None), getattr(current, "original_error", None)))
        todo.extend((*current.args, current.__cause__, current.__context__))


def untrusted_certificate(exc: BaseException) -> Any:
    """The ``ssl.SSLCertVerificationError`` inside an exception, or None."""
    import ssl

    return next((e for e in causes(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)


def proxy_refusal(exc: BaseException) -> str | None:
    """The status a proxy answered a CONNECT with (``"407 Proxy Authentication Required"``), or None.

    >>> proxy_refusal(OSError("Tunnel connection failed: 407 Proxy Authentication Required"))
    '407 Proxy Authentication Required'
    >>> proxy_refusal(OSError("Connection refused")) is None
    True
    """
    for e in causes(exc):
        found = re.search(r"Tunnel connection failed: (\d{3}.*)", str(e))
        if found:
            return found.group(1).strip()
    return None


def lasting(exc: BaseException) -> bool:
    """True for an error that retrying cannot heal: an untrusted certificate, a proxy's 4xx refusal.

    >>> lasting(OSError("Tunnel connection failed: 403 Forbidden")), lasting(OSError("Tunnel connection failed: 502 Bad Gateway"))
    (True, False)
    """
    refusal = proxy_refusal(exc)
    return untrusted_certificate(exc) is not None or (refusal is not None and refusal.startswith("4"))


def network_problem(exc: BaseException, url: str, way: Route) -> str | None:
    """What went wrong on the way to ``url`` (certificate, proxy), and the fix; None for other errors."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}"
    proxy = f"the proxy {hide_password(way.proxy)} (from {way.proxy_from})" if way.proxy else ""
    untrusted = untrusted_certificate(exc)
    refusal = proxy_refusal(exc)
    at_proxy = bool(proxy) and any(type(e).__name__ == "ProxyError" for e in causes(exc))
    if untrusted is not None:
        detail = getattr(untrusted, "verify_message", "") or "certificate verify failed"
        trusted = f"the CAs in {way.ca_bundle} (from {way.ca_from})" if way.ca_bundle else "the system's CAs"
        return (
            f"TLS verification failed for {proxy if at_proxy else where}: its certificate is not "
            f"trusted ({detail}) by {trusted}; "
            "if it is signed by a private CA, set ca_bundle in the config (or REQUESTS_CA_BUNDLE) "
            "to that CA's PEM file"
        )
    if refusal is not None and proxy:
        fix = (
            "check the user name and password in the proxy URL"
            if refusal.startswith("407")
            else f"ask for {parts.hostname} to be allowed, or name it in NO_PROXY to go around the proxy"
        )
        return f"{proxy} refused to connect to {where}: {refusal}; {fix}"
    if at_proxy and unreachable(exc):
        return f"cannot reach {where} through {proxy}: is the proxy up and its URL right?"
    return None


def unreachable(exc: BaseException) -> bool:
    """True when a connection could not even be opened (refused, no route, timed out connecting)."""
    from urllib3.exceptions import ConnectTimeoutError

    return any(isinstance(e, (ConnectTimeoutError, ConnectionRefusedError)) for e in causes(exc))


def proxy_refused(url: str, way: Route) -> TransportError:
    """The error for a proxy that answered a plain-http request with 407 (it wants credentials)."""
    parts = urlsplit(url)
    return TransportError(
        407,
        {
            "message": f"the proxy {hide_password(str(way.proxy))} (from {way.proxy_from}) refused to "
            f"forward to {parts.scheme}://{parts.netloc}: 407 Proxy Authentication Required; "
            "check the user name and password in the proxy URL",
            "type": "TransportError",
        },
    )


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


def host_of(url: str) -> str:
    """A URL without its query (which may hold tokens), for messages.

    >>> host_of("http://127.0.0.1:8000/v1/accel.csv?page=2&next_page_token=t")
    'http://127.0.0.1:8000/v1/accel.csv'
    """
    return url.split("?", 1)[0]


def refused_by_http_client(exc: Exception) -> Exception | None:
    """The http.client error inside a urllib3 error when the answer's status line or headers were refused.

    A closed connection is not one of them (``RemoteDisconnected`` is a
    ``BadStatusLine``, but another try may well get an answer).
    """
    import http.client

    inner = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(inner, http.client.RemoteDisconnected) or not isinstance(inner, http.client.HTTPException):
        return None
    if isinstance(inner, (http.client.LineTooLong, http.client.BadStatusLine)) or "headers" in str(inner):
        return inner
    return None


def heals(exc: Exception) -> bool:
    """Whether another try may mend a failed try: broken connections, timeouts, bodies not whole.

    Not: a bad redirect, an answer http.client or urllib3 refuses, an untrusted
    certificate or a proxy's refusal (``lasting``), a page too large, a passed
    pull deadline.
    """
    from urllib3 import exceptions as e

    if isinstance(exc, Broken):
        return True
    if isinstance(exc, Refused) or lasting(exc):
        return False
    if isinstance(exc, e.ProtocolError):
        return refused_by_http_client(exc) is None
    transient = (e.NewConnectionError, e.ConnectTimeoutError, e.ReadTimeoutError, e.ProxyError, e.SSLError)
    return isinstance(exc, transient)


def transport_error(exc: Exception, url: str, way: Route = Route(), tries: int = 1) -> TransportError:
    """Turn a failed try (a urllib3 exception, ``Broken`` or ``Refused``) into a ``TransportError`` that says what to do.

    After more than one try, the message says how many there were.
    """
    import http.client

    from urllib3 import exceptions as e

    reason = getattr(exc, "reason", None) or exc
    host = host_of(url)
    status = 0
    network = network_problem(exc, url, way)
    if network is not None:
        message = network
    elif isinstance(reason, Refused):
        message, status = f"{host}: {reason}", reason.status
    elif isinstance(reason, Broken):
        message = f"the answer from {host} was not whole: {reason}"
    elif isinstance(reason, e.NewConnectionError):
        message = f"cannot connect to {host}: is the server up and stream_url right?"
    elif isinstance(reason, (e.ReadTimeoutError, e.ConnectTimeoutError, TimeoutError)):
        message = f"no answer from {host} in time; raise read_timeout/connect_timeout if the server is slow"
    elif isinstance(reason, e.ProtocolError) and refused_by_http_client(reason) is not None:
        inner = refused_by_http_client(reason)
        message = (
            f"{host} sent a status line or header that http.client refuses "
            f"({type(inner).__name__}: {str(inner)[:100]}): not an HTTP answer runeq-fn can read"
        )
    elif isinstance(reason, e.InvalidHeader):
        message = f"{host} sent a header urllib3 refuses ({reason})"
    elif isinstance(reason, e.ProtocolError) and isinstance(reason.args[-1], http.client.IncompleteRead):
        message = f"the answer from {host} was not whole: the connection closed before the body's end ({reason.args[-1]!r})"
    elif isinstance(reason, e.DecodeError):
        message = f"the compressed body from {host} did not decode"
    else:
        message = f"the connection to {host} broke ({reason})"
    if tries > 1:
        message += f" (gave up after {tries} tries)"
    return TransportError(status, {"message": message, "type": "TransportError"})


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
