"""The documentation site builds with MkDocs, warnings as errors, and its generated pages follow the code."""

import html
import re
import subprocess
import sys

from docblocks import ROOT

from runeq_fn.config import KNOWN_KEYS
from runeq_fn.resources import COMMON_PARAMETERS, RESOURCES


def page_text(site, page):
    """A built page's text, without its markup."""
    return html.unescape(re.sub(r"<[^>]+>", " ", (site / page / "index.html").read_text()))


def test_the_site_builds_strictly_with_pages_made_from_the_code(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    resources = page_text(site, "resources")
    for r in RESOURCES:
        assert r.accessor in resources and r.summary in resources
        for name, meaning in COMMON_PARAMETERS + r.parameters:
            assert name in resources and meaning in resources
    assert "## 0.1.0" in (ROOT / "CHANGELOG.md").read_text() and "0.1.0 (unreleased)" in page_text(site, "changelog")
    api = page_text(site, "api")
    for name in ("build_request", "to_dataframe", "V1Client", "read_points", "sharded_pages", "Emulator"):
        assert name in api


def test_the_configuration_page_names_every_key():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert {key for key in KNOWN_KEYS if f"`{key}`" not in page} == set()
