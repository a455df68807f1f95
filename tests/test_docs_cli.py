"""The command-line page names every command and every option that ``--help`` lists, and no other."""

import inspect
import re

import pytest
from commands import run
from docblocks import ROOT

from runeq_fn.cli import Runeq

PAGE = (ROOT / "docs" / "cli.md").read_text()


def commands(target=None, words=("runeq",)):
    """Every command of the command line, as its words (``runeq configure setup``)."""
    target = Runeq() if target is None else target
    for name in sorted(n for n in dir(target) if not n.startswith("_")):
        value = getattr(target, name)
        if inspect.ismethod(value):
            yield " ".join((*words, name))
        else:
            yield from commands(value, (*words, name))


def section(command):
    """The page's section about one command."""
    parts = re.split(r"^## ", PAGE, flags=re.M)
    (found,) = [part for part in parts if part.splitlines()[0] == command]
    return found


def test_the_page_has_a_section_for_each_command_and_no_other():
    sections = re.findall(r"^## (runeq .*)$", PAGE, flags=re.M)
    assert sorted(sections) == sorted(commands())


@pytest.mark.parametrize("command", list(commands()))
def test_each_option_of_help_is_documented(command, tmp_path):
    done = run(tmp_path, *command.split()[1:], "--help")
    assert done.returncode == 0
    listed = {name.replace("_", "-") for name in re.findall(r"^\s+(?:-\w, )?--(\w+)=", done.stdout, flags=re.M)}
    documented = set(re.findall(r"^\| `--([\w-]+)", section(command), flags=re.M))
    assert documented == listed
