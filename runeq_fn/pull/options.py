"""The options every surface passes through to the engine, checked once, here.

``shards`` (time windows pulled at once), ``prefetch`` (pages requested
ahead) and ``stats`` (a ``Stats`` to fill in) reach ``runeq_fn.pull.shards`` from the shim (``V1Client``), the functional
pipelines (``pages``, ``sharded_pages``, ...), ``cohort_points``, the exports
and ``runeq fetch``; each of them checks its values with ``pull_options``, so a
bad one is refused the same way everywhere, before any request is sent.
"""

from __future__ import annotations

import operator
from typing import Any

from ..errors import UsageError
from .stats import Stats

EXAMPLES = {"shards": 8, "prefetch": 4, "buffer": 32, "port": 8080, "page-size": 1000, "delay-ms": 20, "window": 3600}
"""A sensible value of each option (and whole-number flag of the command line), shown in its error."""


def rule(name: str, minimum: int) -> str:
    """What an option accepts, with an example in the form it is given (``--shards 8`` on the command line).

    >>> rule("shards", 1), rule("--prefetch", 0)
    ('shards must be a whole number of at least 1 (e.g. shards=8)', '--prefetch must be a whole number of at least 0 (e.g. --prefetch 4)')
    """
    example = EXAMPLES.get(name.lstrip("-"), minimum)
    given = f"{name} {example}" if name.startswith("--") else f"{name}={example}"
    return f"{name} must be a whole number of at least {minimum} (e.g. {given})"


def count_option(name: str, value: Any, minimum: int) -> int:
    """A whole-number option (``shards``, ``prefetch``), or a ``UsageError`` naming it and what it takes.

    Only a whole number (an ``int``, or numpy's; not a bool) counts: ``"8"`` or ``2.5`` is a mistake that
    would otherwise fail deep inside, or be rounded. The error names the
    option, what it accepts and the kind of value it got, never the value
    itself (the command line's ``--shards`` uses it too, and shows no typed value).

    >>> count_option("shards", 8, 1), count_option("prefetch", 0, 0)
    (8, 0)
    >>> count_option("shards", 0, 1)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: shards must be a whole number of at least 1 (e.g. shards=8): it is below 1
    >>> count_option("shards", "8", 1)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: shards must be a whole number of at least 1 (e.g. shards=8), not a str
    >>> count_option("prefetch", True, 0)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: prefetch must be a whole number of at least 0 (e.g. prefetch=4), not a bool
    """
    wanted = rule(name, minimum)
    try:
        number = operator.index(value)  # int, numpy's ints; not float, str
    except TypeError:
        number = None
    if number is None or isinstance(value, bool):
        raise UsageError(f"{wanted}, not a {type(value).__name__}")
    if number < minimum:
        raise UsageError(f"{wanted}: it is below {minimum}")
    return number


def stats_option(value: Any) -> Stats | None:
    """``stats``: None, or the ``runeq_fn.pull.stats.Stats`` to fill in; a ``UsageError`` otherwise.

    >>> stats_option(None) is None, type(stats_option(Stats())).__name__
    (True, 'Stats')
    >>> stats_option({})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: stats must be a runeq_fn.pull.stats.Stats (e.g. stats=Stats()) or None, not a dict
    """
    if value is not None and not isinstance(value, Stats):
        raise UsageError(f"stats must be a runeq_fn.pull.stats.Stats (e.g. stats=Stats()) or None, not a {type(value).__name__}")
    return value


def pull_options(shards: Any, prefetch: Any, stats: Any = None) -> tuple[int, int, Stats | None]:
    """``shards``, ``prefetch`` and ``stats`` checked, as every surface takes them (before any request).

    >>> pull_options(4, 0)
    (4, 0, None)
    """
    return count_option("shards", shards, 1), count_option("prefetch", prefetch, 0), stats_option(stats)
