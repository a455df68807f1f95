"""The config a pull is given: ``Config`` (credentials, URLs and HTTP policy, from YAML or keywords), ``BaseConfig`` for your own auth.

State lives at this edge: ``Config`` holds the values (and a refreshed JWT).
The modules beside it hold the rest, one concern each: the keys and how they
print (``keys``), auth methods and headers (``auth``), the checks of values
(``values``) and of proxies and CA bundles (``network``), the YAML file
(``file``) and the Cognito refresh (``cognito``); all pure but the file's
reads and atomic, private write.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, RuneError
from ..policy import Policy
from .auth import infer_auth_method, method_headers
from .cognito import POSTERS, cognito_refresh_body, cognito_url
from .file import DEFAULT_CONFIG_PATH, read_config_file
from .keys import KNOWN_KEYS, SECRET_KEYS
from .values import check_values, warn_if_plain_http

log = logging.getLogger(__name__)

DEFAULT_STREAM_URL = "https://stream.runelabs.io"
DEFAULT_GRAPH_URL = "https://graph.runelabs.io"


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
