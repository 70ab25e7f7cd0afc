"""Request and response bodies of the JSON API. Requests forbid unknown fields.

Moments in responses are RFC 3339 strings in UTC to the second (``2026-11-30T08:44:42Z``): what
``Date.parse`` and ``datetime.fromisoformat`` read as they are, unlike an epoch float a reader must
know to multiply by 1000 (JavaScript) or to treat as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LoginRequest",
    "PasswordChangeRequest",
    "RefreshRequest",
    "RegisterRequest",
    "SessionView",
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
