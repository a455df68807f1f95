"""What a new user meets first: the version, the second script name, the licence and the changelog."""

import configparser
import pathlib

from commands import run

import runeq_fn

ROOT = pathlib.Path(__file__).parent.parent


def test_version_flag_prints_the_package_version(tmp_path):
    for flag in ("--version", "-V"):
        done = run(tmp_path, flag)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"runeq-fn {runeq_fn.__version__}\n", "")


def test_both_script_names_run_the_same_command_line():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = dict(
        line.replace(" ", "").split("=") for line in setup["options.entry_points"]["console_scripts"].split("\n") if line
    )
    assert scripts == {"runeq": "runeq_fn.cli:main", "runeq-fn": "runeq_fn.cli:main"}
    assert setup["metadata"]["version"] == "attr: runeq_fn.__version__"


def test_the_licence_is_the_one_setup_cfg_names():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "runeq-fn developers" in text


def test_the_changelog_has_an_entry_for_this_version():
    assert f"## {runeq_fn.__version__}" in (ROOT / "CHANGELOG.md").read_text()
