"""The config's keys: which there are, which are credentials and secrets, and how each value prints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import masked
from ..policy import POLICY_KEYS
from .network import hide_password

CREDENTIAL_KEYS = (
    "access_token_id",
    "access_token_secret",
    "client_key_id",
    "client_access_key",
    "jwt",
    "cognito_client_id",
    "cognito_refresh_token",
)
SECRET_KEYS = frozenset(
    {"access_token_secret", "client_access_key", "jwt", "cognito_refresh_token"}
)
SETTING_KEYS = (
    "auth_method",
    "cognito_region_name",
    "cognito_url",
    "stream_url",
    "graph_url",
    *POLICY_KEYS,
)
KNOWN_KEYS = frozenset(CREDENTIAL_KEYS + SETTING_KEYS)


def mask(key: str, value: Any) -> str:
    """A value fit to print: secrets show only their last 4 characters.

    >>> mask("access_token_secret", "s3cr3t-value-1234")
    '****1234'
    >>> mask("stream_url", "https://stream.runelabs.io")
    'https://stream.runelabs.io'
    >>> mask("proxy", "http://me:s3cret@proxy.example:3128")
    'http://me:****@proxy.example:3128'
    """
    if value is None:
        return ""
    text = str(value)
    if key == "proxy":
        return hide_password(text)
    return masked(text) if key in SECRET_KEYS and text else text


def describe(values: Mapping[str, Any], keys: Iterable[str] = (), reveal: bool = False) -> str:
    """``key: value`` lines, sorted, secrets masked unless ``reveal``.

    >>> print(describe({"jwt": "eyJhbGciOi.abcdefghijklmnop", "stream_url": "http://x"}))
    jwt: ****mnop
    stream_url: http://x
    >>> describe({}, ["graph_url"])
    'graph_url: '
    """
    names = sorted(keys) if keys else sorted(values)
    return "\n".join(
        f"{k}: {values.get(k, '') if reveal else mask(k, values.get(k))}" for k in names
    )
