"""Auth methods: which one the credentials name (or runeq would infer), and the headers each sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .keys import SECRET_KEYS

AUTH_METHODS = ("access_token", "client_keys", "jwt", "cognito_refresh")

HEADERS_BY_METHOD = {
    "access_token": (
        ("X-Rune-User-Access-Token-Id", "access_token_id"),
        ("X-Rune-User-Access-Token-Secret", "access_token_secret"),
    ),
    "client_keys": (
        ("X-Rune-Client-Key-ID", "client_key_id"),
        ("X-Rune-Client-Access-Key", "client_access_key"),
    ),
    "jwt": (("X-Rune-User-Access-Token", "jwt"),),
}
AUTH_HEADER_NAMES = frozenset(
    name for pairs in HEADERS_BY_METHOD.values() for name, _ in pairs
)
SECRET_HEADER_NAMES = frozenset(
    name for pairs in HEADERS_BY_METHOD.values() for name, key in pairs if key in SECRET_KEYS
)


def credential_kinds(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of credential that are at least partly present (runeq's count).

    >>> credential_kinds({"access_token_id": "a", "jwt": "j"})
    ('access_token', 'jwt')
    >>> credential_kinds({"cognito_refresh_token": "r"})  # needs its client id too
    ()
    """
    present = {
        "access_token": values.get("access_token_id") or values.get("access_token_secret"),
        "client_keys": values.get("client_key_id") or values.get("client_access_key"),
        "jwt": values.get("jwt"),
        "cognito_refresh": values.get("cognito_refresh_token") and values.get("cognito_client_id"),
    }
    return tuple(kind for kind in AUTH_METHODS if present[kind])


def infer_auth_method(values: Mapping[str, Any]) -> str:
    """The auth method named by ``auth_method``, or inferred from the credentials.

    >>> infer_auth_method({"client_key_id": "k", "client_access_key": "s"})
    'client_keys'
    >>> infer_auth_method({"jwt": "j", "access_token_id": "a"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: cannot infer auth method: credentials of more than one kind were given (access_token, jwt); set auth_method to one of access_token, client_keys, jwt, cognito_refresh
    """
    method = values.get("auth_method")
    if method is not None:
        if method not in AUTH_METHODS:
            raise ConfigError(
                f"invalid auth_method {method!r}: expected one of {', '.join(AUTH_METHODS)}"
            )
        return method
    kinds = credential_kinds(values)
    if len(kinds) > 1:
        raise ConfigError(
            "cannot infer auth method: credentials of more than one kind were given "
            f"({', '.join(kinds)}); set auth_method to one of {', '.join(AUTH_METHODS)}"
        )
    complete = {
        "access_token": values.get("access_token_id") and values.get("access_token_secret"),
        "client_keys": values.get("client_key_id") and values.get("client_access_key"),
        "jwt": values.get("jwt"),
        "cognito_refresh": values.get("cognito_refresh_token") and values.get("cognito_client_id"),
    }
    for kind in AUTH_METHODS:
        if complete[kind]:
            return kind
    raise ConfigError(
        "cannot infer auth method: a complete set of credentials was not provided; "
        "give access_token_id and access_token_secret (or client_key_id and "
        "client_access_key, or jwt), e.g. with `runeq configure setup`"
    )


def method_headers(method: str, values: Mapping[str, Any]) -> dict[str, str]:
    """The auth headers of one method, or a ``ConfigError`` naming what is missing.

    >>> method_headers("jwt", {"jwt": "abc"})
    {'X-Rune-User-Access-Token': 'abc'}
    >>> method_headers("client_keys", {"client_key_id": "k"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: client_access_key is not set (needed for client_keys auth)
    """
    headers = {}
    for header, key in HEADERS_BY_METHOD[method]:
        if not values.get(key):
            raise ConfigError(f"{key} is not set (needed for {method} auth)")
        headers[header] = str(values[key])
    return headers
