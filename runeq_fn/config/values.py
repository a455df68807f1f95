"""Checking config values as they come in: policy numbers, URLs, proxies, credentials HTTP can carry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..policy import NETWORK_KEYS, POLICY_KEYS
from .keys import CREDENTIAL_KEYS, KNOWN_KEYS
from .network import check_ca_bundle, check_proxy, with_scheme

log = logging.getLogger(__name__)


def check_values(values: Mapping[str, Any], source: str = "keywords") -> dict[str, Any]:
    """Validate raw config values; drop unknown keys with a warning.

    >>> check_values({"jwt": "x", "colour": "blue"})
    {'jwt': 'x'}
    >>> check_values({"retries": "many"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: retries in keywords must be a whole number, at least 0, not 'many'
    """
    unknown = sorted(str(k) for k in values if k not in KNOWN_KEYS)
    if unknown:
        log.warning("ignoring unknown config keys in %s: %s", source, ", ".join(unknown))
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in KNOWN_KEYS or value is None:
            continue
        if isinstance(value, (dict, list, tuple, set)):
            raise ConfigError(f"{key} in {source} must be a single value, not a {type(value).__name__}")
        if key in NETWORK_KEYS:
            value = network_value(key, str(value), source)
        elif key in POLICY_KEYS:
            value = policy_value(key, value, source)
        else:
            value = str(value)
            if key in CREDENTIAL_KEYS:
                check_credential(key, value, source)
            if key in ("stream_url", "graph_url", "cognito_url"):
                check_url(key, value, source)
        checked[key] = value
    return checked


def policy_value(key: str, value: Any, source: str) -> int | float:
    """A retry, timeout, deadline or size setting as a number, or a ``ConfigError`` that says which numbers fit.

    >>> policy_value("read_timeout", "2.5", "f"), policy_value("retries", 3, "f")
    (2.5, 3)
    >>> policy_value("connect_timeout", 0, "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: connect_timeout in f must be a number of seconds above 0, not 0
    >>> policy_value("max_page_bytes", "1e6", "f"), policy_value("pull_deadline", 90, "f")
    (1000000, 90.0)
    """
    whole = key in ("retries", "max_page_bytes")
    positive = key.endswith(("_timeout", "_deadline")) or key == "max_page_bytes"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    fits = 0 < number < float("inf") if positive else 0 <= number < float("inf")
    if whole:
        fits = fits and number.is_integer() and not isinstance(value, bool)
    if not fits:
        kind = (
            "a whole number of bytes above 0" if key == "max_page_bytes"
            else "a whole number, at least 0" if whole
            else "a number of seconds above 0" if positive
            else "a number, at least 0"
        )
        raise ConfigError(f"{key} in {source} must be {kind}, not {value!r}")
    return int(number) if whole else number


def network_value(key: str, value: str, source: str) -> str:
    """A ``proxy`` URL, ``ca_bundle`` path or ``no_proxy`` list, checked; the proxy comes back with its scheme, the path with ``~`` expanded.

    >>> network_value("proxy", "proxy.example:3128", "f")
    'http://proxy.example:3128'
    >>> network_value("ca_bundle", "/no/such/ca.pem", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: ca_bundle in f names /no/such/ca.pem, which does not exist: give the path of a PEM file of the CA certificates to trust
    """
    if key == "proxy":
        value = with_scheme(value)
        check_proxy(key, value, source)
        return value
    if key == "no_proxy":
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"{key} in {source} has control characters: give hosts separated by commas")
        return value.strip()
    return check_ca_bundle(key, value, source)


def check_credential(key: str, value: str, source: str) -> None:
    """Refuse a credential that HTTP cannot carry, without ever showing it.

    >>> check_credential("jwt", "abc", "f")
    >>> check_credential("access_token_secret", "s3cret\\n", "~/.rune/config")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: access_token_secret in ~/.rune/config has spaces at an end or a line break or other control character; remove it
    """
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{key} in {source} has spaces at an end or a line break or other control character; remove it"
        )


def check_url(key: str, value: str, source: str) -> None:
    """Refuse a URL the client cannot use: not http(s), no host, a bad port, or a user:password in it.

    >>> check_url("stream_url", "http://127.0.0.1:8080", "f")
    >>> check_url("stream_url", "https://me:pw@stream.runelabs.io", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: stream_url in f must not hold a user name or password: give credentials as access_token_id/access_token_secret (or client keys, or a jwt)
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key} in {source} must be an http(s) URL such as https://stream.runelabs.io")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{key} in {source} must not hold a user name or password: give credentials as "
            "access_token_id/access_token_secret (or client keys, or a jwt)"
        )


def warn_if_plain_http(key: str, url: str) -> None:
    """Warn when credentials would travel in clear text to a host that is not loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        log.warning(
            "%s %s is plain http to a host that is not loopback: "
            "credentials will travel unencrypted; use https",
            key,
            f"{parts.scheme}://{parts.hostname}",
        )


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "stream.runelabs.io")]
    [True, True, True, False]
    """
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
