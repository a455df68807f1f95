"""The code blocks of the documentation (docs/*.md, README.md), and running them as a reader would.

A ```python block runs as a script of its own (``python block.py``), a ```sh block with bash, each
in an empty folder that is also ``HOME`` (so no ``~/.rune/config`` of the machine is read), with
this interpreter's commands first on PATH. A ```text block right after a code block is what the
code prints on stdout, exactly (the folder's path shows as ``~``). A block that cannot run here
says so in its first line: ``# not run by the tests: <the reason>``. A block that needs an optional
extra says so in a line of its own, ``# needs pip install 'runeq-fn[arrow,pandas]'``: the tests skip
it on a machine without them and fail in CI (``tests/extras.need``).
"""

from __future__ import annotations

import configparser
import os
import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
NOT_RUN = re.compile(r"# not run by the tests: (\S.*)")
NEEDS = re.compile(r"^# needs pip install 'runeq-fn\[([\w,]+)\]'$", re.M)
RUNNABLE = ("python", "sh")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page, and the output block that follows it, if any."""

    page: str
    line: int
    language: str
    code: str
    output: str | None

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def reason_not_run(self) -> str | None:
        """Why the block is not run, from its first line; None when it runs."""
        found = NOT_RUN.fullmatch(self.code.splitlines()[0]) if self.code.strip() else None
        return found.group(1) if found else None

    @property
    def needs(self) -> tuple[str, ...]:
        """The modules of the optional extras the block says it needs."""
        return tuple(module for found in NEEDS.findall(self.code) for extra in found.split(",")
                     for module in extra_modules(extra))


def extra_modules(extra: str) -> list[str]:
    """The modules setup.cfg's optional extra installs (as its distributions are named).

    >>> extra_modules("dask"), extra_modules("docs")
    (['dask'], ['mkdocs', 'mkdocstrings'])
    """
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    requirements = setup["options.extras_require"][extra].split()
    return [re.split(r"[\[<>=!~;]", requirement)[0].lower().replace("-", "_") for requirement in requirements]


def blocks(path: pathlib.Path) -> list[Block]:
    """The code blocks of a Markdown file, each with the text block that follows it."""
    text = path.read_text()
    found = list(FENCE.finditer(text))
    page = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    result = []
    for i, match in enumerate(found):
        language, code = match.group(1), match.group(2)
        if language not in RUNNABLE:
            continue
        after = found[i + 1] if i + 1 < len(found) else None
        follows = after is not None and after.group(1) == "text" and not text[match.end():after.start()].strip()
        line = text.count("\n", 0, match.start()) + 1
        result.append(Block(page, line, language, code, after.group(2) if follows else None))
    return result


def run(block: Block, folder: pathlib.Path, env: dict | None = None, python: object = None) -> subprocess.CompletedProcess:
    """Run a block in ``folder`` as a reader would; stdout and stderr are captured as text.

    ``env`` and ``python`` default to this environment: its variables, its interpreter, its commands first on PATH.
    """
    if env is None:
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    env = {**env, "HOME": str(folder)}
    if block.language == "python":
        script = folder / "example.py"
        script.write_text(block.code)
        argv = [str(python or sys.executable), str(script)]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def check(block: Block, folder: pathlib.Path, env: dict | None = None, python: object = None) -> None:
    """Run a block and check it ends well and prints what its page says it prints."""
    done = run(block, folder, env, python)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-3000:]}"
    if block.output is not None:
        assert done.stdout.replace(str(folder), "~") == block.output, f"{block.name} printed:\n{done.stdout}"
