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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..http.request import Request
from ..http.response import Headers, Response
from ..http.transport import fetch, pull_deadline
from ..parse.points import PLAIN_LINES, Conversion, Point, chosen_engine, csv_pages, json_pages, page_points
from ..pull.build import build_request, readable
from ..pull.options import pull_options
from ..pull.pages import Fetch
from ..pull.stats import Stats
from ..resources import RESOURCES, Resource

USE_NUMPY: bool
"""runeq's switch, read at each call: ``points()`` gives ``numpy.float64`` and NaN when True, else
``float`` and None. Unless set, it is whether numpy is installed, looked up on first use (numpy
itself loads at the first ``points()``), so that ``import runeq_fn`` stays fast."""


def __getattr__(name: str) -> Any:
    """``USE_NUMPY`` when not set yet: whether numpy is installed, found without importing it (PEP 562)."""
    if name != "USE_NUMPY":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.util import find_spec

    found = globals()["USE_NUMPY"] = find_spec("numpy") is not None
    return found


def point_conversion() -> Conversion:
    """How ``points()`` converts cells now: runeq's numpy rule when ``USE_NUMPY``, else the core's;
    rows cut by ``str.splitlines()`` either way, as runeq cut them.

    >>> import runeq_fn.stream.v1 as v1
    >>> saved, v1.USE_NUMPY = v1.USE_NUMPY, False
    >>> point_conversion() is PLAIN_LINES
    True
    >>> v1.USE_NUMPY = saved
    """
    use_numpy = globals().get("USE_NUMPY")
    if not (__getattr__("USE_NUMPY") if use_numpy is None else use_numpy):
        return PLAIN_LINES
    from .numeric import numpy_conversion

    return numpy_conversion()


def shim_request(cfg: Any, name: str, fmt: str, params: dict[str, Any], defaults: dict[str, Any]) -> Request:
    """``build_request``, except that a value it cannot read goes to the server as it is.

    runeq 0.15.0 sent a ``page`` that is not a whole number, or a time that is
    neither a number, ISO 8601 nor a datetime, unchecked, and the server's 400
    came back as ``APIError``; the functional core refuses them before sending.
    Times it can read are sent as unix seconds, and a range that holds no time
    is refused (a difference from runeq, on purpose).

    >>> from runeq_fn import Config
    >>> shim_request(Config(jwt="not-a-real-jwt"), "accel", "csv", {"page": "x", "end_time": 9}, {}).params
    (('page', 'x'), ('end_time', 9))
    """
    odd = {key: value for key, value in params.items() if not readable(key, value)}
    odd_defaults = {key: value for key, value in defaults.items() if not readable(key, value)}
    request = build_request(
        cfg, name, fmt, {k: v for k, v in params.items() if k not in odd},
        defaults={k: v for k, v in defaults.items() if k not in odd_defaults},
    )
    if not (odd or odd_defaults):
        return request
    sent, sent_defaults = dict(request.params), dict(request.defaults)
    return replace(
        request,
        params=tuple((key, odd[key] if key in odd else sent[key]) for key in params),
        defaults=tuple((key, odd_defaults[key] if key in odd_defaults else sent_defaults[key]) for key in defaults),
    )


@dataclass(frozen=True)
class Answer(Response):
    """An overriding ``get_*_response``'s own object, read as runeq read it.

    runeq read ``.ok``, ``.status_code``, ``.text``, ``.json()`` and ``.headers``;
    so does this, each where the object has it, falling back to ``.content``
    (decoded by the declared charset) only where it has no ``.text``. ``content``
    is the object's ``.content``, or its text in UTF-8 where it has none.
    """

    answer: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """The object's ``ok``, else a status below 400."""
        ok = getattr(self.answer, "ok", None)
        return Response.ok.fget(self) if ok is None else bool(ok)  # type: ignore[attr-defined]

    @cached_property
    def text(self) -> str:
        """The object's ``text``, else its ``content`` decoded."""
        text = getattr(self.answer, "text", None)
        return Response.text.func(self) if text is None else text  # type: ignore[attr-defined]

    def json(self) -> Any:
        """The object's ``json()``, else (or when it refuses the body) the body parsed here."""
        read = getattr(self.answer, "json", None)
        if callable(read):
            try:
                return read()
            except ValueError:
                pass
        return super().json()  # a ParseError that shows the start of the body


