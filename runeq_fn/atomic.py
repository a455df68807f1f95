"""Files replaced atomically: the config file, an export's state, a sync's ledger are whole or untouched."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress


def replace_file(path: str, text: str, prefix: str) -> None:
    """Write ``text`` to ``path`` in one step: a private (0600) temporary file beside it, synced, renamed over it.

    A reader sees the old file or the new one, never part of one. If the write
    fails (a full disk, Ctrl-C), the temporary file ``prefix...`` is removed and
    the error raised; ``path`` is as it was.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "state")
    >>> replace_file(path, "one\\n", ".state.")
    >>> open(path).read(), oct(os.stat(path).st_mode & 0o777), os.listdir(folder)
    ('one\\n', '0o600', ['state'])
    >>> replace_file(path, "\\ud800", ".state.")
    Traceback (most recent call last):
    UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed
    >>> open(path).read(), os.listdir(folder)
    ('one\\n', ['state'])
    """
    fd, temporary = tempfile.mkstemp(prefix=prefix, dir=os.path.dirname(path) or ".")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):  # renamed already when Ctrl-C came just after
            os.unlink(temporary)
        raise
