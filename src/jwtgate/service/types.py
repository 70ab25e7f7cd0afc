"""What the service returns to its callers (server, CLI). None of these carries a hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jwtgate.service.records import ClientRecord, SessionRecord, UserRecord

__all__ = ["AccessGrant", "ClientInfo", "SessionInfo", "TokenPair", "UserInfo"]


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A login or refresh result. The tokens are secrets: ``repr`` leaves them out."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    session_id: str
    scope: str | None
    token_type: str = "Bearer"  # noqa: S105 - the scheme name: "DPoP" for DPoP-bound tokens


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    username: str
    disabled: bool
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: float

    @classmethod
    def of(cls, user: UserRecord) -> UserInfo:
        return cls(user.id, user.username, user.disabled, user.roles, user.scopes, user.created_at)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    user_id: str
    created_at: float
    last_used_at: float
    idle_expires_at: float
    expires_at: float
    user_agent: str | None
    ip: str | None
    revoked_at: float | None
    scope: str | None = None

    @classmethod
    def of(cls, s: SessionRecord) -> SessionInfo:
        return cls(
            s.id,
            s.user_id,
            s.created_at,
            s.last_used_at,
            s.idle_expires_at,
            s.expires_at,
            s.user_agent,
            s.ip,
            s.revoked_at,
            s.scope,
        )


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """A client's registration without its secret digest. ``auth_methods``: how it authenticates."""

    id: str
    name: str
    created_at: float
    kind: str = "confidential"
    grants: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    first_party: bool = False
    audiences: tuple[str, ...] = ()
    introspect: bool = False
    jwks_url: str | None = None
    has_jwks: bool = False
    auth_methods: tuple[str, ...] = ()

    @classmethod
    def of(cls, client: ClientRecord) -> ClientInfo:
        if client.kind == "public":
            methods: tuple[str, ...] = ("none",)
        elif client.jwks is not None or client.jwks_url is not None:
            methods = ("private_key_jwt",)
        else:
            methods = ("client_secret_basic", "client_secret_post")
        return cls(
            client.id,
            client.name,
            client.created_at,
            client.kind,
            client.grants,
            client.scopes,
            client.redirect_uris,
            client.first_party,
            client.audiences,
            client.introspect,
            client.jwks_url,
            client.jwks is not None,
            methods,
        )


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """A token response without a refresh token (client credentials). The token is a secret."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 scheme name


def audit_dict(event: Any) -> dict[str, Any]:
    """An :class:`~jwtgate.service.records.AuditEvent` as a JSON-ready dict."""
    return {
        "id": event.id,
        "at": event.at,
        "kind": event.kind,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "detail": dict(event.detail),
    }
