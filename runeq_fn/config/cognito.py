"""The Cognito refresh of a JWT: the endpoint, the request body, and the POST that HTTP hands in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..policy import Policy

DEFAULT_COGNITO_REGION = "us-west-2"

Poster = Callable[[str, Mapping[str, Any], Mapping[str, str], Policy], Any]
"""POST a JSON body by a policy's route and bounds, and return the parsed answer."""
POSTERS: list[Poster] = []
"""The Cognito refresh's POST: ``runeq_fn.http.transport.post_json``, handed in when transport loads
(``import runeq_fn`` loads it). Config sits below HTTP, so it is handed the POST, never imports it."""


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
