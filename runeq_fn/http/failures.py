"""What a failed try means: whether another try may mend it, and the ``TransportError`` that says what to do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..config.network import hide_password
from ..errors import TransportError
from .body import Broken, Refused
from .routes import Route


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
