"""What a new user meets first: the version, the second script name, the licence and the changelog."""

import configparser
import os
import pathlib
import subprocess
import sys

from commands import run

import runeq_fn

ROOT = pathlib.Path(__file__).parent.parent


def test_version_flag_prints_the_package_version(tmp_path):
    for flag in ("--version", "-V"):
        done = run(tmp_path, flag)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"runeq-fn {runeq_fn.__version__}\n", "")


def test_python_m_runs_the_command_line_without_a_script(tmp_path):
    """``python -m runeq_fn.cli`` is the command line where no script is installed (tests/commands.py falls back to it)."""
    done = subprocess.run([sys.executable, "-m", "runeq_fn.cli", "--version"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
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


def dependency_closure(name):
    """The installed distributions ``name`` needs to run (no extras), itself left out."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    found, todo = {}, [name]
    while todo:
        for line in distribution(todo.pop()).requires or []:
            requirement = Requirement(line)
            if (requirement.marker is None or requirement.marker.evaluate({"extra": ""})) and (
                requirement.name.lower() not in found
            ):
                found[requirement.name.lower()] = distribution(requirement.name)
                todo.append(requirement.name)
    return found.values()


def copy_distribution(dist, site_packages):
    """Put an installed distribution's files into another environment, as pip would have."""
    import shutil

    for file in dist.files:
        source = pathlib.Path(dist.locate_file(file))
        if file.parts[0] != ".." and source.is_file():  # scripts outside site-packages are not needed
            (site_packages / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site_packages / file)


def test_the_wheel_installs_into_a_fresh_venv_and_the_quickstart_runs(tmp_path):
    """The wheel, with only the dependencies setup.cfg declares, gives both commands and runs the quickstart.

    Offline: the wheel is built without build isolation, and the dependencies are copied from the
    environment running the tests (their closure by the wheel's own metadata, nothing else).
    """
    import shutil
    import subprocess
    import sys

    from docblocks import blocks, check

    source = tmp_path / "source"
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "runeq_fn", source / "runeq_fn", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source],
                   check=True, timeout=120, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("runeq_fn-*.whl")
    assert wheel.name == f"runeq_fn-{runeq_fn.__version__}-py3-none-any.whl"
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert {"runeq_fn/py.typed", "runeq_fn/emulator/server.py"} <= set(names)  # docs/install.md says so
    assert any(name.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in name for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], check=True, timeout=120)
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    for dist in dependency_closure("runeq-fn"):
        copy_distribution(dist, site_packages)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([*pip, "--python", python, "check"], check=True, timeout=60, env=env)

    home = tmp_path / "home"
    home.mkdir()
    for script in ("runeq", "runeq-fn"):
        done = subprocess.run([venv / "bin" / script, "--version"], capture_output=True, text=True, env=env,
                              cwd=home, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"runeq-fn {runeq_fn.__version__}\n")
    where = subprocess.run([python, "-c", "import runeq_fn; print(runeq_fn.__file__)"], capture_output=True,
                           text=True, env=env, cwd=home, check=True, timeout=60)
    assert where.stdout.startswith(str(site_packages))

    quickstart = [b for b in blocks(ROOT / "docs" / "quickstart.md") if b.reason_not_run is None]
    assert quickstart
    path = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    for block in quickstart:
        folder = tmp_path / f"block{block.line}"
        folder.mkdir()
        check(block, folder, {**env, "PATH": path}, python)
