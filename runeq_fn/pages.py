"""The lazy page generator: the only code that performs I/O while iterating a query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from toolz import curry

from .build import Request
from .errors import APIError, PaginationError
from .paging import step_for
from .transport import error_details
from .transport import fetch as http_fetch

Fetch = Callable[[Request], Any]


def check(request: Request, response: Any) -> Any:
    """Return the response, or raise ``APIError`` for a status >= 400.

    The error carries the failed page's parameters in ``resume``.

    >>> from runeq_fn.response import Response
    >>> check(Request("u", (("page", 3),)), Response(503, content=b""))
    Traceback (most recent call last):
    ...
    runeq_fn.errors.APIError: 503 HTTPError: {'message': 'HTTP 503 with an empty body', 'type': 'HTTPError'}
    """
    if response.status_code >= 400:
        raise APIError(
            response.status_code,
            error_details(response.status_code, response.content),
            resume=dict(request.params),
        )
    return response


def position(request: Request) -> Any:
    """What names a request's page: its token, else its page number.

    >>> position(Request("u", (("page", 2),))), position(Request("u", (("next_page_token", "t"), ("page", 1))))
    (('page', 2), ('next_page_token', 't'))
    """
    token = request.param("next_page_token")
    if token is not None:
        return ("next_page_token", token)
    return ("page", request.param("page", 0))


def fetch_checked(request: Request, fetch: Fetch) -> tuple:
    """Fetch one page; after a 401, refresh the JWT once (where configured) and try again."""
    response = fetch(request)
    if response.status_code == 401 and request.refresh is not None:
        request = replace(request, headers=request.refresh())
        response = fetch(request)
    return request, check(request, response)


@curry
def pages(request: Request, fetch: Fetch = http_fetch) -> Iterator[Any]:
    """Follow a query's pagination lazily, yielding each whole ``Response``.

    Nothing is fetched before the first page is asked for; one page is held at
    a time. A server that names a page already read raises ``PaginationError``
    (a loop) after the last good page, with ``resume`` set to that page's position.
    """
    return _pages(request, fetch)


def _pages(request: Request | None, fetch: Fetch) -> Iterator[Any]:
    seen = set()
    while request is not None:
        seen.add(position(request))
        request, response = fetch_checked(request, fetch)
        following = step_for(request)(request, response)
        yield response
        if following is not None and position(following) in seen:
            raise PaginationError(
                0,
                {
                    "message": f"the server sent {position(following)} again: a pagination loop",
                    "type": "PaginationError",
                },
                resume=dict(request.params),
            )
        request = following
