"""Cookie mode for browsers: log in and refresh with HttpOnly cookies (see :mod:`.cookies`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from jwtgate import errors
from jwtgate.server.bodies import json_body_openapi, read_json
from jwtgate.server.cookies import (
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    check_origin,
    clear_session_cookies,
    same_secret,
    set_session_cookies,
)
from jwtgate.server.openapi import (
    JSON_BODY,
    UNAVAILABLE,
    cookie,
    error_responses,
    header,
    parameters,
    success,
)
from jwtgate.server.problems import ApiError
from jwtgate.server.responses import client_context, json_no_store
from jwtgate.server.schemas import CookieSession, LoginRequest
from jwtgate.server.state import app_state, csrf_signer, service_of
from jwtgate.service import TokenPair

__all__ = ["DEVICE_COOKIE", "build_cookie_router"]


#: The device token of cookie mode (see service/devices.py): sent only to the login route, kept
#: across logouts (it names the device, not a session).
DEVICE_COOKIE = "__Secure-jwtgate-device"
_LOGIN_PATH = "/api/cookie/login"


def _cookie_session(request: Request, pair: TokenPair) -> Response:
    csrf = csrf_signer(request).token_for(pair.session_id)
    response = json_no_store({"expires_in": int(pair.expires_in), "csrf_token": csrf})
    set_session_cookies(
        response,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        csrf_token=csrf,
        settings=app_state(request).settings,
    )
    return response


def build_cookie_router() -> APIRouter:
    router = APIRouter(prefix="/api/cookie", tags=["cookie mode"])

    @router.post(
        "/login",
        summary="Log in; tokens go to HttpOnly cookies, the body holds the CSRF token",
        openapi_extra=parameters(
            cookie(DEVICE_COOKIE, "The device token of this browser's last login"),
            extra=json_body_openapi(LoginRequest),
        ),
        responses={**success(200, CookieSession), **error_responses(*JSON_BODY, 401, 403, 429, *UNAVAILABLE)},
    )
    async def cookie_login(request: Request) -> Response:
        check_origin(request, app_state(request).settings)
        body = await read_json(request, LoginRequest)
        pair, device_token = await service_of(request).login_with_device(
            body.username,
            body.password,
            device_token=request.cookies.get(DEVICE_COOKIE),
            **client_context(request),
        )
        response = _cookie_session(request, pair)
        if device_token is not None:
            response.set_cookie(
                DEVICE_COOKIE,
                device_token,
                max_age=app_state(request).settings.device_token_ttl,
                path=_LOGIN_PATH,
                secure=True,
                httponly=True,
                samesite="strict",
            )
        return response

    @router.post(
        "/refresh",
        summary="Rotate the refresh cookie (send X-CSRF-Token)",
        openapi_extra=parameters(
            cookie(REFRESH_COOKIE, "The refresh token (set by /api/cookie/login)"),
            cookie(CSRF_COOKIE, "The CSRF token (set by /api/cookie/login)"),
            header(CSRF_HEADER, "The CSRF token again (the value of the CSRF cookie)"),
        ),
        responses={**success(200, CookieSession), **error_responses(401, 403, *UNAVAILABLE)},
    )
    async def cookie_refresh(request: Request) -> Response:
        check_origin(request, app_state(request).settings)
        # Double submit: before the session is known, the header must repeat the CSRF cookie.
        cookie, header = request.cookies.get(CSRF_COOKIE, ""), request.headers.get(CSRF_HEADER, "")
        if not cookie or not same_secret(cookie, header):
            raise ApiError(403, "access_denied", "missing or wrong CSRF token")
        refresh_token = request.cookies.get(REFRESH_COOKIE)
        if not refresh_token:
            raise errors.InvalidGrant("no refresh cookie")
        service = service_of(request)
        try:
            # The session-bound CSRF check comes BEFORE the rotation: a forged request must not spend
            # the refresh token (the real one would then look like a reuse and end the session).
            session_id = await service.refresh_token_session(refresh_token)
            if not same_secret(header, csrf_signer(request).token_for(session_id)):
                raise ApiError(403, "access_denied", "missing or wrong CSRF token")
            pair = await service.refresh(refresh_token, **client_context(request))
        except errors.InvalidGrant:
            response = json_no_store(
                {"error": "invalid_grant", "error_description": errors.InvalidGrant.description},
                status_code=401,
            )
            clear_session_cookies(response)  # dead session: stop the browser sending it
            return response
        return _cookie_session(request, pair)

    return router
