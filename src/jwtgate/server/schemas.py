"""Request and response bodies of the JSON API. Requests forbid unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LoginRequest",
    "PasswordChangeRequest",
    "RefreshRequest",
    "RegisterRequest",
    "SessionView",
    "UserView",
]

# Bounded so an attacker cannot make argon2 hash megabytes; long enough for passphrases.
_PASSWORD = Field(min_length=1, max_length=1024)
_NEW_PASSWORD = Field(min_length=8, max_length=1024)
_USERNAME = Field(min_length=1, max_length=150)


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
    created_at: float


class SessionView(BaseModel):
    id: str
    created_at: float
    last_used_at: float | None
    idle_expires_at: float | None
    expires_at: float
    user_agent: str | None
    ip: str | None
    current: bool
