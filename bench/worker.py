"""One client library in a process of its own, timing the work it is asked for.

    RUNEQ_PYTHON bench/worker.py runeq        # runeq 0.15.0, in its own venv
    .venv/bin/python bench/worker.py runeq_fn

Both libraries have the same surface (``Config``, ``stream.V1Client``), so one script
drives either. It reads one JSON task per line on stdin and answers each with one
line of JSON on stdout: the seconds the work took, what it counted, and the peak
RSS of the process so far. It uses only the standard library and the library
under test: runeq's venv has nothing else.
"""

from __future__ import annotations

import csv
import gc
import importlib
import io
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

_texts: dict[str, list[str]] = {}


def texts_in(path: str) -> list[str]:
    """The CSV pages saved in a JSON file (read once per process)."""
    if path not in _texts:
        with open(path) as file:
            _texts[path] = json.load(file)
    return _texts[path]


def runeq_points(texts: list[str]) -> list:
    """runeq's ``points()`` alone: an accessor whose ``iter_csv_text`` yields the prepared pages."""
    from runeq import Config, stream

    accessor = stream.V1Client(Config(jwt="bench.not.sent")).Accel()
    accessor.iter_csv_text = lambda **params: iter(texts)
    return list(accessor.points())


def runeq_frame(texts: list[str]) -> Any:
    """runeq's way to a DataFrame: ``pd.DataFrame(list(points()))`` (pandas is in runeq's venv)."""
    import pandas as pd

    return pd.DataFrame(runeq_points(texts))


def fn_points(engine: str) -> Callable[[list[str]], list]:
    """runeq-fn's ``csv_points`` with one engine."""

    def points(texts: list[str]) -> list:
        from runeq_fn import csv_points

        return list(csv_points(texts, engine=engine))

    return points


def fn_shim_points(use_numpy: bool, engine: str = "auto") -> Callable[[list[str]], list]:
    """runeq-fn's shim ``points()`` (numpy on or off, one engine): an accessor whose ``get_csv_response`` hands
    back the prepared pages, whole responses (bodies already encoded, decoded by the timed work)."""

    def points(texts: list[str]) -> list:
        from runeq_fn import Config
        from runeq_fn.http.response import Response
        from runeq_fn.stream import v1

        v1.USE_NUMPY = use_numpy
        bodies = _bodies.get(id(texts)) or _bodies.setdefault(id(texts), [t.encode() for t in texts] + [b""])

        class Prepared(v1.Accel):
            def get_csv_response(self, **params: Any) -> Response:
                return Response(200, content=bodies[int(params.get("page") or 0)])

        accessor = Prepared(Config(jwt="bench.not.sent"))
        accessor.engine = engine
        return list(accessor.points())

    return points


_bodies: dict[int, list[bytes]] = {}


def fn_columns(engine: str) -> Callable[[list[str]], list]:
    """runeq-fn's ``csv_columns`` with one engine."""

    def columns(texts: list[str]) -> list:
        from runeq_fn.parse.columns import csv_columns

        return list(csv_columns(texts, engine=engine))

    return columns


def fn_arrow(texts: list[str]) -> Any:
    """runeq-fn's ``to_arrow``: the pages to one Arrow table (``runeq_fn.parse.arrow``)."""
    from runeq_fn import to_arrow

    return to_arrow(texts)


def fn_frame(texts: list[str]) -> Any:
    """runeq-fn's ``to_dataframe``: the pages to one pandas DataFrame, through Arrow."""
    from runeq_fn import to_dataframe

    return to_dataframe(texts)


