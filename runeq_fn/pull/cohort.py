"""Many queries at once: bounded concurrency over the shared HTTP pool, one outcome per query.

``fetch_many(queries, run)`` runs ``run(query)`` for every query of a mapping
on a few threads and returns ``{key: Outcome}`` in the mapping's order. An
error stays with its query (``Outcome.error``) while the others go on.

Each result is held in memory until all are done: for a cohort whose data do
not fit, let ``run`` write to disk (``runeq_fn.sinks.export.export_query`` into one file
per query) or reduce (a count, a mean, a DataFrame of per-minute means) and
return that instead.

>>> outcomes = fetch_many({"a": 2, "b": 0}, lambda n: 10 // n)
>>> outcomes["a"], outcomes["b"].ok, type(outcomes["b"].error).__name__
(Outcome(ok=True, value=5, error=None), False, 'ZeroDivisionError')
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from ..errors import UsageError
from ..http.flight import CONNECTIONS_PER_HOST, Stop, stops_on
from ..parse.points import Point, csv_points
from .build import build_request
from .options import pull_options
from .stats import Stats

K = TypeVar("K", bound=Hashable)
Q = TypeVar("Q")
T = TypeVar("T")

MAX_WORKERS = CONNECTIONS_PER_HOST
"""Connections per host in the shared pool (``routes.manager``): more threads would only queue."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one query gave: ``ok`` and its ``value``, or the ``error`` it raised.

    >>> Outcome(False, error=KeyError("x")).unwrap()
    Traceback (most recent call last):
    ...
    KeyError: 'x'
    """

    ok: bool
    value: T | None = None
    error: Exception | None = None

    def unwrap(self) -> T:
        """The value, or the query's error raised again."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def attempt(run: Callable[[Q], T], query: Q) -> Outcome[T]:
    """Run one query, keeping an error as the outcome instead of raising it.

    >>> attempt(int, "7"), attempt(int, "seven").ok
    (Outcome(ok=True, value=7, error=None), False)
    """
    try:
        return Outcome(True, run(query))
    except Exception as exc:
        return Outcome(False, error=exc)


def worker_count(max_workers: int, queries: int) -> int:
    """Threads to start: at most ``max_workers``, one per query, and no more than the pool's connections.

    >>> worker_count(8, 3), worker_count(64, 100)
    (3, 16)
    >>> worker_count(0, 3)
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: max_workers must be at least 1, not 0
    """
    if max_workers < 1:
        raise UsageError(f"max_workers must be at least 1, not {max_workers}")
    return min(max_workers, queries, MAX_WORKERS)


def attempt_until(stop: Stop, run: Callable[[Q], T], query: Q) -> Outcome[T]:
    """``attempt``, its requests raising ``Stopped`` (kept as the outcome) once ``stop`` is set.

    >>> from runeq_fn.http.flight import LIMITER
    >>> stop = Stop(); stop.set()
    >>> attempt_until(stop, lambda q: LIMITER.call(len, q), "abc").error
    Stopped('the pull was stopped before this request went out')
    """
    with stops_on(stop):
        return attempt(run, query)


def fetch_many(queries: Mapping[K, Q], run: Callable[[Q], T], max_workers: int = 8) -> dict[K, Outcome[T]]:
    """``run(query)`` for every query, ``max_workers`` at a time; ``{key: Outcome}`` in the mapping's order.

    Errors (``Exception``, not ``KeyboardInterrupt``) are kept per query. On an
    interrupt, the queries not yet started are cancelled, those running are
    stopped (their requests in flight hung up), and every worker thread has
    ended when it is raised.
    """
    outcomes: dict[K, Outcome[T]] = {}
    if not queries:
        return outcomes
    stop = Stop.within_current()
    executor = ThreadPoolExecutor(worker_count(max_workers, len(queries)), thread_name_prefix="runeq-cohort")
    try:
        futures = {key: executor.submit(attempt_until, stop, run, query) for key, query in queries.items()}
        for key, future in futures.items():
            outcomes[key] = future.result()
    except BaseException:
        stop.set()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # stop, then join
    return outcomes


def query_points(
    config: Any,
    name: str,
    query: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    prefetch: int = 0,
    shards: int = 1,
    stats: Stats | None = None,
) -> list[Point]:
    """Every point of one query, as a list: the CSV pipeline, run to its end (``shards.pull_items``).

    A query that cannot shard is pulled unsharded; a sharded query's error has
    ``resume`` holding ``shard_windows``, a query that goes on in every window.
    """
    from .shards import pull_items

    def build(params: dict[str, Any]) -> Any:
        return build_request(config, name, "csv", params, defaults=defaults)

    return list(pull_items(build, query, one_page_points, shards, stats=stats, prefetch=prefetch))


def one_page_points(response: Any) -> Iterator[Point]:
    """The points of one CSV page."""
    return csv_points([response])


def cohort_points(
    config: Any,
    name: str,
    queries: Mapping[K, Mapping[str, Any]],
    defaults: Mapping[str, Any] | None = None,
    max_workers: int = 8,
    prefetch: int = 0,
    shards: int = 1,
    stats: Stats | None = None,
) -> dict[K, Outcome[list[Point]]]:
    """The points of many queries of one resource, e.g. one per patient; ``defaults`` fill in the rest.

    ``prefetch`` or ``shards`` (time windows pulled at once, see ``runeq_fn.pull.shards``)
    speed up each query; however many, the requests in flight in the process stay
    within the shared pool's connections per host (``runeq_fn.http.flight``). Both are
    checked before any query starts; ``stats`` (one ``Stats``) counts every query's pages.

    >>> from runeq_fn import Config
    >>> from runeq_fn.emulator import Emulator
    >>> with Emulator() as emu:
    ...     day = {"device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491900}
    ...     cohort = cohort_points(Config(**emu.config_values()), "heartrate", {
    ...         "p1": {"patient_id": "p1"}, "p2": {"patient_id": "p2"}, "bad": {"patient_id": "p3", "end_time": "soon"},
    ...     }, defaults=day)
    >>> {key: len(o.value) if o.ok else type(o.error).__name__ for key, o in cohort.items()}
    {'p1': 60, 'p2': 60, 'bad': 'UsageError'}
    """
    pull_options(shards, prefetch, stats)
    run = partial(query_points, config, name, defaults=defaults, prefetch=prefetch, shards=shards, stats=stats)
    return fetch_many(queries, run, max_workers)
