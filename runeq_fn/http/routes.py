"""Routes and pools: the proxy and CA bundle a URL goes by, and one urllib3 pool manager per route.

Requests go out through one pool manager per network route (proxy and CA
bundle), so that every query on the same network shares its connections. A
forked child starts with no pools: a keep-alive connection shared with the
parent would hand each process the other's answers.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config.network import check_ca_bundle, check_proxy, hide_password, with_scheme
from ..policy import Policy
from .flight import CONNECTIONS_PER_HOST
from .hooks import signalling

USER_AGENT = "runeq-fn/0.1"

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
"""Where a CA bundle is looked for in the environment, first found wins (requests' order, then OpenSSL's)."""

_pool_lock = threading.Lock()
_pools: dict[tuple[str | None, str | None], Any] = {}


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
