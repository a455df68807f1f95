"""``runeq configure``: the credentials file read and written from the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..config.auth import credential_kinds, infer_auth_method
from ..config.file import (
    DEFAULT_CONFIG_PATH,
    existing_config_bytes,
    file_values,
    merged_file_values,
    write_config_file,
)
from ..config.keys import CREDENTIAL_KEYS, KNOWN_KEYS, describe
from ..config.values import check_values
from ..errors import ConfigError, UsageError
from .flags import as_flag
from .messages import note


class Configure:
    """Read and write the credentials file ~/.rune/config (YAML, private to you).

    `setup` stores an access token, `get` shows values (secrets masked) and
    `set` changes any key, such as stream_url to point at an emulator.
    """

    def setup(self, access_token_id: str | None = None, access_token_secret: str | None = None) -> None:
        """Store a Rune access token in ~/.rune/config, asking for what is not given.

        Other keys in the file are kept. Without a terminal, pass both flags.

        Args:
          access_token_id: the access token's id (asked for when omitted)
          access_token_secret: the access token's secret (asked for, hidden, when omitted)
        """
        import getpass

        for flag, value in (("access-token-id", access_token_id), ("access-token-secret", access_token_secret)):
            if value is not None and str(value) in ("True", "False"):  # fire's value for a flag given bare
                raise UsageError(f"--{flag} needs a value: --{flag} VALUE (or leave it out to be asked)")
        path = config_path()
        both_given = access_token_id is not None and access_token_secret is not None
        interactive = stdin_is_terminal()
        if not both_given and not interactive:
            raise ConfigError(
                "no terminal to ask on: pass --access-token-id and --access-token-secret"
            )
        current = values_to_keep(path, interactive)
        if current is None or not may_overwrite(path, current, ask_first=interactive):
            print(f"left {path} unchanged")
            return
        token_id = access_token_id if access_token_id is not None else ask("access token id", input)
        secret = (
            access_token_secret
            if access_token_secret is not None
            else ask("access token secret", getpass.getpass)
        )
        print(f"wrote {write_config_file(with_access_token(current, token_id, secret), path)}")

    def get(self, *keys: str, reveal: bool = False) -> None:
        """Print `key: value` lines, sorted, for all keys in the file or those named.

        Secrets show only their last 4 characters unless --reveal is given.

        Args:
          keys: the keys to print (all when none); a key not in the file prints an empty value
          reveal: print secrets in full
        """
        show_all = as_flag("reveal", reveal)
        for number, key in enumerate(keys, 1):
            check_key(number, str(key))
        path = config_path()
        if not os.path.exists(path):
            note(f"no config file at {path}: run `runeq configure setup` to make one")
        text = describe(merged_file_values({}, path), keys, show_all)
        if text:
            print(text)

    def set(self, *pairs: str) -> None:
        """Set values in ~/.rune/config, as KEY=VALUE pairs; other keys are kept.

        An empty value (KEY=) removes the key.

        Args:
          pairs: KEY=VALUE arguments, e.g. stream_url=http://127.0.0.1:8080
        """
        if not pairs:
            raise UsageError("give at least one KEY=VALUE pair")
        updates = parse_pairs(pairs)
        updates.update(check_values(updates, "the arguments"))
        if updates.get("auth_method"):
            infer_auth_method(updates)
        path = config_path()
        written = write_config_file(drop_unset(merged_file_values(updates, path)), path)
        print(f"set {', '.join(updates)} in {written}")


def config_path() -> str:
    """The full path of the default config file (under ``$HOME``)."""
    return os.path.abspath(os.path.expanduser(DEFAULT_CONFIG_PATH))


def stdin_is_terminal() -> bool:
    """True when there is someone at a terminal to answer questions."""
    return sys.stdin is not None and sys.stdin.isatty()


def values_to_keep(path: str, interactive: bool) -> dict[str, Any] | None:
    """The file's values, {} when a malformed file is to be reset, None when the user keeps it.

    A folder or a file that cannot be read is an error, never reset.
    """
    data = existing_config_bytes(path)
    try:
        return file_values(data, path)
    except ConfigError as exc:
        note(str(exc))
        if not interactive:
            note(f"resetting {path}")
            return {}
        return {} if confirm(f"reset {path}?") else None


def may_overwrite(path: str, values: dict[str, Any], ask_first: bool) -> bool:
    """True when the file holds no credentials, or ``ask_first`` is off, or the user agrees."""
    held = sorted(key for key in CREDENTIAL_KEYS if values.get(key))
    return not (held and ask_first) or confirm(f"{path} already holds {', '.join(held)}; overwrite?")


def confirm(question: str) -> bool:
    """Ask a yes/no question; anything but yes (including end of input) is no."""
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def ask(what: str, read: Callable[[str], str]) -> str:
    """Ask for one value with ``read`` (``input`` or ``getpass``); empty is an error."""
    try:
        value = read(f"{what}: ").strip()
    except EOFError:
        value = ""
    if not value:
        raise ConfigError(f"no {what} given; nothing was written")
    return value


def with_access_token(values: dict[str, Any], token_id: str, secret: str) -> dict[str, Any]:
    """The file's values with a new access token, made the auth method where needed.

    >>> with_access_token({"graph_url": "g"}, "id", "secret")
    {'graph_url': 'g', 'access_token_id': 'id', 'access_token_secret': 'secret'}
    >>> with_access_token({"jwt": "j"}, "id", "secret")["auth_method"]
    'access_token'
    """
    updated = {**values, "access_token_id": token_id, "access_token_secret": secret}
    if "auth_method" in updated or len(credential_kinds(updated)) > 1:
        updated["auth_method"] = "access_token"
    return updated


def check_key(number: int, key: str) -> None:
    """Refuse a name that is not a config key, without showing it (it may be a secret typed in the wrong place).

    >>> check_key(1, "stream_url")
    >>> check_key(2, "stream-url")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: argument 2 names no config key (did you mean stream_url?): use one of access_token_id, access_token_secret, auth_method, backoff, backoff_max, ca_bundle, client_access_key, client_key_id, cognito_client_id, cognito_refresh_token, cognito_region_name, cognito_url, connect_timeout, graph_url, jwt, max_page_bytes, no_proxy, page_deadline, proxy, pull_deadline, read_timeout, retries, retry_after_max, stream_url
    """
    import difflib

    if key in KNOWN_KEYS:
        return
    close = difflib.get_close_matches(key.replace("-", "_"), sorted(KNOWN_KEYS), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"argument {number} names no config key{hint}: use one of {', '.join(sorted(KNOWN_KEYS))}")


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a mapping, checked against the known config keys.

    An empty value (``KEY=``) maps to None: the key is removed from the file.

    >>> parse_pairs(["stream_url=http://127.0.0.1:8080", "jwt="])
    {'stream_url': 'http://127.0.0.1:8080', 'jwt': None}
    >>> parse_pairs(["stream_url"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: expected KEY=VALUE: argument 1 has no '=' (a value given alone is not shown)
    """
    values: dict[str, Any] = {}
    for number, pair in enumerate(pairs, 1):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals:
            raise UsageError(f"expected KEY=VALUE: argument {number} has no '=' (a value given alone is not shown)")
        if not key:
            raise UsageError(f"expected KEY=VALUE: argument {number} has no key before '='")
        check_key(number, key)
        values[key] = value or None
    return values


def drop_unset(values: dict[str, Any]) -> dict[str, Any]:
    """The values without those set to None (the keys ``KEY=`` removes).

    >>> drop_unset({"jwt": None, "stream_url": "u"})
    {'stream_url': 'u'}
    """
    return {key: value for key, value in values.items() if value is not None}
