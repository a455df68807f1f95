"""HTTP policy as data: how often to retry, how long to back off, how long to wait."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Policy:
    """Retries and timeouts of every GET a query makes.

    ``retries`` counts the tries after the first, for 429/5xx answers, broken
    connections and bodies that arrive cut short. Backoff between tries is
    ``backoff * 2**(n-1)`` seconds (the first retry is immediate), with jitter,
    at most ``backoff_max``; a ``Retry-After`` header wins.

    >>> Policy.from_values({"retries": 2, "read_timeout": 5.0, "jwt": "ignored"})
    Policy(retries=2, backoff=0.5, backoff_max=30.0, connect_timeout=10.0, read_timeout=5.0)
    """

    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Policy:
        """The policy named by config values; keys left out keep their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})


POLICY_KEYS = tuple(f.name for f in fields(Policy))
