"""Every option on every surface, against an emulator that misbehaves: each cell has its effect, or is refused.

Surfaces: the shim's methods, the functional pipeline, ``to_dataframe``, ``cohort_points``,
the exports in every format (and the Parquet cohort), ``runeq fetch`` and ``runeq_fn.sinks.dask``.
Options: ``shards``, ``prefetch``, ``stats``, ``page_deadline``, ``pull_deadline``, resume
(after a 500 on a middle page, unsharded and sharded) and a bad ``shards`` or ``prefetch``.
``MATRIX`` is the table of docs/tasks/sharding.md "Which options apply where"; ``test_the_readme_table_is_the_matrix``
keeps the two the same, so that every cell of the table is one of the tests here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from extras import need

from runeq_fn import Config, build_request, cli, csv_points, pages, stream
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.errors import RuneError, TransportError, UsageError
from runeq_fn.http.flight import LIMITER
from runeq_fn.pull.cohort import cohort_points
from runeq_fn.pull.options import rule
from runeq_fn.pull.shards import sharded_pages
from runeq_fn.pull.stats import Stats
from runeq_fn.sinks.export import export_query
from runeq_fn.sinks.interrupted import interrupted_part

README = Path(__file__).resolve().parent.parent / "docs" / "tasks" / "sharding.md"  # the table's page
WEAR_START = 1609490700  # patient-1's watch-1 records accel from here, at 50 Hz
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": WEAR_START + 2, "end_time": WEAR_START + 10}
ROWS, PAGES, SHARDS = 400, 8, 4
COLUMNS = ("time", "x", "y", "z")
BAD_COUNTS = {"shards": ["8", 2.5, 0, -1, True], "prefetch": ["4", 2.5, -1, True]}
"""Values refused: text, a fraction, too small, a bool (on the command line: the text of each, "8" as "eight")."""

Row = tuple
Options = dict[str, Any]


@dataclass
class Context:
    """What a cell pulls with: the emulator, the policy of its config (one of ``POLICIES``), a folder."""

    emu: Emulator
    folder: Path
    policy: str = "plain"

    @property
    def values(self) -> dict[str, Any]:
        """The config's keys: the emulator's credentials and the policy's."""
        return {**self.emu.config_values(), **POLICIES[self.policy]}

    @property
    def cfg(self) -> Config:
        return Config(**self.values)

    def config_file(self) -> Path:
        """The same config as a file, for ``runeq fetch --config``."""
        path = self.folder / "config.yml"
        path.write_text(yaml.safe_dump(self.values))
        path.chmod(0o600)
        return path


def point_rows(points: Iterable[dict]) -> list[Row]:
    return [tuple(float(p[k]) for k in COLUMNS) for p in points]


def text_rows(texts: Iterable[Any]) -> list[Row]:
    return point_rows(csv_points(texts))


def column_rows(results: Iterable[dict]) -> list[Row]:
    return [tuple(map(float, row)) for result in results for row in zip(*(result.get(k, []) for k in COLUMNS))]


def frame_rows(frame: Any) -> list[Row]:
    return [tuple(map(float, row)) for row in frame[list(COLUMNS)].itertuples(index=False)]


def collected(pull: Callable[[], Iterator[Any]], again: Callable[[RuneError], Iterator[Any]]) -> list[Any]:
    """Every item of a pull that fails, then every item of the pull resumed from its error."""
    items: list[Any] = []
    try:
        items.extend(pull())
    except RuneError as err:
        assert err.resume, "an error while iterating carries resume"
        items.extend(again(err))
    else:
        pytest.fail("the fault did not stop the pull")
    return items


# -- the surfaces ----------------------------------------------------------------------------------


class Surface:
    """One way to pull a query; ``pull`` gives its rows, ``resumed`` its rows across a failure."""

    name = ""

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        raise NotImplementedError

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        raise NotImplementedError


