"""The ``runeq`` command, run for real in a subprocess with ``HOME`` in a temporary folder.

The interactive paths of ``configure setup`` need a terminal, so they run
in-process with the prompts answered by a script.
"""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from commands import emulator_process, run

from runeq_fn import cli

TOKEN = ["--access-token-id", "my-token-id", "--access-token-secret", "my-token-secret-1234"]


def config_file(home: Path) -> Path:
    return home / ".rune" / "config"


def write_config(home: Path, text: str) -> Path:
    path = config_file(home)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)  # as `runeq configure` writes it: no warning about other readers
    return path


def read_config(home: Path) -> dict:
    return yaml.safe_load(config_file(home).read_text())


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2 and one line on stderr, naming each fragment, without a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("runeq: error: ")
    assert result.stderr.count("\n") == 1
    for fragment in fragments:
        assert fragment in result.stderr


# -- configure setup --------------------------------------------------------------------------


def test_setup_with_flags_writes_a_private_file(tmp_path: Path) -> None:
    result = run(tmp_path, "configure", "setup", *TOKEN)
    assert result.returncode == 0, result.stderr
    path = config_file(tmp_path)
    assert str(path) in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config(tmp_path) == {"access_token_id": "my-token-id", "access_token_secret": "my-token-secret-1234"}


def test_setup_twice_keeps_other_keys(tmp_path: Path) -> None:
    write_config(tmp_path, "stream_url: http://127.0.0.1:9\nretries: 2\n")
    assert run(tmp_path, "configure", "setup", *TOKEN).returncode == 0
    result = run(tmp_path, "configure", "setup", "--access-token-id", "1e5", "--access-token-secret", "0x10")
    assert result.returncode == 0, result.stderr
    assert read_config(tmp_path) == {
        "access_token_id": "1e5",  # as typed: fire must not read it as a number
        "access_token_secret": "0x10",
        "retries": 2,
        "stream_url": "http://127.0.0.1:9",
    }


def test_setup_over_another_kind_of_credential_names_the_auth_method(tmp_path: Path) -> None:
    write_config(tmp_path, "jwt: some.jwt.value\n")
    assert run(tmp_path, "configure", "setup", *TOKEN).returncode == 0
    assert read_config(tmp_path)["auth_method"] == "access_token"


def test_setup_without_a_terminal_needs_both_flags(tmp_path: Path) -> None:
    result = run(tmp_path, "configure", "setup", "--access-token-id", "only-the-id")
    assert_user_error(result, "--access-token-id", "--access-token-secret")
    assert not config_file(tmp_path).exists()


def test_setup_resets_a_malformed_file_when_flags_are_given(tmp_path: Path) -> None:
    path = write_config(tmp_path, "- a list\n- not a mapping\n")
    result = run(tmp_path, "configure", "setup", *TOKEN)
    assert result.returncode == 0, result.stderr
    assert f"resetting {path}" in result.stderr
    assert read_config(tmp_path)["access_token_id"] == "my-token-id"


class Terminal(io.StringIO):
    """A stdin that claims to be a terminal; the answers come from a patched ``input``."""

    def isatty(self) -> bool:
        return True


@dataclass
class Script:
    """Answers for the prompts of an in-process ``runeq``, in order, and the prompts seen."""

    answers: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)

    def answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Script:
    """A terminal session: HOME in tmp_path, stdin a terminal, input and getpass scripted."""
    session = Script()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", session.answer)
    monkeypatch.setattr("getpass.getpass", session.answer)
    return session


def test_setup_asks_for_what_is_missing(tmp_path: Path, script: Script) -> None:
    script.answers.extend(["typed-id", "typed-secret-5678"])
    cli.main(["configure", "setup"])
    assert script.prompts == ["access token id: ", "access token secret: "]
    assert read_config(tmp_path) == {"access_token_id": "typed-id", "access_token_secret": "typed-secret-5678"}


def test_setup_asks_before_overwriting(tmp_path: Path, script: Script, capsys) -> None:
    write_config(tmp_path, "access_token_id: old-id\naccess_token_secret: old-secret\n")
    script.answers.append("n")
    cli.main(["configure", "setup"])
    assert "overwrite? [y/N]" in script.prompts[0]
    assert "unchanged" in capsys.readouterr().out
    assert read_config(tmp_path)["access_token_id"] == "old-id"

    script.answers.extend(["y", "new-secret-9999"])
    cli.main(["configure", "setup", "--access-token-id", "new-id"])
    assert read_config(tmp_path) == {"access_token_id": "new-id", "access_token_secret": "new-secret-9999"}


def test_setup_offers_to_reset_a_malformed_file(tmp_path: Path, script: Script, capsys) -> None:
    path = write_config(tmp_path, "key: [unclosed\n")
    script.answers.append("")
    cli.main(["configure", "setup", *TOKEN])
    assert path.read_text() == "key: [unclosed\n"
    assert str(path) in capsys.readouterr().err

    script.answers.append("yes")
    cli.main(["configure", "setup", *TOKEN])
    assert read_config(tmp_path)["access_token_id"] == "my-token-id"


def test_setup_refuses_an_empty_answer(tmp_path: Path, script: Script, capsys) -> None:
    script.answers.append("  ")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["configure", "setup"])
    assert exit_info.value.code == 2
    assert "runeq: error: no access token id given" in capsys.readouterr().err
    assert not config_file(tmp_path).exists()


# -- configure get / set ----------------------------------------------------------------------


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    write_config(
        tmp_path,
        "access_token_id: my-token-id\naccess_token_secret: my-token-secret-1234\n"
        "stream_url: http://127.0.0.1:9\n",
    )
    return tmp_path