def as_response(answer: Any) -> Response:
    """An overriding ``get_*_response``'s answer as a ``Response``, read through ``Answer``.

    The object needs ``status_code`` and ``headers``, and ``text`` or ``content``
    (``ok``, ``json()`` and ``url`` are read where present), as runeq needed.

    >>> from types import SimpleNamespace
    >>> page = as_response(SimpleNamespace(status_code=200, headers={"x-rune-next-page-token": "t"}, text="time\\n1\\n"))
    >>> page.next_page_token, page.text, page.content
    ('t', 'time\\n1\\n', b'time\\n1\\n')
    """
    if isinstance(answer, Response):
        return answer
    content = getattr(answer, "content", None)
    if content is None:
        content = answer.text.encode("utf-8", "surrogatepass")
    headers = Headers(dict(answer.headers))
    return Answer(answer.status_code, headers, content, getattr(answer, "url", "") or "", answer=answer)


def through(get: Callable[..., Any]) -> Fetch:
    """A fetch for ``pages`` that asks for each page with an accessor's own ``get_*_response(**params)``.

    ``params`` are what runeq passed: the call's, as pagination changed them,
    without the accessor's defaults (``get_*_response`` adds those). So an
    override (to log, cache or sign requests) sees every page; retries happen
    inside the default ``get_*_response``, the loop guard and 401 refresh around it.
    """

    def fetch_page(request: Request) -> Response:
        with pull_deadline(request.deadline):  # the pull's deadline holds through the accessor's own get
            return as_response(get(**dict(request.params)))

    return fetch_page


def one_json_page(response: Response) -> Iterator[Any]:
    """The ``result`` of one JSON page, as a one-item iterator."""
    return json_pages([response])


def one_csv_text(response: Response) -> Iterator[str]:
    """The text of one CSV page, none when it is empty (the page that ends a query)."""
    return csv_pages([response])


class StreamV1Base:
    """An accessor of one JSON-only resource: a config and default query parameters.

    The ``iter_*`` methods and ``points`` are generators, as runeq's were: even a
    bad parameter or a missing availability expression raises at the first
    ``next()``, not at the call. They fetch every page through the accessor's
    own ``get_json_response`` / ``get_csv_response``, so subclasses can override those.

    Every method pulls through one engine call (``shards.pull_items``) with the
    client's ``shards``, ``prefetch`` and ``stats``; a query that cannot shard
    (event, span, an availability expression, one that starts at a ``page`` or
    ``next_page_token``) is pulled unsharded. A sharded pull's error has
    ``resume`` holding ``shard_windows``: ``points(**err.resume)`` goes on in every window.

    A subclass names its resource as runeq's did, ``_resource = "accel"`` (and
    ``_availability = "availability(accel)"`` for the availability queries).
    """

    _resource: str
    _availability: str | None = None
    prefetch = 0
    """Pages requested ahead while earlier ones are parsed; set by ``V1Client(cfg, prefetch=N)``."""
    shards = 1
    """Time windows a time series query is pulled in at once; set by ``V1Client(cfg, shards=N)``."""
    stats: Stats | None = None
    """Counts every page pulled (a ``runeq_fn.pull.stats.Stats``); set by ``V1Client(cfg, stats=...)``."""
    engine = "auto"
    """What reads ``points()``'s pages (``runeq_fn.parse.points.chosen_engine``); set by ``V1Client(cfg, engine=...)``."""

    def __init__(self, cfg: Any, **defaults: Any) -> None:
        self.config = cfg
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"{type(self).__name__}(defaults={self.defaults!r})"

    def _request(self, fmt: str, params: dict[str, Any]) -> Request:
        return shim_request(self.config, self._resource, fmt, params, self.defaults)

    def get_json_response(self, **params: Any) -> Response:
        """One GET of the JSON endpoint (an error status is returned, not raised)."""
        return fetch(self._request("json", params))

    def _fetch_page(self, asked: Request) -> Response:
        """One page through the accessor's own ``get_json_response``."""
        return through(self.get_json_response)(asked)

    def _items(self, fmt: str, params: dict[str, Any], parse: Callable[[Response], Iterable[Any]]) -> Iterator[Any]:
        """Every page's items, parsed page by page, pulled with the client's options (``shards.pull_items``)."""
        from ..pull.shards import pull_items

        def build(query: dict[str, Any]) -> Request:
            return self._request(fmt, query)

        return pull_items(build, params, parse, self.shards, self._fetch_page, self.stats, self.prefetch)

    def iter_json_data(self, **params: Any) -> Iterator[Any]:
        """Each page's ``result``, following pagination from the caller's ``page``.

        With ``V1Client(cfg, shards=N)``, a time series is pulled in N windows at
        once: the results are the windows' pages, each result's columns cut to
        its window, so that the columns put end to end equal the unsharded pull's
        (a page with no row inside its window gives no result).
        """
        yield from self._items("json", params, one_json_page)

    @property
    def expr_availability(self) -> str:
        """The availability expression; ``NotImplementedError`` where there is none."""
        if not self._availability:
            raise NotImplementedError(f"{type(self).__name__} does not support an availability query")
        return self._availability

    def iter_json_availability(self, **params: Any) -> Iterator[Any]:
        """``iter_json_data`` with ``expression`` set to the availability expression."""
        params["expression"] = self.expr_availability
        yield from self.iter_json_data(**params)


