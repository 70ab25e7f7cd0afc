"""Response helpers shared by the route modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from jwtgate.service.types import AccessGrant, TokenPair

__all__ = ["NO_STORE", "client_context", "json_no_store", "token_response"]

# RFC 6749 section 5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_USER_AGENT = 256


def json_no_store(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def token_response(
    result: TokenPair | AccessGrant,
    headers: Mapping[str, str] | None = None,
    *,
    always_scope: bool = False,
    device_token: str | None = None,
) -> JSONResponse:
    """The token answer (RFC 6749 section 5.1): ``token_type`` (``DPoP`` for DPoP-bound tokens), a
    ``refresh_token`` unless the grant has none (client credentials), ``scope`` when one was granted,
    or always with ``always_scope`` (the OAuth endpoint: a client never guesses what it got), and the
    login route's ``device_token``."""
    body: dict[str, Any] = {
        "access_token": result.access_token,
        "token_type": result.token_type,
        "expires_in": int(result.expires_in),
    }
    refresh_token = getattr(result, "refresh_token", None)
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if result.scope or always_scope:
        body["scope"] = result.scope or ""
    if device_token is not None:
        body["device_token"] = device_token
    return JSONResponse(body, headers={**NO_STORE, **(headers or {})})


def client_context(request: Request) -> dict[str, str | None]:
    """``user_agent`` and ``ip`` for session records (ip already proxy-resolved by uvicorn)."""
    agent = request.headers.get("user-agent")
    return {
        "user_agent": agent[:_MAX_USER_AGENT] if agent else None,
        "ip": request.client.host if request.client else None,
    }
