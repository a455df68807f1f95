"""The runeq 0.15.0 surface: ``V1Client`` and its accessors, made from the resource table.

The classes only hold a config and default parameters; every method is a
pipeline of the functional core (``build_request`` -> ``pages`` -> a parser).

>>> from runeq_fn import Config
>>> client = V1Client(Config(jwt="not-a-real-jwt"))
>>> accel = client.Accel(device_id="watch-1")
>>> type(accel).__name__, accel.defaults, accel.expr_availability
('Accel', {'device_id': 'watch-1'}, 'availability(accel)')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..build import Request, build_request
from ..pages import pages, parsed_pages
from ..parse import Point, csv_pages, json_pages, text_points
from ..resources import RESOURCES, Resource
from ..response import Response
from ..transport import fetch


def one_json_page(response: Response) -> Iterator[Any]:
    """The ``result`` of one JSON page, as a one-item iterator."""
    return json_pages([response])


def one_csv_page(response: Response) -> Iterator[Point]:
    """The points of one CSV page (an empty body has none); ``parsed_pages`` holds the page whole."""
    return text_points(response.text)


class StreamV1Base:
    """An accessor of one JSON-only resource: a config and default query parameters.

    The ``iter_*`` methods and ``points`` are generators, as runeq's were: even a
    bad parameter or a missing availability expression raises at the first
    ``next()``, not at the call.
    """

    _resource: Resource
    prefetch = 0
    """Pages requested ahead while earlier ones are parsed; set by ``V1Client(cfg, prefetch=N)``."""

    def __init__(self, cfg: Any, **defaults: Any) -> None:
        self.config = cfg
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"{type(self).__name__}(defaults={self.defaults!r})"

    def _request(self, fmt: str, params: dict[str, Any]) -> Request:
        return build_request(self.config, self._resource.name, fmt, params, defaults=self.defaults)

    def _pages(self, fmt: str, params: dict[str, Any]) -> Iterator[Response]:
        return pages(self._request(fmt, params), prefetch=self.prefetch)

    def get_json_response(self, **params: Any) -> Response:
        """One GET of the JSON endpoint (an error status is returned, not raised)."""
        return fetch(self._request("json", params))

    def iter_json_data(self, **params: Any) -> Iterator[Any]:
        """Each page's ``result``, following pagination from the caller's ``page``."""
        yield from parsed_pages(self._request("json", params), one_json_page, prefetch=self.prefetch)

    @property
    def expr_availability(self) -> str:
        """The availability expression; ``NotImplementedError`` where there is none."""
        if not self._resource.availability:
            raise NotImplementedError(f"{type(self).__name__} does not support an availability query")
        return self._resource.availability

    def iter_json_availability(self, **params: Any) -> Iterator[Any]:
        """``iter_json_data`` with ``expression`` set to the availability expression."""
        params["expression"] = self.expr_availability
        yield from self.iter_json_data(**params)


class StreamV1CSVBase(StreamV1Base):
    """An accessor of a resource with both JSON and CSV endpoints."""

    def get_csv_response(self, **params: Any) -> Response:
        """One GET of the CSV endpoint (an error status is returned, not raised)."""
        return fetch(self._request("csv", params))

    def iter_csv_text(self, **params: Any) -> Iterator[str]:
        """Each non-empty CSV body, following pagination until an empty one."""
        yield from csv_pages(self._pages("csv", params))

    def iter_csv_availability(self, **params: Any) -> Iterator[str]:
        """``iter_csv_text`` with ``expression`` set to the availability expression."""
        params["expression"] = self.expr_availability
        yield from self.iter_csv_text(**params)

    def points(self, **params: Any) -> Iterator[Point]:
        """Every CSV row as a dict keyed by its page's header, values converted per cell."""
        yield from parsed_pages(self._request("csv", params), one_csv_page, prefetch=self.prefetch)

    def __iter__(self) -> Iterator[Point]:
        return self.points()


def accessor_class(row: Resource) -> type[StreamV1Base]:
    """The shim class of one resource row.

    >>> from runeq_fn.resources import resource
    >>> accessor_class(resource("span")).__mro__[1].__name__
    'StreamV1Base'
    """
    base = StreamV1CSVBase if "csv" in row.formats else StreamV1Base
    return type(row.accessor, (base,), {"_resource": row, "__doc__": row.summary, "__module__": __name__})


ACCESSORS: dict[str, type[StreamV1Base]] = {row.accessor: accessor_class(row) for row in RESOURCES}

Accel = ACCESSORS["Accel"]
BandPower = ACCESSORS["BandPower"]
Event = ACCESSORS["Event"]
HeartRate = ACCESSORS["HeartRate"]
LFP = ACCESSORS["LFP"]
ProbabilitySymptom = ACCESSORS["ProbabilitySymptom"]
Rotation = ACCESSORS["Rotation"]
Span = ACCESSORS["Span"]
State = ACCESSORS["State"]


class V1Client:
    """A factory of accessors that share one config, as in runeq 0.15.0.

    ``prefetch=N`` (opt-in) keeps up to N page requests in flight while earlier
    pages are parsed; the default, 0, sends exactly runeq's requests.
    """

    # Made from the resource table below; declared here for type checkers and editors.
    Accel: Callable[..., StreamV1CSVBase]
    BandPower: Callable[..., StreamV1CSVBase]
    Event: Callable[..., StreamV1Base]
    HeartRate: Callable[..., StreamV1CSVBase]
    LFP: Callable[..., StreamV1CSVBase]
    ProbabilitySymptom: Callable[..., StreamV1CSVBase]
    Rotation: Callable[..., StreamV1CSVBase]
    Span: Callable[..., StreamV1Base]
    State: Callable[..., StreamV1CSVBase]

    def __init__(self, cfg: Any, prefetch: int = 0) -> None:
        self._cfg = cfg
        self.prefetch = prefetch

    @property
    def config(self) -> Any:
        """The config every accessor of this client uses."""
        return self._cfg

    def __repr__(self) -> str:
        return f"V1Client({self._cfg!r})"


def accessor_factory(cls: type[StreamV1Base]) -> Callable[..., StreamV1Base]:
    """The ``V1Client`` method that makes one kind of accessor."""

    def make(self: V1Client, **defaults: Any) -> StreamV1Base:
        accessor = cls(self.config, **defaults)
        accessor.prefetch = self.prefetch
        return accessor

    make.__name__ = cls.__name__
    make.__qualname__ = f"V1Client.{cls.__name__}"
    make.__doc__ = f"A {cls.__name__} accessor with these default query parameters."
    return make


for _name, _cls in ACCESSORS.items():
    setattr(V1Client, _name, accessor_factory(_cls))

__all__ = [
    "V1Client", "StreamV1Base", "StreamV1CSVBase", "Accel", "BandPower", "Event", "HeartRate",
    "LFP", "ProbabilitySymptom", "Rotation", "Span", "State",
]
