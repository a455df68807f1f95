"""The command line shows no secret on any error path, refuses a mistyped fetch option, and reports
a config path that is a folder, unreadable, or open to other users, from every command and the API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import yaml
from commands import run, run_as_anyone

from runeq_fn import Config, cli
from runeq_fn.emulator import Emulator
from runeq_fn.errors import ConfigError

S = "S3CRET-typed-4321"
FLAGS = ["--patient-id", "p1", "--device-id", "d1", "--start-time", "1609491600", "--end-time", "1609491602"]


def config_path(home: Path) -> Path:
    return home / ".rune" / "config"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["configure", "setup", "--access-token-id", "ID", "--access-token-secret", S, "--bogus"], "no option --bogus"),
        (["configure", "setup", "--access-token-secret", S, "--access-token-idd", "ID"],
         "no option --access-token-idd (did you mean --access-token-id?)"),
        (["configure", "setup", "ID", S, "extra"], "got an unexpected argument: it takes at most 2 arguments besides its flags, not 3"),
        (["configure", "setpu", "--access-token-secret", S], "runeq configure has no command by that name (did you mean setup?)"),
        (["configure", S], "runeq configure has no command by that name: use one of get, set, setup"),
        (["configure", "setup", "--access-token-id", "ID", "--access-token-secret", S, "--", "--trace"],
         "only --help may follow `--`"),
        (["configure", "setup", "--access-token-id", "ID", "--access-token-secret"], "--access-token-secret needs a value"),
        (["configure", "set", f"access_token_secret={S}", "--bogus"], "runeq configure set has no option --bogus"),
        (["configure", "set", "access_token_secret", S], "argument 1 has no '='"),
        (["configure", "get", "--reveal", S], "--reveal is a switch and takes no value"),
        (["fetch", "accel", "--emulator", "--resum", S], "did you mean --resume?"),
    ],
    ids=["unknown-flag", "close-flag", "extra-argument", "unknown-command", "secret-as-command", "fire-trace",
         "bare-secret-flag", "set-unknown-flag", "set-without-equals", "switch-with-value", "fetch-typo"],
)  # fmt: skip
def test_no_error_path_prints_a_secret_or_writes_anything(tmp_path: Path, args: list[str], fragment: str) -> None:
    done = run(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert S not in done.stdout + done.stderr
    assert done.stderr.startswith("runeq: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert fragment in done.stderr
    assert not config_path(tmp_path).exists() and not list(tmp_path.glob("*"))


@pytest.mark.parametrize("ask", [["--help"], ["-h"], ["--", "--help"]])
def test_help_asked_after_arguments_runs_nothing_and_shows_none_of_them(tmp_path: Path, ask: list[str]) -> None:
    done = run(tmp_path, "configure", "setup", "--access-token-id", "ID", "--access-token-secret", S, *ask)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NAME\n    runeq configure setup - Store a Rune access token")
    assert S not in done.stdout + done.stderr
    assert not config_path(tmp_path).exists()


def test_help_and_good_command_lines_still_pass(tmp_path: Path) -> None:
    assert run(tmp_path, "configure", "setup", "--help").returncode == 0
    assert run(tmp_path, "configure", "setup", "-h").returncode == 0
    done = run(tmp_path, "configure", "setup", "ID", S)  # both positional, as fire allows
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(config_path(tmp_path).read_text())["access_token_secret"] == S
    assert run(tmp_path, "configure", "get", "access_token_secret", "--reveal").stdout == f"access_token_secret: {S}\n"
    assert run(tmp_path, "configure", "set", "--", "--help").returncode == 0


# -- runeq fetch: typed options, unknown parameters ----------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [(["--resum"], "--resume"), (["--ouptut", "x.csv"], "--output"), (["--formt", "json"], "--format"),
     (["--out", "x.csv"], "--output"), (["--emulatr"], "--emulator")],
)  # fmt: skip
def test_a_mistyped_fetch_option_is_refused_not_sent(tmp_path: Path, capsys, monkeypatch, typo, meant) -> None:
    monkeypatch.chdir(tmp_path)
    with Emulator() as emu:
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(emu.config_values()))
        config.chmod(0o600)
        with pytest.raises(SystemExit) as stop:
            cli.main(["fetch", "accel", *FLAGS, *typo, "--config", str(config)])
        assert emu.requests == []  # refused before any request
    assert stop.value.code == 2
    assert f"is not an option of runeq fetch: did you mean {meant}?" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml"]


def test_an_unknown_parameter_is_sent_with_a_one_line_warning(tmp_path: Path, capsys) -> None:
    with Emulator() as emu:
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(emu.config_values()))
        config.chmod(0o600)
        out = tmp_path / "x.csv"
        cli.main(["fetch", "probability_symptom", *FLAGS, "--symptom", "tremor", "--colour", "blue",
                  "--severty", "*", "--output", str(out), "--config", str(config)])  # fmt: skip
        sent = dict(emu.requests[0].params)
    assert (sent["colour"], sent["severty"], sent["symptom"]) == ("blue", "*", "tremor")
    *warnings, summary = capsys.readouterr().err.splitlines()
    assert warnings == [
        "runeq: --colour is not a Stream API V1 parameter: sent as typed",
        "runeq: --severty is not a Stream API V1 parameter: sent as typed (did you mean --severity?)",
    ]
    assert summary.startswith("runeq fetch: 1 pages, ")  # the pull's one-line summary
    assert out.exists()


# -- config paths that cannot be used, or are open to others ---------------------------------------


def test_a_config_path_that_is_a_folder_is_one_clear_line_everywhere(tmp_path: Path) -> None:
    folder = config_path(tmp_path)
    folder.mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a folder, not a file: give the file in it") as err:
        Config(str(folder))
    assert "\n" not in str(err.value)
    for args in (["configure", "get"], ["configure", "set", "retries=2"], ["configure", "setup", "--access-token-id",
                 "ID", "--access-token-secret", S], ["fetch", "accel", "--config", str(folder)]):  # fmt: skip
        done = run(tmp_path, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"runeq: error: config file {folder} is a folder, not a file: give the file in it " \
                              f"(e.g. {folder}/config)\n"  # fmt: skip
        assert folder.is_dir() and list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [["configure", "get"], ["configure", "set", "retries=2"], ["configure", "setup", "--access-token-id", "ID",
     "--access-token-secret", S], ["fetch", "accel", "--config", ".rune/config"]],
    ids=["get", "set", "setup", "fetch"],
)  # fmt: skip
def test_an_unreadable_config_file_is_one_clear_line_and_is_never_reset(tmp_path: Path, args: list[str]) -> None:
    path = config_path(tmp_path)
    path.parent.mkdir()
    path.write_text("access_token_id: old\naccess_token_secret: old-secret-1234\n")
    path.chmod(0o000)
    done = run_as_anyone(tmp_path, *[str(path) if arg == ".rune/config" else arg for arg in args])
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"runeq: error: config file {path} cannot be read: permission denied; make it yours and readable by you "
        f"(chown, then chmod 600 {path})\n"
    )
    path.chmod(0o600)
    assert path.read_text() == "access_token_id: old\naccess_token_secret: old-secret-1234\n"


def test_an_unreadable_config_file_is_a_config_error_from_the_api(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("jwt: not-a-real-jwt\n")
    path.chmod(0o000)
    code = f"from runeq_fn import Config\ntry:\n    Config({str(path)!r})\nexcept ValueError as e:\n    print(type(e).__name__, e)"
    done = run_as_anyone(tmp_path, sys.executable, "-c", code)
    assert done.stdout == f"ConfigError config file {path} cannot be read: permission denied; " \
                          f"make it yours and readable by you (chown, then chmod 600 {path})\n", done.stderr  # fmt: skip


def test_a_config_file_others_can_read_is_used_with_a_warning_naming_chmod_600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_path(tmp_path)
    path.parent.mkdir()
    path.write_text("jwt: not-a-real-jwt\n")
    path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="runeq_fn.config")
    assert Config(str(path)).auth_method == "jwt"
    warning = f"config file {path} can be read by other users, and it holds credentials: run chmod 600 {path}"
    assert caplog.messages == [warning]
    for args in (["configure", "get", "jwt"], ["configure", "set", "retries=2"]):
        done = run(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert done.stderr == warning + "\n"
    with Emulator() as emu:
        path.write_text(yaml.safe_dump(emu.config_values()))
        path.chmod(0o644)  # `configure set` above wrote it back private
        done = run(tmp_path, "fetch", "heartrate", *FLAGS, "--config", str(path))
    assert done.returncode == 0 and done.stdout.startswith("time,bpm\n")
    assert done.stderr.startswith(warning + "\nruneq fetch: 1 pages, ")  # then the pull's summary line
    path.chmod(0o644)
    done = run(tmp_path, "configure", "setup", "--access-token-id", "ID", "--access-token-secret", S)
    assert done.returncode == 0 and done.stderr == warning + "\n"
    assert run(tmp_path, "configure", "get", "jwt").stderr == ""  # setup wrote it back private (0600)


@pytest.mark.parametrize("key", ["access-token-secret", "jwt", "cognito_refresh_token", "client-access-key", "retries"])
@pytest.mark.parametrize("source", ["config", "emulator"])
def test_a_config_key_given_to_fetch_is_refused_never_sent_nor_shown(tmp_path: Path, capsys, monkeypatch, key,
                                                                      source) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    secret = "SEKRETY123456"
    with Emulator() as emu:
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(emu.config_values()))
        config.chmod(0o600)
        where = ["--config", str(config)] if source == "config" else ["--emulator"]
        with pytest.raises(SystemExit) as stop:
            cli.main(["fetch", "accel", *FLAGS, f"--{key}", secret, "--output", "a.csv", *where])
        assert emu.requests == []  # refused before any request
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    shown = "--" + key.replace("_", "-")
    assert err == f"runeq: error: {shown} is a config key, not a query parameter: put credentials and settings " \
                  "in the config (runeq configure setup) or pass --config FILE\n"  # fmt: skip
    assert secret not in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml"]
