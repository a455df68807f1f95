"""What runeq tells the user on stderr, with no value typed on the command line in it."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import cycle

from ..config.keys import KNOWN_KEYS
from .commandline import is_flag
from .flags import FALSE_WORDS, TRUE_WORDS

TYPED: list[str] = []
"""The values typed on the command line being run (set by ``main``): ``note`` never shows them."""
FILES: list[str] = []
"""The files named on that command line (by ``PATH_OPTIONS``): ``note`` shows them whole."""
PATH_OPTIONS = ("output", "config", "tls_cert", "tls_key", "status", "plot")
"""Options that name a file: errors show it, so that you know which file."""
SHORTEST_HIDDEN = 6


def vocabulary(commands: Iterable[str]) -> frozenset[str]:
    """The words runeq itself uses (its ``commands``, resources, formats, config keys): shown wherever typed."""
    from ..emulator.pagination import SCHEMES
    from ..resources import BY_NAME
    from ..sinks.durable import FORMATS

    return frozenset({*commands, *BY_NAME, *FORMATS, *SCHEMES, *KNOWN_KEYS, *TRUE_WORDS, *FALSE_WORDS})


def typed_values(args: Iterable[str], commands: Iterable[str]) -> tuple[list[str], list[str]]:
    """The values on a command line that no message may show (longest first), and the files it names.

    Values are flag values, positional words and the values of ``KEY=VALUE``;
    not flag names, runeq's own words (its ``commands`` among them), nor values
    shorter than 6 characters (they would hide parts of the messages' own words).
    Files are the values of the path options (``--output``, ...), shown so that
    you know which file.

    >>> line = ["fetch", "accel", "--patient-id", "S3CRET-1", "--output=out.csv", "jwt=tok-12345", "X"]
    >>> typed_values(line, ["fetch"])
    (['jwt=tok-12345', 'tok-12345', 'S3CRET-1'], ['out.csv'])
    """
    known, found, files, after = vocabulary(commands), set[str](), [], ""
    for arg in args:
        if is_flag(arg):
            name, equals, value = arg.lstrip("-").partition("=")
            after = "" if equals else name.replace("-", "_")
            words = [value] if equals else []
            option = name.replace("-", "_")
        else:
            words, option, after = [arg, *arg.split("=", 1)[1:]], after, ""
        if option in PATH_OPTIONS:
            files.extend(words[:1])
        else:
            found.update(word for word in words if len(word) >= SHORTEST_HIDDEN and word not in known)
    return sorted(found, key=lambda word: (-len(word), word)), files


def hidden(message: str, typed: Iterable[str], files: Iterable[str] = ()) -> str:
    """The message with every typed value in it replaced by ``...``, but for the files named, shown whole.

    >>> hidden("retries must be a whole number, not 'S3CRET-1'", ["S3CRET-1"])
    "retries must be a whole number, not '...'"
    >>> hidden("cannot write patient-7.csv.part for patient-7", ["patient-7"], ["patient-7.csv"])
    'cannot write patient-7.csv.part for ...'
    """
    import re

    named = sorted((file for file in files if file), key=len, reverse=True)
    if named:
        parts = re.split("(" + "|".join(map(re.escape, named)) + ")", message)
        return "".join(part if odd else hidden(part, typed) for odd, part in zip(cycle((False, True)), parts))
    for value in typed:
        message = message.replace(value, "...")
    return message


def note(message: str) -> None:
    """A message for the user, on stderr, without any value typed on the command line."""
    print(f"runeq: {hidden(message, TYPED, FILES)}", file=sys.stderr)
