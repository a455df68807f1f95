"""What an interrupted pull left at its output: found, refused with the ways forward, or cleared when it holds no data."""

from __future__ import annotations

import os
import shutil
from contextlib import suppress

from ..errors import UsageError
from .durable import LOCK_SUFFIX, Pull, output_path, part_paths


def lock_held(path: str | os.PathLike) -> bool:
    """True while another process holds ``FILE.part.lock`` (a pull into ``path`` is running)."""
    import fcntl

    try:
        fd = os.open(output_path(path) + LOCK_SUFFIX, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's own lock
    return False


def interrupted_part(path: str | os.PathLike) -> str | None:
    """The part an interrupted pull left at ``path`` (a part with its state, or a cohort's folder), else None.

    None too while a pull into ``path`` runs: its lock then speaks for it.

    >>> interrupted_part("/no/such/folder/accel.csv") is None
    True
    """
    part, state = part_paths(path)
    if not (os.path.lexists(state) or os.path.isdir(part)) or lock_held(path):
        return None
    return part


def refuse_interrupted(path: str | os.PathLike) -> None:
    """Refuse to start a pull over an interrupted one into ``path``: the two ways forward, in one line."""
    part = interrupted_part(path)
    if part is not None:
        raise UsageError(
            f"{part} holds an interrupted pull: run the same command with --resume to continue it, "
            "or with --restart to start over"
        )


def discard_unstarted(path: str | os.PathLike) -> bool:
    """Remove the part and state of a pull into ``path`` that wrote no data; True when there were any.

    So a pull that fails at its first request (bad credentials, a server down)
    leaves no files behind, and nothing to ``--resume``. A part that holds data,
    or a pull still running (its lock held), is left alone.
    """
    part, state = part_paths(path)
    if lock_held(path) or not (os.path.lexists(state) or os.path.isdir(part)):
        return False
    try:
        with os.fdopen(os.open(state, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as f:
            saved: Pull | None = Pull.from_json(f.read())
    except FileNotFoundError:
        saved = None  # a cohort's folder: one state per patient inside it
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if saved is not None and (saved.pages or saved.bytes):
        return False
    if saved is None and any(name.endswith(".parquet") for _, _, names in os.walk(part) for name in names):
        return False
    if os.path.isdir(part) and not os.path.islink(part):
        shutil.rmtree(part, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(part)
    with suppress(FileNotFoundError):
        os.unlink(state)
    return True
