"""Every code block of the site (docs/) runs as written, against the emulator, and prints what it says."""

import pytest
from docblocks import ROOT, blocks, check
from extras import need

PAGES = sorted((ROOT / "docs").rglob("*.md"))
BLOCKS = [block for page in PAGES for block in blocks(page)]
RUN = [block for block in BLOCKS if block.reason_not_run is None]


def test_the_site_has_blocks_to_run():
    assert len(RUN) >= 20


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_no_block_leaves_anything_out(block):
    """A reader copies a block whole: no ``...`` standing for code, no placeholder to fill in silently."""
    assert "..." not in block.code and "…" not in block.code


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.reason_not_run is not None], ids=lambda b: b.name)
def test_a_block_not_run_says_why(block):
    assert len(block.reason_not_run.split()) >= 3


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.name)
def test_block_runs_as_written(block, tmp_path):
    need(*block.needs)
    check(block, tmp_path)