class Shim(Surface):
    """A ``V1Client`` accessor's method; ``resumed`` gives ``err.resume`` back to the method (``points`` for ``iter``)."""

    def __init__(self, name: str, method: Callable[[Any, Options], Iterator[Any]], rows: Callable) -> None:
        self.name, self.method, self.rows = name, method, rows

    def accessor(self, ctx: Context, **options: Any) -> Any:
        return stream.V1Client(ctx.cfg, **options).Accel(**QUERY)

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        return self.rows(self.method(self.accessor(ctx, **options), {}))

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        accessor = self.accessor(ctx, **options)
        go_on = accessor.points if self.name == "iter(accessor)" else lambda **params: self.method(accessor, params)
        return self.rows(collected(lambda: self.method(accessor, {}), lambda err: go_on(**err.resume)))


class Functional(Surface):
    """``csv_points(sharded_pages(request, shards, ...))`` (``pages`` itself for one shard)."""

    name = "sharded_pages / pages"

    def pull(self, ctx: Context, shards: int = 1, **options: Any) -> list[Row]:
        request = build_request(ctx.cfg, "accel", "csv", QUERY)
        return point_rows(csv_points(sharded_pages(request, shards, **options)))

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        request = build_request(ctx.cfg, "accel", "csv", QUERY)

        def again(err: RuneError) -> Iterator[Any]:  # the documented way, sharded or not
            return pages(build_request(ctx.cfg, "accel", "csv", {**QUERY, **err.resume}))

        responses = collected(lambda: sharded_pages(request, **options), again)
        return point_rows(csv_points(responses))


class Frame(Surface):
    """The README's recipe: ``to_dataframe(accessor.iter_csv_text(...))``; resumed, a frame of the rest."""

    name = "to_dataframe(iter_csv_text)"

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        texts = stream.V1Client(ctx.cfg, **options).Accel(**QUERY).iter_csv_text()  # bad options: refused here
        need("pandas")
        from runeq_fn import to_dataframe

        return frame_rows(to_dataframe(texts))

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        need("pandas")
        from runeq_fn import to_dataframe

        accessor = stream.V1Client(ctx.cfg, **options).Accel(**QUERY)
        with pytest.raises(RuneError) as caught:
            to_dataframe(accessor.iter_csv_text())
        return frame_rows(to_dataframe(accessor.iter_csv_text(**caught.value.resume)))  # the rest: a tail of the pull


class Cohort(Surface):
    """``cohort_points`` of one query; resumed, the points of the failed query's ``err.resume``."""

    name = "cohort_points"

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        return point_rows(cohort_points(ctx.cfg, "accel", {"p": QUERY}, **options)["p"].unwrap())

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        failed = cohort_points(ctx.cfg, "accel", {"p": QUERY}, **options)["p"]
        assert not failed.ok and failed.error.resume
        return point_rows(cohort_points(ctx.cfg, "accel", {"p": failed.error.resume}, **options)["p"].unwrap())


def file_rows(path: Path, fmt: str) -> list[Row]:
    """The rows of an exported file or dataset."""
    if fmt == "csv":
        return text_rows([path.read_text()])
    if fmt == "jsonl":
        return point_rows(json.loads(line) for line in path.read_text().splitlines())
    if fmt == "json":
        return point_rows(json.loads(path.read_text()))
    import pandas as pd

    return frame_rows(pd.read_parquet(path).sort_values("time", kind="stable"))


class Export(Surface):
    """``export_query`` into a file in one format (``export_cohort`` for the Parquet cohort); resumed with ``resume=True``."""

    def __init__(self, fmt: str, cohort: bool = False) -> None:
        self.fmt, self.cohort = fmt, cohort
        self.name = "export_cohort (parquet)" if cohort else f"export_query --format {fmt}"

    def target(self, ctx: Context) -> Path:
        return ctx.folder / ("cohort" if self.cohort else f"out.{self.fmt}")

    def write(self, ctx: Context, resume: bool = False, **options: Any) -> None:
        if self.fmt == "parquet":
            need("pyarrow", "pandas")
        if self.cohort:
            from runeq_fn.sinks.parquet import CohortError, export_cohort

            rest = {k: v for k, v in QUERY.items() if k != "patient_id"}
            try:
                export_cohort(ctx.cfg, "accel", rest, ["patient-1"], self.target(ctx), resume, **options)
            except CohortError as exc:
                raise exc.outcomes["patient-1"].error from None
        else:
            export_query(ctx.cfg, "accel", QUERY, self.fmt, self.target(ctx), resume, **options)

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        self.write(ctx, **options)
        return file_rows(self.target(ctx), self.fmt)

    def resumed(self, ctx: Context, **options: Any) -> list[Row]:
        with pytest.raises(RuneError):
            self.write(ctx, **options)
        ctx.emu.clear()
        self.write(ctx, resume=True, **options)
        return file_rows(self.target(ctx), self.fmt)


