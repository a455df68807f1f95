"""The in-process emulator is reached directly, whatever proxy the environment names; ``no_proxy`` in a config."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from proxyserver import Proxy

from runeq_fn import Config, cli, csv_points, pages
from runeq_fn.emulator import Emulator
from runeq_fn.pull.build import build_request
from runeq_fn.sinks.inputs import connect

QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": 1609491600, "end_time": 1609491602}
FLAGS = ["--patient-id", "patient-1", "--device-id", "watch-1", "--start-time", "1609491600", "--end-time", "1609491602"]


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY and HTTPS_PROXY at a loopback port nobody listens on, and no NO_PROXY."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")


@pytest.mark.usefixtures("dead_proxy")
def test_runeq_demo_reaches_its_emulator_directly(capsys: pytest.CaptureFixture) -> None:
    cli.main(["demo"])
    out = capsys.readouterr().out
    assert "HTTP requests the emulator saw" in out and "done in" in out


@pytest.mark.usefixtures("dead_proxy")
def test_runeq_fetch_emulator_reaches_its_emulator_directly(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    cli.main(["fetch", "accel", *FLAGS, "--output", str(target), "--emulator"])
    assert len(target.read_text().splitlines()) == 101  # a header and 100 points


@pytest.mark.usefixtures("dead_proxy")
def test_the_examples_emulator_fallback_reaches_its_emulator_directly(tmp_path: Path) -> None:
    with connect(str(tmp_path / "no-config"), emulator="auto") as cfg:
        assert len(list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY))))) == 100


def test_no_proxy_in_the_config_goes_around_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(page_size=25) as emu, Proxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        around = Config(**emu.config_values(), no_proxy="example.com, 127.0.0.1")
        through = Config(**emu.config_values())
        assert len(list(csv_points(pages(build_request(around, "accel", "csv", QUERY))))) == 100
        assert proxy.seen == []
        assert len(list(csv_points(pages(build_request(through, "accel", "csv", QUERY))))) == 100
        assert len(proxy.seen) == 5
