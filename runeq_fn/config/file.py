"""The YAML config file: read with clear errors, merged key by key, written atomically and private (0600)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from typing import Any

from ..atomic import replace_file
from ..errors import ConfigError, ConfigFileNotFoundError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = "~/.rune/config"


def parse_config_text(text: str, path: str) -> dict[str, Any]:
    """Parse a config file's YAML into a mapping, with errors that name file and line.

    >>> parse_config_text("access_token_id: abc\\n", "cfg.yml")
    {'access_token_id': 'abc'}
    >>> parse_config_text("- a list\\n", "cfg.yml")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: config file cfg.yml must hold a mapping of keys to values, not a list; fix it or reset it with `runeq configure setup`
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"config file {path} is not valid YAML{where}: {problem}; "
            "fix it or reset it with `runeq configure setup`"
        ) from None
    if data is None:
        raise ConfigError(
            f"config file {path} is empty; write your credentials with `runeq configure setup`"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys to values, not a "
            f"{type(data).__name__}; fix it or reset it with `runeq configure setup`"
        )
    return {str(k): v for k, v in data.items()}


def read_config_file(path: str = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """Read and parse a config file; a missing, unreadable or malformed file is a ``ConfigError``."""
    full = os.path.expanduser(path)
    return parse_config_text(config_text(read_config_bytes(full), full), full)


def read_config_bytes(full: str) -> bytes:
    """A config file's bytes, through one open file whose kind and mode are checked.

    A folder or a file you cannot read is a one-line ``ConfigError`` that names
    the fix; a file that other users may read is read, with a warning that says
    ``chmod 600``.
    """
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigFileNotFoundError(
            f"no config file at {full}: run `runeq configure setup`, "
            "or pass credentials as Config(access_token_id=..., access_token_secret=...)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(folder_problem(full)) from None
    except PermissionError:
        raise ConfigError(
            f"config file {full} cannot be read: permission denied; make it yours and readable by you "
            f"(chown, then chmod 600 {full})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {full}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise ConfigError(folder_problem(full))
    with os.fdopen(fd, "rb") as f:
        if mode & 0o044:
            log.warning(
                "config file %s can be read by other users, and it holds credentials: run chmod 600 %s", full, full
            )
        try:
            return f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {full}: {exc.strerror}") from None


def folder_problem(full: str) -> str:
    """The error for a config path that is a folder.

    >>> folder_problem("/home/me/.rune")
    'config file /home/me/.rune is a folder, not a file: give the file in it (e.g. /home/me/.rune/config)'
    """
    return f"config file {full} is a folder, not a file: give the file in it (e.g. {os.path.join(full, 'config')})"


def config_text(data: bytes, full: str) -> str:
    """A config file's bytes as text, or a ``ConfigError`` when they are not UTF-8.

    >>> config_text(b"jwt: x\\n", "f")
    'jwt: x\\n'
    >>> config_text(b"jwt: \\xff\\n", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: config file f is not UTF-8 text (byte 5); fix it or reset it with `runeq configure setup`
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {full} is not UTF-8 text (byte {exc.start}); fix it or reset it with `runeq configure setup`"
        ) from None


def write_config_file(values: Mapping[str, Any], path: str = DEFAULT_CONFIG_PATH) -> str:
    """Write values as YAML atomically (temp file, fsync, rename), mode 0600 in a 0700 folder.

    Returns the full path written. A reader never sees a half-written file.
    """
    import yaml

    full = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(full)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.path.basename(folder) == ".rune":
        os.chmod(folder, 0o700)  # a folder made earlier, or by another tool, may be open to others
    replace_file(full, yaml.safe_dump(dict(values), default_flow_style=False, sort_keys=True), ".config-")
    return full


def merged_file_values(
    updates: Mapping[str, Any], path: str = DEFAULT_CONFIG_PATH, reset: bool = False
) -> dict[str, Any]:
    """The file's values updated key by key; a missing or blank file (or ``reset``) counts as empty."""
    full = os.path.expanduser(path)
    current = {} if reset else file_values(existing_config_bytes(full), full)
    current.update(updates)
    return current


def existing_config_bytes(full: str) -> bytes:
    """A config file's bytes (checked as ``read_config_bytes`` does), or none when there is no file."""
    try:
        return read_config_bytes(full)
    except ConfigFileNotFoundError:
        return b""


def file_values(data: bytes, full: str) -> dict[str, Any]:
    """The values of a config file's bytes; a blank file (``touch ~/.rune/config``) has none.

    >>> file_values(b"  \\n", "f"), file_values(b"jwt: x\\n", "f")
    ({}, {'jwt': 'x'})
    """
    if not data.strip():
        return {}
    return parse_config_text(config_text(data, full), full)
