"""A pull interrupted on purpose: the emulator starts failing once a pull has written some pages."""

from __future__ import annotations

from collections.abc import Callable

from runeq_fn.emulator import Emulator, Fault
from runeq_fn.sinks.durable import Pull


def server_fails_after(emu: Emulator, pages: int, status: int = 500) -> Callable[[Pull], None]:
    """A progress callback that makes ``emu`` answer every later request with ``status`` once ``pages`` are written."""

    def progress(pull: Pull) -> None:
        if pull.pages == pages:
            emu.inject(Fault("status", status=status, times=99))

    return progress
