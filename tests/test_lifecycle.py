"""A pull's life: what a forked child shares with its parent, what Ctrl-C and an early close leave running.

Everything is real: children of every multiprocessing start method, threads
counted with ``threading.enumerate()``, a ``runeq fetch`` process sent SIGINT.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from commands import COMMAND
from extras import need
from proxyserver import Proxy

import runeq_fn.pull.stats
from runeq_fn import Config, build_request, csv_points, pages, stream
from runeq_fn.emulator import Emulator
from runeq_fn.errors import UsageError
from runeq_fn.http.flight import LIMITER, Stop, stops_on
from runeq_fn.http.hooks import watch_socket
from runeq_fn.http.request import Request
from runeq_fn.http.transport import fetch as http_fetch
from runeq_fn.pull.cohort import fetch_many, query_points
from runeq_fn.pull.shards import sharded_items, sharded_pages
from runeq_fn.pull.stats import Stats, counting
from runeq_fn.sinks.durable import Pull, flocked
from runeq_fn.sinks.export import export_query

START = 1609491600  # 2021-01-01 09:00 UTC, inside a wear window
QUERY = {"device_id": "watch-1", "start_time": START, "end_time": START + 4}
PATIENTS = [f"p{n}" for n in range(6)]
ROUNDS = 4


def pull(values: dict, patient: str) -> bytes:
    """Every page of one patient's accel, as bytes (the emulator's data depend on the patient alone)."""
    request = build_request(Config(**values), "accel", "csv", {**QUERY, "patient_id": patient})
    return b"".join(response.content for response in pages(request))


def pulls(values: dict, patient: str) -> list[bytes]:
    """One patient's pull, ``ROUNDS`` times over the same pools."""
    return [pull(values, patient) for _ in range(ROUNDS)]


# -- after fork, nothing is shared with the parent -------------------------------------------


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")  # 3.12+
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_children_pull_their_own_patients_while_the_parent_pulls(method: str) -> None:
    with Emulator(page_size=20) as emu:
        values = {**emu.config_values(), "retries": 0}
        # the parent's pull leaves its keep-alive connections in the pool, as a notebook's would
        reference = {patient: pull(values, patient) for patient in PATIENTS}
        assert len(set(reference.values())) == len(PATIENTS)
        context = multiprocessing.get_context(method)
        with context.Pool(3) as pool:
            children = pool.starmap_async(pulls, [(values, patient) for patient in PATIENTS[1:]])
            parent = []
            while not children.ready():
                parent.append(pull(values, PATIENTS[0]))
            results = children.get(timeout=120)
        for patient, rows in zip(PATIENTS[1:], results, strict=True):
            assert rows == [reference[patient]] * ROUNDS, f"a child pulling {patient} read other rows"
        assert parent and set(parent) == {reference[PATIENTS[0]]}


def pull_counted(config: Config, stats: Stats, answers: Any) -> None:
    """In a child: one patient's pull, counted into ``stats``, its rows put on ``answers``."""
    request = build_request(config, "accel", "csv", {**QUERY, "patient_id": "p1"})
    answers.put(b"".join(response.content for response in pages(request, counting(http_fetch, stats))))


def test_locks_held_at_fork_are_free_in_the_child() -> None:
    with Emulator(page_size=20, jwt_expired=True) as emu:
        # an expired JWT: every pull refreshes it through Cognito, under the config's refresh lock
        config = Config(**emu.config_values("cognito_refresh"), jwt=emu.credentials["jwt"], auth_method="cognito_refresh",
                        retries=0)
        reference = pull(dict(config._values), "p1")
        stats, answers = Stats(), multiprocessing.get_context("fork").SimpleQueue()
        # as if the parent's threads were mid-pull at the fork: every slot taken, the locks held
        for _ in range(LIMITER.limit):
            LIMITER.acquire()
        held = [config._refresh_lock, runeq_fn.pull.stats._lock]
        for lock in held:
            lock.acquire()
        try:
            child = multiprocessing.get_context("fork").Process(target=pull_counted, args=(config, stats, answers))
            child.start()
        finally:
            for lock in held:
                lock.release()
            for _ in range(LIMITER.limit):
                LIMITER.release()
        try:
            child.join(timeout=60)  # only against a hang: the child ends as soon as its pull does
            assert child.exitcode == 0, "the child never finished its pull: a lock of the parent's held it"
            assert answers.get() == reference
        finally:
            child.kill()
            child.join()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")  # 3.12+