def test_get_masks_secrets(configured: Path) -> None:
    result = run(configured, "configure", "get")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "access_token_id: my-token-id",
        "access_token_secret: ****1234",
        "stream_url: http://127.0.0.1:9",
    ]


def test_get_reveals_named_keys_and_missing_ones(configured: Path) -> None:
    result = run(configured, "configure", "get", "stream_url", "jwt", "access_token_secret", "--reveal")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "access_token_secret: my-token-secret-1234",
        "jwt: ",
        "stream_url: http://127.0.0.1:9",
    ]


def test_get_without_a_file_prints_empty_values_and_how_to_make_one(tmp_path: Path) -> None:
    result = run(tmp_path, "configure", "get", "stream_url")
    assert (result.returncode, result.stdout) == (0, "stream_url: \n")
    assert str(config_file(tmp_path)) in result.stderr and "runeq configure setup" in result.stderr


def test_an_empty_file_counts_as_no_values(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    assert run(tmp_path, "configure", "set", "stream_url=http://127.0.0.1:1").returncode == 0
    assert yaml.safe_load(path.read_text()) == {"stream_url": "http://127.0.0.1:1"}


def test_setup_on_a_terminal_asks_before_overwriting_even_with_flags(tmp_path: Path, script: Script) -> None:
    path = write_config(tmp_path, "access_token_id: old-id\naccess_token_secret: old-secret-1234\n")
    script.answers.append("n")
    cli.main(["configure", "setup", *TOKEN])
    assert "overwrite?" in script.prompts[0]
    assert yaml.safe_load(path.read_text())["access_token_id"] == "old-id"


def test_set_keeps_other_keys(configured: Path) -> None:
    result = run(configured, "configure", "set", "stream_url=http://127.0.0.1:8080", "retries=5", "access_token_id=")
    assert result.returncode == 0, result.stderr
    assert str(config_file(configured)) in result.stdout
    assert read_config(configured) == {
        "access_token_secret": "my-token-secret-1234",
        "retries": 5,
        "stream_url": "http://127.0.0.1:8080",
    }


@pytest.mark.parametrize(
    ("pair", "fragments"),
    [
        ("colour=blue", ["argument 1 names no config key", "access_token_id", "stream_url"]),
        ("stream-url=x", ["argument 1 names no config key (did you mean stream_url?)"]),
        ("stream_url", ["expected KEY=VALUE"]),
        ("=value", ["expected KEY=VALUE"]),
        ("retries=many", ["retries", "must be a whole number"]),
    ],
)
def test_set_refuses_bad_pairs(configured: Path, pair: str, fragments: list[str]) -> None:
    before = config_file(configured).read_text()
    assert_user_error(run(configured, "configure", "set", pair), *fragments)
    assert config_file(configured).read_text() == before


@pytest.mark.parametrize("text", ["key: [unclosed\n", "- a\n- list\n"], ids=["not-yaml", "list"])
@pytest.mark.parametrize("command", [["get"], ["set", "jwt=x"]], ids=["get", "set"])
def test_malformed_file_is_reported_with_its_path(tmp_path: Path, text: str, command: list[str]) -> None:
    path = write_config(tmp_path, text)
    assert_user_error(run(tmp_path, "configure", *command), str(path))
    assert path.read_text() == text


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--help"], ["configure", "emulator", "demo"]),
        (["configure", "--help"], ["setup", "get", "set"]),
        (["configure", "setup", "-h"], ["--access_token_id", "--access_token_secret"]),
    ],
)
def test_help_is_readable(tmp_path: Path, args: list[str], names: list[str]) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NAME\n")
    assert "FIRE_METADATA" not in result.stdout
    for name in names:
        assert name in result.stdout
    assert result.stderr == ""


def test_unknown_command_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# -- emulator ----------------------------------------------------------------------------------


def test_emulator_serves_until_interrupted(tmp_path: Path) -> None:
    with emulator_process(tmp_path, "--port", "0", "--page-size", "50") as (proc, info):
        assert set(info) == {"url", "access_token_id", "access_token_secret"}
        assert info["url"].startswith("http://127.0.0.1:")
        query = "patient_id=p1&device_id=d1&start_time=1609491600&end_time=1609491660"
        request = urllib.request.Request(
            f"{info['url']}/v1/accel.json?{query}",
            headers={
                "X-Rune-User-Access-Token-Id": info["access_token_id"],
                "X-Rune-User-Access-Token-Secret": info["access_token_secret"],
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body["success"] is True
        assert len(body["result"]["time"]) == 50
        logged = proc.stderr.readline()  # the access log line, written once the answer is sent: wait for it
    stderr = logged + proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "/v1/accel.json" in logged
    assert info["access_token_secret"] not in stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["emulator", "--port", "99999"], ["cannot start the emulator", "0-65535"]),
        (["fetch", "accel", "--emulator", "--output"], ["--output needs a file name"]),
        (["fetch", "accel", "--emulator", "--config"], ["--config needs a file name"]),
        (["fetch", "accel", "--emulator", "--output", "."], ["is a folder"]),
        (["fetch", "acel", "--emulator"], ["unknown resource (did you mean accel?)"]),
        (["fetch", "accel", "--emulator", "--format", "xml"], ["there is no such output format", "csv"]),
        (["fetch", "accel", "x.csv", "--emulator"], ["runeq fetch got an unexpected argument (to write to a file, use --output FILE)"]),
    ],
)
def test_bad_command_lines_get_one_clear_line(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    assert_user_error(run(tmp_path, *args), *fragments)
    assert not list(tmp_path.glob("True*"))
