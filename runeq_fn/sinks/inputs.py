"""Where a pull starts from outside: its config (a file, or an in-process emulator) and its query (command-line flags)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..config import Config
from ..config.file import DEFAULT_CONFIG_PATH
from ..times import check_range, flag_name, with_times


def query_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line flags as query parameters: names with ``_``, values as text, times read (``runeq_fn.times``).

    Unix seconds stay as typed; ISO 8601 becomes unix seconds (no offset means UTC).

    >>> query_from_flags({"patient-id": "p1", "start_time": "2021-01-01T09:00:00Z", "channels": "0,1"})
    {'patient_id': 'p1', 'start_time': 1609491600, 'channels': '0,1'}
    >>> query_from_flags({"start-time": "1609491600", "end-time": "1609491500"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --end-time is before --start-time: swap them (the range [--start-time, --end-time) holds no time)
    """
    query = with_times({flag.replace("-", "_"): str(value) for flag, value in flags.items()}, flag_name)
    check_range(query, flag_name)
    return query


@contextmanager
def connect(path: str | None = None, emulator: bool | str = False) -> Iterator[Config]:
    """The config of a pull: a file's (``~/.rune/config`` by default) or an in-process emulator's.

    ``emulator=True`` serves fake data from an emulator for the duration of the
    block; ``emulator="auto"`` does so only when the config file does not exist
    (as the examples do), and says so on stderr.

    >>> with connect(emulator=True) as cfg:
    ...     cfg.stream_url.startswith("http://127.0.0.1:")
    True
    """
    file = os.path.expanduser(path or DEFAULT_CONFIG_PATH)
    if emulator == "auto":
        emulator = not os.path.exists(file)
        if emulator:
            print(f"runeq: no {file}: using an in-process emulator with fake data", file=sys.stderr)
    if not emulator:
        yield Config(file)
        return
    from ..emulator import Emulator

    with Emulator() as emu:
        yield emulator_config(emu)


def emulator_config(emu: Any) -> Config:
    """The config of an in-process emulator, reached directly whatever proxy the environment names.

    A proxy elsewhere cannot reach this machine's loopback, so ``no_proxy``
    names the emulator's host.

    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator() as emu:
    ...     emulator_config(emu).policy.no_proxy
    '127.0.0.1'
    """
    from urllib.parse import urlsplit

    return Config(**emu.config_values(), no_proxy=urlsplit(emu.url).hostname)
