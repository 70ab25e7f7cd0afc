"""Request and response bodies of the JSON API. Requests forbid unknown fields.

Moments in responses are RFC 3339 strings in UTC to the second (``2026-11-30T08:44:42Z``): what
``Date.parse`` and ``datetime.fromisoformat`` read as they are, unlike an epoch float a reader must
know to multiply by 1000 (JavaScript) or to treat as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CookieSession",
    "ErrorBody",
    "Health",
    "Introspection",
    "JsonWebKeySet",
    "LoginRequest",
    "PasswordChangeRequest",
    "RefreshRequest",
    "RegisterRequest",
    "RevocationFeed",
    "RevokedSessions",
    "SessionList",
    "SessionView",
    "TokenAnswer",
    "UserClaims",
    "UserView",
    "rfc3339",
]

# Bounded so an attacker cannot make argon2 hash megabytes; long enough for passphrases.
_PASSWORD = Field(min_length=1, max_length=1024)
_NEW_PASSWORD = Field(min_length=8, max_length=1024)
_USERNAME = Field(min_length=1, max_length=150)


def rfc3339(epoch_seconds: float) -> str:
    """``epoch_seconds`` (the service's unit) as an RFC 3339 UTC date-time, fractions dropped."""
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LoginRequest(_Request):
    username: str = _USERNAME
    password: str = _PASSWORD


class RefreshRequest(_Request):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordChangeRequest(_Request):
    current_password: str = _PASSWORD
    new_password: str = _NEW_PASSWORD


class RegisterRequest(_Request):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = _NEW_PASSWORD


class UserView(BaseModel):
    id: str
    username: str
    roles: list[str]
    scopes: list[str]
    created_at: str


class SessionView(BaseModel):
    id: str
    created_at: str
    last_used_at: str | None
    idle_expires_at: str | None
    expires_at: str
    user_agent: str | None
    ip: str | None
    current: bool


# Response bodies, for the OpenAPI document (the routes build their answers directly; the schemathesis
# suite checks every answer against these).


class ErrorBody(BaseModel):
    """Every error answer of the HTTP API (RFC 6749 section 5.2 shape)."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(description="A machine-readable code, e.g. invalid_request, invalid_grant")
    error_description: str = Field(description="A fixed human-readable text; never echoes the input")


class TokenAnswer(BaseModel):
    """RFC 6749 section 5.1 token answer."""

    access_token: str
    token_type: Literal["Bearer", "DPoP"]
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str | None = Field(default=None, description="Absent for client_credentials")
    scope: str | None = Field(default=None, description="Space-separated granted scopes")
    device_token: str | None = Field(
        default=None,
        description="/api/login: send it back in X-Device-Token on the next logins (see the lockout docs)",
    )


class CookieSession(BaseModel):
    expires_in: int
    csrf_token: str = Field(description="Send it in X-CSRF-Token with unsafe cookie-authenticated requests")


class RevokedSessions(BaseModel):
    revoked_sessions: int


class UserClaims(BaseModel):
    message: str
    user: dict[str, Any] = Field(description="The verified claims of the access token")


class SessionList(BaseModel):
    sessions: list[SessionView]


class Introspection(BaseModel):
    """RFC 7662 section 2.2: ``active`` and, for an active token, its claims."""

    model_config = ConfigDict(extra="allow")
    active: bool


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, Any]]


class RevocationFeed(BaseModel):
    revocations: list[dict[str, Any]]
    cursor: int = Field(description="Pass as ?after= next time")


class Health(BaseModel):
    status: str
