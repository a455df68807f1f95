"""HTTP policy as data: how often to retry, how long to back off, how long to wait."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class Policy:
    """Retries and timeouts of every GET a query makes.

    ``retries`` counts the tries after the first, for 429/5xx answers, broken
    connections and bodies that arrive cut short. Backoff between tries is
    ``backoff * 2**(n-1)`` seconds (the first retry is immediate), with jitter,
    at most ``backoff_max``; a ``Retry-After`` header wins.

    ``proxy`` and ``ca_bundle`` say how the network is reached: None (the
    default) takes them from the environment when each request is sent, as
    requests and curl do (``transport.route``). The proxy URL may hold a
    password, so it stays out of the repr.

    >>> Policy.from_values({"retries": 2, "read_timeout": 5.0, "jwt": "ignored"})
    Policy(retries=2, backoff=0.5, backoff_max=30.0, connect_timeout=10.0, read_timeout=5.0, ca_bundle=None)
    >>> Policy(proxy="http://me:pw@proxy:3128")
    Policy(retries=5, backoff=0.5, backoff_max=30.0, connect_timeout=10.0, read_timeout=60.0, ca_bundle=None)
    """

    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Policy:
        """The policy named by config values; keys left out keep their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})


def with_network_of(base: Policy, policy: Policy | None) -> Policy:
    """``policy`` (``base`` when None), taking ``base``'s proxy and CA bundle where it names none.

    A query's own policy changes its retries and timeouts, not the network it is on.

    >>> config = Policy(ca_bundle="/etc/ca.pem")
    >>> with_network_of(config, Policy(retries=1)).ca_bundle, with_network_of(config, None) == config
    ('/etc/ca.pem', True)
    """
    if policy is None:
        return base
    return replace(policy, proxy=policy.proxy or base.proxy, ca_bundle=policy.ca_bundle or base.ca_bundle)


POLICY_KEYS = tuple(f.name for f in fields(Policy))
NETWORK_KEYS = ("proxy", "ca_bundle")
"""The policy keys that are text (a URL, a path), not numbers."""
