"""The pagination rules of Stream V1 as pure steps: (request, response) -> next request or None.

Each step reproduces runeq 0.15.0's rule exactly, truthiness included:
- ``json_step``: the token header wins; else ``page=<next_page>``; go on while either is truthy.
- ``csv_step``: stop on an empty body; the token header wins; else ``page=<counter>``.
- ``span_step``: tokens only; go on while the header is present and truthy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ParseError
from ..http.request import Request, with_params

Step = Callable[[Request, Any], Request | None]


def json_step(request: Request, response: Any) -> Request | None:
    """The next request after a JSON page, or None after the last.

    >>> from runeq_fn.http.response import Response, Headers
    >>> first = Request("u", (("page", 0),))
    >>> json_step(first, Response(200, Headers(), b'{"result": {}, "next_page": 1}')).params
    (('page', 1),)
    >>> json_step(first, Response(200, Headers({"X-Rune-Next-Page-Token": "t"}), b'{"result": {}}')).params
    (('next_page_token', 't'),)
    >>> json_step(first, Response(200, Headers(), b'{"result": {}}')) is None
    True
    """
    body = response.json()
    if not isinstance(body, dict) or "result" not in body:
        raise ParseError(f"a JSON page is not an object with a 'result': {response.text[:80]!r}")
    next_page = body.get("next_page")
    token = response.next_page_token
    if not (next_page or token):
        return None
    if token is not None:
        return with_params(request, drop=["page"], next_page_token=token)
    return with_params(request, drop=["next_page_token"], page=next_page)


def csv_step(request: Request, response: Any) -> Request | None:
    """The next request after a CSV page, or None when the page was empty.

    >>> from runeq_fn.http.response import Response, Headers
    >>> first = Request("u", (("page", 4),), paging="csv", index=4)
    >>> csv_step(first, Response(200, Headers(), b"time,x\\n1,2\\n"))
    Request(url='u', params=(('page', 5),), defaults=(), paging='csv', index=5)
    >>> csv_step(first, Response(200, Headers(), b"")) is None
    True
    """
    if not response.content:
        return None
    counter = request.index + 1
    token = response.next_page_token
    if token is not None:
        return with_params(request, drop=["page"], index=counter, next_page_token=token)
    return with_params(request, drop=["next_page_token"], index=counter, page=counter)


def span_step(request: Request, response: Any) -> Request | None:
    """The next request after a span page: only the token header counts.

    >>> from runeq_fn.http.response import Response, Headers
    >>> span_step(Request("u"), Response(200, Headers({"X-Rune-Next-Page-Token": "t"}), b"{}")).params
    (('next_page_token', 't'),)
    >>> span_step(Request("u"), Response(200, Headers(), b"{}")) is None
    True
    """
    token = response.next_page_token
    if not token:
        return None
    return with_params(request, next_page_token=token)


STEPS = {"json": json_step, "csv": csv_step, "span": span_step}


def step_for(request: Request) -> Step:
    """The pagination step that fits a request's kind of paging.

    >>> step_for(Request("u", paging="span")).__name__
    'span_step'
    """
    return STEPS[request.paging]


def predict(request: Request) -> Request | None:
    """A guess at the request after this one, for prefetching; None where no guess is safe.

    Only page numbers can be guessed: a token is known when its page arrives. A
    wrong guess costs a request, never a result (the true next request is checked).

    >>> predict(Request("u", (("page", 4),), paging="csv", index=4)).params
    (('page', 5),)
    >>> predict(Request("u", (("next_page_token", "t"),))) is None
    True
    """
    if request.paging == "span" or request.param("next_page_token") is not None:
        return None
    if request.paging == "csv":
        return with_params(request, index=request.index + 1, page=request.index + 1)
    return with_params(request, page=int(request.param("page") or 0) + 1)
