"""The README, the front page: every code block runs as written (or says why not), and every link resolves."""

import re

import pytest
from docblocks import ROOT, blocks, check
from extras import need

README = ROOT / "README.md"
BLOCKS = blocks(README)


def test_the_readme_has_an_example_of_each_style_to_run():
    ran = [block for block in BLOCKS if block.reason_not_run is None]
    assert {block.language for block in ran} == {"python", "sh"} and len(ran) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_each_block_runs_or_says_why_not_and_leaves_nothing_out(block, tmp_path):
    assert "..." not in block.code and "…" not in block.code
    if block.reason_not_run is None:
        need(*block.needs)
        check(block, tmp_path)
    else:
        assert len(block.reason_not_run.split()) >= 3


def test_every_link_to_the_repository_resolves():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local and [link for link in local if not (ROOT / link).exists()] == []
