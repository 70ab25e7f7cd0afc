"""Plain records exchanged between the service and its storage ports.

Times are POSIX seconds (float) from the service's injected clock; the store never reads a clock itself.
Records are immutable: a store returns fresh ones and the service never mutates what it got.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

RevocationKind = Literal["sid", "jti"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user. ``password_hash`` is a PHC string (argon2id); never log or return it."""

    id: str
    username: str
    password_hash: str = field(repr=False)
    disabled: bool
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: float
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A login session (``sid``). Active while not revoked and before both expiries."""

    id: str
    user_id: str
    created_at: float
    last_used_at: float
    idle_expires_at: float
    expires_at: float
    scope: str | None
    user_agent: str | None
    ip: str | None
    revoked_at: float | None = None
    dpop_jkt: str | None = None
    client_id: str | None = None  # None: the built-in client (sessions made before clients existed)

    def is_active(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at and now < self.idle_expires_at


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """One refresh token of a session. ``digest`` is the hex SHA-256 of the token (never stored)."""

    digest: str
    session_id: str
    parent_digest: str | None
    created_at: float
    expires_at: float
    used_at: float | None = None


@dataclass(frozen=True, slots=True)
class Revocation:
    """A denylist entry. ``cursor`` grows monotonically across the store's lifetime (never reused)."""

    cursor: int
    kind: RevocationKind
    value: str
    expires_at: float

    def feed_entry(self) -> dict[str, Any]:
        """The entry as guards read it, in the feed and on the broadcast channel alike:
        ``{"cursor", "type", "value", "expires_at"}`` with ``expires_at`` whole seconds, rounded up."""
        return {
            "cursor": self.cursor,
            "type": self.kind,
            "value": self.value,
            "expires_at": math.ceil(self.expires_at),
        }


ClientKind = Literal["public", "confidential"]


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered OAuth client. ``secret_hash`` is the hex SHA-256 of its secret (None: a public
    client, or one that authenticates with ``private_key_jwt`` only). ``jwks`` is a JWKS as JSON text.
    """

    id: str
    name: str
    secret_hash: str | None = field(repr=False)
    created_at: float
    kind: ClientKind = "confidential"
    grants: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    first_party: bool = False
    audiences: tuple[str, ...] = ()
    introspect: bool = False
    jwks_url: str | None = None
    jwks: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationCodeRecord:
    """An authorization code (RFC 6749 section 4.1), stored by digest. ``session_id`` is the session
    its exchange created (so a replay can revoke it); ``used_at`` is set by the exchange."""

    digest: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something security-relevant happened. ``detail`` holds no secret."""

    id: int
    at: float
    kind: str
    user_id: str | None
    session_id: str | None
    detail: dict[str, Any]


class RefreshTokenLookup(NamedTuple):
    """A refresh token with its session and the session's user (one query on SQL backends)."""

    token: RefreshTokenRecord
    session: SessionRecord
    user: UserRecord
