"""``runeq sync``: a Parquet dataset kept current, or its coverage shown."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from .fetch import require_extra
from .flags import as_flag, count_flag, file_flag
from .messages import note


def sync_command(resource: Any, output: Any, shards: Any, recheck: Any, window: Any, status: Any, plot: Any,
                 config: Any, emulator: Any, params: Mapping[str, Any]) -> None:
    """``runeq sync``: flags checked, the run (or ``--status``/``--plot``), one summary line on stderr."""
    from ..sinks.inputs import connect, query_from_flags
    from ..sinks.progress import terminal_progress
    from ..sync import SyncError, SyncInterrupted, sync
    from ..sync.ledger import plot_coverage, status_lines

    # pyarrow's default allocator (mimalloc) keeps a heap per thread: with windows read in 16 threads it held
    # about 150 MB more at the peak than malloc; the choice is read once, when pyarrow is first imported
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    shown = file_flag("status", status, "accel/")
    drawn = file_flag("plot", plot, "coverage.png")
    if shown is not None or drawn is not None:
        root = os.path.normpath(shown or file_flag("output", output, "accel/") or "")
        if drawn is None:
            print("\n".join(status_lines(root)))
        else:
            plot_coverage(root, drawn)
            note(f"drew the coverage of {root} into {drawn}")
        return
    query = query_from_flags(params)
    missing = [f"--{k.replace('_', '-')}" for k in ("patient_id", "device_id", "start_time", "end_time") if k not in query]
    if resource is None or output is None or missing:
        raise UsageError(f"runeq sync needs RESOURCE, --output DIR and {', '.join(missing) or 'the flags given'}: "
                         "runeq sync accel --patient-id P1,P2 --device-id D --start-time S --end-time E --output DIR")
    try:
        seconds = float(str(recheck))
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise UsageError("--recheck must be a number of seconds, 0 or more (e.g. --recheck 3600)")
    target = file_flag("output", output, "accel/") or ""
    rest = {k: v for k, v in query.items() if k not in ("patient_id", "device_id", "start_time", "end_time")}
    parts, seconds_per_file = count_flag("--shards", shards, 1), count_flag("--window", window, 1)
    require_extra("pyarrow", "arrow", "runeq sync")
    try:
        with connect(file_flag("config", config, "~/.rune/config"), as_flag("emulator", emulator)) as cfg, \
                terminal_progress(label="runeq sync") as progress:
            report = sync(cfg, str(resource), str(query["patient_id"]), str(query["device_id"]), query["start_time"],
                          query["end_time"], target, parts, seconds, seconds_per_file, rest, progress)
    except SyncError as exc:
        print(f"runeq sync: {exc.report.summary()}", file=sys.stderr)
        raise
    except SyncInterrupted as exc:
        note(f"interrupted: {exc.report.total('windows')} windows pulled by this run are kept in {target} and in its "
             "ledger; the same command pulls only what is missing")
        raise SystemExit(130) from None
    print(f"runeq sync: {report.summary()}", file=sys.stderr)
