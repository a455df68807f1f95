"""Errors raised by runeq-fn.

The three classes of runeq 0.15.0 (``RuneError``, ``InitializationError``,
``APIError``) keep their names and messages; the others subclass them (and the
builtin that runeq raised in the same place) so that old ``except`` clauses
still catch them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK_FROM = 4
"""Secrets shorter than this are not masked in messages: they would mask ordinary words, and are no real credential."""


def masked(secret: str) -> str:
    """A secret fit to print: its last 4 characters when it is long enough to spare them, else nothing.

    >>> masked("s3cr3t-value-1234"), masked("short")
    ('****1234', '****')
    """
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


def hide(value: Any, secrets: Iterable[str]) -> Any:
    """The value with every secret in its text (however deep in dicts and lists) masked.

    >>> hide({"message": "bad token s3cr3t-value-1234", "n": [1, "s3cr3t-value-1234"]}, ["s3cr3t-value-1234"])
    {'message': 'bad token ****1234', 'n': [1, '****1234']}
    """
    secrets = sorted({s for s in secrets if s and len(s) >= MASK_FROM}, key=len, reverse=True)
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, masked(secret))
        return value
    if isinstance(value, Mapping):
        return {hide(key, secrets): hide(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(hide(item, secrets) for item in value)
    return value


class RuneError(Exception):
    """Base class of every error runeq-fn raises on purpose.

    ``resume``, when set, holds the query parameters that fetch the failed page
    again and go on from there: ``accessor.points(**err.resume)``.
    """

    resume: dict | None = None

    def redact(self, secrets: Iterable[str]) -> RuneError:
        """Mask each secret wherever this error shows text (message, details); returns the error.

        A server may echo a credential back in its error body: the message must not carry it on.

        >>> str(RuneError("refused s3cr3t-value-1234").redact(["s3cr3t-value-1234"]))
        'refused ****1234'
        """
        secrets = list(secrets)
        self.args = hide(self.args, secrets)
        for name, value in vars(self).items():
            if name != "resume":
                setattr(self, name, hide(value, secrets))
        return self


class InitializationError(RuneError):
    """Credentials or configuration are missing or unusable."""


class ConfigError(InitializationError, ValueError):
    """A config file or config value is wrong; the message names the fix.

    >>> isinstance(ConfigError("x"), ValueError)
    True
    """


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """The config file does not exist; also a ``FileNotFoundError``, which runeq raised there.

    >>> issubclass(ConfigFileNotFoundError, FileNotFoundError), issubclass(ConfigFileNotFoundError, ValueError)
    (True, True)
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ConfigFileNotFoundError:
        # Made as an OSError is laid out: tblib (installed by dask.distributed to send a worker's
        # errors back) rebuilds an exception with cls.__new__(cls, *args), which ValueError's refuses here.
        return OSError.__new__(cls, *args)


def error_type(details: Any) -> str:
    """The error type named in an API error's details, else ``Error``.

    >>> error_type({"message": "no", "type": "BadRequestError"})
    'BadRequestError'
    >>> error_type("plain text")
    'Error'
    """
    if isinstance(details, dict) and "type" in details:
        return str(details["type"])
    return "Error"


class APIError(RuneError):
    """The API answered with an error status (or the answer was unusable).

    ``status_code`` and ``details`` are as in runeq 0.15.0; ``resume`` as in
    ``RuneError``.

    >>> err = APIError(404, {"message": "no such resource", "type": "NotFoundError"})
    >>> str(err)
    "404 NotFoundError: {'message': 'no such resource', 'type': 'NotFoundError'}"
    """

    def __init__(
        self,
        status_code: int,
        details: Any,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.status_code = status_code
        self.details = details
        self.resume = dict(resume) if resume is not None else None
        super().__init__(f"{status_code} {error_type(details)}: {details}")

    def __reduce__(self) -> tuple:
        # the constructor takes the fields, not the message that Exception would pass it again
        return type(self), (self.status_code, self.details, self.resume), dict(vars(self))


class TransportError(APIError):
    """No usable HTTP answer: connection refused or dropped, timeout, cut-off body.

    Its ``status_code`` is 0 (or the last status seen when retries ran out).
    """


class PaginationError(APIError):
    """The server sent the same page token or page number again: a loop."""


class UsageError(RuneError, ValueError):
    """A call's arguments are wrong (unknown resource or format, bad parameter)."""


class ParseError(RuneError, ValueError):
    """A page could not be parsed (CSV that is not CSV, JSON cut off, ...)."""


class WriteError(RuneError, OSError):
    """An output could not be written (a full disk, a read-only folder, a symbolic link in the way).

    >>> isinstance(WriteError("cannot write a.csv.part: No space left on device"), OSError)
    True
    """
