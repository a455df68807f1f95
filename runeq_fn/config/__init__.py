"""Configuration: credentials, URLs and HTTP policy, read from YAML or keywords.

State lives at this edge: ``Config`` holds the values (and a refreshed JWT);
the functions around it are pure, except for the file reads and the atomic,
private file write.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ConfigError, ConfigFileNotFoundError, RuneError, masked
from ..policy import NETWORK_KEYS, POLICY_KEYS, Policy

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = "~/.rune/config"
DEFAULT_STREAM_URL = "https://stream.runelabs.io"
DEFAULT_GRAPH_URL = "https://graph.runelabs.io"
DEFAULT_COGNITO_REGION = "us-west-2"

AUTH_METHODS = ("access_token", "client_keys", "jwt", "cognito_refresh")

Poster = Callable[[str, Mapping[str, Any], Mapping[str, str], Policy], Any]
"""POST a JSON body by a policy's route and bounds, and return the parsed answer."""
POSTERS: list[Poster] = []
"""The Cognito refresh's POST: ``runeq_fn.http.transport.post_json``, handed in when transport loads
(``import runeq_fn`` loads it). Config sits below HTTP, so it is handed the POST, never imports it."""

CREDENTIAL_KEYS = (
    "access_token_id",
    "access_token_secret",
    "client_key_id",
    "client_access_key",
    "jwt",
    "cognito_client_id",
    "cognito_refresh_token",
)
SECRET_KEYS = frozenset(
    {"access_token_secret", "client_access_key", "jwt", "cognito_refresh_token"}
)
SETTING_KEYS = (
    "auth_method",
    "cognito_region_name",
    "cognito_url",
    "stream_url",
    "graph_url",
    *POLICY_KEYS,
)
KNOWN_KEYS = frozenset(CREDENTIAL_KEYS + SETTING_KEYS)

HEADERS_BY_METHOD = {
    "access_token": (
        ("X-Rune-User-Access-Token-Id", "access_token_id"),
        ("X-Rune-User-Access-Token-Secret", "access_token_secret"),
    ),
    "client_keys": (
        ("X-Rune-Client-Key-ID", "client_key_id"),
        ("X-Rune-Client-Access-Key", "client_access_key"),
    ),
    "jwt": (("X-Rune-User-Access-Token", "jwt"),),
}
AUTH_HEADER_NAMES = frozenset(
    name for pairs in HEADERS_BY_METHOD.values() for name, _ in pairs
)
SECRET_HEADER_NAMES = frozenset(
    name for pairs in HEADERS_BY_METHOD.values() for name, key in pairs if key in SECRET_KEYS
)


