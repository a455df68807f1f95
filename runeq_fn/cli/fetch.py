"""``runeq fetch``: a whole query pulled into a file, or stdout, in the format asked for."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from ..errors import RuneError, UsageError, WriteError
from .flags import as_flag, count_flag, file_flag
from .messages import note

if TYPE_CHECKING:
    from ..pull.stats import Stats


def fetch_command(resource: Any, format: Any, output: Any, resume: Any, restart: Any, config: Any, emulator: Any,
                  prefetch: Any, timestamps: Any, shards: Any, params: Mapping[str, Any]) -> None:
    """``runeq fetch``: flags checked, the pull, a summary line on stderr; an error ends it, the pages written kept."""
    from ..pull.stats import Stats
    from ..sinks.durable import check_format
    from ..sinks.export import export_query
    from ..sinks.inputs import connect, query_from_flags
    from ..sinks.interrupted import discard_unstarted, interrupted_part, refuse_interrupted
    from ..sinks.progress import terminal_progress

    query = query_from_flags(params)
    resuming, restarting = as_flag("resume", resume), as_flag("restart", restart)
    if resuming and restarting:
        raise UsageError("give --resume (continue the interrupted pull) or --restart (start over), not both")
    ahead = count_flag("--prefetch", prefetch, 0)
    windows = count_flag("--shards", shards, 1)
    stats = Stats()
    target = file_flag("output", output, "accel.csv")
    source = file_flag("config", config, "~/.rune/config")
    fmt = check_format(str(resource), str(format))
    parquet = fmt == "parquet"
    if parquet:
        require_extra("pyarrow.parquet", "arrow", "--format parquet")
    if target is not None and os.path.isdir(target) and not parquet:
        raise UsageError(f"--output {target} is a folder: give a file name")
    if target is not None and not (resuming or restarting):
        refuse_interrupted(target)
    # no progress line between rows of data printed on the same terminal
    show_progress = target is not None or not sys.stdout.isatty()
    try:
        with connect(source, as_flag("emulator", emulator)) as cfg, (
            terminal_progress() if show_progress else nullcontext()
        ) as progress:
            if parquet:
                rows = fetch_parquet(cfg, str(resource), query, target, resuming, ahead, progress,
                                     as_flag("timestamps", timestamps), windows, stats)
            else:
                rows = export_query(
                    cfg, str(resource), query, fmt, target, resuming, ahead, progress, windows, stats
                ).rows
    except (RuneError, KeyboardInterrupt) as exc:
        stop = 2 if isinstance(exc, RuneError) else 130
        if target is None and isinstance(exc, WriteError):
            discard_stdout()  # else the interpreter's last flush fails again, with a traceback
        note(f"error: {exc}" if isinstance(exc, RuneError) else "interrupted")
        if credentials_refused(exc):
            note("the server refused the credentials: check them with `runeq configure get`, "
                 "store an access token with `runeq configure setup`, or pass --config FILE")
        kept = None if target is None or discard_unstarted(target) else interrupted_part(target)
        if kept is not None:
            note(f"the pages written so far are kept in {kept}: run the same command with --resume to continue")
        raise SystemExit(stop) from None
    except BrokenPipeError:
        # the reader (e.g. `| head`) has gone: stop quietly, as command-line tools do
        discard_stdout()
        raise SystemExit(141) from None
    print(f"runeq fetch: {stats.summary()}", file=sys.stderr)
    if rows == 0:
        note("0 rows: nothing matched the query; check the ids and the time range (unix seconds, or ISO 8601)")


def require_extra(module: str, extra: str, user: str) -> None:
    """Refuse, in one line naming the extra to install, an option whose optional dependency is missing."""
    from ..sinks.frames import require

    try:
        require(module, extra, user)
    except ImportError as exc:
        raise UsageError(str(exc)) from None


def fetch_parquet(
    cfg: Any, name: str, query: dict[str, Any], target: str | None, resume: bool, prefetch: int,
    progress: Any, timestamps: bool, shards: int = 1, stats: Stats | None = None,
) -> int:
    """``runeq fetch --format parquet``: one pull, or a cohort when --patient-id lists several patients; the rows written."""
    from ..sinks.durable import patient_list
    from ..sinks.parquet import export_cohort, export_parquet

    if target is None:
        raise UsageError("--format parquet needs --output DIR (a dataset folder) or --output FILE.parquet")
    patients = patient_list(query.get("patient_id", ""))
    if len(patients) > 1:
        rest = {key: value for key, value in query.items() if key != "patient_id"}
        outcomes = export_cohort(cfg, name, rest, patients, target, resume, prefetch, progress, timestamps,
                                 shards=shards, stats=stats)
        return sum(outcome.value.rows for outcome in outcomes.values() if outcome.value is not None)
    return export_parquet(cfg, name, query, target, resume, prefetch, progress, timestamps, shards, stats).rows


def discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered for a reader that is gone goes nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def credentials_refused(exc: BaseException) -> bool:
    """True when the server refused the credentials (401 or 403), for a pull or every patient of a cohort.

    >>> from runeq_fn.errors import APIError
    >>> credentials_refused(APIError(401, {})), credentials_refused(APIError(403, {})), credentials_refused(APIError(500, {}))
    (True, True, False)
    """
    from ..errors import APIError

    outcomes = getattr(exc, "outcomes", None)
    if isinstance(outcomes, dict):
        errors = [outcome.error for outcome in outcomes.values() if not outcome.ok]
        return bool(errors) and all(credentials_refused(error) for error in errors if error is not None)
    return isinstance(exc, APIError) and exc.status_code in (401, 403)
