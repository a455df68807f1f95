"""The documentation site builds with MkDocs, warnings as errors, and its generated pages follow the code."""

import html
import re
import subprocess
import sys

import pytest
from docblocks import ROOT, blocks, check, extra_modules
from extras import need
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn.config.keys import KNOWN_KEYS
from runeq_fn.emulator.data import seed_of, wear_windows
from runeq_fn.resources import COMMON_PARAMETERS, RESOURCES


def page_text(site, page):
    """A built page's text, without its markup."""
    return html.unescape(re.sub(r"<[^>]+>", " ", (site / f"{page}.html").read_text()))


def test_the_site_builds_strictly_with_pages_made_from_the_code(tmp_path):
    need(*extra_modules("docs"))
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # not --quiet: it hides the warnings of mkdocstrings' cross-references from --strict too
    assert done.returncode == 0 and "WARNING" not in done.stderr, done.stderr
    resources = page_text(site, "resources")
    for r in RESOURCES:
        assert r.accessor in resources and r.summary in resources
        for name, meaning in COMMON_PARAMETERS + r.parameters:
            assert name in resources and meaning in resources
    assert "## 0.1.0" in (ROOT / "CHANGELOG.md").read_text() and "0.1.0 (unreleased)" in page_text(site, "changelog")
    api = page_text(site, "api")
    for name in ("build_request", "to_dataframe", "V1Client", "read_points", "sharded_pages", "Emulator"):
        assert name in api


def site_module(name):
    """A module of the site's own code (docs/NAME.py): it needs the docs extra."""
    import importlib.util

    need(*extra_modules("docs"))
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_doctests_of_the_site_s_own_code_run():
    import doctest

    assert doctest.testmod(site_module("hooks")).failed == 0
    result = doctest.testmod(site_module("griffe_doctests"))
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("resource", [r.name for r in RESOURCES])
def test_the_example_of_each_resource_pulls_some_of_it(resource, tmp_path):
    page = tmp_path / "resources.md"
    page.write_text(site_module("hooks").resources_page())
    (block,) = [b for b in blocks(page) if f"runeq fetch {resource} " in b.code]
    folder = tmp_path / "run"
    folder.mkdir()
    check(block, folder)
    assert len((folder / block.code.split("--output ")[1].split()[0]).read_text().splitlines()) >= 2


def test_the_configuration_page_names_every_key():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert {key for key in KNOWN_KEYS if f"`{key}`" not in page} == set()


def test_troubleshooting_has_a_section_for_each_error_class():
    import runeq_fn.sinks.parquet
    from runeq_fn import errors

    classes = {
        name for module in (errors, runeq_fn.sinks.parquet) for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, errors.RuneError)
    }
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert classes == set(re.findall(r"^## (\w+Error)$", page, flags=re.M))


@given(st.text(max_size=8), st.text(max_size=8), st.integers(18263, 18263 + 3650))
def test_the_emulator_wear_windows_are_as_the_emulator_page_says(patient, device, day):
    """docs/tasks/emulator.md: mornings start 08:00-08:55 and end 11:00-11:55; afternoons 13:00-14:55 to 18:00-19:55."""
    (morning, afternoon) = wear_windows(seed_of(patient, device), day)
    minutes = [(t - day * 86400) // 60 for t in (*morning, *afternoon)]
    assert 8 * 60 <= minutes[0] <= 8 * 60 + 55 and 11 * 60 <= minutes[1] <= 11 * 60 + 55
    assert 13 * 60 <= minutes[2] <= 14 * 60 + 55 and 18 * 60 <= minutes[3] <= 19 * 60 + 55
    assert all(minute % 5 == 0 for minute in minutes)
