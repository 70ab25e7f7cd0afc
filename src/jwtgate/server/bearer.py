"""Authentication of API requests: RFC 6750 bearer header, or the access cookie of cookie mode.

The dependency :func:`current_claims` also declares the OAuth2 password flow in OpenAPI (token URL
``/oauth/token``) so the "Authorize" button of ``/docs`` works. A request authenticated by the cookie
must pass the CSRF and Origin checks on unsafe methods (see :mod:`jwtgate.server.cookies`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from jwtgate.bearer import bearer_token as parse_bearer
from jwtgate.errors import MalformedToken
from jwtgate.server.cookies import ACCESS_COOKIE, SAFE_METHODS, check_origin
from jwtgate.server.problems import ApiError, bearer_challenge
from jwtgate.server.state import app_state, csrf_signer, service_of

__all__ = ["Claims", "bearer_token", "current_claims", "openapi_bearer"]

# Declares the security scheme for OpenAPI only; parsing is ours (stricter: one header, one token).
openapi_bearer = OAuth2PasswordBearer(tokenUrl="/oauth/token", auto_error=False)

_B64TOKEN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


def bearer_token(request: Request) -> str:
    """The token of the single ``Authorization: Bearer`` header, or an RFC 6750 error."""
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
        token = parse_bearer(values[0].strip())
    except MalformedToken:
        token = ""  # "Bearer" with nothing after it
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "bearer authentication required",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    if not token or not set(token) <= _B64TOKEN:
        description = "the token is malformed"
        raise ApiError(
            401,
            "invalid_token",
            description,
            headers={"WWW-Authenticate": bearer_challenge("invalid_token", description)},
        )
    return token


async def current_claims(
    request: Request, _declared: Annotated[str | None, Depends(openapi_bearer)]
) -> dict[str, Any]:
    """Verified claims of the request's access token (signature, claims, denylist).

    A :class:`~jwtgate.errors.TokenError` from the service propagates to the error handlers, which
    log its precise code and answer 401 ``invalid_token`` with the RFC 6750 challenge.
    """
    from_cookie = not request.headers.getlist("authorization") and ACCESS_COOKIE in request.cookies
    token = _cookie_token(request) if from_cookie else bearer_token(request)
    claims: dict[str, Any] = await service_of(request).authenticate(token)
    if from_cookie and request.method not in SAFE_METHODS:
        check_origin(request, app_state(request).settings)
        sid = claims.get("sid")
        if not isinstance(sid, str):
            raise ApiError(403, "access_denied", "missing or wrong CSRF token")
        csrf_signer(request).check(request, sid)
    return claims


def _cookie_token(request: Request) -> str:
    token = request.cookies.get(ACCESS_COOKIE, "")
    if not token or not set(token) <= _B64TOKEN:
        description = "the token is malformed"
        raise ApiError(
            401,
            "invalid_token",
            description,
            headers={"WWW-Authenticate": bearer_challenge("invalid_token", description)},
        )
    return token


Claims = Annotated[dict[str, Any], Depends(current_claims)]
