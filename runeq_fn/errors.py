"""Errors raised by runeq-fn.

The three classes of runeq 0.15.0 (``RuneError``, ``InitializationError``,
``APIError``) keep their names and messages; the others subclass them (and the
builtin that runeq raised in the same place) so that old ``except`` clauses
still catch them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RuneError(Exception):
    """Base class of every error runeq-fn raises on purpose.

    ``resume``, when set, holds the query parameters that fetch the failed page
    again and go on from there: ``accessor.points(**err.resume)``.
    """

    resume: dict | None = None


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