def arrow_floor(texts: list[str]) -> Any:
    """A floor: ``pyarrow.csv.read_csv`` once on each page's bytes (default options), tables concatenated."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    return pa.concat_tables([pacsv.read_csv(pa.py_buffer(text.encode())) for text in texts])


def csv_dicts(texts: list[str]) -> list:
    """A floor: the csv module building the same dicts, values left as text."""
    points = []
    for text in texts:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        points.extend(dict(zip(header, row)) for row in reader)
    return points


def csv_floats(texts: list[str]) -> int:
    """A floor: the csv module and one ``float()`` per non-blank cell, no dicts; counts the rows."""
    count = 0
    for text in texts:
        reader = csv.reader(io.StringIO(text, newline=""))
        next(reader, None)
        for row in reader:
            for cell in row:
                if cell:
                    float(cell)
            count += 1
    return count


PARSERS = {
    ("runeq", "points"): runeq_points,
    ("runeq", "frame"): runeq_frame,
    ("runeq_fn", "points"): fn_points("auto"),
    ("runeq_fn", "points_python"): fn_points("python"),
    ("runeq_fn", "shim_numpy"): fn_shim_points(True),
    ("runeq_fn", "shim_numpy_python"): fn_shim_points(True, "python"),
    ("runeq_fn", "columns_python"): fn_columns("python"),
    ("runeq_fn", "columns_arrow"): fn_columns("arrow"),
    ("runeq_fn", "arrow_table"): fn_arrow,
    ("runeq_fn", "arrow_frame"): fn_frame,
    ("runeq_fn", "arrow_floor"): arrow_floor,
    ("runeq_fn", "csv_dicts"): csv_dicts,
    ("runeq_fn", "csv_floats"): csv_floats,
}


def row_count(result: Any) -> int:
    """The rows in a parser's result: a count, a table or frame, a list of points, or a list of column dicts."""
    if isinstance(result, int):
        return result
    if hasattr(result, "shape"):  # an Arrow table or a pandas DataFrame
        return result.shape[0]
    if result and all(isinstance(column, list) for column in result[0].values()):
        return sum(len(next(iter(page.values()), [])) for page in result)
    return len(result)


def parse(lib: str, path: str, kind: str) -> dict[str, Any]:
    """Time one parser over the saved pages."""
    texts = texts_in(path)
    work = PARSERS[(lib, kind)]
    gc.collect()
    start = time.perf_counter()
    result = work(texts)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": row_count(result)}


def connections(lib: str, url: str) -> int | None:
    """How many connections runeq-fn's pool has opened to the server (None for runeq: a black box)."""
    if lib != "runeq_fn":
        return None
    from runeq_fn.http.routes import manager, route
    from runeq_fn.policy import Policy

    return manager(route(url, Policy())).connection_from_url(url).num_connections


def sharded_texts(config: dict, defaults: dict, params: dict, shards: int) -> Iterator[str]:
    """runeq-fn's sharded pull of the same query, as CSV texts (nothing parsed)."""
    from runeq_fn import Config, build_request, csv_pages
    from runeq_fn.pull.shards import sharded_pages

    request = build_request(Config(**config), "accel", "csv", params, defaults=defaults)
    return csv_pages(sharded_pages(request, shards))


def pull(
    lib: str, config: dict, defaults: dict, params: dict, prefetch: int = 0, parse: bool = True, shards: int = 1
) -> dict[str, Any]:
    """Time ``Accel(**defaults).points(**params)`` from the server, counting the points (none kept).

    With ``parse=False`` it times ``iter_csv_text`` instead and counts lines: the
    requests alone, a floor for any client of the same server (with ``shards``,
    runeq-fn's sharded pages, unparsed).
    """
    module = importlib.import_module(lib)
    options = {**({"prefetch": prefetch} if prefetch else {}), **({"shards": shards} if shards > 1 else {})}
    client = module.stream.V1Client(module.Config(**config), **options)
    accessor = client.Accel(**defaults)
    gc.collect()
    start = time.perf_counter()
    if parse:
        count = sum(1 for _ in accessor.points(**params))
    else:
        texts = sharded_texts(config, defaults, params, shards) if shards > 1 else accessor.iter_csv_text(**params)
        count = sum(text.count("\n") - 1 for text in texts)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": count, "connections": connections(lib, config["stream_url"])}


