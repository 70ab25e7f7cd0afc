"""Storage ports: what the service needs from a backend, as ``typing.Protocol`` classes.

Every method is a coroutine and every compound change is ONE method, so each backend can make it atomic
(one SQL transaction, one synchronous block in memory). Stores never read a clock: the service passes ``now``.
Backend failures surface as :class:`jwtgate.errors.StorageError`; a failed call changes nothing.

The in-memory backend (``jwtgate.storage.memory``) is the reference; ``tests/storage`` is the contract every
backend must pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from jwtgate.errors import ConfigError
from jwtgate.service.keystore import KeyStore
from jwtgate.service.records import (
    AuditEvent,
    AuthorizationCodeRecord,
    ClientRecord,
    RefreshTokenLookup,
    RefreshTokenRecord,
    Revocation,
    RevocationKind,
    SessionRecord,
    UserRecord,
)


class NotInitialised(ConfigError):
    """The store holds no jwtgate data yet (commands other than init and serve create nothing)."""

    description = "no jwtgate data here: run `jwtgate init` or `jwtgate serve` first"


class UserStore(Protocol):
    async def create_user(self, user: UserRecord) -> None:
        """Insert ``user``. Raises :class:`~jwtgate.errors.Conflict` if the id or username exists."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_name(self, username: str) -> UserRecord | None: ...

    async def list_users(self) -> list[UserRecord]:
        """All users, ordered by username."""

    async def count_users(self) -> int: ...

    async def set_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        """Store a new hash and set ``password_changed_at``; False when the user does not exist."""

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """False when the user does not exist."""


class SessionStore(Protocol):
    async def create_session(self, session: SessionRecord, token: RefreshTokenRecord) -> None:
        """Insert a session and its first refresh token together."""

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(
        self, *, user_id: str | None = None, active_at: float | None = None
    ) -> list[SessionRecord]:
        """Sessions (of ``user_id`` if given), newest first; only those active at ``active_at`` if given."""

    async def revoke_sessions(
        self, session_ids: Sequence[str], now: float, deny_until: float
    ) -> list[Revocation]:
        """Revoke the still-unrevoked sessions among ``session_ids`` and denylist each ``sid`` until
        ``deny_until``, atomically. Returns the new denylist entries (one per session actually revoked)."""

    async def find_refresh_token(self, digest: str) -> RefreshTokenLookup | None:
        """The token with this digest, its session and the session's user."""

    async def current_refresh_token(self, session_id: str) -> RefreshTokenRecord | None:
        """The session's unused refresh token (rotation keeps at most one), newest first if several."""

    async def rotate_live_refresh_token(
        self, parent_digest: str, child_digest: str, now: float, idle_ttl: float, dpop_jkt: str | None = None
    ) -> RefreshTokenLookup | None:
        """The fast path of a refresh, in one atomic step. When the parent is unused and unexpired at
        ``now``, its session active and bound to ``dpop_jkt`` (None: not bound), its user enabled: mark
        the parent used, insert a child
        (``expires_at = min(now + idle_ttl, session.expires_at)``), touch the session, and return the
        child with its touched session and user. Otherwise change nothing and return None (the caller
        then looks closer: expired, revoked, lost a race, or reused)."""

    async def rotate_refresh_token(
        self, parent_digest: str, child: RefreshTokenRecord, now: float, idle_expires_at: float
    ) -> bool:
        """Atomically: mark the parent used (only if still unused), insert ``child`` and touch the session
        (``last_used_at=now``, ``idle_expires_at``) only if it is not revoked. Returns False, changing
        nothing, when the parent was already used or the session is revoked; raises StorageError (changing
        nothing) on failure, e.g. a duplicate child digest."""

    async def add_refresh_token(self, token: RefreshTokenRecord, now: float, idle_expires_at: float) -> bool:
        """Insert ``token`` into its session and touch the session, only if it is not revoked (the
        grace path of a refresh). False, changing nothing, when the session is revoked or missing."""


