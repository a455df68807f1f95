"""A griffe extension for the API pages: each ``>>>`` example of a docstring shown as code.

Docstrings hold doctests (they run in the tests), which Markdown would read as nested
quotes; fenced as ``pycon``, they show as the session they are.

>>> fenced("Add one.\\n\\n>>> 1 + 1\\n2\\n\\nDone.").split("\\n")
['Add one.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
"""

from __future__ import annotations

from typing import Any

import griffe


def fenced(text: str) -> str:
    """The docstring's text with each run of doctest lines (to the next blank line) fenced."""
    out: list[str] = []
    indent = None
    for line in text.split("\n"):
        if indent is None and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
        elif indent is not None and not line.strip():
            out.append(f"{indent}```")
            indent = None
        out.append(line)
    if indent is not None:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestsAsCode(griffe.Extension):
    """Fence the doctests of every object's docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced(obj.docstring.value)