def credential_kinds(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of credential that are at least partly present (runeq's count).

    >>> credential_kinds({"access_token_id": "a", "jwt": "j"})
    ('access_token', 'jwt')
    >>> credential_kinds({"cognito_refresh_token": "r"})  # needs its client id too
    ()
    """
    present = {
        "access_token": values.get("access_token_id") or values.get("access_token_secret"),
        "client_keys": values.get("client_key_id") or values.get("client_access_key"),
        "jwt": values.get("jwt"),
        "cognito_refresh": values.get("cognito_refresh_token") and values.get("cognito_client_id"),
    }
    return tuple(kind for kind in AUTH_METHODS if present[kind])


def infer_auth_method(values: Mapping[str, Any]) -> str:
    """The auth method named by ``auth_method``, or inferred from the credentials.

    >>> infer_auth_method({"client_key_id": "k", "client_access_key": "s"})
    'client_keys'
    >>> infer_auth_method({"jwt": "j", "access_token_id": "a"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: cannot infer auth method: credentials of more than one kind were given (access_token, jwt); set auth_method to one of access_token, client_keys, jwt, cognito_refresh
    """
    method = values.get("auth_method")
    if method is not None:
        if method not in AUTH_METHODS:
            raise ConfigError(
                f"invalid auth_method {method!r}: expected one of {', '.join(AUTH_METHODS)}"
            )
        return method
    kinds = credential_kinds(values)
    if len(kinds) > 1:
        raise ConfigError(
            "cannot infer auth method: credentials of more than one kind were given "
            f"({', '.join(kinds)}); set auth_method to one of {', '.join(AUTH_METHODS)}"
        )
    complete = {
        "access_token": values.get("access_token_id") and values.get("access_token_secret"),
        "client_keys": values.get("client_key_id") and values.get("client_access_key"),
        "jwt": values.get("jwt"),
        "cognito_refresh": values.get("cognito_refresh_token") and values.get("cognito_client_id"),
    }
    for kind in AUTH_METHODS:
        if complete[kind]:
            return kind
    raise ConfigError(
        "cannot infer auth method: a complete set of credentials was not provided; "
        "give access_token_id and access_token_secret (or client_key_id and "
        "client_access_key, or jwt), e.g. with `runeq configure setup`"
    )


def method_headers(method: str, values: Mapping[str, Any]) -> dict[str, str]:
    """The auth headers of one method, or a ``ConfigError`` naming what is missing.

    >>> method_headers("jwt", {"jwt": "abc"})
    {'X-Rune-User-Access-Token': 'abc'}
    >>> method_headers("client_keys", {"client_key_id": "k"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: client_access_key is not set (needed for client_keys auth)
    """
    headers = {}
    for header, key in HEADERS_BY_METHOD[method]:
        if not values.get(key):
            raise ConfigError(f"{key} is not set (needed for {method} auth)")
        headers[header] = str(values[key])
    return headers


def mask(key: str, value: Any) -> str:
    """A value fit to print: secrets show only their last 4 characters.

    >>> mask("access_token_secret", "s3cr3t-value-1234")
    '****1234'
    >>> mask("stream_url", "https://stream.runelabs.io")
    'https://stream.runelabs.io'
    >>> mask("proxy", "http://me:s3cret@proxy.example:3128")
    'http://me:****@proxy.example:3128'
    """
    if value is None:
        return ""
    text = str(value)
    if key == "proxy":
        return hide_password(text)
    return masked(text) if key in SECRET_KEYS and text else text


def check_values(values: Mapping[str, Any], source: str = "keywords") -> dict[str, Any]:
    """Validate raw config values; drop unknown keys with a warning.

    >>> check_values({"jwt": "x", "colour": "blue"})
    {'jwt': 'x'}
    >>> check_values({"retries": "many"})
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: retries in keywords must be a whole number, at least 0, not 'many'
    """
    unknown = sorted(str(k) for k in values if k not in KNOWN_KEYS)
    if unknown:
        log.warning("ignoring unknown config keys in %s: %s", source, ", ".join(unknown))
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in KNOWN_KEYS or value is None:
            continue
        if isinstance(value, (dict, list, tuple, set)):
            raise ConfigError(f"{key} in {source} must be a single value, not a {type(value).__name__}")
        if key in NETWORK_KEYS:
            value = network_value(key, str(value), source)
        elif key in POLICY_KEYS:
            value = policy_value(key, value, source)
        else:
            value = str(value)
            if key in CREDENTIAL_KEYS:
                check_credential(key, value, source)
            if key in ("stream_url", "graph_url", "cognito_url"):
                check_url(key, value, source)
        checked[key] = value
    return checked


def policy_value(key: str, value: Any, source: str) -> int | float:
    """A retry, timeout, deadline or size setting as a number, or a ``ConfigError`` that says which numbers fit.

    >>> policy_value("read_timeout", "2.5", "f"), policy_value("retries", 3, "f")
    (2.5, 3)
    >>> policy_value("connect_timeout", 0, "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: connect_timeout in f must be a number of seconds above 0, not 0
    >>> policy_value("max_page_bytes", "1e6", "f"), policy_value("pull_deadline", 90, "f")
    (1000000, 90.0)
    """
    whole = key in ("retries", "max_page_bytes")
    positive = key.endswith(("_timeout", "_deadline")) or key == "max_page_bytes"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    fits = 0 < number < float("inf") if positive else 0 <= number < float("inf")
    if whole:
        fits = fits and number.is_integer() and not isinstance(value, bool)
    if not fits:
        kind = (
            "a whole number of bytes above 0" if key == "max_page_bytes"
            else "a whole number, at least 0" if whole
            else "a number of seconds above 0" if positive
            else "a number, at least 0"
        )
        raise ConfigError(f"{key} in {source} must be {kind}, not {value!r}")
    return int(number) if whole else number


def network_value(key: str, value: str, source: str) -> str:
    """A ``proxy`` URL, ``ca_bundle`` path or ``no_proxy`` list, checked; the proxy comes back with its scheme, the path with ``~`` expanded.

    >>> network_value("proxy", "proxy.example:3128", "f")
    'http://proxy.example:3128'
    >>> network_value("ca_bundle", "/no/such/ca.pem", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: ca_bundle in f names /no/such/ca.pem, which does not exist: give the path of a PEM file of the CA certificates to trust
    """
    if key == "proxy":
        value = with_scheme(value)
        check_proxy(key, value, source)
        return value
    if key == "no_proxy":
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"{key} in {source} has control characters: give hosts separated by commas")
        return value.strip()
    return check_ca_bundle(key, value, source)


def with_scheme(proxy: str) -> str:
    """A proxy URL with its scheme: one without is taken as http://, as curl and requests do.

    >>> with_scheme("me:pw@proxy.example:3128"), with_scheme("https://proxy.example")
    ('http://me:pw@proxy.example:3128', 'https://proxy.example')
    """
    return proxy if "://" in proxy else "http://" + proxy


def proxy_problem(value: str) -> str | None:
    """What is wrong with a proxy URL (never quoting it: it may hold a password), or None.

    >>> proxy_problem("http://me:pw@proxy.example:3128") is None
    True
    >>> proxy_problem("socks5://me:pw@proxy.example:1080")
    'is a SOCKS proxy (socks5://), which is not supported: use an http:// or https:// proxy'
    >>> proxy_problem("http://me:pw@[::1")
    'has a host that is not a valid name or address (an IPv6 address needs both brackets: [::1])'
    >>> proxy_problem("http://me:pw@proxy.example:99999")
    'has a port that is not a number from 1 to 65535'
    """
    from urllib.parse import urlsplit

    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "has spaces or control characters"
    scheme = value.partition("://")[0].lower()
    if scheme.startswith("socks"):
        return f"is a SOCKS proxy ({scheme}://), which is not supported: use an http:// or https:// proxy"
    if scheme not in ("http", "https"):
        return f"has the scheme {scheme[:20]!r}: only http:// and https:// proxies are supported"
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or not parts.hostname:
        return "has a host that is not a valid name or address (an IPv6 address needs both brackets: [::1])"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    return None


def check_proxy(key: str, value: str, source: str) -> None:
    """Refuse a proxy URL that is not ``http(s)://[user:password@]host[:port]``, saying what is wrong, not showing it.

    SOCKS proxies are not supported (urllib3 needs PySocks for them).

    >>> check_proxy("proxy", "http://me:pw@proxy.example:3128", "f")
    >>> check_proxy("proxy", "socks5://me:pw@proxy.example:1080", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: proxy in f is a SOCKS proxy (socks5://), which is not supported: use an http:// or https:// proxy (such as http://user:password@proxy.example:3128)
    """
    problem = proxy_problem(value)
    if problem is not None:
        raise ConfigError(f"{key} in {source} {problem} (such as http://user:password@proxy.example:3128)")


def check_ca_bundle(key: str, value: str, source: str) -> str:
    """The full path of a readable PEM file of CA certificates, or a ``ConfigError`` saying what is wrong."""
    import ssl

    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.exists(path):
        problem = "which does not exist"
    elif not os.path.isfile(path):
        problem = "which is not a file"
    elif not os.access(path, os.R_OK):
        problem = "which cannot be read"
    else:
        try:
            ssl.create_default_context(cafile=path)
            return path
        except (ssl.SSLError, OSError, ValueError):
            problem = "which holds no PEM certificate"
    raise ConfigError(
        f"{key} in {source} names {path}, {problem}: give the path of a PEM file "
        "of the CA certificates to trust"
    )


def hide_password(url: str) -> str:
    """A URL fit to print: the password in it, if any, shows as ``****``.

    >>> hide_password("http://me:s3cret@proxy.example:3128"), hide_password("http://proxy.example")
    ('http://me:****@proxy.example:3128', 'http://proxy.example')
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that does not parse)"
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{parts.netloc.rpartition('@')[2]}"))


def check_credential(key: str, value: str, source: str) -> None:
    """Refuse a credential that HTTP cannot carry, without ever showing it.

    >>> check_credential("jwt", "abc", "f")
    >>> check_credential("access_token_secret", "s3cret\\n", "~/.rune/config")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: access_token_secret in ~/.rune/config has spaces at an end or a line break or other control character; remove it
    """
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{key} in {source} has spaces at an end or a line break or other control character; remove it"
        )


def check_url(key: str, value: str, source: str) -> None:
    """Refuse a URL the client cannot use: not http(s), no host, a bad port, or a user:password in it.

    >>> check_url("stream_url", "http://127.0.0.1:8080", "f")
    >>> check_url("stream_url", "https://me:pw@stream.runelabs.io", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: stream_url in f must not hold a user name or password: give credentials as access_token_id/access_token_secret (or client keys, or a jwt)
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key} in {source} must be an http(s) URL such as https://stream.runelabs.io")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{key} in {source} must not hold a user name or password: give credentials as "
            "access_token_id/access_token_secret (or client keys, or a jwt)"
        )


def parse_config_text(text: str, path: str) -> dict[str, Any]:
    """Parse a config file's YAML into a mapping, with errors that name file and line.

    >>> parse_config_text("access_token_id: abc\\n", "cfg.yml")
    {'access_token_id': 'abc'}
    >>> parse_config_text("- a list\\n", "cfg.yml")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: config file cfg.yml must hold a mapping of keys to values, not a list; fix it or reset it with `runeq configure setup`
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"config file {path} is not valid YAML{where}: {problem}; "
            "fix it or reset it with `runeq configure setup`"
        ) from None
    if data is None:
        raise ConfigError(
            f"config file {path} is empty; write your credentials with `runeq configure setup`"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys to values, not a "
            f"{type(data).__name__}; fix it or reset it with `runeq configure setup`"
        )
    return {str(k): v for k, v in data.items()}


def read_config_file(path: str = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """Read and parse a config file; a missing, unreadable or malformed file is a ``ConfigError``."""
    full = os.path.expanduser(path)
    return parse_config_text(config_text(read_config_bytes(full), full), full)


def read_config_bytes(full: str) -> bytes:
    """A config file's bytes, through one open file whose kind and mode are checked.

    A folder or a file you cannot read is a one-line ``ConfigError`` that names
    the fix; a file that other users may read is read, with a warning that says
    ``chmod 600``.
    """
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigFileNotFoundError(
            f"no config file at {full}: run `runeq configure setup`, "
            "or pass credentials as Config(access_token_id=..., access_token_secret=...)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(folder_problem(full)) from None
    except PermissionError:
        raise ConfigError(
            f"config file {full} cannot be read: permission denied; make it yours and readable by you "
            f"(chown, then chmod 600 {full})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {full}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise ConfigError(folder_problem(full))
    with os.fdopen(fd, "rb") as f:
        if mode & 0o044:
            log.warning(
                "config file %s can be read by other users, and it holds credentials: run chmod 600 %s", full, full
            )
        try:
            return f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {full}: {exc.strerror}") from None


def folder_problem(full: str) -> str:
    """The error for a config path that is a folder.

    >>> folder_problem("/home/me/.rune")
    'config file /home/me/.rune is a folder, not a file: give the file in it (e.g. /home/me/.rune/config)'
    """
    return f"config file {full} is a folder, not a file: give the file in it (e.g. {os.path.join(full, 'config')})"


def config_text(data: bytes, full: str) -> str:
    """A config file's bytes as text, or a ``ConfigError`` when they are not UTF-8.

    >>> config_text(b"jwt: x\\n", "f")
    'jwt: x\\n'
    >>> config_text(b"jwt: \\xff\\n", "f")
    Traceback (most recent call last):
    ...
    runeq_fn.errors.ConfigError: config file f is not UTF-8 text (byte 5); fix it or reset it with `runeq configure setup`
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {full} is not UTF-8 text (byte {exc.start}); fix it or reset it with `runeq configure setup`"
        ) from None


def write_config_file(values: Mapping[str, Any], path: str = DEFAULT_CONFIG_PATH) -> str:
    """Write values as YAML atomically (temp file, fsync, rename), mode 0600 in a 0700 folder.

    Returns the full path written. A reader never sees a half-written file.
    """
    import yaml

    full = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(full)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.path.basename(folder) == ".rune":
        os.chmod(folder, 0o700)  # a folder made earlier, or by another tool, may be open to others
    text = yaml.safe_dump(dict(values), default_flow_style=False, sort_keys=True)
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, full)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return full


def cognito_url(values: Mapping[str, Any]) -> str:
    """The Cognito endpoint: the ``cognito_url`` key, else the region's AWS endpoint.

    >>> cognito_url({"cognito_region_name": "eu-west-1"})
    'https://cognito-idp.eu-west-1.amazonaws.com/'
    """
    if values.get("cognito_url"):
        return values["cognito_url"]
    region = values.get("cognito_region_name") or DEFAULT_COGNITO_REGION
    return f"https://cognito-idp.{region}.amazonaws.com/"


def cognito_refresh_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """The InitiateAuth body that trades a refresh token for a JWT.

    >>> cognito_refresh_body({"cognito_refresh_token": "r", "cognito_client_id": "c"})
    {'AuthFlow': 'REFRESH_TOKEN_AUTH', 'AuthParameters': {'REFRESH_TOKEN': 'r'}, 'ClientId': 'c'}
    """
    return {
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "AuthParameters": {"REFRESH_TOKEN": values["cognito_refresh_token"]},
        "ClientId": values["cognito_client_id"],
    }


class BaseConfig:
    """What an accessor asks of a config, for your own auth: subclass it and give ``auth_headers``.

    As runeq 0.15.0's ``BaseConfig``: ``refresh_auth()`` is False until a
    subclass says otherwise. ``stream_url`` defaults to Rune's.

    >>> class Signed(BaseConfig):
    ...     stream_url = "http://127.0.0.1:8080"
    ...     @property
    ...     def auth_headers(self):
    ...         return {"X-Rune-User-Access-Token": "from-my-vault"}
    >>> Signed().auth_headers, Signed().refresh_auth()
    ({'X-Rune-User-Access-Token': 'from-my-vault'}, False)
    """

    stream_url: str = DEFAULT_STREAM_URL
    graph_url: str = DEFAULT_GRAPH_URL

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request: a subclass must give them."""
        raise NotImplementedError(
            f"{type(self).__name__}.auth_headers is not implemented: a subclass of BaseConfig "
            "must define the auth_headers property (a dict of header names to values)"
        )

    def refresh_auth(self) -> bool:
        """Get new credentials after a refusal; False: there is nothing to refresh."""
        return False


_configs: weakref.WeakSet = weakref.WeakSet()
"""Every live ``Config``, to give each a new refresh lock in a forked child."""


def renew_refresh_locks() -> None:
    """In a forked child: a new refresh lock for every config (the parent's may be held by a thread gone)."""
    for config in list(_configs):
        object.__setattr__(config, "_refresh_lock", threading.Lock())


os.register_at_fork(after_in_child=renew_refresh_locks)


class Config(BaseConfig):
    """Holds credentials, URLs and HTTP policy, as runeq 0.15.0's ``Config`` did.

    ``Config()`` reads ``~/.rune/config``, ``Config(path)`` reads that file and
    ``Config(**values)`` takes values directly. Credentials are checked at once.

    >>> cfg = Config(access_token_id="id", access_token_secret="not-a-real-secret")
    >>> cfg.auth_method, sorted(cfg.auth_headers)
    ('access_token', ['X-Rune-User-Access-Token-Id', 'X-Rune-User-Access-Token-Secret'])
    >>> cfg
    Config(auth_method='access_token', stream_url='https://stream.runelabs.io')
    """

    auth_method: str
    stream_url: str
    graph_url: str
    policy: Policy
    _values: dict[str, Any]

    def __init__(self, *args: str, **kwargs: Any) -> None:
        if args and kwargs:
            raise TypeError("Config() takes either a file path or keyword values, not both")
        if len(args) > 1:
            raise TypeError(f"Config() takes at most 1 path, but {len(args)} were given")
        self._refresh_lock = threading.Lock()
        _configs.add(self)
        if kwargs:
            self._apply(check_values(kwargs))
        else:
            path = args[0] if args else DEFAULT_CONFIG_PATH
            self._apply(check_values(read_config_file(path), os.path.expanduser(path)))
        self.auth_headers  # noqa: B018 -- checks the credentials now, as runeq did

    def _apply(self, values: dict[str, Any]) -> None:
        """Make checked values this config's, after the checks a new config passes (all or nothing).

        ``__init__``, ``update_values``, an assignment to a key and nothing else
        change the values, so no way of changing a config skips a check.
        Credentials are checked without the network (a Cognito refresh waits).
        """
        method = infer_auth_method(values)
        if method != "cognito_refresh" or values.get("jwt"):
            method_headers("jwt" if method == "cognito_refresh" else method, values)
        policy = Policy.from_values(values)
        for key in ("stream_url", "cognito_url"):
            if values.get(key):
                warn_if_plain_http(key, values[key])
        set_field = super().__setattr__
        set_field("_values", values)
        set_field("auth_method", method)
        set_field("stream_url", values.get("stream_url", DEFAULT_STREAM_URL))
        set_field("graph_url", values.get("graph_url", DEFAULT_GRAPH_URL))
        set_field("policy", policy)

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a key (``cfg.stream_url = ...``) checks it as ``Config(stream_url=...)`` would.

        None removes the key. Other attributes are set as usual.
        """
        if name in KNOWN_KEYS:
            current = vars(self).get("_values", {})
            self._apply(check_values({**current, name: value}, f"the assignment to {name}"))
        else:
            super().__setattr__(name, value)

    def __getstate__(self) -> dict[str, Any]:
        """What a pickle holds: every field but the lock (a thread lock does not cross processes)."""
        return {name: value for name, value in vars(self).items() if name != "_refresh_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        super().__setattr__("_refresh_lock", threading.Lock())
        _configs.add(self)

    def __repr__(self) -> str:
        return f"Config(auth_method={self.auth_method!r}, stream_url={self.stream_url!r})"

    def get(self, key: str) -> Any:
        """One configured value (None when unset)."""
        return self._values.get(key)

    def secrets(self) -> list[str]:
        """The secret values held (to mask them in messages; never to print).

        >>> Config(jwt="not-a-real-jwt").secrets()
        ['not-a-real-jwt']
        """
        return [str(self._values[key]) for key in sorted(SECRET_KEYS) if self._values.get(key)]

    @property
    def access_token_auth_headers(self) -> dict[str, str]:
        """Headers for a user access token; ``ValueError`` when it is not set."""
        return method_headers("access_token", self._values)

    @property
    def client_auth_headers(self) -> dict[str, str]:
        """Headers for a client key pair; ``ValueError`` when it is not set."""
        return method_headers("client_keys", self._values)

    @property
    def jwt_auth_headers(self) -> dict[str, str]:
        """Headers for a JWT, refreshing it first if only a refresh token is held."""
        if not self._values.get("jwt") and not self.refresh_auth():
            raise ConfigError("jwt is not set (needed for jwt auth)")
        return method_headers("jwt", self._values)

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers of the configured auth method."""
        if self.auth_method == "access_token":
            return self.access_token_auth_headers
        if self.auth_method == "client_keys":
            return self.client_auth_headers
        return self.jwt_auth_headers

    def set_values(
        self,
        auth_method: str | None = None,
        access_token_id: str | None = None,
        access_token_secret: str | None = None,
        client_key_id: str | None = None,
        client_access_key: str | None = None,
        jwt: str | None = None,
        cognito_client_id: str | None = None,
        cognito_refresh_token: str | None = None,
        cognito_region_name: str | None = None,
        stream_url: str | None = None,
        graph_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Set values, as runeq 0.15.0 did: the auth method is the one given, else inferred from this call's credentials.

        Values not named are kept. A failure (``ValueError``, as in runeq) leaves the config as it was.

        >>> cfg = Config(access_token_id="id", access_token_secret="not-a-real-secret")
        >>> cfg.set_values(jwt="not-a-real-jwt", stream_url="http://127.0.0.1:8080")
        >>> cfg.auth_method, cfg.stream_url
        ('jwt', 'http://127.0.0.1:8080')
        >>> cfg.set_values(client_key_id="k")
        Traceback (most recent call last):
        ...
        runeq_fn.errors.ConfigError: cannot infer auth method: a complete set of credentials was not provided; give access_token_id and access_token_secret (or client_key_id and client_access_key, or jwt), e.g. with `runeq configure setup`
        """
        named = {
            "auth_method": auth_method,
            "access_token_id": access_token_id,
            "access_token_secret": access_token_secret,
            "client_key_id": client_key_id,
            "client_access_key": client_access_key,
            "jwt": jwt,
            "cognito_client_id": cognito_client_id,
            "cognito_refresh_token": cognito_refresh_token,
            "cognito_region_name": cognito_region_name,
            "stream_url": stream_url,
            "graph_url": graph_url,
        }
        self.update_values({**named, **kwargs}, "set_values")

    def load_yaml(self, filename: str = DEFAULT_CONFIG_PATH) -> None:
        """Set the values of a YAML config file, as ``set_values`` does; a missing file raises
        ``ConfigFileNotFoundError`` (a ``FileNotFoundError``)."""
        self.update_values(read_config_file(filename), os.path.expanduser(filename))

    def update_values(self, values: Mapping[str, Any], source: str) -> None:
        """Check ``values`` and take them over the current ones, or change nothing and raise."""
        given = check_values(values, source)
        method = infer_auth_method(given)
        before = self.__getstate__()
        # the method is this call's, kept as a value: a later assignment infers nothing from older credentials
        self._apply({**self._values, **given, "auth_method": method})
        try:
            self.auth_headers  # noqa: B018 -- checks the credentials now, as runeq did
        except BaseException:
            vars(self).update(before)
            raise

    def refreshed_headers(self, refused: Mapping[str, str]) -> dict[str, str]:
        """Auth headers to use after a server refused ``refused``: refreshed once, whatever the threads.

        Several requests in flight may be refused together; the first refreshes
        the JWT, the others find it already changed and take it.
        """
        with self._refresh_lock:
            if self.auth_headers == dict(refused):
                self.refresh_auth()
            return self.auth_headers

    def refresh_auth(self) -> bool:
        """Trade the Cognito refresh token for a new JWT; False when none is configured."""
        if not (self._values.get("cognito_refresh_token") and self._values.get("cognito_client_id")):
            return False
        try:
            answer = POSTERS[-1](
                cognito_url(self._values),
                cognito_refresh_body(self._values),
                {
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
                },
                self.policy,
            )
        except RuneError as exc:
            exc.redact(self.secrets())  # Cognito may echo the refresh token back
            raise
        try:
            self._values["jwt"] = str(answer["AuthenticationResult"]["AccessToken"])
        except (KeyError, TypeError):
            raise ConfigError("the Cognito answer held no AuthenticationResult.AccessToken") from None
        log.debug("refreshed the JWT from the Cognito refresh token")
        return True


def warn_if_plain_http(key: str, url: str) -> None:
    """Warn when credentials would travel in clear text to a host that is not loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        log.warning(
            "%s %s is plain http to a host that is not loopback: "
            "credentials will travel unencrypted; use https",
            key,
            f"{parts.scheme}://{parts.hostname}",
        )


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "stream.runelabs.io")]
    [True, True, True, False]
    """
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def merged_file_values(
    updates: Mapping[str, Any], path: str = DEFAULT_CONFIG_PATH, reset: bool = False
) -> dict[str, Any]:
    """The file's values updated key by key; a missing or blank file (or ``reset``) counts as empty."""
    full = os.path.expanduser(path)
    current = {} if reset else file_values(existing_config_bytes(full), full)
    current.update(updates)
    return current


def existing_config_bytes(full: str) -> bytes:
    """A config file's bytes (checked as ``read_config_bytes`` does), or none when there is no file."""
    try:
        return read_config_bytes(full)
    except ConfigFileNotFoundError:
        return b""


def file_values(data: bytes, full: str) -> dict[str, Any]:
    """The values of a config file's bytes; a blank file (``touch ~/.rune/config``) has none.

    >>> file_values(b"  \\n", "f"), file_values(b"jwt: x\\n", "f")
    ({}, {'jwt': 'x'})
    """
    if not data.strip():
        return {}
    return parse_config_text(config_text(data, full), full)


def describe(values: Mapping[str, Any], keys: Iterable[str] = (), reveal: bool = False) -> str:
    """``key: value`` lines, sorted, secrets masked unless ``reveal``.

    >>> print(describe({"jwt": "eyJhbGciOi.abcdefghijklmnop", "stream_url": "http://x"}))
    jwt: ****mnop
    stream_url: http://x
    >>> describe({}, ["graph_url"])
    'graph_url: '
    """
    names = sorted(keys) if keys else sorted(values)
    return "\n".join(
        f"{k}: {values.get(k, '') if reveal else mask(k, values.get(k))}" for k in names
    )
