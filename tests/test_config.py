"""Config: the auth inference table, files (bad ones too) and the atomic private write."""

import os
import re
import stat

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runeq_fn import Config
from runeq_fn.config.auth import infer_auth_method
from runeq_fn.config.file import merged_file_values, parse_config_text, read_config_file, write_config_file
from runeq_fn.config.keys import CREDENTIAL_KEYS
from runeq_fn.config.values import check_values
from runeq_fn.errors import ConfigError


@given(st.dictionaries(st.sampled_from(CREDENTIAL_KEYS), st.sampled_from(["", "v"])))
def test_auth_inference_follows_the_table(values):
    has = {k for k, v in values.items() if v}
    partial = [
        bool({"access_token_id", "access_token_secret"} & has),
        bool({"client_key_id", "client_access_key"} & has),
        "jwt" in has,
        {"cognito_refresh_token", "cognito_client_id"} <= has,
    ]
    complete = [
        {"access_token_id", "access_token_secret"} <= has,
        {"client_key_id", "client_access_key"} <= has,
        "jwt" in has,
        {"cognito_refresh_token", "cognito_client_id"} <= has,
    ]
    methods = ["access_token", "client_keys", "jwt", "cognito_refresh"]
    if sum(partial) > 1:
        with pytest.raises(ConfigError, match="more than one kind"):
            infer_auth_method(values)
    elif any(complete):
        assert infer_auth_method(values) == methods[complete.index(True)]
    else:
        with pytest.raises(ValueError, match="complete set of credentials"):
            infer_auth_method(values)


def test_explicit_auth_method_is_checked():
    with pytest.raises(ValueError, match="invalid auth_method 'oauth': expected one of access_token"):
        Config(auth_method="oauth", jwt="j")
    cfg = Config(auth_method="jwt", jwt="j", access_token_id="a")
    assert cfg.auth_headers == {"X-Rune-User-Access-Token": "j"}
    with pytest.raises(ValueError, match="access_token_secret is not set"):
        _ = cfg.access_token_auth_headers


def test_path_and_keywords_together_is_a_type_error(tmp_path):
    with pytest.raises(TypeError):
        Config(str(tmp_path / "c"), jwt="j")
    with pytest.raises(TypeError):
        Config("a", "b")


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: 1\nb: [unclosed\n", "not valid YAML at line 3"),
        ("a: 1\n  b: 2\n", "not valid YAML at line 2"),
        ("- a\n- b\n", "must hold a mapping of keys to values, not a list"),
        ("", "is empty"),
        ("just text\n", "not a str"),
        ("access_token_id: abc\n", "a complete set of credentials"),
    ],
)
def test_bad_config_files_name_the_file_and_the_fix(tmp_path, text, message):
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        Config(str(path))
    if "credentials" not in message:
        assert str(path) in str(err.value)


def test_missing_default_file_says_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="runeq configure setup"):
        Config()


def test_file_values_and_unknown_keys(tmp_path, caplog):
    path = tmp_path / "config"
    path.write_text("access_token_id: abc\naccess_token_secret: 12345\ncolour: blue\nretries: 2\n")
    cfg = Config(str(path))
    assert cfg.auth_headers["X-Rune-User-Access-Token-Secret"] == "12345"
    assert cfg.policy.retries == 2
    assert "colour" in caplog.text


def test_write_is_atomic_private_and_keeps_other_keys(tmp_path):
    path = str(tmp_path / "rune" / "config")
    write_config_file({"stream_url": "http://127.0.0.1:1", "jwt": "j"}, path)
    write_config_file(merged_file_values({"jwt": "k"}, path), path)
    assert read_config_file(path) == {"stream_url": "http://127.0.0.1:1", "jwt": "k"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert os.listdir(os.path.dirname(path)) == ["config"]


def test_secrets_stay_out_of_reprs():
    cfg = Config(access_token_id="id", access_token_secret="very-secret-value")
    assert "very-secret" not in repr(cfg)


def test_plain_http_to_a_remote_host_warns(caplog):
    Config(jwt="j", stream_url="http://stream.example.org")
    assert "unencrypted" in caplog.text
    caplog.clear()
    Config(jwt="j", stream_url="http://127.0.0.1:8000")
    assert "unencrypted" not in caplog.text


@given(st.text(max_size=100))
def test_arbitrary_yaml_text_gives_a_mapping_or_a_config_error(text):
    try:
        assert isinstance(parse_config_text(text, "f"), dict)
    except ConfigError:
        pass


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=5,
)


@given(st.dictionaries(st.sampled_from(sorted(CREDENTIAL_KEYS) + ["auth_method", "retries", "x"]), yaml_values))
def test_arbitrary_mappings_give_a_config_or_a_config_error(values):
    # a complete Cognito pair makes Config fetch a JWT over the network: not this property's business
    assume(not {"cognito_client_id", "cognito_refresh_token"} <= values.keys())
    try:
        Config(**check_values(values) or {"jwt": "j"})
    except ConfigError:
        pass


def test_the_example_config_documents_every_key_and_loads():
    import pathlib
    import re

    from runeq_fn.config.keys import KNOWN_KEYS

    text = (pathlib.Path(__file__).parent.parent / "config.example.yml").read_text()
    documented = set(re.findall(r"^#? ?([a-z_]+):", text, flags=re.M))
    assert KNOWN_KEYS <= documented
    assert Config(**check_values(parse_config_text(text, "example"))).auth_method == "access_token"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"read_timeout": 0}, "read_timeout in keywords must be a number of seconds above 0"),
        ({"retries": 2.7}, "retries in keywords must be a whole number"),
        ({"retries": True}, "retries in keywords must be a whole number"),
        ({"stream_url": "ftp://x.y"}, "must be an http(s) URL"),
        ({"stream_url": "http://[::1"}, "must be an http(s) URL"),
        ({"stream_url": "http://127.0.0.1:99999"}, "must be an http(s) URL"),
        ({"stream_url": "https://me:hunter2@stream.runelabs.io"}, "must not hold a user name or password"),
        ({"access_token_secret": "s3cret-value\n"}, "line break"),
    ],
)
def test_values_http_cannot_use_are_refused_clearly(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        Config(**{"access_token_id": "id", "access_token_secret": "secret", **values})
    assert "hunter2" not in str(err.value) and "s3cret" not in str(err.value)


def test_an_open_rune_folder_is_made_private(tmp_path):
    folder = tmp_path / ".rune"
    folder.mkdir(mode=0o755)
    write_config_file({"jwt": "j"}, str(folder / "config"))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


urls = st.one_of(st.text(max_size=30), st.sampled_from(["http://127.0.0.1:8080", "https://h", "http://[::1", "x://y"]))


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "stream_url": urls,
            "read_timeout": yaml_values,
            "connect_timeout": yaml_values,
            "backoff": yaml_values,
            "access_token_secret": st.text(max_size=10),
        },
    )
)
def test_arbitrary_urls_timeouts_and_secrets_give_a_config_or_a_config_error(values):
    try:
        Config(access_token_id="id", **{"access_token_secret": "s", **values})
    except ConfigError:
        pass
