"""Help at the prompt: ``help(runeq_fn)`` and ``dir`` list the whole public API, with real signatures."""

import ast
import inspect
import pathlib
import re
import subprocess
import sys

import runeq_fn

PACKAGE = pathlib.Path(runeq_fn.__file__).parent


def test_dir_lists_every_public_name_including_those_loaded_on_first_use():
    assert set(runeq_fn.__all__) <= set(dir(runeq_fn))
    assert set(runeq_fn.LAZY) <= set(runeq_fn.__all__)


def test_the_module_docstring_lists_exactly_the_public_names():
    listing = runeq_fn.__doc__.split("(``__all__``):")[1].split("\n\n")[1]
    named = [re.findall(r"``(\w+)``", line.split(": ")[0]) for line in listing.splitlines() if line.startswith("- ")]
    assert sorted(sum(named, [])) == sorted(runeq_fn.__all__)


def test_help_shows_every_public_function_and_imports_no_optional_extra():
    code = (
        "import pydoc, sys, runeq_fn; text = pydoc.render_doc(runeq_fn, renderer=pydoc.plaintext); "
        "print(' '.join(n for n in runeq_fn.__all__ if n + '(' not in text and 'class ' + n not in text)); "
        "print(' '.join(m for m in ('pandas', 'pyarrow', 'numpy', 'dask') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    missing, extras = done.stdout.split("\n")[:2]
    assert missing.split() == ["errors", "stream"]  # modules, listed among the package's contents
    assert extras == ""


def test_public_callables_show_their_own_signatures():
    for name in runeq_fn.__all__:
        value = getattr(runeq_fn, name)
        if callable(value):
            assert "__no__default__" not in str(inspect.signature(value)), name
    curried = runeq_fn.build_request(runeq_fn.Config(access_token_id="i", access_token_secret="s"), "accel", "csv")
    assert str(inspect.signature(curried)).startswith("(params: 'Mapping[str, Any]', defaults")


def docstrings(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield ast.get_docstring(node) or ""
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            yield node.value.value  # attribute docstrings


def test_no_docstring_sends_users_to_a_file_they_do_not_have():
    """SPEC.md, DESIGN.md, the README and the tests are not in the installed package."""
    unknown = re.compile(r"SPEC\b|SPEC\.md|DESIGN|README|tests/|bench/")
    found = [
        f"{path.relative_to(PACKAGE)}: {match.group()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for text in docstrings(path)
        for match in unknown.finditer(text)
    ]
    assert found == []