class RevocationStore(Protocol):
    async def add_revocation(self, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
        """Denylist ``value``. If it is already listed, the later expiry wins and the entry gets a new
        cursor (so feed readers see the change). Cursors are never reused, even after a purge."""

    async def revocations(self, *, after: int, limit: int, now: float) -> list[Revocation]:
        """Entries with ``cursor > after`` that have not expired at ``now``, by cursor ascending."""


class ClientStore(Protocol):
    async def create_client(self, client: ClientRecord) -> None:
        """Raises Conflict if the id or name exists."""

    async def get_client(self, client_id: str) -> ClientRecord | None: ...

    async def list_clients(self) -> list[ClientRecord]: ...


class AuditStore(Protocol):
    async def add_audit_event(
        self,
        kind: str,
        at: float,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    async def audit_events(self, *, limit: int = 100) -> list[AuditEvent]:
        """Newest first."""


#: A sealed server secret as stored: (material, kek_id); see :mod:`jwtgate.service.sealing`.
SealedSecret = tuple[str, "str | None"]


class ServerStateStore(KeyStore, Protocol):
    """What every instance must agree on besides users and sessions: the key ring (:class:`KeyStore`),
    server secrets (CSRF, nonces) and a few named values (the issuer)."""

    async def get_secret(self, name: str) -> SealedSecret | None: ...

    async def ensure_secret(self, name: str, material: str, kek_id: str | None, now: float) -> SealedSecret:
        """Store the secret unless one of this name exists (instances racing agree on the first one);
        returns the stored one."""

    async def update_secrets(
        self, change: Callable[[dict[str, SealedSecret]], dict[str, SealedSecret] | None]
    ) -> None:
        """Atomically replace the secrets that ``change`` returns (e.g. resealed); None changes nothing."""

    async def get_meta(self, name: str) -> str | None: ...

    async def set_meta(self, name: str, value: str) -> None: ...

    async def ensure_meta(self, name: str, value: str) -> str:
        """Store ``value`` unless ``name`` is set; returns the stored value."""


class RevocationBroadcaster(Protocol):
    """Pushes new denylist entries to guards at once (e.g. Redis pub/sub). Optional and best effort:
    the store and its feed stay the source of truth, so the service logs a failed publish and goes on.
    """

    async def publish(self, entries: Sequence[Revocation]) -> None:
        """Send each entry (as :meth:`Revocation.feed_entry` JSON), in order; raise on failure."""

    async def publish_key_change(self) -> None:
        """Tell the other instances that the key ring changed (they reload it); raise on failure."""

    async def close(self) -> None: ...


class OAuthStore(Protocol):
    """What OAuth needs beyond the first ports: client changes, authorization codes, used client
    assertion ids (RFC 7523 ``jti``), the sessions of a client, and a user's roles and scopes."""

    async def get_client_by_name(self, name: str) -> ClientRecord | None: ...

    async def rotate_client_refresh_token(
        self,
        parent_digest: str,
        child_digest: str,
        now: float,
        idle_ttl: float,
        client_id: str | None,
        dpop_jkt: str | None = None,
    ) -> RefreshTokenLookup | None:
        """:meth:`SessionStore.rotate_live_refresh_token` (``dpop_jkt`` included), only when the token's
        session belongs to ``client_id`` (None: the built-in client); otherwise nothing changes and it
        returns None."""

    async def delete_client(self, client_id: str) -> bool:
        """False when the client does not exist."""

    async def set_client_secret(self, client_id: str, secret_hash: str) -> bool:
        """Replace the secret digest; False when the client does not exist."""

    async def client_session_ids(self, client_id: str) -> list[str]:
        """Ids of the client's sessions that are not revoked."""

    async def set_user_grants(self, user_id: str, roles: Sequence[str], scopes: Sequence[str]) -> bool:
        """Replace the user's roles and scopes; False when the user does not exist."""

    async def create_authorization_code(self, code: AuthorizationCodeRecord) -> None:
        """Insert ``code``; StorageError on a duplicate digest."""

    async def use_authorization_code(
        self, digest: str, now: float, session_id: str
    ) -> AuthorizationCodeRecord | None:
        """Atomically: when the code is unused, set ``used_at=now`` and ``session_id``. Returns the code
        as it was BEFORE this call (``used_at`` None: this call spent it; set: a replay, and its
        ``session_id`` says what the first exchange created), or None when unknown."""

    async def use_assertion_id(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Record a client assertion's ``jti`` until ``expires_at``. True the first time; False when the
        same client already used it and it has not expired at ``now`` (a replay)."""

    async def purge_oauth(self, now: float) -> dict[str, int]:
        """Delete authorization codes and assertion ids that expired before ``now``."""


class Store(
    UserStore, SessionStore, RevocationStore, ClientStore, AuditStore, ServerStateStore, OAuthStore, Protocol
):
    """A complete backend."""

    async def migrate(self) -> None:
        """Bring the schema to the current version (no-op for memory)."""

    async def ping(self) -> None:
        """One cheap round trip to the backend (a read of the schema); StorageError if it fails."""

    async def check_schema(self) -> None:
        """Raise :class:`NotInitialised` when the backend holds no jwtgate schema, ConfigError when its
        schema is older or newer than this jwtgate's (naming both versions); nothing is written."""

    async def purge(self, now: float, *, audit_before: float) -> dict[str, int]:
        """Delete what can never matter again: expired denylist entries, sessions that expired or were
        revoked (with their refresh tokens), audit events older than ``audit_before``. Returns row counts."""

    async def close(self) -> None: ...
