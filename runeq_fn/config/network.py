"""Proxy URLs and CA bundles: checked with errors that say what is wrong, and shown without a password."""

from __future__ import annotations

import os

from ..errors import ConfigError


def with_scheme(proxy: str) -> str:
    """A proxy URL with its scheme: one without is taken as http://, as curl and requests do.

    >>> with_scheme("me:pw@proxy.example:3128"), with_scheme("https://proxy.example")
    ('http://me:pw@proxy.example:3128', 'https://proxy.example')
    """
    return proxy if "://" in proxy else "http://" + proxy


def proxy_problem(value: str) -> str | None:
    """What is wrong with a proxy URL (never quoting it: it may hold a password), or None.

    >>> proxy_problem("http://me:pw@proxy.example:3128") is None
    True
    >>> proxy_problem("socks5://me:pw@proxy.example:1080")
    'is a SOCKS proxy (socks5://), which is not supported: use an http:// or https:// proxy'
    >>> proxy_problem("http://me:pw@[::1")
    'has a host that is not a valid name or address (an IPv6 address needs both brackets: [::1])'
    >>> proxy_problem("http://me:pw@proxy.example:99999")
    'has a port that is not a number from 1 to 65535'
    """
    from urllib.parse import urlsplit

    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "has spaces or control characters"
    scheme = value.partition("://")[0].lower()
    if scheme.startswith("socks"):
        return f"is a SOCKS proxy ({scheme}://), which is not supported: use an http:// or https:// proxy"
    if scheme not in ("http", "https"):
        return f"has the scheme {scheme[:20]!r}: only http:// and https:// proxies are supported"
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or not parts.hostname:
        return "has a host that is not a valid name or address (an IPv6 address needs both brackets: [::1])"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    return None


def check_proxy(key: str, value: str, source: str) -> None:
    """Refuse a proxy URL that is not ``http(s)://[user:password@]host[:port]``, saying what is wrong, not showing it.

    SOCKS proxies are not supported (urllib3 needs PySocks for them).

    >>> check_proxy("proxy", "http://me:pw@proxy.example:3128", "f")
    >>> check_proxy("proxy", "socks5://me:pw@proxy.example:1080", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: proxy in f is a SOCKS proxy (socks5://), which is not supported: use an http:// or https:// proxy (such as http://user:password@proxy.example:3128)
    """
    problem = proxy_problem(value)
    if problem is not None:
        raise ConfigError(f"{key} in {source} {problem} (such as http://user:password@proxy.example:3128)")


def check_ca_bundle(key: str, value: str, source: str) -> str:
    """The full path of a readable PEM file of CA certificates, or a ``ConfigError`` saying what is wrong."""
    import ssl

    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.exists(path):
        problem = "which does not exist"
    elif not os.path.isfile(path):
        problem = "which is not a file"
    elif not os.access(path, os.R_OK):
        problem = "which cannot be read"
    else:
        try:
            ssl.create_default_context(cafile=path)
            return path
        except (ssl.SSLError, OSError, ValueError):
            problem = "which holds no PEM certificate"
    raise ConfigError(
        f"{key} in {source} names {path}, {problem}: give the path of a PEM file "
        "of the CA certificates to trust"
    )


def hide_password(url: str) -> str:
    """A URL fit to print: the password in it, if any, shows as ``****``.

    >>> hide_password("http://me:s3cret@proxy.example:3128"), hide_password("http://proxy.example")
    ('http://me:****@proxy.example:3128', 'http://proxy.example')
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that does not parse)"
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{parts.netloc.rpartition('@')[2]}"))
