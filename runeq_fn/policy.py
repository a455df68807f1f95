"""HTTP policy as data: how often to retry, how long to back off, how long to wait, how much to take."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class Policy:
    """Retries, timeouts and limits of every GET a query makes.

    ``retries`` counts the tries after the first: a page is tried at most
    ``retries + 1`` times, whatever mix of 429/5xx answers, broken connections,
    timeouts and bodies cut short it meets. Backoff between tries is
    ``backoff * 2**(n-1)`` seconds (the first retry is immediate), with jitter,
    at most ``backoff_max``; a ``Retry-After`` header wins, up to ``retry_after_max``.

    ``page_deadline`` bounds one try of a page, from sending the request to the
    body's last byte (None: 4 x ``read_timeout``); ``pull_deadline`` bounds a
    whole pull (None: unbounded); ``max_page_bytes`` bounds a page's decoded body.

    ``proxy`` and ``ca_bundle`` say how the network is reached: None (the
    default) takes them from the environment when each request is sent, as
    requests and curl do (``runeq_fn.http.routes.route``). The proxy URL may hold a
    password, so it stays out of the repr. ``no_proxy`` names hosts reached
    directly, as ``NO_PROXY`` does, in addition to it.

    >>> Policy.from_values({"retries": 2, "read_timeout": 5.0, "jwt": "ignored"}).retries
    2
    >>> Policy(read_timeout=5.0).try_seconds, Policy(page_deadline=2.0).try_seconds
    (20.0, 2.0)
    >>> "pw" in repr(Policy(proxy="http://me:pw@proxy:3128"))
    False
    """

    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry_after_max: float = 60.0
    page_deadline: float | None = None
    pull_deadline: float | None = None
    max_page_bytes: int = 256 * 2**20
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    no_proxy: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Policy:
        """The policy named by config values; keys left out keep their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})

    @property
    def try_seconds(self) -> float:
        """The longest one try of a page may take: ``page_deadline``, else 4 x ``read_timeout``."""
        return self.page_deadline if self.page_deadline is not None else 4 * self.read_timeout


def with_network_of(base: Policy, policy: Policy | None) -> Policy:
    """``policy`` (``base`` when None), taking ``base``'s proxy and CA bundle where it names none.

    A query's own policy changes its retries and timeouts, not the network it is on.

    >>> config = Policy(ca_bundle="/etc/ca.pem")
    >>> with_network_of(config, Policy(retries=1)).ca_bundle, with_network_of(config, None) == config
    ('/etc/ca.pem', True)
    """
    if policy is None:
        return base
    return replace(
        policy,
        proxy=policy.proxy or base.proxy,
        ca_bundle=policy.ca_bundle or base.ca_bundle,
        no_proxy=policy.no_proxy or base.no_proxy,
    )


POLICY_KEYS = tuple(f.name for f in fields(Policy))
NETWORK_KEYS = ("proxy", "ca_bundle", "no_proxy")
"""The policy keys that are text (a URL, a path), not numbers."""


def backoff_wait(policy: Policy, failures: int, rand: Callable[[], float] | None = None) -> float:
    """Seconds to wait after the ``failures``-th failed try of a page: none after the first.

    >>> [backoff_wait(Policy(backoff=0.5), n, lambda: 0.0) for n in (1, 2, 3, 4)]
    [0.0, 1.0, 2.0, 4.0]
    >>> backoff_wait(Policy(backoff=0.5, backoff_max=3.0), 9, lambda: 1.0), backoff_wait(Policy(backoff=0.5), 2, lambda: 1.0)
    (3.0, 1.25)
    """
    if failures <= 1:
        return 0.0
    if rand is None:
        import random

        rand = random.random
    wait = policy.backoff * 2 ** (failures - 1) + rand() * policy.backoff / 2
    return max(0.0, min(policy.backoff_max, wait))


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """The wait a ``Retry-After`` value asks for, in seconds from ``now`` (unix time); None if unreadable.

    Both forms of RFC 9110 are understood: delay seconds and an HTTP date (a date
    in the past asks for no wait).

    >>> retry_after_seconds("120", 0.0), retry_after_seconds(" 1.5 ", 0.0)
    (120.0, 1.5)
    >>> retry_after_seconds("Fri, 01 Jan 2021 00:01:00 GMT", 1609459200.0)
    60.0
    >>> retry_after_seconds("Fri, 01 Jan 2021 00:00:00 GMT", 1609459260.0)
    0.0
    >>> [retry_after_seconds(v, 0.0) for v in (None, "soon", "-5", "nan", "inf")]
    [None, None, None, None, None]
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
            from datetime import timezone

            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, when.timestamp() - now)
    if not 0.0 <= seconds < float("inf"):
        return None
    return seconds
