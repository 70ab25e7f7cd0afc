"""The JSON API of end users: login, refresh, logout, me, sessions, password, registration."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from jwtgate import errors
from jwtgate.server.authentication import Claims
from jwtgate.server.bodies import json_body_openapi, read_json
from jwtgate.server.cookies import ACCESS_COOKIE, clear_session_cookies
from jwtgate.server.openapi import (
    AUTHENTICATED,
    DPOP_PROOF,
    JSON_BODY,
    UNAVAILABLE,
    error_responses,
    header,
    parameters,
    success,
)
from jwtgate.server.problems import ApiError
from jwtgate.server.responses import client_context, json_no_store, token_response
from jwtgate.server.schemas import (
    LoginRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    RevokedSessions,
    SessionList,
    SessionView,
    TokenAnswer,
    UserClaims,
    UserView,
    rfc3339,
)
from jwtgate.server.state import app_state, dpop_gate, service_of

__all__ = ["DEVICE_HEADER", "build_account_router"]

#: Where a JSON client sends back the ``device_token`` of its last successful login.
DEVICE_HEADER = "X-Device-Token"

logger = logging.getLogger("jwtgate.server")

_DEVICE_TOKEN = header(DEVICE_HEADER, "The device_token of this client's last successful login")


def _user_view(user: Any) -> dict[str, Any]:
    return UserView(
        id=user.id,
        username=user.username,
        roles=list(user.roles),
        scopes=list(user.scopes),
        created_at=rfc3339(user.created_at),
    ).model_dump()


def build_account_router(*, registration_open: bool) -> APIRouter:
    """Routes under ``/api``; ``POST /api/register`` exists only when registration is open."""
    router = APIRouter(prefix="/api", tags=["account"])

    @router.post(
        "/login",
        summary="Log in with username and password; returns an access and a refresh token",
        openapi_extra=parameters(DPOP_PROOF, _DEVICE_TOKEN, extra=json_body_openapi(LoginRequest)),
        responses={**success(200, TokenAnswer), **error_responses(*JSON_BODY, 401, 429, *UNAVAILABLE)},
    )
    async def login(request: Request) -> Response:
        body = await read_json(request, LoginRequest)
        metrics = app_state(request).metrics
        gate = dpop_gate(request)
        try:
            jkt = await gate.token_request(request)  # a DPoP proof binds the session to its key
            pair, device_token = await service_of(request).login_with_device(
                body.username,
                body.password,
                device_token=request.headers.get(DEVICE_HEADER),
                dpop_jkt=jkt,
                **client_context(request),
            )
        except errors.JwtgateError as exc:
            metrics.auth_events.labels("login", exc.code).inc()
            raise
        metrics.auth_events.labels("login", "ok").inc()
        # device_token: sent back in X-Device-Token at the next logins, so that failures made by others
        # do not block this client (see service/devices.py).
        return token_response(pair, headers=gate.nonce_header(), device_token=device_token)

    @router.post(
        "/token/refresh",
        summary="Exchange a refresh token for a new pair (the old one is spent)",
        openapi_extra=parameters(DPOP_PROOF, extra=json_body_openapi(RefreshRequest)),
        responses={**success(200, TokenAnswer), **error_responses(*JSON_BODY, 401, *UNAVAILABLE)},
    )
    async def refresh(request: Request) -> Response:
        body = await read_json(request, RefreshRequest)
        metrics = app_state(request).metrics
        gate = dpop_gate(request)
        try:
            jkt = await gate.token_request(request)
            pair = await service_of(request).refresh(
                body.refresh_token, dpop_jkt=jkt, **client_context(request)
            )
        except errors.InvalidDPoPProof as exc:
            metrics.auth_events.labels("refresh", exc.code).inc()
            # RFC 9449 section 5: a refresh without a proof by the session's key; nothing was spent.
            raise ApiError(400, "invalid_dpop_proof", exc.description, headers=gate.nonce_header()) from None
        except errors.JwtgateError as exc:
            metrics.auth_events.labels("refresh", exc.code).inc()
            raise
        metrics.auth_events.labels("refresh", "ok").inc()
        return token_response(pair, headers=gate.nonce_header())

    @router.post(
        "/logout",
        status_code=204,
        summary="End this session",
        responses=error_responses(*AUTHENTICATED, *UNAVAILABLE),
    )
    async def logout(request: Request, claims: Claims) -> Response:
        await service_of(request).logout(_session_id(claims))
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        if ACCESS_COOKIE in request.cookies:
            clear_session_cookies(response)
        return response

    @router.post(
        "/logout/all",
        summary="End every session of this user",
        responses={**success(200, RevokedSessions), **error_responses(*AUTHENTICATED, *UNAVAILABLE)},
    )
    async def logout_all(request: Request, claims: Claims) -> Response:
        count = await service_of(request).logout_all(claims["sub"])
        response = json_no_store({"revoked_sessions": count})
        if ACCESS_COOKIE in request.cookies:
            clear_session_cookies(response)
        return response

    @router.get(
        "/me",
        summary="The logged-in user",
        responses={**success(200, UserView), **error_responses(*AUTHENTICATED, *UNAVAILABLE)},
    )
    async def me(request: Request, claims: Claims) -> Response:
        user = await service_of(request).get_user(claims["sub"])
        return json_no_store(_user_view(user))

    @router.get(
        "/protected",
        summary="A demo protected route: returns the token's claims",
        responses={**success(200, UserClaims), **error_responses(*AUTHENTICATED, *UNAVAILABLE)},
    )
    async def protected(claims: Claims) -> Response:
        return json_no_store({"message": "This is a protected route!", "user": claims})

    @router.get(
        "/sessions",
        summary="Active sessions of this user",
        responses={**success(200, SessionList), **error_responses(*AUTHENTICATED, *UNAVAILABLE)},
    )
    async def sessions(request: Request, claims: Claims) -> Response:
        current = claims.get("sid")
        found = await service_of(request).list_sessions(claims["sub"])
        views = [
            SessionView(
                id=item.id,
                created_at=rfc3339(item.created_at),
                last_used_at=None if item.last_used_at is None else rfc3339(item.last_used_at),
                idle_expires_at=None if item.idle_expires_at is None else rfc3339(item.idle_expires_at),
                expires_at=rfc3339(item.expires_at),
                user_agent=item.user_agent,
                ip=item.ip,
                current=item.id == current,
            ).model_dump()
            for item in found
        ]
        return json_no_store({"sessions": views})

    @router.delete(
        "/sessions/{sid}",
        status_code=204,
        summary="Revoke one of this user's sessions",
        responses=error_responses(*AUTHENTICATED, 404, *UNAVAILABLE),
    )
    async def revoke_session(request: Request, sid: str, claims: Claims) -> Response:
        if len(sid) > 200:
            raise ApiError(404, "not_found", "not found")
        await service_of(request).revoke_session(sid, user_id=claims["sub"])
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        if sid == claims.get("sid") and ACCESS_COOKIE in request.cookies:
            clear_session_cookies(response)  # this browser's own session: its cookies are dead now
        return response

    @router.post(
        "/password",
        status_code=204,
        summary="Change the password; every other session is revoked",
        openapi_extra=json_body_openapi(PasswordChangeRequest),
        responses=error_responses(*AUTHENTICATED, *JSON_BODY, 429, *UNAVAILABLE),
    )
    async def change_password(request: Request, claims: Claims) -> Response:
        body = await read_json(request, PasswordChangeRequest)
        try:
            await service_of(request).change_password(
                claims["sub"],
                body.current_password,
                body.new_password,
                keep_session_id=_session_id(claims),
            )
        except errors.InvalidCredentials:
            # The caller is authenticated: a wrong current password is a refusal, not a login.
            raise ApiError(403, "invalid_grant", "the current password is wrong") from None
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    if registration_open:

        @router.post(
            "/register",
            status_code=201,
            summary="Create an account (JWTGATE_REGISTRATION=open)",
            openapi_extra=json_body_openapi(RegisterRequest),
            responses={**success(201, UserView), **error_responses(*JSON_BODY, 409, 429, *UNAVAILABLE)},
        )
        async def register(request: Request) -> Response:
            body = await read_json(request, RegisterRequest)
            ip = client_context(request)["ip"]
            user = await service_of(request).register(body.username, body.password, ip=ip)
            logger.info("registered a user")
            return json_no_store(_user_view(user), status_code=201)

    return router


def _session_id(claims: dict[str, Any]) -> str:
    sid = claims.get("sid")
    if not isinstance(sid, str):
        raise ApiError(400, "invalid_request", "the token carries no session")
    return sid