class StreamV1CSVBase(StreamV1Base):
    """An accessor of a resource with both JSON and CSV endpoints."""

    def get_csv_response(self, **params: Any) -> Response:
        """One GET of the CSV endpoint (an error status is returned, not raised)."""
        return fetch(self._request("csv", params))

    def _fetch_page(self, asked: Request) -> Response:
        """One page through the accessor's own ``get_csv_response`` (JSON ones, e.g. the plan's, as before)."""
        return through(self.get_csv_response)(asked) if asked.paging == "csv" else super()._fetch_page(asked)

    def iter_csv_text(self, **params: Any) -> Iterator[str]:
        """Each non-empty CSV body, following pagination until an empty one.

        With ``V1Client(cfg, shards=N)``: the windows' pages, each cut to its
        window (rows as ``points()`` gives them, page boundaries the windows').
        """
        yield from self._items("csv", params, one_csv_text)

    def iter_csv_availability(self, **params: Any) -> Iterator[str]:
        """``iter_csv_text`` with ``expression`` set to the availability expression."""
        params["expression"] = self.expr_availability
        yield from self.iter_csv_text(**params)

    def points(self, **params: Any) -> Iterator[Point]:
        """Every CSV row as a dict keyed by its page's header, values converted per cell.

        With ``USE_NUMPY`` (read at each call): ``numpy.float64`` and NaN, as runeq
        gave; without: ``float`` and None.

        With ``V1Client(cfg, shards=N)``, the time range is pulled in N windows at
        once (``runeq_fn.pull.shards``), same points, same order, every page (and the
        plan's availability request) still through ``get_csv_response`` /
        ``get_json_response``; a query that starts at a ``page`` or
        ``next_page_token`` (an unsharded error's ``resume``) is pulled unsharded,
        and a sharded error's ``resume`` (it holds ``shard_windows``) pulls the
        rest of that sharded pull.
        """
        conversion, engine = point_conversion(), chosen_engine(self.engine)

        def one_csv_page(response: Response) -> list[Point]:
            return page_points(response.text, conversion, engine)

        yield from self._items("csv", params, one_csv_page)

    def __iter__(self) -> Iterator[Point]:
        return self.points()


def accessor_class(row: Resource) -> type[StreamV1Base]:
    """The shim class of one resource row.

    >>> from runeq_fn.resources import resource
    >>> accessor_class(resource("span")).__mro__[1].__name__
    'StreamV1Base'
    """
    base = StreamV1CSVBase if "csv" in row.formats else StreamV1Base
    attributes = {"_resource": row.name, "_availability": row.availability, "__doc__": row.summary}
    return type(row.accessor, (base,), {**attributes, "__module__": __name__})


ACCESSORS: dict[str, type[StreamV1Base]] = {row.accessor: accessor_class(row) for row in RESOURCES}

if TYPE_CHECKING:  # the classes made from the table, as type checkers see them: users subclass them

    class Accel(StreamV1CSVBase): ...
    class BandPower(StreamV1CSVBase): ...
    class Event(StreamV1Base): ...
    class HeartRate(StreamV1CSVBase): ...
    class LFP(StreamV1CSVBase): ...
    class ProbabilitySymptom(StreamV1CSVBase): ...
    class Rotation(StreamV1CSVBase): ...
    class Span(StreamV1Base): ...
    class State(StreamV1CSVBase): ...

else:
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
    pages are parsed; ``shards=N`` (opt-in) splits the time range of a time
    series query (``points()``, ``iter(accessor)``, ``iter_csv_text``,
    ``iter_json_data``) into N windows pulled at once; ``stats=Stats()`` counts
    every page pulled. The defaults, 0, 1 and None, send exactly runeq's requests.
    ``shards``, ``prefetch`` and ``stats`` are checked here (``options.pull_options``).
    ``engine`` is what reads the pages of ``points()``: ``"auto"`` (pyarrow where
    installed), ``"arrow"`` or ``"python"``; all give the same points.
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

    def __init__(
        self, cfg: Any, prefetch: int = 0, shards: int = 1, stats: Stats | None = None, engine: str = "auto"
    ) -> None:
        self._cfg = cfg
        self.shards, self.prefetch, self.stats = pull_options(shards, prefetch, stats)
        self.engine = engine

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
        accessor.shards = self.shards
        accessor.stats = self.stats
        accessor.engine = self.engine
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
