"""Every module and name the prose mentions is where it says (README, changelog, docs, examples, docstrings).

Modules move (the flat package became subpackages by layer); a docstring or page
that still says ``shards.MARGIN`` or ``runeq_fn.sinks.dask.known_columns`` sends
a reader to a place where the name is not defined. Three kinds of mention are
checked: a dotted path (``runeq_fn.pull.windows.MARGIN``), a file of the package
(``runeq_fn/pull/cut.py``), and a code span of a module's short name and a name
in it (``windows.MARGIN``, ``options.pull_options``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from types import ModuleType

from docblocks import ROOT
from test_layers import module_files

import runeq_fn

PACKAGE = Path(runeq_fn.__file__).parent

OUTSIDE = {"http.client", "dask.dataframe", "dask.distributed"}
"""Code spans of other libraries whose first word is also the short name of a module of ours."""


def prose_files() -> list[Path]:
    """The files that name modules: the package's source (docstrings, comments), all else but the tests."""
    patterns = ["README.md", "CHANGELOG.md", "Makefile", "mkdocs.yml", "setup.cfg", "pyproject.toml",
                "docs/**/*.md", "docs/*.py", "examples/*.py", "bench/*.py", "bench/*.md", "runeq_fn/**/*.py"]
    return sorted({path for pattern in patterns for path in ROOT.glob(pattern)})


def mentions(pattern: re.Pattern[str]) -> list[tuple[str, re.Match[str]]]:
    """Each match of ``pattern`` in the prose files, with where it is (``FILE:LINE``)."""
    return [
        (f"{path.relative_to(ROOT)}:{number}", match)
        for path in prose_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in pattern.finditer(line)
    ]


def top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module's statements at its top level, those inside ``if``, ``try`` and ``with`` blocks included."""
    found = []
    for node in body:
        found.append(node)
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                found.extend(top_level(getattr(node, block, [])))
    return found


@cache
def names_in(path: Path) -> frozenset[str]:
    """What a module of ours holds: the names it defines; for a package, its submodules and imports too.

    >>> {"Emulator", "server"} <= names_in(PACKAGE / "emulator" / "__init__.py")
    True
    >>> "pull_options" in names_in(PACKAGE / "pull" / "shards.py")  # imported there, defined in options
    False
    """
    names = set()
    for node in top_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name))
        elif path.name == "__init__.py" and isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    if path.name == "__init__.py":
        folder = path.parent
        names.update(p.stem for p in folder.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists())
    return frozenset(names)


@cache
def class_attributes() -> dict[str, frozenset[str]]:
    """The methods and fields of each class of ours, by the class's name in lower case."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in module_files().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found[node.name.lower()].add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        found[node.name.lower()].add(item.target.id)
    return {name: frozenset(attributes) for name, attributes in found.items()}


def reached(dotted: str) -> str | None:
    """What is wrong with a dotted mention of the package, or None when it names what is there.

    A function or class reached through a plain module must be defined in it, not imported into it;
    a package (``runeq_fn``, ``runeq_fn.emulator``) may hand on what it imports: that is its public face.

    >>> reached("runeq_fn.pull.windows.MARGIN"), reached("runeq_fn.emulator.Emulator")
    (None, None)
    >>> reached("runeq_fn.pull.shards.MARGIN"), reached("runeq_fn.pull.shards.plan_windows")
    ('runeq_fn.pull.shards has no MARGIN', 'plan_windows is defined in runeq_fn.pull.windows')
    """
    parts = dotted.split(".")
    known = module_files()
    depth = max(i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in known)
    module = ".".join(parts[:depth])
    if depth == len(parts):
        return None
    try:
        value: object = importlib.import_module(module)
    except ImportError:  # an optional extra this environment lacks
        return None
    for at, name in enumerate(parts[depth:], depth):
        if not hasattr(value, name):
            return f"{'.'.join(parts[:at])} has no {name}"
        owner, value = value, getattr(value, name)
        if isinstance(owner, ModuleType) and not known[owner.__name__].name == "__init__.py":
            home = getattr(inspect.unwrap(value), "__module__", None) if callable(value) else None
            if home is not None and home != owner.__name__ and home.startswith("runeq_fn"):
                return f"{name} is defined in {home}"
    return None


def test_every_dotted_name_of_the_package_is_where_it_is_said_to_be():
    wrong = {
        f"{where}: {match.group()}": problem
        for where, match in mentions(re.compile(r"\bruneq_fn(?:\.[A-Za-z_]\w*)+"))
        if (problem := reached(match.group().rstrip("."))) is not None
    }
    assert wrong == {}


def test_every_file_of_the_package_named_exists():
    missing = [
        f"{where}: {match.group()}"
        for where, match in mentions(re.compile(r"\bruneq_fn/[\w/]*\w(?:\.py|\.typed)?"))
        if not (ROOT / match.group()).exists()
    ]
    assert missing == []


def test_every_module_named_short_holds_the_name_said_to_be_in_it():
    """``windows.MARGIN``: a module of that short name defines it (``stats.pages``: a ``Stats`` has pages)."""
    by_short: dict[str, list[Path]] = defaultdict(list)
    for dotted, path in module_files().items():
        by_short[dotted.rsplit(".", 1)[-1]].append(path)
    wrong = [
        f"{where}: {match.group()}"
        for where, match in mentions(re.compile(r"`+([a-z_]\w*)\.([A-Za-z_]\w*)`+"))
        if (short := match.group(1)) in by_short
        and f"{short}.{match.group(2)}" not in OUTSIDE
        and match.group(2) not in ("py", "md")
        and not any(match.group(2) in names_in(path) for path in by_short[short])
        and match.group(2) not in class_attributes().get(short, ())
    ]
    assert wrong == []


def test_the_checks_see_a_name_said_to_be_where_it_is_not():
    assert reached("runeq_fn.sinks.dask.known_columns") == "known_columns is defined in runeq_fn.resources"
    assert reached("runeq_fn.export") == "runeq_fn has no export"
    assert not (ROOT / "runeq_fn/cli.py").exists()
    assert "unshardable" not in names_in(PACKAGE / "pull" / "shards.py")
    assert "resume_at" not in names_in(PACKAGE / "parse" / "__init__.py")


def test_each_subpackage_s_docstring_names_each_of_its_modules():
    """Each subpackage's docstring names each of its modules: one moved in or out without a word shows."""
    unnamed = {}
    for package in (path.parent for path in PACKAGE.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
        named = set(re.findall(r"``(?:runeq_fn\.\w+\.)?(\w+)", docstring))
        inside = {path.stem for path in package.glob("*.py")} - {"__init__", "__main__"}
        if inside - named:
            unnamed[package.name] = sorted(inside - named)
    assert unnamed == {}


def test_the_architecture_page_names_every_module_a_pull_goes_down_through():
    """docs/architecture.md follows one pull through http, pull and parse: it names each of their modules."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:runeq_fn/\w+/)?(\w+)\.py`", page))
    layers = [PACKAGE / "http", PACKAGE / "pull", PACKAGE / "parse"]
    modules = [f"{path.parent.name}/{path.stem}" for layer in layers for path in layer.glob("*.py")]
    assert sorted(m for m in modules if m.split("/")[1] not in named | {"__init__"}) == []