class Command(Surface):
    """``runeq fetch`` in one format, in this process; ``stats`` are its summary line, resumed with ``--resume``."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.name = f"runeq fetch --format {fmt}"

    def run(self, ctx: Context, *flags: str) -> None:
        if self.fmt == "parquet":
            need("pyarrow", "pandas")
        query = [f"--{k.replace('_', '-')}={v}" for k, v in QUERY.items()]
        cli.main(["fetch", "accel", *query, "--format", self.fmt, "--output", str(self.target(ctx)),
                  "--config", str(ctx.config_file()), *flags])

    def target(self, ctx: Context) -> Path:
        return ctx.folder / f"out.{self.fmt}"

    def pull(self, ctx: Context, shards: int = 1, prefetch: int = 0, stats: Any = None) -> list[Row]:
        self.run(ctx, f"--shards={shards}", f"--prefetch={prefetch}")
        return file_rows(self.target(ctx), self.fmt)

    def resumed(self, ctx: Context, shards: int = 1, **_: Any) -> list[Row]:
        with pytest.raises(SystemExit):
            self.run(ctx, f"--shards={shards}", "--prefetch=0")
        ctx.emu.clear()
        # as the command advises: --resume when it kept a part, else nothing durable was written (a
        # Parquet chunk not yet committed, or the failed page was the first a window asked for)
        kept = interrupted_part(self.target(ctx)) is not None
        self.run(ctx, f"--shards={shards}", "--prefetch=0", *(["--resume"] if kept else []))
        return file_rows(self.target(ctx), self.fmt)


class Dask(Surface):
    """``runeq_fn.sinks.dask.read_points`` of the query as one partition, computed in this process."""

    name = "dask.read_points"

    def pull(self, ctx: Context, **options: Any) -> list[Row]:
        need("dask", "pandas", "pyarrow")
        from runeq_fn.sinks.dask import read_points

        frame = read_points(ctx.cfg, "accel", [QUERY], window=None, time_index=False, **options)
        return frame_rows(frame.compute(scheduler="sync"))


SURFACES: list[Surface] = [
    Shim("points()", lambda a, p: a.points(**p), point_rows),
    Shim("iter(accessor)", lambda a, p: iter(a), point_rows),
    Shim("iter_csv_text", lambda a, p: a.iter_csv_text(**p), text_rows),
    Shim("iter_json_data", lambda a, p: a.iter_json_data(**p), column_rows),
    Functional(),
    Frame(),
    Cohort(),
    Export("csv"),
    Export("jsonl"),
    Export("json"),
    Export("parquet"),
    Export("parquet", cohort=True),
    Command("csv"),
    Command("parquet"),
    Dask(),
]

# -- what each cell does -----------------------------------------------------------------------------

OPTIONS = ("shards", "prefetch", "stats", "page_deadline", "pull_deadline", "resume", "resume, sharded", "bad shards or prefetch")
YES, TAIL, REFUSED, NONE = "yes", "the rest", "refused", "-"
MATRIX: dict[str, dict[str, str]] = {
    surface.name: {option: YES for option in OPTIONS} for surface in SURFACES
}
for name in ("to_dataframe(iter_csv_text)", "cohort_points"):
    MATRIX[name]["resume"] = MATRIX[name]["resume, sharded"] = TAIL
MATRIX["dask.read_points"].update({"stats": REFUSED, "resume": NONE, "resume, sharded": NONE})

POLICIES = {
    "plain": {"retries": 0},
    "page_deadline": {"retries": 0, "page_deadline": 0.2},
    "pull_deadline": {"retries": 0, "pull_deadline": 0.4},
}
"""The configs of the cells (the command line's config file holds the same keys)."""


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    """A page-number emulator that takes a little time per request (so that requests in flight overlap)."""
    LIMITER.throttle_until(LIMITER.clock())  # a 429 of an earlier test in this process must not lower the slots
    with Emulator(pagination="page", page_size=ROWS // PAGES, delay=0.01) as emu:
        yield Context(emu, tmp_path)


BASELINE: list[Row] = []


def baseline(ctx: Context) -> list[Row]:
    """The unsharded pull's rows, as runeq's ``points()`` gives them (fetched once per process)."""
    if not BASELINE:
        BASELINE.extend(point_rows(stream.V1Client(ctx.cfg).Accel(**QUERY).points()))
        ctx.emu.clear()
    assert len(BASELINE) == ROWS
    return BASELINE


def data_windows(emu: Emulator) -> set:
    """The distinct time windows of the data requests the emulator saw (the plan's availability request aside)."""
    return {
        (dict(r.params).get("start_time"), dict(r.params).get("end_time"))
        for r in emu.requests
        if r.path.startswith(("/v1/accel", "/v1/lfp")) and "expression" not in dict(r.params)
    }


def cells(option: str) -> list:
    return [pytest.param(surface, id=surface.name) for surface in SURFACES if MATRIX[surface.name][option] != NONE]


@pytest.mark.parametrize("surface", cells("shards"))
def test_shards_pull_windows_at_once_and_give_the_same_rows(ctx: Context, surface: Surface) -> None:
    expected = baseline(ctx)
    assert surface.pull(ctx, shards=SHARDS) == expected
    assert len(data_windows(ctx.emu)) == SHARDS


@pytest.mark.parametrize("surface", cells("prefetch"))
def test_prefetch_keeps_more_than_one_request_in_flight(ctx: Context, surface: Surface) -> None:
    expected = baseline(ctx)
    assert surface.pull(ctx, prefetch=3) == expected
    assert ctx.emu.peak_in_flight > 1
    assert len(data_windows(ctx.emu)) == 1  # not sharded: the one window of the query


@pytest.mark.parametrize("surface", cells("prefetch"))
def test_prefetch_and_shards_together_give_the_same_rows(ctx: Context, surface: Surface) -> None:
    expected = baseline(ctx)
    assert surface.pull(ctx, shards=SHARDS, prefetch=2) == expected
    assert len(data_windows(ctx.emu)) == SHARDS


@pytest.mark.parametrize("surface", cells("stats"))
@pytest.mark.parametrize("shards", [1, SHARDS])
def test_stats_count_every_page_and_row(ctx: Context, surface: Surface, capsys, shards: int) -> None:
    expected = baseline(ctx)
    stats = Stats()
    if MATRIX[surface.name]["stats"] == REFUSED:
        with pytest.raises(TypeError, match="stats"):
            surface.pull(ctx, shards=shards, stats=stats)
        return
    capsys.readouterr()
    ctx.emu.clear()
    assert surface.pull(ctx, shards=shards, stats=stats) == expected
    if isinstance(surface, Command):  # the command's own Stats, as its last line
        assert f"{PAGES} pages, {ROWS} rows" in capsys.readouterr().err
        return
    assert (stats.pages, stats.rows) == (PAGES, ROWS)
    assert stats.requests == len(ctx.emu.requests)  # every request the server saw: a sharded pull's plan too


@pytest.mark.parametrize("surface", cells("page_deadline"))
@pytest.mark.parametrize("deadline", ["page_deadline", "pull_deadline"])
def test_a_deadline_stops_a_trickling_page(ctx: Context, surface: Surface, capsys, deadline: str) -> None:
    ctx.policy = deadline
    ctx.emu.inject(Fault("trickle", seconds=0.05, times=99, path="/v1/accel", after=1))
    capsys.readouterr()
    if isinstance(surface, Command):
        with pytest.raises(SystemExit) as stopped:
            surface.pull(ctx, shards=SHARDS)
        assert stopped.value.code == 2 and deadline in capsys.readouterr().err
        return
    with pytest.raises(TransportError, match=deadline):
        surface.pull(ctx, shards=SHARDS)


@pytest.mark.parametrize("surface", cells("resume"))
@pytest.mark.parametrize("shards", [1, SHARDS], ids=["unsharded", "sharded"])
def test_a_500_on_a_middle_page_is_resumed_without_a_row_lost_or_twice(ctx: Context, surface: Surface, shards: int) -> None:
    expected = baseline(ctx)
    ctx.emu.inject(Fault("status", status=500, path="/v1/accel", after=3))
    got = surface.resumed(ctx, shards=shards)
    if MATRIX[surface.name]["resume"] == TAIL:  # the rows before the error are not handed out: the rest only
        assert got and got == expected[-len(got):]
    else:
        assert got == expected


@pytest.mark.parametrize("surface", cells("bad shards or prefetch"))
@pytest.mark.parametrize(
    ("option", "value"), [(option, value) for option, values in BAD_COUNTS.items() for value in values], ids=repr
)
def test_a_bad_shards_or_prefetch_is_refused_before_any_request(ctx: Context, surface: Surface, option, value, capsys):
    capsys.readouterr()
    if isinstance(surface, Command):
        typed = "eight" if value in ("8", "4") else str(value)
        with pytest.raises(SystemExit) as stopped:
            surface.run(ctx, f"--{option}={typed}")
        minimum = 1 if option == "shards" else 0
        said = {f"{rule(f'--{option}', minimum)}: {why}" for why in ("it is not one", f"it is below {minimum}")}
        assert stopped.value.code == 2
        assert {line.partition("error: ")[2] for line in capsys.readouterr().err.splitlines()} & said  # no typed value
    else:
        with pytest.raises(UsageError, match=f"^{option} must be a whole number of at least [01] .*(not a|below)"):
            surface.pull(ctx, **{option: value})
    assert ctx.emu.requests == []


def test_the_readme_table_is_the_matrix() -> None:
    lines = [f"| surface | {' | '.join(OPTIONS)} |", "|---" * (len(OPTIONS) + 1) + "|"]
    lines += [f"| `{name}` | {' | '.join(row[o] for o in OPTIONS)} |" for name, row in MATRIX.items()]
    assert "\n".join(lines) in README.read_text()


def json_columns(results: Iterable[dict]) -> dict[str, list]:
    """JSON results' columns put end to end."""
    columns: dict[str, list] = {}
    for result in results:
        for key, values in result.items():
            columns.setdefault(key, []).extend(values)
    return columns


@pytest.mark.parametrize("pagination", ["page", "token", "mixed"])
@pytest.mark.parametrize("inclusive_end", [False, True])
@pytest.mark.parametrize(("accessor", "seconds"), [("Accel", 6), ("LFP", 3)])  # inner edges sit on whole seconds
def test_sharded_json_results_put_end_to_end_are_the_unsharded_pull(pagination, inclusive_end, accessor, seconds) -> None:
    with Emulator(pagination=pagination, page_size=70, inclusive_end=inclusive_end) as emu:
        cfg = Config(**emu.config_values())
        query = {**QUERY, "start_time": WEAR_START - 1, "end_time": WEAR_START + seconds}  # a window with no data
        whole = json_columns(getattr(stream.V1Client(cfg), accessor)(**query).iter_json_data())
        emu.clear()
        results = list(getattr(stream.V1Client(cfg, shards=SHARDS), accessor)(**query).iter_json_data())
        assert len(data_windows(emu)) > 1
    assert json_columns(results) == whole and whole
    # no result of only empty columns (a page of margin rows, or of the window without data)
    assert [result for result in results if not any(result.values())] == []


def test_a_json_page_without_its_time_list_cannot_be_cut_and_says_so() -> None:
    from fractions import Fraction

    from runeq_fn.errors import ParseError
    from runeq_fn.pull.cut import cut_json

    with pytest.raises(ParseError, match="without a 'time' list .* use shards=1"):
        cut_json('{"result": {"x": [1, 2]}}', "time", Fraction(0), Fraction(1))


def test_what_cannot_shard_is_pulled_unsharded_by_the_shim_with_its_other_options(ctx: Context) -> None:
    stats = Stats()
    client, plain = stream.V1Client(ctx.cfg, shards=SHARDS, prefetch=2, stats=stats), stream.V1Client(ctx.cfg)
    day = {"start_time": WEAR_START, "end_time": WEAR_START + 3600}
    pulls = [
        lambda c: list(c.Accel(**QUERY).iter_csv_availability(resolution=300)),  # an expression: bins
        lambda c: list(c.Accel(**QUERY).iter_json_availability(resolution=300)),
        lambda c: list(c.Event(patient_id="patient-1", **day).iter_json_data()),
        lambda c: list(c.Span(patient_id="patient-1", **day).iter_json_data()),
    ]
    for pull in pulls:
        expected = pull(plain)
        ctx.emu.clear()
        assert pull(client) == expected and expected
        assert len({(dict(r.params).get("start_time"), dict(r.params).get("end_time")) for r in ctx.emu.requests}) == 1
    assert stats.requests > len(pulls)


def test_fetch_a_parquet_cohort_with_shards_pulls_each_patient_in_windows(ctx: Context, capsys) -> None:
    need("pyarrow", "pandas")
    import pandas as pd

    config = ctx.config_file()
    hour = {"patient_id": "patient-1,patient-2", "device_id": "watch-1", "start_time": WEAR_START, "end_time": WEAR_START + 3600}
    query = [f"--{k.replace('_', '-')}={v}" for k, v in hour.items()]

    def fetch(out: str, *flags: str) -> pd.DataFrame:
        cli.main(["fetch", "heartrate", *query, "--format", "parquet", "--output", str(ctx.folder / out),
                  "--config", str(config), *flags])
        return pd.read_parquet(ctx.folder / out).sort_values(["patient_id", "time"], kind="stable", ignore_index=True)

    whole = fetch("one")
    ctx.emu.clear()
    sharded = fetch("many", "--shards=3")
    windows = {
        (dict(r.params)["patient_id"], dict(r.params)["start_time"]) for r in ctx.emu.requests if r.path.endswith(".csv")
    }
    assert sharded.equals(whole) and len(whole) > 0
    assert sorted(patient for patient, _ in windows) == ["patient-1"] * 3 + ["patient-2"] * 3
    assert "pages" in capsys.readouterr().err  # the summary line, for parquet too


def test_an_expression_query_is_refused_by_the_functional_form_and_pulled_unsharded_elsewhere(ctx: Context) -> None:
    availability = {**QUERY, "expression": "availability(accel)", "resolution": 300}
    with pytest.raises(UsageError, match="an expression query cannot be sharded .*: use shards=1"):
        next(sharded_pages(build_request(ctx.cfg, "accel", "csv", availability), SHARDS))
    assert ctx.emu.requests == []
    expected = text_rows_of_availability(stream.V1Client(ctx.cfg).Accel(**QUERY).iter_csv_availability(resolution=300))
    config = ctx.config_file()
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in availability.items()]
    out = ctx.folder / "availability.csv"
    ctx.emu.clear()
    cli.main(["fetch", "accel", *flags, "--output", str(out), "--config", str(config), "--shards=4"])
    assert text_rows_of_availability([out.read_text()]) == expected and expected
    assert {(dict(r.params)["start_time"], dict(r.params)["end_time"]) for r in ctx.emu.requests} == {
        (str(QUERY["start_time"]), str(QUERY["end_time"]))
    }


def text_rows_of_availability(texts: Iterable[str]) -> list[tuple]:
    return [tuple(point.values()) for point in csv_points(texts)]


def test_cohort_points_pulls_a_query_that_starts_at_a_page_unsharded(ctx: Context) -> None:
    expected = baseline(ctx)
    later = {**QUERY, "page": 2}
    outcome = cohort_points(ctx.cfg, "accel", {"p": later}, shards=SHARDS)["p"]
    assert point_rows(outcome.unwrap()) == expected[2 * ROWS // PAGES :]
    assert len(data_windows(ctx.emu)) == 1
