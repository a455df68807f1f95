"""``runeq emulator``: the emulated Stream API served on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .flags import count_flag
from .messages import note

if TYPE_CHECKING:
    from ..emulator import Emulator


def emulator_command(port: Any, pagination: Any, page_size: Any, tls_cert: Any, tls_key: Any, delay_ms: Any) -> None:
    """``runeq emulator``: flags checked, the url and credentials printed, then requests served and logged."""
    from ..emulator.pagination import SCHEMES

    if str(pagination) not in SCHEMES:
        raise UsageError(f"--pagination must be {', '.join(SCHEMES[:-1])} or {SCHEMES[-1]}")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key (PEM files) to serve https")
    emu = start_emulator(
        count_flag("--port", port, 0),
        str(pagination),
        count_flag("--page-size", page_size, 1),
        (str(tls_cert), str(tls_key)) if tls_cert is not None else None,
        count_flag("--delay-ms", delay_ms, 0) / 1000,
    )
    print(f"url: {emu.url}")
    for key in ("access_token_id", "access_token_secret"):
        print(f"{key}: {emu.credentials[key]}")
    sys.stdout.flush()
    emu.serve_forever()
    note("emulator stopped")


def start_emulator(
    port: int, pagination: str, page_size: int, tls: tuple[str, str] | None = None, delay: float = 0.0
) -> Emulator:
    """An emulator bound to its port (not yet serving), or a ``UsageError`` saying why not."""
    from ..emulator import Emulator

    try:
        emu = Emulator(port=port, pagination=pagination, page_size=page_size, log=to_stderr, tls=tls, delay=delay)
        emu.url  # noqa: B018 -- binds the port now, so that a busy one fails here
    except (ValueError, OverflowError, OSError) as exc:
        raise UsageError(f"cannot start the emulator: {exc}") from None
    return emu


def to_stderr(line: str) -> None:
    """Write one log line to stderr at once."""
    print(line, file=sys.stderr, flush=True)
