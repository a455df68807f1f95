"""Option values as fire hands them over: switches, whole numbers and file names, checked."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..pull.options import count_option, rule

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def as_flag(name: str, value: Any) -> bool:
    """A boolean flag as fire hands it over: ``True`` for ``--name``, or the text after ``=``.

    >>> as_flag("reveal", "True"), as_flag("reveal", False), as_flag("reveal", "no")
    (True, False, False)
    >>> as_flag("reveal", "jwt")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --reveal is a switch and takes no value: put it after the other arguments
    """
    text = str(value).strip().lower()
    if text in TRUE_WORDS or text in FALSE_WORDS:
        return text in TRUE_WORDS
    # the value is not shown: it may be a secret typed in the wrong place
    raise UsageError(f"--{name} is a switch and takes no value: put it after the other arguments")


def file_flag(name: str, value: Any, example: str) -> str | None:
    """A flag that names a file, as text; fire hands a bare ``--output`` over as ``"True"``.

    >>> file_flag("output", "x.csv", "accel.csv"), file_flag("output", None, "accel.csv")
    ('x.csv', None)
    >>> file_flag("output", "True", "accel.csv")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --output needs a file name, e.g. --output accel.csv
    """
    if value is None:
        return None
    if str(value) in ("True", "False") or not str(value).strip():
        raise UsageError(f"--{name} needs a file name, e.g. --{name} {example}")
    return str(value)


def count_flag(name: str, text: Any, minimum: int) -> int:
    """A whole-number flag of the command line (``--shards``, ``--prefetch``, ``--port``, ``--page-size``,
    ``--delay-ms``, ``--window``): its text as a whole number, checked as the Python option is, so every
    one is refused in one style; the error never shows what was typed (fire hands ``2.5`` over as a float,
    a bare flag as True: neither is one).

    >>> count_flag("--shards", " 4 ", 1)
    4
    >>> count_flag("--shards", "4.5", 1)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --shards must be a whole number of at least 1 (e.g. --shards 8): it is not one
    """
    try:
        number = int(str(text).strip())
    except ValueError:
        raise UsageError(f"{rule(name, minimum)}: it is not one") from None
    return count_option(name, number, minimum)
