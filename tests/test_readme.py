"""The README's self-contained examples (those that start an emulator) run as written."""

import pathlib
import re

import pytest

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S) if "Emulator(" in b]


def test_the_readme_has_runnable_examples():
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.strip().splitlines()[0][:40])
def test_readme_example_runs(block, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    for expected in re.findall(r"# (\d+ \d+)", block):
        assert expected in capsys.readouterr().out
