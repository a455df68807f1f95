"""The emulator in a process of its own, so that no client shares a GIL with it.

    python -m bench.serve '{"pagination": "token", "page_size": 5000, "warm": true}'

The options are ``Emulator``'s keywords, and ``warm``. The first line printed is
JSON: the emulator's ``url`` and the ``config`` values that open it. Then each line
read is a command, answered with one line of JSON: ``sent`` (requests and body
bytes sent since the last ``clear``) or ``clear``. End of input stops the server.

A warm emulator (``Emulator(cache=True)``) builds each page (and its gzip body)
once and then answers it from memory. The emulator's pure-Python data generator takes about 50 ms for a
page of 5,000 rows, which would otherwise hide the clients that the
benchmarks time.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from runeq_fn.emulator import Emulator

CONFIG_KEYS = ("access_token_id", "access_token_secret", "stream_url")


def sent(emulator: Emulator) -> dict[str, Any]:
    """What the emulator has sent since its log was last cleared.

    >>> sent(Emulator())
    {'requests': 0, 'body_bytes': 0, 'gzipped': 0}
    """
    records = emulator.requests
    return {
        "requests": len(records),
        "body_bytes": sum(r.body_bytes for r in records),
        "gzipped": sum(r.gzip for r in records),
    }


def answer(emulator: Emulator, command: str) -> dict[str, Any]:
    """The reply to one command read on stdin."""
    if command == "clear":
        emulator.clear()
        return {"cleared": True}
    if command == "sent":
        return sent(emulator)
    return {"error": f"unknown command {command!r}: use sent or clear"}


def main(argv: list[str]) -> None:
    options = json.loads(argv[0]) if argv else {}
    emulator = Emulator(cache=options.pop("warm", False), **options)
    with emulator:
        config = {key: value for key, value in emulator.config_values().items() if key in CONFIG_KEYS}
        print(json.dumps({"url": emulator.url, "config": config}), flush=True)
        for line in sys.stdin:
            print(json.dumps(answer(emulator, line.strip())), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
