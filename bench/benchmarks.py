"""The benchmarks: each runs runeq 0.15.0 and runeq-fn on the same work, alternating, and gives rows.

Every query is accelerometry of ``patient-1``'s ``watch-1`` at 50 Hz from 2021-01-01 09:00 UTC,
5,000 rows a page (1,000 for memory), 2% of the data cells blank. Each benchmark returns its
rows and notes (what the figures need to be read right).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from importlib.util import find_spec
from statistics import median

from .harness import BenchError, Child, Server, alternate, medians, runeq_python, task, worker
from .report import Row, mb, ms, timed

DEFAULTS = {"patient_id": "patient-1", "device_id": "watch-1"}
START = 1609491600
ROWS_PER_SECOND = 50
PAGE_ROWS = 5000
BLANK_RATE = 0.02
PREFETCH = 8
SHARDS = 8
PULL_POINTS = 200_000

Result = tuple[list[Row], list[str]]


def window(points: int) -> dict[str, int]:
    """The query parameters that give exactly this many accel points.

    >>> window(200_000)
    {'start_time': 1609491600, 'end_time': 1609495600}
    """
    return {"start_time": START, "end_time": START + points // ROWS_PER_SECOND}


def counted(reply: dict, expected: int, what: str) -> float:
    """A reply's seconds, once its count is checked.

    >>> counted({"seconds": 0.5, "count": 3}, 3, "x")
    0.5
    """
    if reply["count"] != expected:
        raise BenchError(f"{what} counted {reply['count']}, not {expected}")
    return reply["seconds"]


def save_parse_pages(path: str, points: int) -> int:
    """Fetch CSV pages from an in-process emulator once, and save them as JSON for both sides."""
    from runeq_fn import Config, stream
    from runeq_fn.emulator import Emulator

    with Emulator(page_size=PAGE_ROWS, blank_rate=BLANK_RATE) as emulator:
        accessor = stream.V1Client(Config(**emulator.config_values())).Accel(**DEFAULTS)
        texts = list(accessor.iter_csv_text(**window(points)))
    with open(path, "w") as file:
        json.dump(texts, file)
    return len(texts)


def parse(rounds: int) -> Result:
    """100,000 rows in 20 pages to point dicts (and to columns), beside two csv-module floors."""
    points = 100_000
    kinds = {
        "runeq": ("runeq", "points"),
        "points": ("runeq_fn", "points"),
        "points_python": ("runeq_fn", "points_python"),
        "shim_numpy": ("runeq_fn", "shim_numpy"),
        "shim_numpy_python": ("runeq_fn", "shim_numpy_python"),
        "columns_python": ("runeq_fn", "columns_python"),
        "csv_dicts": ("runeq_fn", "csv_dicts"),
        "csv_floats": ("runeq_fn", "csv_floats"),
    }
    if find_spec("pyarrow") is not None:
        kinds["columns_arrow"] = ("runeq_fn", "columns_arrow")
        kinds["arrow_table"] = ("runeq_fn", "arrow_table")
        kinds["arrow_floor"] = ("runeq_fn", "arrow_floor")
        if find_spec("pandas") is not None:
            kinds["runeq_frame"] = ("runeq", "frame")
            kinds["arrow_frame"] = ("runeq_fn", "arrow_frame")
    with tempfile.TemporaryDirectory() as tmp, worker("runeq") as rq, worker("runeq_fn") as fn:
        path = os.path.join(tmp, "pages.json")
        pages = save_parse_pages(path, points)
        children = {"runeq": rq, "runeq_fn": fn}

        def contender(lib: str, kind: str) -> Callable[[], float]:
            return lambda: counted(children[lib].ask(task("parse", path=path, kind=kind)), points, kind)

        contenders = {name: contender(*kind) for name, kind in kinds.items()}
        for run in contenders.values():
            run()  # warm-up: imports, the pages read from disk
        best = medians(alternate(rounds, contenders))
    arrow = "columns_arrow" in kinds
    rows = [
        timed("parse", f"csv_points(engine=\"python\"): {points:,} rows in {pages} pages to dicts", best["runeq"],
              best["points_python"], 2.2),
        timed("parse", 'the shim\'s points() with numpy (numpy.float64 and NaN, as runeq\'s), engine="python"',
              best["runeq"], best["shim_numpy_python"], None if arrow else 2),
    ]
    if arrow:
        rows += [
            timed("parse", 'csv_points(engine="auto"): pyarrow', best["runeq"], best["points"], 5),
            timed("parse", 'the shim\'s points() with numpy, engine="auto": pyarrow', best["runeq"],
                  best["shim_numpy"], 3.5),
        ]
    rows.append(timed("parse", 'csv_columns(engine="python")', best["runeq"], best["columns_python"], 1.5))
    if "columns_arrow" in best:
        rows += [
            timed("parse", 'csv_columns(engine="arrow")', best["runeq"], best["columns_arrow"], 10),
            timed("columnar", "to_arrow(pages): one Arrow table, against runeq's points()", best["runeq"],
                  best["arrow_table"], 15),
        ]
    if "arrow_frame" in best:
        rows.append(timed("columnar", "to_dataframe(pages), against runeq's pd.DataFrame(list(points()))",
                          best["runeq_frame"], best["arrow_frame"], 10))
    if "arrow_floor" in best:
        rows.append(timed("columnar floor", "pyarrow.csv.read_csv once per page, tables concatenated",
                          best["runeq"], best["arrow_floor"], None))
    rows += [
        timed("parse floor", "csv module to the same dicts, no conversion", best["runeq"], best["csv_dicts"], None),
        timed("parse floor", "csv module, one float() per cell, no dicts", best["runeq"], best["csv_floats"], None),
    ]
    notes = [
        "parse: runeq's points() alone (an Accel accessor whose iter_csv_text yields the saved pages), "
        "with numpy installed as in its venv; runeq-fn's csv_points, and its shim's points() with numpy "
        "(USE_NUMPY, pages handed back by get_csv_response, bodies decoded in the timing), each with the "
        "Python engine (what an install without pyarrow runs) and with \"auto\" (pyarrow, when installed). "
        "The floors run in runeq-fn's process.",
        "columnar: to_arrow and to_dataframe read the pages with runeq_fn.parse.arrow (pyarrow's CSV reader on "
        "each page's bytes, types fixed by the first page); the floor reads the same bytes with pyarrow's "
        "defaults and no checks. Ratios are against runeq's points() (to_arrow, the floor) and against "
        "runeq's pd.DataFrame(list(points())) (to_dataframe), pandas in runeq's venv.",
    ]
    if "columns_arrow" not in best:
        notes.append("parse: pyarrow is not installed, so the arrow engine was not timed.")
    return rows, notes


def puller(
    child: Child,
    server: Server,
    points: int,
    prefetch: int = 0,
    parse: bool = True,
    bare: bool = False,
    shards: int = 1,
) -> Callable[[], dict]:
    """A function that pulls ``points`` accel points through ``Accel(...).points()`` in a worker.

    ``bare`` pulls the same pages with http.client alone (the worker's ``bare`` task).
    """
    query = {"config": server.config, "defaults": DEFAULTS, "params": window(points)}
    pulled = task("pull", **query, prefetch=prefetch, parse=parse, **({"shards": shards} if shards > 1 else {}))
    message = task("bare", **query) if bare else pulled

    def pull() -> dict:
        reply = child.ask(message)
        counted(reply, points, f"a pull from {server.url}")
        return reply

    return pull


def pull_race(
    rounds: int,
    prefetches: tuple[int, ...] = (0,),
    warm_up: bool = True,
    floor: bool = False,
    shards: tuple[int, ...] = (),
    **server: object,
) -> dict:
    """Median seconds of runeq's pull of 200,000 points and of runeq-fn's (keyed ``prefetch=N``, ``shards=N``).

    With ``floor``, also runeq-fn's bare requests for the same pages, unparsed (keyed ``requests``),
    the same pages through http.client alone (keyed ``http.client``) and each sharded pull
    unparsed (keyed ``shards=N unparsed``).

    One emulator process, one worker process per library. Also the most connections
    runeq-fn's pool had opened after a pull.
    """
    with Server(page_size=PAGE_ROWS, blank_rate=BLANK_RATE, **server) as emulator, worker(
        "runeq"
    ) as rq, worker("runeq_fn") as fn:
        pulls = {"runeq": puller(rq, emulator, PULL_POINTS)}
        pulls.update({f"prefetch={n}": puller(fn, emulator, PULL_POINTS, n) for n in prefetches})
        pulls.update({f"shards={n}": puller(fn, emulator, PULL_POINTS, shards=n) for n in shards})
        if floor:
            pulls["requests"] = puller(fn, emulator, PULL_POINTS, parse=False)
            pulls["http.client"] = puller(fn, emulator, PULL_POINTS, bare=True)
            pulls.update(
                {f"shards={n} unparsed": puller(fn, emulator, PULL_POINTS, parse=False, shards=n) for n in shards}
            )
        if warm_up:
            for pull in pulls.values():
                pull()
        else:
            rq.ask(task("idle"))
            fn.ask(task("idle"))
        connections = [0]

        def seconds(pull: Callable[[], dict]) -> Callable[[], float]:
            def run() -> float:
                reply = pull()
                connections[0] = max(connections[0], reply["connections"] or 0)
                return reply["seconds"]

            return run

        best = medians(alternate(rounds, {name: seconds(pull) for name, pull in pulls.items()}))
    return {**best, "connections": connections[0]}


def end_to_end(rounds: int, cold_rounds: int) -> Result:
    """200,000 points in 40 token pages from an emulator process, warm and generating each page."""
    warm = pull_race(rounds, pagination="token", warm=True)
    cold = pull_race(cold_rounds, warm_up=False, pagination="token")
    what = f"Accel.points(): {PULL_POINTS:,} points in 40 token pages"
    rows = [
        timed("end to end", f"{what}, pages served from memory", warm["runeq"], warm["prefetch=0"], 2),
        timed("end to end", f"{what}, each page generated", cold["runeq"], cold["prefetch=0"], None),
    ]
    notes = [
        f"end to end: runeq-fn's pool had opened {warm['connections']} connection(s) after its last pull "
        "(one pooled connection, reused across pages and pulls).",
        "end to end: the emulator's pure-Python generator takes about 50 ms per 5,000-row page, longer "
        "than either client takes to parse it, so the 'generated' row mostly times the emulator; the "
        "target is judged with pages served from memory (bench/serve.py, warm).",
    ]
    return rows, notes


def wire(rounds: int) -> Result:
    """Bytes on the wire for the 200,000-point pull, with and without gzip, and runeq-fn's time."""
    figures = {}
    for gzip in (True, False):
        with Server(pagination="token", page_size=PAGE_ROWS, blank_rate=BLANK_RATE, warm=True, gzip=gzip) as server:
            with worker("runeq_fn") as fn:
                pull = puller(fn, server, PULL_POINTS)
                pull()
                server.ask("clear")
                seconds = median(pull()["seconds"] for _ in range(rounds))
                sent = server.ask("sent")
        figures[gzip] = (sent["body_bytes"] / rounds, seconds)
    (zipped, zipped_s), (plain, plain_s) = figures[True], figures[False]
    rows = [
        Row("gzip", f"body bytes of the {PULL_POINTS:,}-point pull, gzip", "", f"{zipped / 1e6:.2f} MB",
            f"{plain / zipped:.1f}x fewer"),
        Row("gzip", f"body bytes of the {PULL_POINTS:,}-point pull, identity", "", f"{plain / 1e6:.2f} MB"),
        Row("gzip", "runeq-fn pull time over loopback, gzip / identity", "", f"{ms(zipped_s)} / {ms(plain_s)}"),
    ]
    return rows, ["gzip: bytes are the emulator's RequestRecord.body_bytes, summed over one pull."]


def import_time(python: str, module: str) -> float:
    """Seconds to import a module in a fresh interpreter (interpreter start-up not counted)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


def wall_time(argv: list[str]) -> float:
    """Seconds a command takes from start to exit, as a person waits for it."""
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def imports(rounds: int) -> Result:
    """``import runeq`` against ``import runeq_fn``, and ``runeq --help`` of both console scripts."""
    rq_python = runeq_python()
    fn_cli = os.path.join(os.path.dirname(sys.executable), "runeq")
    rq_cli = os.path.join(os.path.dirname(rq_python), "runeq")
    best = medians(alternate(rounds, {
        "runeq": lambda: import_time(rq_python, "runeq"),
        "runeq_fn": lambda: import_time(sys.executable, "runeq_fn"),
        "runeq_cli": lambda: wall_time([rq_cli, "--help"]),
        "runeq_fn_cli": lambda: wall_time([fn_cli, "--help"]),
    }))
    help_row = timed("import", "`runeq --help`, start to exit", best["runeq_cli"], best["runeq_fn_cli"], None)
    rows = [
        timed("import", "import runeq / import runeq_fn", best["runeq"], best["runeq_fn"], 10),
        replace(help_row, target="< 300 ms", met=best["runeq_fn_cli"] < 0.3),
    ]
    return rows, ["import: in fresh interpreters, start-up not counted; `runeq --help` is wall time."]


def peak_rss(lib: str, server: Server, pages: int, page_rows: int) -> float:
    """Peak RSS (KiB) of a fresh worker that pulls ``pages`` pages and keeps no point."""
    with worker(lib) as child:
        child.ask(task("idle"))
        return puller(child, server, pages * page_rows)()["peak_rss_kb"]


def parquet_peak_rss(server: Server, pages: int, page_rows: int) -> float:
    """Peak RSS (KiB) of a fresh runeq-fn worker that writes ``pages`` pages to a Parquet dataset folder."""
    with worker("runeq_fn") as child:
        child.ask(task("idle"))
        query = {"config": server.config, "defaults": DEFAULTS, "params": window(pages * page_rows)}
        reply = child.ask(task("parquet", **query))
        counted(reply, pages * page_rows, "a Parquet pull")
        return reply["peak_rss_kb"]


def memory() -> Result:
    """Peak RSS pulling 20 pages against 200 pages (1,000 rows each), per library."""
    page_rows = 1000
    with Server(pagination="token", page_size=page_rows, blank_rate=BLANK_RATE, warm=True) as server:
        peaks = {lib: [peak_rss(lib, server, pages, page_rows) for pages in (20, 200)] for lib in ("runeq_fn", "runeq")}
        if find_spec("pyarrow") is not None:
            peaks["parquet"] = [parquet_peak_rss(server, pages, page_rows) for pages in (20, 200)]
    growth = {lib: (high - low) * 1024 / 1e6 for lib, (low, high) in peaks.items()}

    def figure(lib: str) -> str:
        low, high = peaks[lib]
        return f"{mb(low)} / {mb(high)} ({growth[lib]:+.1f} MB)"

    rows = [Row("memory", "peak RSS, 20 / 200 pages of 1,000 rows", figure("runeq"), figure("runeq_fn"), "",
                "runeq-fn +<= 10 MB", growth["runeq_fn"] <= 10)]
    if "parquet" in peaks:
        rows.append(Row("memory", "peak RSS, runeq fetch --format parquet, 20 / 200 pages of 1,000 rows", "",
                        figure("parquet"), "", "+<= 20 MB", growth["parquet"] <= 20))
    notes = ["memory: each figure from a fresh process (ru_maxrss) that counts the points and keeps none."]
    if "parquet" in peaks:
        notes.append("memory: the Parquet row is export_parquet (what runeq fetch --format parquet runs) into a "
                     "dataset folder, a row group per page, a chunk file per 64 pages.")
    return rows, notes


def latency(rounds: int) -> Result:
    """Each response delayed 20 ms: 40 pages by page number and by token, prefetch against runeq."""
    rows = []
    for pagination, target in (("page", 4), ("token", 1.5)):
        best = pull_race(rounds, (PREFETCH, 0), floor=True, pagination=pagination, warm=True, delay=0.02)
        what = "40 pages by " + ("page number" if pagination == "page" else "token")
        rows += [
            timed("latency 20 ms", f"{what}, runeq-fn prefetch={PREFETCH}", best["runeq"],
                  best[f"prefetch={PREFETCH}"], target),
            timed("latency 20 ms", f"{what}, runeq-fn prefetch=0", best["runeq"], best["prefetch=0"], None),
            timed("latency 20 ms", f"{what}, floor: the same requests, one by one, nothing parsed",
                  best["runeq"], best["requests"], None),
            timed("latency 20 ms", f"{what}, floor: a bare http.client loop, nothing parsed",
                  best["runeq"], best["http.client"], None),
        ]
    notes = [
        "latency: Emulator(delay=0.02), pages served from memory; prefetch is opt-in: "
        "stream.V1Client(cfg, prefetch=N).",
        "latency: by token, a page's request can leave only once the previous answer is in, so each "
        "page costs at least the 20 ms delay plus a round trip (about 21 ms); at best the client hides "
        "its parsing behind the next request, as the floor row (the bare requests) shows: the ratio "
        "cannot pass the floor's.",
    ]
    return rows, notes


def sharding(rounds: int, slow_rounds: int) -> Result:
    """Time-sharded pulls against runeq: 20 ms a request by page number and by token, 200 ms by token."""
    rows = []
    cases = (
        ("page", 0.02, (SHARDS,), rounds),
        ("token", 0.02, (SHARDS,), rounds),
        ("token", 0.2, (SHARDS, 2 * SHARDS), slow_rounds),
    )
    for pagination, delay, counts, repeat in cases:
        best = pull_race(repeat, (), shards=counts, floor=True, pagination=pagination, warm=True, delay=delay)
        label = f"shards {delay * 1000:.0f} ms"
        what = "40 pages by " + ("page number" if pagination == "page" else "token")
        target = 4 if delay < 0.1 else 6
        for n in counts:
            rows += [
                timed(label, f"{what}, runeq-fn shards={n}", best["runeq"], best[f"shards={n}"],
                      target if n == SHARDS else None),
                timed(label, f"{what}, floor: shards={n}, the same pages, nothing parsed", best["runeq"],
                      best[f"shards={n} unparsed"], None),
            ]
        rows.append(timed(label, f"{what}, floor: one by one, nothing parsed", best["runeq"], best["requests"], None))
    notes = [
        "shards: stream.V1Client(cfg, shards=N); the time range is split into N windows planned from one "
        "availability request, pulled at once, points yielded in order; pages served from memory after "
        "Emulator(delay=...). Each window ends on an empty page of its own, as CSV pagination does, so a "
        "window of 5 pages costs 6 requests in a row (plus the plan's one).",
    ]
    return rows, notes


SYNC_PATIENTS = ["patient-1", "patient-2", "patient-3", "patient-4"]
SYNC_RANGE = {"start_time": START + 3 * 3600, "end_time": START + 9 * 3600}
"""12:00 to 18:00 UTC: about 16 hours of 50 Hz data over the four patients, ~590 pages of 5,000 rows."""


def syncing(rounds: int, shards: tuple[int, ...] = (1, 4)) -> Result:
    """``runeq sync`` of 4 patients x 6 hours against runeq's serial ``points()`` per patient, 200 ms a request.

    The runeq-fn workers run with pyarrow's system allocator, as ``runeq sync`` does.
    """
    import shutil

    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    folder = tempfile.mkdtemp(prefix="runeq-bench-sync-")
    args = {"patients": SYNC_PATIENTS, "device": DEFAULTS["device_id"], "start": SYNC_RANGE["start_time"],
            "end": SYNC_RANGE["end_time"]}
    served = {"pagination": "token", "page_size": PAGE_ROWS, "blank_rate": BLANK_RATE, "warm": True, "delay": 0.2}
    runs = [0]
    try:
        with Server(**served) as server, worker("runeq") as rq, worker("runeq_fn") as fn:
            def runeq() -> float:
                replies = [rq.ask(task("pull", config=server.config, defaults={**DEFAULTS, "patient_id": p},
                                       params=SYNC_RANGE)) for p in SYNC_PATIENTS]
                totals["rows"] = sum(r["count"] for r in replies)
                return sum(r["seconds"] for r in replies)

            def synced(n: int) -> Callable[[], float]:
                def run() -> float:
                    runs[0] += 1
                    output = os.path.join(folder, f"run-{runs[0]}")
                    reply = fn.ask(task("sync", config=server.config, output=output, shards=n, **args))
                    counted(reply, totals["rows"], f"runeq sync shards={n}")
                    server.ask("clear")
                    again = fn.ask(task("sync", config=server.config, output=output, shards=n, **args))
                    sent = server.ask("sent")["requests"]
                    if again["count"] or sent:
                        raise BenchError(f"a second sync sent {sent} requests and pulled {again['count']} rows")
                    shutil.rmtree(output)
                    return reply["seconds"]

                return run

            def floor(n: int) -> Callable[[], float]:
                return lambda: counted(fn.ask(task("sync_floor", config=server.config, shards=n, **args)),
                                       totals["rows"], "the sync floor")

            totals: dict[str, int] = {}
            contenders = {"runeq": runeq, **{f"sync {n}": synced(n) for n in shards},
                          **{f"floor {n}": floor(n) for n in shards}}
            for run in contenders.values():  # the warm emulator builds each page once
                run()
            server.ask("clear")
            best = medians(alternate(rounds, contenders))
            rss = {}
            for n in shards:  # a fresh process each, against the same warm emulator
                with worker("runeq_fn") as fresh:
                    output = os.path.join(folder, f"rss-{n}")
                    rss[n] = fresh.ask(task("sync", config=server.config, output=output, shards=n, **args))["peak_rss_kb"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    label = "sync 200 ms"
    what = f"4 patients x 6 h of 50 Hz accel ({totals['rows']:,} rows, 5,000 a page)"
    rows = []
    for n in shards:
        rows += [
            timed(label, f"{what}: runeq sync --shards {n}", best["runeq"], best[f"sync {n}"], 15 if n == 1 else None),
            timed(label, f"floor: the same lanes' pages, 16 in flight, nothing parsed (shards {n})", best["runeq"],
                  best[f"floor {n}"], None),
        ]
    for n in shards:
        rows.append(Row(label, f"peak RSS of a fresh process syncing it (shards {n})", "", mb(rss[n]), "",
                        "< 200 MB", rss[n] * 1024 / 1e6 < 200))
    rows.append(Row(label, "requests sent by a second run with the same arguments", "", "0", "", "0", True))
    notes = [
        "sync: runeq is Accel(patient_id=P, device_id=D).points(start_time, end_time) per patient, one after "
        "another; runeq-fn is runeq_fn.sync.sync into a new folder each round (hour windows, each starting in "
        "--shards parts, pulled by 16 lanes under the process limit, an idle lane splitting the part with the "
        "most pages to come), pages served from memory after Emulator(delay=0.2). After each timed sync the "
        "same sync runs again and the emulator counts its requests (0, or the bench stops). The floor runs "
        "the same lanes (sync.lanes.pull_part, the same splits) and counts each page's rows instead of reading "
        "and writing them: at 200 ms a request, 16 in flight give at most 80 requests a second, 7.7 s for the "
        "613 to 617 requests of --shards 1 on an idle machine. The runeq-fn workers run with "
        "ARROW_DEFAULT_MEMORY_POOL=system, as runeq sync sets it.",
    ]
    return rows, notes


BENCHMARKS: dict[str, Callable[[], Result]] = {
    "parse": lambda: parse(rounds=9),
    "e2e": lambda: end_to_end(rounds=7, cold_rounds=3),
    "gzip": lambda: wire(rounds=3),
    "import": lambda: imports(rounds=9),
    "memory": memory,
    "latency": lambda: latency(rounds=5),
    "shards": lambda: sharding(rounds=5, slow_rounds=3),
    "sync": lambda: syncing(rounds=3),
}
