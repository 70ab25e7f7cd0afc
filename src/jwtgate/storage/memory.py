"""The in-memory reference backend. Every method runs without awaiting, so each one is atomic on the loop.

It defines the behaviour the SQL backends must match (``tests/storage`` runs the same contract on all).
Nothing survives the process: use it for tests and throwaway demos.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from jwtgate.errors import Conflict, StorageError
from jwtgate.service.keystore import KeyChange, StoredKey
from jwtgate.service.ports import SealedSecret
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

__all__ = ["MemoryStore"]


class MemoryStore:
    """Implements :class:`jwtgate.service.ports.Store` with dictionaries."""

    def __init__(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._user_ids_by_name: dict[str, str] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._tokens: dict[str, RefreshTokenRecord] = {}
        self._tokens_by_session: dict[str, list[str]] = {}
        self._revocations: dict[tuple[str, str], Revocation] = {}
        self._cursor = 0
        self._keys: list[StoredKey] = []
        self._keys_version: str | None = None
        self._secrets: dict[str, SealedSecret] = {}
        self._meta: dict[str, str] = {}
        self._clients: dict[str, ClientRecord] = {}
        self._audit: list[AuditEvent] = []
        self._audit_ids = itertools.count(1)
        self._codes: dict[str, AuthorizationCodeRecord] = {}
        self._assertion_ids: dict[tuple[str, str], float] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    # lifecycle
    async def migrate(self) -> None:
        self._check_open()

    async def ping(self) -> None:
        self._check_open()

    async def check_schema(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    async def purge(self, now: float, *, audit_before: float) -> dict[str, int]:
        self._check_open()
        dead_revocations = [k for k, r in self._revocations.items() if r.expires_at <= now]
        for key in dead_revocations:
            del self._revocations[key]
        dead_sessions = [s.id for s in self._sessions.values() if not s.is_active(now)]
        tokens = 0
        for sid in dead_sessions:
            del self._sessions[sid]
            for digest in self._tokens_by_session.pop(sid, []):
                del self._tokens[digest]
                tokens += 1
        before = len(self._audit)
        self._audit = [e for e in self._audit if e.at >= audit_before]
        return {
            "revocations": len(dead_revocations),
            "sessions": len(dead_sessions),
            "refresh_tokens": tokens,
            "audit_events": before - len(self._audit),
        }

    # users
    async def create_user(self, user: UserRecord) -> None:
        self._check_open()
        if user.id in self._users or user.username in self._user_ids_by_name:
            raise Conflict("a user with this name already exists")
        self._users[user.id] = user
        self._user_ids_by_name[user.username] = user.id

    async def get_user(self, user_id: str) -> UserRecord | None:
        self._check_open()
        return self._users.get(user_id)

    async def get_user_by_name(self, username: str) -> UserRecord | None:
        self._check_open()
        user_id = self._user_ids_by_name.get(username)
        return None if user_id is None else self._users[user_id]

    async def list_users(self) -> list[UserRecord]:
        self._check_open()
        return sorted(self._users.values(), key=lambda u: u.username)

    async def count_users(self) -> int:
        self._check_open()
        return len(self._users)

    async def set_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        self._check_open()
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = dataclasses.replace(user, password_hash=password_hash, password_changed_at=now)
        return True

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        self._check_open()
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = dataclasses.replace(user, disabled=disabled)
        return True

    # sessions and refresh tokens
    async def create_session(self, session: SessionRecord, token: RefreshTokenRecord) -> None:
        self._check_open()
        if session.id in self._sessions or token.digest in self._tokens:
            raise StorageError("duplicate session id or refresh token digest")
        if session.user_id not in self._users:
            raise StorageError("the session's user does not exist")
        self._sessions[session.id] = session
        self._tokens[token.digest] = token
        self._tokens_by_session[session.id] = [token.digest]

    async def get_session(self, session_id: str) -> SessionRecord | None:
        self._check_open()
        return self._sessions.get(session_id)

    async def list_sessions(
        self, *, user_id: str | None = None, active_at: float | None = None
    ) -> list[SessionRecord]:
        self._check_open()
        found = [
            s
            for s in self._sessions.values()
            if (user_id is None or s.user_id == user_id) and (active_at is None or s.is_active(active_at))
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    async def revoke_sessions(
        self, session_ids: Sequence[str], now: float, deny_until: float
    ) -> list[Revocation]:
        self._check_open()
        entries: list[Revocation] = []
        for sid in dict.fromkeys(session_ids):
            session = self._sessions.get(sid)
            if session is None or session.revoked_at is not None:
                continue
            self._sessions[sid] = dataclasses.replace(session, revoked_at=now)
            entries.append(self._add_revocation("sid", sid, deny_until))
        return entries

    async def find_refresh_token(self, digest: str) -> RefreshTokenLookup | None:
        self._check_open()
        token = self._tokens.get(digest)
        if token is None:
            return None
        session = self._sessions[token.session_id]
        return RefreshTokenLookup(token, session, self._users[session.user_id])

    async def current_refresh_token(self, session_id: str) -> RefreshTokenRecord | None:
        self._check_open()
        unused = [
            self._tokens[d]
            for d in self._tokens_by_session.get(session_id, [])
            if self._tokens[d].used_at is None
        ]
        # the digest breaks ties between equal timestamps, as the SQL store's ORDER BY does
        return max(unused, key=lambda t: (t.created_at, t.digest), default=None)

    async def rotate_live_refresh_token(
        self, parent_digest: str, child_digest: str, now: float, idle_ttl: float, dpop_jkt: str | None = None
    ) -> RefreshTokenLookup | None:
        self._check_open()
        parent = self._tokens.get(parent_digest)
        if parent is None or parent.used_at is not None or now >= parent.expires_at:
            return None
        session = self._sessions[parent.session_id]
        user = self._users[session.user_id]
        if not session.is_active(now) or user.disabled or session.dpop_jkt != dpop_jkt:
            return None
        if child_digest in self._tokens:
            raise StorageError("refresh token digest collision")
        idle_expires_at = min(now + idle_ttl, session.expires_at)
        child = RefreshTokenRecord(child_digest, session.id, parent_digest, now, idle_expires_at)
        self._tokens[parent_digest] = dataclasses.replace(parent, used_at=now)
        self._insert_token(child, session, now, idle_expires_at)
        return RefreshTokenLookup(child, self._sessions[session.id], user)

    async def rotate_refresh_token(
        self, parent_digest: str, child: RefreshTokenRecord, now: float, idle_expires_at: float
    ) -> bool:
        self._check_open()
        parent = self._tokens.get(parent_digest)
        if parent is None or parent.used_at is not None or parent.session_id != child.session_id:
            return False
        session = self._sessions.get(parent.session_id)
        if session is None or session.revoked_at is not None:
            return False
        if child.digest in self._tokens:
            raise StorageError("refresh token digest collision")
        # All checks are done: the three writes below cannot fail, so the change is all-or-nothing.
        self._tokens[parent_digest] = dataclasses.replace(parent, used_at=now)
        self._insert_token(child, session, now, idle_expires_at)
        return True

    async def add_refresh_token(self, token: RefreshTokenRecord, now: float, idle_expires_at: float) -> bool:
        self._check_open()
        session = self._sessions.get(token.session_id)
        if session is None or session.revoked_at is not None:
            return False
        if token.digest in self._tokens:
            raise StorageError("refresh token digest collision")
        self._insert_token(token, session, now, idle_expires_at)
        return True

    def _insert_token(
        self, token: RefreshTokenRecord, session: SessionRecord, now: float, idle_expires_at: float
    ) -> None:
        self._tokens[token.digest] = token
        self._tokens_by_session.setdefault(session.id, []).append(token.digest)
        self._sessions[session.id] = dataclasses.replace(
            session, last_used_at=now, idle_expires_at=idle_expires_at
        )

    # revocations
    async def add_revocation(self, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
        self._check_open()
        return self._add_revocation(kind, value, expires_at)

    def _add_revocation(self, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
        existing = self._revocations.get((kind, value))
        if existing is not None and existing.expires_at >= expires_at:
            return existing
        self._cursor += 1
        entry = Revocation(self._cursor, kind, value, expires_at)
        self._revocations[(kind, value)] = entry
        return entry

    async def revocations(self, *, after: int, limit: int, now: float) -> list[Revocation]:
        self._check_open()
        live = [r for r in self._revocations.values() if r.cursor > after and r.expires_at > now]
        return sorted(live, key=lambda r: r.cursor)[: max(limit, 0)]

    # key ring, server secrets, named values
    async def load_keys(self) -> list[StoredKey]:
        self._check_open()
        return list(self._keys)

    async def keys_version(self) -> str | None:
        self._check_open()
        return self._keys_version

    async def update_keys(self, change: KeyChange) -> tuple[list[StoredKey], str | None]:
        self._check_open()
        changed = change(list(self._keys))  # synchronous: nothing else runs meanwhile
        if changed is not None:
            self._keys = list(changed)
            self._keys_version = secrets.token_hex(8)
        return list(self._keys), self._keys_version

    async def get_secret(self, name: str) -> SealedSecret | None:
        self._check_open()
        return self._secrets.get(name)

    async def ensure_secret(self, name: str, material: str, kek_id: str | None, now: float) -> SealedSecret:
        self._check_open()
        return self._secrets.setdefault(name, (material, kek_id))

    async def update_secrets(
        self, change: Callable[[dict[str, SealedSecret]], dict[str, SealedSecret] | None]
    ) -> None:
        self._check_open()
        changed = change(dict(self._secrets))
        if changed:
            self._secrets.update(changed)

    async def get_meta(self, name: str) -> str | None:
        self._check_open()
        return self._meta.get(name)

    async def set_meta(self, name: str, value: str) -> None:
        self._check_open()
        self._meta[name] = value

    async def ensure_meta(self, name: str, value: str) -> str:
        self._check_open()
        return self._meta.setdefault(name, value)

    # clients
    async def create_client(self, client: ClientRecord) -> None:
        self._check_open()
        if client.id in self._clients or any(c.name == client.name for c in self._clients.values()):
            raise Conflict("a client with this id or name already exists")
        self._clients[client.id] = client

    async def get_client(self, client_id: str) -> ClientRecord | None:
        self._check_open()
        return self._clients.get(client_id)

    async def list_clients(self) -> list[ClientRecord]:
        self._check_open()
        return sorted(self._clients.values(), key=lambda c: c.name)

    # audit
    async def add_audit_event(
        self,
        kind: str,
        at: float,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self._check_open()
        event = AuditEvent(next(self._audit_ids), at, kind, user_id, session_id, copy.deepcopy(detail or {}))
        self._audit.append(event)

    async def audit_events(self, *, limit: int = 100) -> list[AuditEvent]:
        self._check_open()
        return [copy.deepcopy(e) for e in reversed(self._audit[-limit:])] if limit > 0 else []

    # OAuth: client changes, authorization codes, assertion ids, user grants
    async def get_client_by_name(self, name: str) -> ClientRecord | None:
        self._check_open()
        return next((c for c in self._clients.values() if c.name == name), None)

    async def delete_client(self, client_id: str) -> bool:
        self._check_open()
        return self._clients.pop(client_id, None) is not None

    async def rotate_client_refresh_token(
        self,
        parent_digest: str,
        child_digest: str,
        now: float,
        idle_ttl: float,
        client_id: str | None,
        dpop_jkt: str | None = None,
    ) -> RefreshTokenLookup | None:
        self._check_open()
        parent = self._tokens.get(parent_digest)
        if parent is None or self._sessions[parent.session_id].client_id != client_id:
            return None
        return await self.rotate_live_refresh_token(parent_digest, child_digest, now, idle_ttl, dpop_jkt)

    async def set_client_secret(self, client_id: str, secret_hash: str) -> bool:
        self._check_open()
        client = self._clients.get(client_id)
        if client is None:
            return False
        self._clients[client_id] = dataclasses.replace(client, secret_hash=secret_hash)
        return True

    async def client_session_ids(self, client_id: str) -> list[str]:
        self._check_open()
        return sorted(
            s.id for s in self._sessions.values() if s.client_id == client_id and s.revoked_at is None
        )

    async def set_user_grants(self, user_id: str, roles: Sequence[str], scopes: Sequence[str]) -> bool:
        self._check_open()
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = dataclasses.replace(user, roles=tuple(roles), scopes=tuple(scopes))
        return True

    async def create_authorization_code(self, code: AuthorizationCodeRecord) -> None:
        self._check_open()
        if code.digest in self._codes:
            raise StorageError("duplicate authorization code digest")
        self._codes[code.digest] = code

    async def use_authorization_code(
        self, digest: str, now: float, session_id: str
    ) -> AuthorizationCodeRecord | None:
        self._check_open()
        code = self._codes.get(digest)
        if code is not None and code.used_at is None:
            self._codes[digest] = dataclasses.replace(code, used_at=now, session_id=session_id)
        return code

    async def use_assertion_id(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        self._check_open()
        seen = self._assertion_ids.get((client_id, jti))
        if seen is not None and seen > now:
            return False
        self._assertion_ids[(client_id, jti)] = expires_at
        return True

    async def purge_oauth(self, now: float) -> dict[str, int]:
        self._check_open()
        codes = [d for d, c in self._codes.items() if c.expires_at <= now]
        for digest in codes:
            del self._codes[digest]
        assertions = [k for k, expires_at in self._assertion_ids.items() if expires_at <= now]
        for key in assertions:
            del self._assertion_ids[key]
        return {"authorization_codes": len(codes), "assertion_ids": len(assertions)}
