"""Authentication of API requests: ``Authorization: Bearer`` (RFC 6750), ``Authorization: DPoP`` with a
proof (RFC 9449), or the access cookie of cookie mode. This is where the server reads credentials.

The dependency :func:`current_claims` also declares the OAuth2 password flow in OpenAPI (token URL
``/oauth/token``) so the "Authorize" button of ``/docs`` works. A request authenticated by the cookie
must pass the CSRF and Origin checks on unsafe methods (see :mod:`jwtgate.server.cookies`); a DPoP-bound
token must come with a proof of possession (see :mod:`jwtgate.server.dpop`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from jwtgate.credentials import BEARER, Credentials, parse_credentials
from jwtgate.errors import MalformedToken
from jwtgate.server.cookies import ACCESS_COOKIE, SAFE_METHODS, check_origin
from jwtgate.server.problems import ApiError, bearer_challenge
from jwtgate.server.state import app_state, csrf_signer, dpop_gate, service_of

__all__ = ["Claims", "current_claims", "openapi_bearer", "request_credentials"]

# Declares the security scheme for OpenAPI only; parsing is ours (stricter: one header, one token).
openapi_bearer = OAuth2PasswordBearer(tokenUrl="/oauth/token", auto_error=False)

_B64TOKEN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


def _malformed() -> ApiError:
    description = "the token is malformed"
    return ApiError(
        401,
        "invalid_token",
        description,
        headers={"WWW-Authenticate": bearer_challenge("invalid_token", description)},
    )


def request_credentials(request: Request) -> Credentials:
    """The scheme and token of the single ``Authorization`` header (Bearer or DPoP), or an RFC 6750
    error: 401 without credentials, 400 for two headers."""
    values = request.headers.getlist("authorization")
    if not values:
        raise ApiError(
            401,
            "unauthorized",
            "authentication required",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    if len(values) > 1:
        description = "more than one Authorization header"
        raise ApiError(
            400,
            "invalid_request",
            description,
            headers={"WWW-Authenticate": bearer_challenge("invalid_request", description)},
        )
    try:
        found = parse_credentials(values[0].strip())
    except MalformedToken:
        raise _malformed() from None  # "Bearer" with nothing after it
    if found is None:
        raise ApiError(
            401,
            "unauthorized",
            "bearer authentication required",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    if not set(found.token) <= _B64TOKEN:
        raise _malformed()
    return found


async def current_claims(
    request: Request, _declared: Annotated[str | None, Depends(openapi_bearer)]
) -> dict[str, Any]:
    """Verified claims of the request's access token (signature, claims, denylist, DPoP binding).

    A :class:`~jwtgate.errors.TokenError` from the service propagates to the error handlers, which
    log its precise code and answer 401 ``invalid_token`` with the RFC 6750 challenge.
    """
    from_cookie = not request.headers.getlist("authorization") and ACCESS_COOKIE in request.cookies
    credentials = Credentials(BEARER, _cookie_token(request)) if from_cookie else request_credentials(request)
    claims: dict[str, Any] = await service_of(request).authenticate(credentials.token)
    if not from_cookie:
        await dpop_gate(request).resource_request(request, credentials.scheme, credentials.token, claims)
    elif "cnf" in claims:
        raise _malformed()  # a sender-constrained token never travels in a cookie
    elif request.method not in SAFE_METHODS:
        check_origin(request, app_state(request).settings)
        sid = claims.get("sid")
        if not isinstance(sid, str):
            raise ApiError(403, "access_denied", "missing or wrong CSRF token")
        csrf_signer(request).check(request, sid)
    return claims


def _cookie_token(request: Request) -> str:
    token = request.cookies.get(ACCESS_COOKIE, "")
    if not token or not set(token) <= _B64TOKEN:
        raise _malformed()
    return token


Claims = Annotated[dict[str, Any], Depends(current_claims)]