def bare_pull(lib: str, config: dict, defaults: dict, params: dict) -> dict[str, Any]:
    """The same pages with nothing but ``http.client`` and ``gzip``: the floor of any client.

    One kept-alive connection; the token header wins, else ``page`` counts up;
    an empty body ends it (the SPEC's CSV rule). Counts lines, keeps nothing.
    """
    import gzip
    import http.client
    from urllib.parse import urlencode, urlsplit

    url = urlsplit(config["stream_url"])
    connection = http.client.HTTPConnection(url.hostname, url.port)
    headers = {
        "X-Rune-User-Access-Token-Id": config["access_token_id"],
        "X-Rune-User-Access-Token-Secret": config["access_token_secret"],
        "Accept-Encoding": "gzip",
    }
    query, pages, count = {**defaults, **params}, 0, 0
    start = time.perf_counter()
    while True:
        connection.request("GET", "/v1/accel.csv?" + urlencode(query), headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        if answer.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if not body:
            break
        pages += 1
        count += body.count(b"\n") - 1
        token = answer.getheader("X-Rune-Next-Page-Token")
        query.pop("page" if token else "next_page_token", None)
        query.update({"next_page_token": token} if token else {"page": pages})
    seconds = time.perf_counter() - start
    connection.close()
    return {"seconds": seconds, "count": count, "connections": None}


def parquet_pull(lib: str, config: dict, defaults: dict, params: dict) -> dict[str, Any]:
    """Time ``export_parquet`` of the query into a dataset folder (removed afterwards), counting its rows."""
    import tempfile

    from runeq_fn import Config
    from runeq_fn.sinks.parquet import export_parquet

    with tempfile.TemporaryDirectory() as folder:
        gc.collect()
        start = time.perf_counter()
        done = export_parquet(Config(**config), "accel", {**defaults, **params}, os.path.join(folder, "accel"))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": done.rows, "connections": None}


def sync_pull(lib: str, config: dict, patients: list, device: str, start: int, end: int, output: str,
              shards: int = 1) -> dict[str, Any]:
    """Time ``runeq_fn.sync.sync`` of the patients into ``output``; rows and requests from its report."""
    from runeq_fn import Config
    from runeq_fn.sync import sync

    gc.collect()
    began = time.perf_counter()
    report = sync(Config(**config), "accel", patients, device, start, end, output, shards=shards)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "count": report.total("rows"), "requests": report.total("requests"),
            "connections": None}


def sync_floor(lib: str, config: dict, patients: list, device: str, start: int, end: int,
               shards: int = 1) -> dict[str, Any]:
    """The floor of a sync: its windows' pages fetched by the same lanes, split alike, cut, counted and dropped."""
    from fractions import Fraction

    from runeq_fn import Config, build_request
    from runeq_fn.http.flight import CONNECTIONS_PER_HOST, Stop
    from runeq_fn.pull.stats import Stats
    from runeq_fn.pull.windows import edge_param
    from runeq_fn.sync import WINDOW, plan
    from runeq_fn.sync.lanes import Lanes, first_parts, pull_part, run_lanes

    cfg = Config(**config)
    jobs, _ = plan({}, patients, device, Fraction(start), Fraction(end), WINDOW, Fraction(0))
    requests = {job: build_request(cfg, "accel", "csv", {"patient_id": job.patient, "device_id": job.device,
                                                         "start_time": edge_param(job.lo), "end_time": edge_param(job.hi)})
                for job in jobs}
    lanes = Lanes(part for job in jobs for part in first_parts(job, requests[job], job.lo, job.hi, shards))
    counts: list[int] = []
    stop = Stop()

    def count(part: Any, response: Any) -> None:
        counts.append(response.content.count(b"\n") - 1 if response.content else 0)

    gc.collect()
    began = time.perf_counter()
    run_lanes(lanes, lambda part: pull_part(part, requests[part.owner], "time", lanes, Stats(), count, stop.is_set),
              CONNECTIONS_PER_HOST, stop)
    return {"seconds": time.perf_counter() - began, "count": sum(counts), "connections": None}


def idle(lib: str) -> dict[str, Any]:
    """Import the library and do nothing: the peak RSS of a process that has done no work yet."""
    importlib.import_module(lib)
    return {}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "parse": parse, "pull": pull, "bare": bare_pull, "parquet": parquet_pull, "idle": idle,
    "sync": sync_pull, "sync_floor": sync_floor,
}


def peak_rss_kb() -> int:
    """The process's peak resident set size so far, in KiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def serve(lib: str, tasks: Iterator[str], reply: Callable[[str], None]) -> None:
    """Run each task line and reply with its result (or the error that stopped it)."""
    for line in tasks:
        task = json.loads(line)
        try:
            result = TASKS[task["task"]](lib, **task.get("args", {}))
        except Exception as exc:  # the harness reports it and stops
            result = {"error": f"{type(exc).__name__}: {exc}"}
        reply(json.dumps({**result, "peak_rss_kb": peak_rss_kb()}))


def main(lib: str) -> None:
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # whatever the library prints stays off the reply channel

    def reply(line: str) -> None:
        channel.write(line + "\n")
        channel.flush()

    serve(lib, sys.stdin, reply)


if __name__ == "__main__":
    main(sys.argv[1])
