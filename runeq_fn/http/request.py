"""A request as data: the URL, parameters, headers and paging kind of one GET, and their encoding.

``runeq_fn.pull.build`` makes them from a config and a query; the transport sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from ..policy import Policy

Pairs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Request:
    """One GET of the Stream API, as data.

    ``params`` are the caller's, with pagination's changes; ``defaults`` fill in
    the keys that ``params`` lack, at the end of the query (runeq's order). ``index``
    is the page counter of CSV pagination (the caller's ``page``, or 0, plus the
    pages read so far). Headers hold credentials, so they stay out of the repr; two
    requests for the same page are equal whatever their credentials.

    >>> r = Request("https://stream.runelabs.io/v1/accel.csv", (("start_time", 0),), paging="csv")
    >>> r
    Request(url='https://stream.runelabs.io/v1/accel.csv', params=(('start_time', 0),), defaults=(), paging='csv', index=0)
    """

    url: str
    params: Pairs = ()
    defaults: Pairs = ()
    headers: Pairs = field(default=(), repr=False, compare=False)
    paging: str = "json"
    index: int = 0
    policy: Policy = field(default=Policy(), repr=False)
    refresh: Callable[[Pairs], Pairs] | None = field(default=None, repr=False, compare=False)
    """Gets fresh auth headers after a 401 (a Cognito refresh), where configured."""
    deadline: float | None = field(default=None, repr=False, compare=False)
    """When the pull this request belongs to must end (``time.monotonic()``), if ever: set by ``pages``."""

    @property
    def full_url(self) -> str:
        """The URL with its query string, as sent on the wire.

        >>> Request("http://h/v1/lfp.csv", (("channels", [0, 1]), ("page", None))).full_url
        'http://h/v1/lfp.csv?channels=0%2C1'
        """
        query = encode_params(self.query)
        return f"{self.url}?{query}" if query else self.url

    @property
    def query(self) -> Pairs:
        """The parameters sent: ``params``, then the ``defaults`` they do not name.

        >>> Request("u", (("page", 1),), (("page", 0), ("device_id", "d"))).query
        (('page', 1), ('device_id', 'd'))
        """
        return tuple(merge_params(dict(self.defaults), dict(self.params)).items())

    def param(self, key: str, default: Any = None) -> Any:
        """One parameter's value, as sent."""
        return dict(self.query).get(key, default)


def encode_value(value: Any) -> str:
    """A parameter value as text: lists become comma-separated, as the API expects.

    >>> [encode_value(v) for v in (3, 1.5, "tremor", ["x", "y"], (0, 1))]
    ['3', '1.5', 'tremor', 'x,y', '0,1']
    """
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def encode_params(params: Iterable[tuple[str, Any]]) -> str:
    """The query string of parameters, leaving out those whose value is None.

    >>> encode_params([("patient_id", "p 1"), ("page", None), ("start_time", 10)])
    'patient_id=p+1&start_time=10'
    """
    return urlencode([(k, encode_value(v)) for k, v in params if v is not None])


def merge_params(defaults: Mapping[str, Any], params: Mapping[str, Any]) -> dict:
    """The call's parameters, then the defaults it does not name (runeq's rule).

    >>> merge_params({"device_id": "d", "page": 0}, {"page": 3, "end_time": 9})
    {'page': 3, 'end_time': 9, 'device_id': 'd'}
    """
    merged = dict(params)
    for key, value in defaults.items():
        merged.setdefault(key, value)
    return merged


def with_params(request: Request, drop: Iterable[str] = (), index: int | None = None, **updates: Any) -> Request:
    """A copy of the request with parameters set (in place, or appended) and dropped.

    >>> r = Request("u", (("page", 1), ("end_time", 9)))
    >>> with_params(r, drop=["page"], next_page_token="t").params
    (('end_time', 9), ('next_page_token', 't'))
    """
    params = {k: v for k, v in request.params if k not in drop}
    params.update(updates)
    return replace(
        request,
        params=tuple(params.items()),
        index=request.index if index is None else index,
    )
