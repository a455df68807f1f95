"""Progress on a terminal: a pull's pages, rows, bytes and rate, drawn by tqdm or on one rewritten line."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..pull.stats import human_bytes
from .durable import Progress, Pull


def progress_line(pull: Pull, seconds: float, fetched: int) -> str:
    """The progress text: pages, rows, bytes written, and the rate of this run's ``fetched`` bytes.

    >>> progress_line(Pull("accel", "csv", {}, None, pages=12, rows=12000, bytes=2_400_000), 2.0, 2_400_000)
    '12 pages, 12,000 rows, 2.4 MB, 1.2 MB/s'
    """
    rate = human_bytes(fetched / seconds) if seconds > 0 else "-"
    return f"{pull.pages:,} pages, {pull.rows:,} rows, {human_bytes(pull.bytes)}, {rate}/s"


class LineProgress:
    """Progress as one line rewritten in place with ``\\r`` (when tqdm is not installed).

    The first call gives the starting point: the rate counts this run's bytes only.
    """

    def __init__(self, stream: IO[str], label: str = "runeq fetch") -> None:
        self.stream = stream
        self.label = label
        self.start: tuple[float, int] | None = None
        self.width = 0

    def __call__(self, pull: Pull) -> None:
        if self.start is None:
            self.start = (time.monotonic(), pull.bytes)
        began, first = self.start
        text = f"{self.label}: " + progress_line(pull, time.monotonic() - began, pull.bytes - first)
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()


class TqdmProgress:
    """Progress as a tqdm bar of bytes, with pages and rows after it.

    The first call gives the starting point: a resumed pull's bytes are not counted in the rate.
    """

    def __init__(self, stream: IO[str], label: str = "runeq fetch") -> None:
        from tqdm import tqdm

        self.tqdm = tqdm
        self.stream = stream
        self.label = label
        self.bar: Any = None

    def __call__(self, pull: Pull) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                desc=self.label, unit="B", unit_scale=True, file=self.stream, initial=pull.bytes
            )
        self.bar.set_postfix_str(f"{pull.pages:,} pages, {pull.rows:,} rows", refresh=False)
        self.bar.update(pull.bytes - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def terminal_progress(stream: IO[str] | None = None, label: str = "runeq fetch") -> Iterator[Progress | None]:
    """A progress reporter on ``stream`` (stderr) when it is a terminal, else None (quiet), named ``label``.

    tqdm draws it when installed; otherwise a plain line does.

    >>> import io
    >>> with terminal_progress(io.StringIO()) as report:
    ...     report is None
    True
    """
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield None
        return
    try:
        reporter: Any = TqdmProgress(stream, label)
    except ImportError:
        reporter = LineProgress(stream, label)
    try:
        yield reporter
    finally:
        reporter.close()