@pytest.mark.parametrize("options", [{"shards": 4}, {"prefetch": 3}], ids=["shards", "prefetch"])
def test_a_pull_begun_before_fork_is_refused_in_the_child_which_goes_on_from_its_resume(options: dict) -> None:
    # the child waited forever on the parent's window or prefetch threads, which a fork does not copy
    with Emulator(page_size=50) as emu:
        accel = stream.V1Client(Config(**emu.config_values(), retries=0), **options).Accel()
        clean = list(accel.points(**LONG))
        points = accel.points(**LONG)
        begun = [next(points) for _ in range(120)]  # into the third page, requests in flight
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child's own lines)
            try:
                signal.alarm(60)  # a hang is a failure, not a stuck suite
                try:
                    begun.extend(points)  # the rest of the page in hand, then the next page is asked for
                    said = "went on"
                except UsageError as err:
                    rest = list(accel.points(**err.resume))
                    said = f"refused: {err}; resumed whole: {begun + rest == clean}"
                os.write(write, said.encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as said:
            told = said.read()
        os.waitpid(child, 0)
        points.close()
    assert "refused: a pull begun before os.fork() cannot go on in the child" in told
    assert told.endswith("resumed whole: True")


def test_a_child_forked_inside_a_lock_block_holds_none_of_the_lock_and_closes_nothing_of_its_own(tmp_path: Path) -> None:
    # the child's copy of the lock file's descriptor shared the parent's flock: the lock stayed held after the
    # parent let go, for as long as the child lived (a sync's or fetch's next run refused)
    lock, busy = str(tmp_path / "lock"), UsageError("busy")
    said_read, said_write = os.pipe()
    go_read, go_write = os.pipe()
    with flocked(lock, busy):
        child = os.fork()
        if child == 0:  # pragma: no cover (the child's own lines)
            signal.alarm(60)  # a hang is a failure, not a stuck suite
            os.close(go_write)
            try:
                with flocked(lock, busy):
                    said = "took the parent's lock"
            except UsageError:
                said = "refused"
            mine = os.open(os.devnull, os.O_RDONLY)  # the lowest free number: the closed copy's, if it was closed
            os.write(said_write, f"{said};".encode())
            os.read(go_read, 1)  # still inside the block, until the parent has let go and locked again
        else:
            os.close(said_write)
            inside = os.read(said_read, 100)  # the child tried the lock while the parent held it
    if child == 0:  # pragma: no cover
        try:
            os.fstat(mine)
            os.write(said_write, b"kept its own file")
        finally:
            os._exit(0)
    try:
        with flocked(lock, busy):  # the parent has let go: the lock is free, the child inside the block or not
            relocked = True
    finally:
        os.close(go_write)
        with os.fdopen(said_read, "rb") as rest:
            said = (inside + rest.read()).decode()
        os.waitpid(child, 0)
    assert relocked and said == "refused;kept its own file"


def test_a_child_forked_mid_fetch_is_refused_and_leaves_the_parents_lock_file_alone(tmp_path: Path) -> None:
    # the child, leaving the export's lock block on its refusal, removed the lock file the parent held: the
    # parent's export then ended in FileNotFoundError, and meanwhile another fetch could take the file
    with Emulator(page_size=50) as emu:
        config = Config(**emu.config_values(), retries=0)
        clean, out = tmp_path / "clean.csv", tmp_path / "x.csv"
        export_query(config, "accel", LONG, "csv", str(clean))
        read, write = os.pipe()
        children: list[int] = []

        def fork_at_the_third_page(pull: Pull) -> None:
            if pull.pages == 3 and not children:
                children.append(os.fork())
                if children[0] == 0:  # pragma: no cover (the child's own lines)
                    signal.alarm(60)  # a hang is a failure, not a stuck suite
                else:
                    os.waitpid(children[0], 0)  # the child has gone on, and ended, before the parent goes on

        said = "went on"
        try:
            export_query(config, "accel", LONG, "csv", str(out), progress=fork_at_the_third_page)
        except BaseException as exc:  # each process says how its export ended: the child must reach its exit
            said = f"{type(exc).__name__}: {exc}"
        if children == [0]:  # pragma: no cover
            try:
                os.write(write, said.encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as reading:
            child_said = reading.read()
    assert child_said.startswith("UsageError: a pull begun before os.fork() cannot go on in the child")
    assert said == "went on" and out.read_bytes() == clean.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.csv", "x.csv"]


# -- stop, then join: no thread outlives its pull ----------------------------------------------------

PULL_THREADS = ("runeq-prefetch", "runeq-shard-", "runeq-cohort")
LONG = {"patient_id": "p1", "device_id": "watch-1", "start_time": START, "end_time": START + 60}  # 3000 rows


def pull_threads(before: set[threading.Thread]) -> list[str]:
    """The names of the threads runeq-fn started for a pull since ``before``, still there."""
    return [t.name for t in threading.enumerate() if t not in before and t.name.startswith(PULL_THREADS)]


def slow_request(emu: Emulator) -> Request:
    """The long query against ``emu``, which the tests make slow, so that requests are in flight when stopped."""
    return build_request(Config(**emu.config_values(), retries=0), "accel", "csv", LONG)


PULLS: dict[str, Callable[[Request], Iterator[Any]]] = {
    "prefetch": lambda request: csv_points(pages(request, prefetch=4)),
    "shards": lambda request: csv_points(sharded_pages(request, shards=4, plan="even")),
    "shards parsing": lambda request: sharded_items(request, lambda r: csv_points([r]), shards=4, plan="even"),
}


@pytest.mark.parametrize("kind", list(PULLS))
def test_closing_a_pull_after_its_first_point_leaves_no_thread(kind: str) -> None:
    with Emulator(page_size=50, delay=0.5) as emu:
        before = set(threading.enumerate())
        points = PULLS[kind](slow_request(emu))
        for _ in range(51):  # into the second page: the page asked for ahead then is on the (slow) wire
            next(points)
        assert pull_threads(before), "the pull is not mid-way: the test would prove nothing"
        points.close()
        assert pull_threads(before) == []


def request_on(sock: socket.socket, stop: Stop, sent: threading.Event, over: threading.Event) -> None:
    """A request of the pull stopped by ``stop``, on ``sock`` (as the transport watches it) until ``over`` is set."""
    with stops_on(stop):
        watch_socket(sock)
        sent.set()
        over.wait(30)
        watch_socket(None)


def test_a_stop_hangs_up_a_connection_that_another_request_of_the_pull_took_over() -> None:
    # A request hands its connection back to the pool before it forgets its socket: the next request of
    # the pull (prefetch's next page) may be on that connection by then, and must still be hung up.
    # Before, the first request's forget unwatched it too, and closing the pull waited for a slow server.
    stop = Stop()
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as sock:
        first, second = [(threading.Event(), threading.Event()) for _ in range(2)]
        threads = []
        for sent, over in (first, second):
            threads.append(threading.Thread(target=request_on, args=(sock, stop, sent, over), daemon=True))
            threads[-1].start()
            assert sent.wait(30)
        try:
            first[1].set()  # the first request ends after the second took its connection
            threads[0].join(30)
            stop.set()
            hung_up = select.select([sock], [], [], 0)[0] and sock.recv(1) == b""  # shut down: readable, at its end
            assert hung_up, "the second request was not hung up: its reader would wait for the server"
        finally:
            second[1].set()
            threads[1].join(30)


@pytest.mark.parametrize("kind", list(PULLS))
def test_ctrl_c_in_the_consumer_propagates_and_leaves_no_thread(kind: str) -> None:
    with Emulator(page_size=50, delay=0.05) as emu:
        before = set(threading.enumerate())
        with pytest.raises(KeyboardInterrupt):
            for n, _ in enumerate(PULLS[kind](slow_request(emu))):
                if n == 120:  # into the third page
                    assert pull_threads(before)
                    raise KeyboardInterrupt
        assert pull_threads(before) == []


def test_ctrl_c_in_a_cohort_stops_the_running_queries_and_leaves_no_thread() -> None:
    with Emulator(page_size=50, delay=0.05) as emu:
        config = Config(**emu.config_values(), retries=0)

        def run(query: str) -> list:
            if query == "interrupt":
                raise KeyboardInterrupt
            return query_points(config, "accel", {**LONG, "patient_id": query}, prefetch=2)

        before = set(threading.enumerate())
        with pytest.raises(KeyboardInterrupt):
            fetch_many({"interrupt": "interrupt", **{p: p for p in PATIENTS}}, run, max_workers=4)
        assert pull_threads(before) == []
        # the three queries running stopped before their next request, long before their 61 pages each
        assert len(emu.requests) < 61


def pages_saved(state: Path) -> int:
    """The pages an export's state file says are on disk (0 before its first save)."""
    try:
        return Pull.from_json(state.read_text(encoding="utf-8")).pages
    except FileNotFoundError:
        return 0


def test_ctrl_c_stops_a_sharded_runeq_fetch_with_status_130(tmp_path: Path) -> None:
    with Emulator(page_size=100, delay=0.05) as emu:
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump({**emu.config_values(), "retries": 0}))
        config.chmod(0o600)
        query = ["--patient-id", "p1", "--device-id", "d1", "--start-time", str(START), "--end-time", str(START + 400)]
        fetch = subprocess.Popen(
            [*COMMAND, "fetch", "accel", *query, "--shards", "4", "--output", str(tmp_path / "x.csv"),
             "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        try:
            state = tmp_path / "x.csv.part.state"
            for _ in range(3000):  # mid-pull: every window has asked for pages, a page is kept (no timing asserted)
                if len(emu.requests) >= 12 and pages_saved(state) or fetch.poll() is not None:
                    break
                time.sleep(0.01)
            assert fetch.poll() is None, fetch.communicate()
            fetch.send_signal(signal.SIGINT)
            _, stderr = fetch.communicate(timeout=30)
        finally:
            if fetch.poll() is None:
                fetch.kill()
                fetch.wait()
        assert fetch.returncode == 130, stderr
        assert "runeq: interrupted" in stderr and "run the same command with --resume" in stderr
        assert "Traceback" not in stderr


SLOW_SERVER = """
import os, signal, sys, threading, time
from runeq_fn import Config, build_request, csv_points
from runeq_fn.pull.cohort import cohort_points
from runeq_fn.emulator import Emulator, Fault
from runeq_fn.pull.shards import sharded_pages

tls = {}
if sys.argv[2] == "https":
    import tempfile, trustme
    ca, folder = trustme.CA(), tempfile.mkdtemp()
    ca.cert_pem.write_to_path(folder + "/ca.pem")
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(folder + "/server.pem")
    tls = {"tls": (folder + "/server.pem", folder + "/server.pem")}
emu = Emulator(page_size=50, **tls).start()
emu.inject(Fault("slow", seconds=600, times=999))  # every request hangs: Ctrl-C must not wait for them
config = Config(**emu.config_values(), **({"ca_bundle": folder + "/ca.pem"} if tls else {}))
query = {"patient_id": "p1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491660}

def ctrl_c_once_asked(requests):
    while emu.connections < requests:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c_once_asked, args=(4,), daemon=True).start()
try:
    if sys.argv[1] == "shards":
        list(csv_points(sharded_pages(build_request(config, "accel", "csv", query), shards=4, plan="even")))
    elif sys.argv[1] == "sync":
        import tempfile
        from runeq_fn.sync import sync
        with tempfile.TemporaryDirectory() as folder:
            sync(config, "accel", list("abcdef"), "watch-1", query["start_time"], query["end_time"], folder, window=20)
    else:
        cohort_points(config, "accel", {p: {"patient_id": p} for p in "abcdef"}, defaults=query, max_workers=4)
except KeyboardInterrupt as interrupted:
    names = [t.name for t in threading.enumerate() if t.name.startswith(("runeq-shard", "runeq-cohort", "runeq-sync"))]
    failed = list(getattr(getattr(interrupted, "report", None), "failed", {}))  # a sync's windows: stopped, not failed
    print("interrupted", names + failed, flush=True)
"""


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("kind", ["shards", "cohort", "sync"])
def test_ctrl_c_does_not_wait_for_requests_hanging_on_a_slow_server(kind: str, scheme: str) -> None:
    # the generous timeout only keeps a hang from stalling the suite: a pull that waited would take 600 s
    # (a sync's lanes waited for their requests in flight: Ctrl-C did not hang them up)
    if kind == "sync":
        need("pyarrow")
    command = [sys.executable, "-c", SLOW_SERVER, kind, scheme]
    # a shell without job control (make in the background) starts the suite with SIGINT ignored: the child would inherit it
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "interrupted []\n"


# -- httpoxy: under CGI a client's Proxy: header must not choose the proxy ---------------------------


@pytest.mark.parametrize("cgi", [False, True])
def test_http_proxy_is_not_read_under_cgi(cgi: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = reference_pull("p1")
    with Emulator(page_size=50) as emu, Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        if cgi:
            monkeypatch.setenv("REQUEST_METHOD", "GET")
        rows = pull(emu.config_values(), "p1")
        sent = [f"{emu.url}{r.path}" for r in emu.requests]
    assert rows == reference
    assert [s.target.partition("?")[0] for s in proxy.seen] == ([] if cgi else sent)


def test_a_lower_case_http_proxy_is_still_read_under_cgi(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = reference_pull("p1")
    with Emulator(page_size=50) as emu, Proxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url())
        monkeypatch.setenv("REQUEST_METHOD", "GET")
        rows = pull(emu.config_values(), "p1")
        sent = [f"{emu.url}{r.path}" for r in emu.requests]
    assert rows == reference
    assert [s.target.partition("?")[0] for s in proxy.seen] == sent


def reference_pull(patient: str) -> bytes:
    """A patient's rows pulled from an emulator of its own, directly."""
    with Emulator(page_size=50) as emu:
        return pull(emu.config_values(), patient)
