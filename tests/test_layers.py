"""The shape of the package: its imports point one way, and the emulator stands alone.

The graph is read from the source with ``ast``: every import, the ones inside
functions (lazy) and under ``TYPE_CHECKING`` included, so a circle cannot hide
in a function body. ``from . import x`` imports the module ``x`` (an edge to
``x``, not to the package); the import of a module's parent packages, which
Python makes first, is not an edge (every module would otherwise sit in a
circle with any ``__init__`` that imports a submodule).
"""

from __future__ import annotations

import ast
import re
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import runeq_fn

ROOT = Path(runeq_fn.__file__).parent


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Each module of the package by its dotted name (a package by its own name, not ``.__init__``)."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names an import statement of ``module`` imports (candidates: modules or names in them)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1] if node.level else []
    target = ".".join([*base, *([node.module] if node.module else [])])
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its source."""
    files = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = imported(name, path, node)
            if isinstance(node, ast.ImportFrom):
                target, members = names[0], names[1:]
                submodules = [m for m in members if m in files]
                # `from P import m` of a submodule m imports m; of any other name, P itself
                names = submodules + ([target] if len(submodules) < len(members) else [])
            graph[name].update(n for n in names if n in files and n != name)
    return graph


def outside_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the top-level names of what it imports from outside the package (absolute imports)."""
    found: dict[str, set[str]] = {}
    for name, path in module_files(root).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.setdefault(name, set()).update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.setdefault(name, set()).add(node.module.split(".")[0])
    return found


def test_the_graph_counts_lazy_imports_and_from_dot_import_of_a_submodule():
    graph = import_graph()
    assert "runeq_fn.sync" in graph["runeq_fn.cli.sync"]  # imported inside sync_command only
    assert "runeq_fn.emulator.data" in graph["runeq_fn.emulator.resources"]  # `from . import data`
    assert "runeq_fn.emulator" not in graph["runeq_fn.emulator.resources"]
    assert "runeq_fn.emulator.server" in graph["runeq_fn.emulator"]  # `from .server import Emulator`


def test_imports_point_one_way():
    """No circle among runeq_fn's modules, lazy imports included: a lower module never reaches a higher one."""
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"an import circle: {' -> '.join(reversed(exc.args[1]))}") from None
    assert order.index("runeq_fn.errors") < order.index("runeq_fn.config.network") < order.index("runeq_fn.http.transport")


def readme_layers(text: str) -> tuple[tuple[str, ...], ...]:
    """The modules of each row of README's architecture table, lowest layer first.

    >>> readme_layers("## Architecture\\n\\n| layer | modules | what |\\n|---|---|---|\\n| a | `x.y`, `x` | t |\\n\\nprose")
    (('x.y', 'x'),)
    """
    section = text.split("## Architecture", 1)[1]
    table = section[section.index("\n|") + 1 :].split("\n\n", 1)[0].splitlines()
    return tuple(tuple(re.findall(r"`([\w.]+)`", row.split("|")[2])) for row in table[2:])


LAYERS = readme_layers((ROOT.parent / "README.md").read_text(encoding="utf-8"))
"""The package's layers, lowest first, as README's architecture table gives them.

The emulator stands beside them all: anyone may start it, it imports none of them.
"""


def layer_of(module: str) -> int | None:
    """The index in ``LAYERS`` of the longest prefix naming the module (None for the emulator, or a module of none).

    >>> layer_of("runeq_fn.pull.shards"), layer_of("runeq_fn"), layer_of("runeq_fn.emulator.server")
    (4, 7, None)
    """
    if module == "runeq_fn.emulator" or module.startswith("runeq_fn.emulator."):
        return None
    prefixes = [(len(p), i) for i, layer in enumerate(LAYERS) for p in layer if module == p or module.startswith(p + ".")]
    return max(prefixes, default=(0, None))[1]


def test_the_readme_table_names_every_layer_in_order():
    assert [layer[0] for layer in LAYERS] == [
        "runeq_fn.errors", "runeq_fn.config", "runeq_fn.http", "runeq_fn.parse",
        "runeq_fn.pull", "runeq_fn.sinks", "runeq_fn.sync", "runeq_fn.stream",
    ]


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_ones():
    graph = import_graph()
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if layer_of(module) is not None and layer_of(target) is not None and layer_of(target) > layer_of(module)
    )
    assert upward == []
    unplaced = [m for m in graph if layer_of(m) is None and not (m == "runeq_fn.emulator" or m.startswith("runeq_fn.emulator."))]
    assert unplaced == []


def test_the_layer_rule_sees_an_upward_import(tmp_path):
    package = tmp_path / "runeq_fn"
    (package / "http").mkdir(parents=True)
    (package / "pull").mkdir()
    for name in ("__init__.py", "http/__init__.py", "pull/__init__.py", "pull/pages.py"):
        (package / name).write_text("")
    (package / "http" / "transport.py").write_text("from ..pull import pages\n")
    graph = import_graph(package)
    assert "runeq_fn.pull.pages" in graph["runeq_fn.http.transport"]
    assert layer_of("runeq_fn.pull.pages") > layer_of("runeq_fn.http.transport")


def test_the_emulator_imports_nothing_of_the_client():
    """runeq_fn.emulator imports only itself and the standard library (and pytest, in its fixture module).

    It is the server the client is tested against: sharing code with the client
    would let a bug on one side hide the same bug on the other.
    """
    emulator = {name for name in module_files() if name == "runeq_fn.emulator" or name.startswith("runeq_fn.emulator.")}
    graph = import_graph()
    client = {name: sorted(graph[name] - emulator) for name in sorted(emulator) if graph[name] - emulator}
    assert client == {}
    allowed = set(sys.stdlib_module_names) | {"__future__", "runeq_fn"}
    others = {
        name: sorted(tops - allowed - ({"pytest"} if name == "runeq_fn.emulator.fixture" else set()))
        for name, tops in outside_imports().items()
        if name in emulator
    }
    assert {name: tops for name, tops in others.items() if tops} == {}
