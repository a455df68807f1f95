"""Credentials the emulator accepts, and the pure checks of request headers and Cognito bodies.

All values are fixed fakes, safe to print in docs: they open nothing but an emulator.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

CLIENT_KEY_PATIENT = "patient-1"

TOKEN_ID_HEADER = "x-rune-user-access-token-id"
TOKEN_SECRET_HEADER = "x-rune-user-access-token-secret"
CLIENT_KEY_ID_HEADER = "x-rune-client-key-id"
CLIENT_ACCESS_KEY_HEADER = "x-rune-client-access-key"
JWT_HEADER = "x-rune-user-access-token"

COGNITO_TARGET = "AWSCognitoIdentityProviderService.InitiateAuth"


def _b64(data: bytes) -> str:
    """Unpadded urlsafe base64, as in JWTs."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(subject: str, serial: int) -> str:
    """An unsigned, JWT-shaped token naming a subject and a serial number.

    >>> make_jwt("emulator-user", 0).count(".")
    2
    >>> make_jwt("emulator-user", 0) == make_jwt("emulator-user", 1)
    False
    """
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": "runeq-fn-emulator", "sub": subject, "serial": serial}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.emulator"


CREDENTIALS: dict[str, str] = {
    "access_token_id": "emulator-access-token-id",
    "access_token_secret": "emulator-access-token-secret",
    "client_key_id": "emulator-client-key-id",
    "client_access_key": "emulator-client-access-key",
    "jwt": make_jwt("emulator-user", 0),
    "cognito_client_id": "emulatorcognitoclientid",
    "cognito_refresh_token": "emulator-cognito-refresh-token",
}


def auth_method(headers: Mapping[str, str]) -> str | None:
    """Which credential kind the (lower-cased) header names present, by precedence.

    >>> auth_method({"x-rune-client-key-id": "k"}), auth_method({"accept": "*/*"})
    ('client_keys', None)
    """
    if TOKEN_ID_HEADER in headers or TOKEN_SECRET_HEADER in headers:
        return "access_token"
    if CLIENT_KEY_ID_HEADER in headers or CLIENT_ACCESS_KEY_HEADER in headers:
        return "client_keys"
    if JWT_HEADER in headers:
        return "jwt"
    return None


def authenticate(
    headers: Mapping[str, str], valid_jwts: frozenset[str] | set[str]
) -> tuple[str | None, bool]:
    """The method presented and whether its credentials are valid; headers keyed lower-case.

    >>> authenticate({TOKEN_ID_HEADER: CREDENTIALS["access_token_id"],
    ...               TOKEN_SECRET_HEADER: CREDENTIALS["access_token_secret"]}, set())
    ('access_token', True)
    >>> authenticate({JWT_HEADER: "nope"}, {"yes"})
    ('jwt', False)
    """
    method = auth_method(headers)
    if method == "access_token":
        ok = (
            headers.get(TOKEN_ID_HEADER) == CREDENTIALS["access_token_id"]
            and headers.get(TOKEN_SECRET_HEADER) == CREDENTIALS["access_token_secret"]
        )
    elif method == "client_keys":
        ok = (
            headers.get(CLIENT_KEY_ID_HEADER) == CREDENTIALS["client_key_id"]
            and headers.get(CLIENT_ACCESS_KEY_HEADER) == CREDENTIALS["client_access_key"]
        )
    elif method == "jwt":
        ok = headers.get(JWT_HEADER, "") in valid_jwts
    else:
        ok = False
    return method, ok


def cognito_error(target: str, body: bytes) -> tuple[str, str] | None:
    """Why a Cognito InitiateAuth call is refused, as (``__type``, message), or None if it is good.

    >>> good = json.dumps({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": CREDENTIALS["cognito_client_id"],
    ...     "AuthParameters": {"REFRESH_TOKEN": CREDENTIALS["cognito_refresh_token"]}}).encode()
    >>> cognito_error(COGNITO_TARGET, good) is None
    True
    >>> cognito_error(COGNITO_TARGET, good.replace(b"emulator-cognito", b"x"))
    ('NotAuthorizedException', 'Invalid Refresh Token')
    """
    if target != COGNITO_TARGET:
        return "UnknownOperationException", f"unknown operation {target!r}"
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return "SerializationException", "body is not JSON"
    if not isinstance(request, dict):
        return "SerializationException", "body is not a JSON object"
    if request.get("AuthFlow") != "REFRESH_TOKEN_AUTH":
        return "InvalidParameterException", "AuthFlow must be REFRESH_TOKEN_AUTH"
    if request.get("ClientId") != CREDENTIALS["cognito_client_id"]:
        return "ResourceNotFoundException", "User pool client does not exist."
    parameters = request.get("AuthParameters")
    if (
        not isinstance(parameters, dict)
        or parameters.get("REFRESH_TOKEN") != CREDENTIALS["cognito_refresh_token"]
    ):
        return "NotAuthorizedException", "Invalid Refresh Token"
    return None
