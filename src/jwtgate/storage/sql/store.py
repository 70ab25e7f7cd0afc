"""The SQL backend (SQLAlchemy 2 Core, no ORM): SQLite by default, PostgreSQL for scale-out.

Each port method is one transaction run by a :mod:`runner <jwtgate.storage.sql.runner>`. Refresh rotation
is one conditional UPDATE (``used_at IS NULL``) whose row count decides the winner, followed by the child
INSERT in the same transaction: two concurrent refreshes of one token cannot both rotate, and a failure
rolls both writes back.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from jwtgate.errors import ConfigError, Conflict, StorageError
from jwtgate.service.keystore import KeyChange, KeyInfo, StoredKey
from jwtgate.service.ports import NotInitialised, SealedSecret
from jwtgate.service.records import (
    AuditEvent,
    RefreshTokenLookup,
    RefreshTokenRecord,
    Revocation,
    RevocationKind,
    SessionRecord,
    UserRecord,
)
from jwtgate.storage.sql import schema as t
from jwtgate.storage.sql.oauth import OAuthTables
from jwtgate.storage.sql.runner import AsyncRunner, Runner, create_runner

__all__ = ["SqlStore"]


# The refresh hot path runs these prebuilt statements: building a statement per call costs more than
# SQLite takes to run it.
_FIND_TOKEN = (
    sa.select(*t.refresh_tokens.c, *t.sessions.c, *t.users.c)
    .join(t.sessions, t.sessions.c.id == t.refresh_tokens.c.session_id)
    .join(t.users, t.users.c.id == t.sessions.c.user_id)
    .where(t.refresh_tokens.c.digest == sa.bindparam("b_digest"))
    .set_label_style(sa.LABEL_STYLE_TABLENAME_PLUS_COL)
)
_MARK_USED = (
    sa.update(t.refresh_tokens)
    .where(
        t.refresh_tokens.c.digest == sa.bindparam("b_digest"),
        t.refresh_tokens.c.used_at.is_(None),
        t.refresh_tokens.c.session_id == sa.bindparam("b_session_id"),
    )
    .values(used_at=sa.bindparam("b_now"))
)
_TOUCH_SESSION = (
    sa.update(t.sessions)
    .where(t.sessions.c.id == sa.bindparam("b_session_id"), t.sessions.c.revoked_at.is_(None))
    .values(last_used_at=sa.bindparam("b_now"), idle_expires_at=sa.bindparam("b_idle"))
)
_INSERT_TOKEN = sa.insert(t.refresh_tokens)
_N_SESSION_COLUMNS = len(t.sessions.c)
_SESSION_COLUMNS = ", ".join(f"touched.{c.name}" for c in t.sessions.c)
_USER_COLUMNS = ", ".join(f"u.{c.name}" for c in t.users.c)
# Column names come from the schema above; every value is a parameter ($1 parent digest, $2 child digest,
# $3 now, $4 idle ttl, $5 the DPoP key thumbprint the session must be bound to, or null; $6 whether the
# session's client is checked, $7 that client, or null for the built-in one).
_ROTATE_PG = f"""
    WITH parent AS (
        UPDATE refresh_tokens AS rt SET used_at = $3::float8
        FROM sessions AS s, users AS u
        WHERE rt.digest = $1 AND rt.used_at IS NULL AND rt.expires_at > $3::float8
          AND s.id = rt.session_id AND s.revoked_at IS NULL
          AND s.expires_at > $3::float8 AND s.idle_expires_at > $3::float8
          AND u.id = s.user_id AND NOT u.disabled AND s.dpop_jkt IS NOT DISTINCT FROM $5::text
          AND (NOT $6::bool OR s.client_id IS NOT DISTINCT FROM $7::text)
        RETURNING rt.session_id, s.expires_at AS session_expires_at
    ), touched AS (
        UPDATE sessions AS s
        SET last_used_at = $3::float8,
            idle_expires_at = LEAST($3::float8 + $4::float8, parent.session_expires_at)
        FROM parent
        WHERE s.id = parent.session_id AND s.revoked_at IS NULL
        RETURNING s.*
    ), child AS (
        INSERT INTO refresh_tokens (digest, session_id, parent_digest, created_at, expires_at)
        SELECT $2, touched.id, $1, $3::float8, touched.idle_expires_at FROM touched
        RETURNING digest
    )
    SELECT {_SESSION_COLUMNS}, {_USER_COLUMNS}
    FROM touched JOIN users AS u ON u.id = touched.user_id
    WHERE EXISTS (SELECT 1 FROM child)
"""  # noqa: S608
_N_TOKEN = len(t.refresh_tokens.c)
_N_SESSION = _N_TOKEN + len(t.sessions.c)
_PING = sa.select(sa.literal(1)).select_from(t.users).limit(1)
_REVOCATION_LOCK = 0x6A776774  # "jwgt": the advisory lock key for revocation writers
_KEYRING_LOCK = 0x6A776B72  # "jwkr": key ring and server secret writers
_MIGRATION_LOCK = 0x6A776D67  # "jwmg": schema migrations
_KEYS_VERSION = "keys_version"


class _Abort(Exception):
    """Raised inside a transaction to roll it back on purpose."""


class SqlStore(OAuthTables):
    """Implements :class:`jwtgate.service.ports.Store` with SQLAlchemy Core."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(create_runner(url))

    @property
    def dialect(self) -> str:
        return self._runner.dialect

    async def run_read(self, work: Any) -> Any:
        """Run ``work(connection)`` (sync) on this store's database; for tests and tools."""
        return await self._runner.read(work)

    # lifecycle
    async def migrate(self) -> None:
        from jwtgate.migrations import current_revision, schema_problem, upgrade

        def work(conn: sa.Connection) -> None:
            # Instances starting together take turns: the first upgrades, the others find it done.
            _lock(conn, _MIGRATION_LOCK)
            problem = schema_problem(current_revision(conn))
            if problem is not None and problem[0] == "newer":
                raise ConfigError(problem[1])  # never downgrade, never touch a newer schema
            upgrade(conn)

        await self._runner.write(work)

    async def check_schema(self) -> None:
        from jwtgate.migrations import current_revision, schema_problem

        problem = schema_problem(await self._runner.read(current_revision))
        if problem is not None and problem[0] == "missing":
            raise NotInitialised
        if problem is not None:
            raise ConfigError(problem[1])

    async def ping(self) -> None:
        def work(conn: sa.Connection) -> None:
            # A read of a real table: it fails when the file or server is gone, or the schema is missing.
            conn.execute(_PING).all()

        await self._runner.read(work)

    async def close(self) -> None:
        await self._runner.close()

    async def purge(self, now: float, *, audit_before: float) -> dict[str, int]:
        def work(conn: sa.Connection) -> dict[str, int]:
            s = t.sessions
            dead = sa.or_(s.c.revoked_at.is_not(None), s.c.expires_at <= now, s.c.idle_expires_at <= now)
            revs = conn.execute(sa.delete(t.revocations).where(t.revocations.c.expires_at <= now))
            # Explicit child delete: foreign-key cascades may be off on a database opened elsewhere.
            tokens = conn.execute(
                sa.delete(t.refresh_tokens).where(
                    t.refresh_tokens.c.session_id.in_(sa.select(s.c.id).where(dead))
                )
            )
            sessions = conn.execute(sa.delete(s).where(dead))
            audit = conn.execute(sa.delete(t.audit_events).where(t.audit_events.c.at < audit_before))
            return {
                "revocations": revs.rowcount,
                "sessions": sessions.rowcount,
                "refresh_tokens": tokens.rowcount,
                "audit_events": audit.rowcount,
            }

        return await self._runner.write(work)

    # users
    async def create_user(self, user: UserRecord) -> None:
        def work(conn: sa.Connection) -> None:
            u = t.users
            taken = conn.scalar(
                sa.select(sa.func.count())
                .select_from(u)
                .where(sa.or_(u.c.id == user.id, u.c.username == user.username))
            )
            if taken:
                raise Conflict("a user with this name already exists")
            conn.execute(
                sa.insert(u).values(
                    id=user.id,
                    username=user.username,
                    password_hash=user.password_hash,
                    disabled=user.disabled,
                    roles=json.dumps(list(user.roles)),
                    scopes=json.dumps(list(user.scopes)),
                    created_at=user.created_at,
                    password_changed_at=user.password_changed_at,
                )
            )

        try:
            await self._runner.write(work)
        except StorageError as err:
            # Lost a race with a concurrent insert of the same name.
            if isinstance(err.__cause__, sa.exc.IntegrityError):
                raise Conflict("a user with this name already exists") from err
            raise

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._runner.read(lambda c: _one_user(c, t.users.c.id == user_id))

    async def get_user_by_name(self, username: str) -> UserRecord | None:
        return await self._runner.read(lambda c: _one_user(c, t.users.c.username == username))

    async def list_users(self) -> list[UserRecord]:
        def work(conn: sa.Connection) -> list[UserRecord]:
            return [_user(r) for r in conn.execute(sa.select(t.users).order_by(t.users.c.username))]

        return await self._runner.read(work)

    async def count_users(self) -> int:
        def work(conn: sa.Connection) -> int:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(t.users)) or 0)

        return await self._runner.read(work)

    async def set_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        query = (
            sa.update(t.users)
            .where(t.users.c.id == user_id)
            .values(password_hash=password_hash, password_changed_at=now)
        )
        return await self._runner.write(lambda c: c.execute(query).rowcount == 1)

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        query = sa.update(t.users).where(t.users.c.id == user_id).values(disabled=disabled)
        return await self._runner.write(lambda c: c.execute(query).rowcount == 1)

    # sessions and refresh tokens
    async def create_session(self, session: SessionRecord, token: RefreshTokenRecord) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(sa.insert(t.sessions).values(**t.row_values(t.sessions, session)))
            conn.execute(sa.insert(t.refresh_tokens).values(**t.row_values(t.refresh_tokens, token)))

        await self._runner.write(work)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        def work(conn: sa.Connection) -> SessionRecord | None:
            row = conn.execute(sa.select(t.sessions).where(t.sessions.c.id == session_id)).first()
            return None if row is None else SessionRecord(**row._asdict())

        return await self._runner.read(work)

    async def list_sessions(
        self, *, user_id: str | None = None, active_at: float | None = None
    ) -> list[SessionRecord]:
        s = t.sessions
        query = sa.select(s).order_by(s.c.created_at.desc(), s.c.id.desc())
        if user_id is not None:
            query = query.where(s.c.user_id == user_id)
        if active_at is not None:
            query = query.where(
                s.c.revoked_at.is_(None), s.c.expires_at > active_at, s.c.idle_expires_at > active_at
            )
        return await self._runner.read(lambda c: [SessionRecord(**r._asdict()) for r in c.execute(query)])

    async def revoke_sessions(
        self, session_ids: Sequence[str], now: float, deny_until: float
    ) -> list[Revocation]:
        def work(conn: sa.Connection) -> list[Revocation]:
            entries: list[Revocation] = []
            for sid in dict.fromkeys(session_ids):
                result = conn.execute(
                    sa.update(t.sessions)
                    .where(t.sessions.c.id == sid, t.sessions.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                if result.rowcount == 1:
                    entries.append(_add_revocation(conn, "sid", sid, deny_until))
            return entries

        return await self._runner.write(work)

    async def find_refresh_token(self, digest: str) -> RefreshTokenLookup | None:
        return await self._runner.read(lambda c: _lookup(c, digest))

    async def current_refresh_token(self, session_id: str) -> RefreshTokenRecord | None:
        rt = t.refresh_tokens
        query = (
            sa.select(rt)
            .where(rt.c.session_id == session_id, rt.c.used_at.is_(None))
            .order_by(rt.c.created_at.desc(), rt.c.digest.desc())
            .limit(1)
        )

        def work(conn: sa.Connection) -> RefreshTokenRecord | None:
            row = conn.execute(query).first()
            return None if row is None else RefreshTokenRecord(**row._asdict())

        return await self._runner.read(work)

    async def rotate_live_refresh_token(
        self, parent_digest: str, child_digest: str, now: float, idle_ttl: float, dpop_jkt: str | None = None
    ) -> RefreshTokenLookup | None:
        return await self._rotate(parent_digest, child_digest, now, idle_ttl, dpop_jkt, ())

    async def _rotate(
        self,
        parent_digest: str,
        child_digest: str,
        now: float,
        idle_ttl: float,
        dpop_jkt: str | None,
        client: tuple[str | None, ...],
    ) -> RefreshTokenLookup | None:
        """The refresh fast path; ``client`` empty: any client, else ``(client_id,)``: only a session of
        that client (None: the built-in one)."""
        if isinstance(self._runner, AsyncRunner) and self._runner.dialect == "postgresql":
            return await self._rotate_in_one_statement(
                parent_digest, child_digest, now, idle_ttl, dpop_jkt, client
            )

        def work(conn: sa.Connection) -> RefreshTokenLookup | None:
            found = _lookup(conn, parent_digest)
            if found is None:
                return None
            parent, session, user = found
            if (
                parent.used_at is not None
                or now >= parent.expires_at
                or not session.is_active(now)
                or user.disabled
                or session.dpop_jkt != dpop_jkt
                or (client and session.client_id != client[0])
            ):
                return None
            params = {"b_digest": parent_digest, "b_session_id": session.id, "b_now": now}
            if conn.execute(_MARK_USED, params).rowcount != 1:
                return None  # a concurrent refresh won (PostgreSQL re-checks after the row lock)
            idle_expires_at = min(now + idle_ttl, session.expires_at)
            child = RefreshTokenRecord(child_digest, session.id, parent_digest, now, idle_expires_at)
            if not _insert_token(conn, child, now, idle_expires_at):
                raise _Abort  # the session was revoked meanwhile: roll the UPDATE back
            touched = dataclasses.replace(session, last_used_at=now, idle_expires_at=idle_expires_at)
            return RefreshTokenLookup(child, touched, user)

        try:
            return await self._runner.write(work)
        except _Abort:
            return None

    async def _rotate_in_one_statement(
        self,
        parent_digest: str,
        child_digest: str,
        now: float,
        idle_ttl: float,
        dpop_jkt: str | None,
        client: tuple[str | None, ...],
    ) -> RefreshTokenLookup | None:
        """PostgreSQL: the whole fast path as one statement (data-modifying CTEs) in one round trip.
        The UPDATE of the parent locks its row; a concurrent rotation waits, then re-checks
        ``used_at IS NULL`` and finds nothing: at most one child per parent. A session revoked meanwhile
        gets no child (the touch re-checks ``revoked_at``), and the spent parent then dies with it."""
        assert isinstance(self._runner, AsyncRunner)
        client_id = client[0] if client else None
        rows = await self._runner.fetch(
            _ROTATE_PG, parent_digest, child_digest, now, float(idle_ttl), dpop_jkt, bool(client), client_id
        )
        if not rows:
            return None
        values = tuple(rows[0])
        session = SessionRecord(*values[:_N_SESSION_COLUMNS])
        user = _user_from_tuple(values[_N_SESSION_COLUMNS:])
        child = RefreshTokenRecord(child_digest, session.id, parent_digest, now, session.idle_expires_at)
        return RefreshTokenLookup(child, session, user)

    async def rotate_refresh_token(
        self, parent_digest: str, child: RefreshTokenRecord, now: float, idle_expires_at: float
    ) -> bool:
        params = {"b_digest": parent_digest, "b_session_id": child.session_id, "b_now": now}

        def work(conn: sa.Connection) -> bool:
            if conn.execute(_MARK_USED, params).rowcount != 1:
                return False  # nothing written
            if not _insert_token(conn, child, now, idle_expires_at):
                raise _Abort  # the session was revoked meanwhile: roll the UPDATE back
            return True

        try:
            return await self._runner.write(work)
        except _Abort:
            return False

    async def add_refresh_token(self, token: RefreshTokenRecord, now: float, idle_expires_at: float) -> bool:
        return await self._runner.write(lambda c: _insert_token(c, token, now, idle_expires_at))

    # revocations
    async def add_revocation(self, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
        return await self._runner.write(lambda c: _add_revocation(c, kind, value, expires_at))

    async def revocations(self, *, after: int, limit: int, now: float) -> list[Revocation]:
        r = t.revocations
        query = (
            sa.select(r)
            .where(r.c.cursor > after, r.c.expires_at > now)
            .order_by(r.c.cursor)
            .limit(max(limit, 0))
        )
        return await self._runner.read(lambda c: [_revocation(row) for row in c.execute(query)])

    # key ring, server secrets, named values
    async def load_keys(self) -> list[StoredKey]:
        return await self._runner.read(_load_keys)

    async def keys_version(self) -> str | None:
        return await self._runner.read(lambda c: _meta(c, _KEYS_VERSION))

    async def update_keys(self, change: KeyChange) -> tuple[list[StoredKey], str | None]:
        def work(conn: sa.Connection) -> tuple[list[StoredKey], str | None]:
            _lock(conn, _KEYRING_LOCK)  # instances and the CLI take turns (SQLite: BEGIN IMMEDIATE)
            stored = _load_keys(conn)
            changed = change(stored)
            if changed is None:
                return stored, _meta(conn, _KEYS_VERSION)
            k = t.signing_keys
            conn.execute(sa.delete(k))
            if changed:
                conn.execute(sa.insert(k), [_key_row(item) for item in changed])
            version = secrets.token_hex(8)
            _put_meta(conn, _KEYS_VERSION, version)
            return list(changed), version

        return await self._runner.write(work)

    async def get_secret(self, name: str) -> SealedSecret | None:
        def work(conn: sa.Connection) -> SealedSecret | None:
            s = t.server_secrets
            row = conn.execute(sa.select(s.c.material, s.c.kek_id).where(s.c.name == name)).first()
            return None if row is None else (row.material, row.kek_id)

        return await self._runner.read(work)

    async def ensure_secret(self, name: str, material: str, kek_id: str | None, now: float) -> SealedSecret:
        def work(conn: sa.Connection) -> SealedSecret:
            s = t.server_secrets
            values = {"name": name, "material": material, "kek_id": kek_id, "created_at": now}
            conn.execute(_insert_if_absent(conn, s, values))
            row = conn.execute(sa.select(s.c.material, s.c.kek_id).where(s.c.name == name)).one()
            return row.material, row.kek_id

        return await self._runner.write(work)

    async def update_secrets(
        self, change: Callable[[dict[str, SealedSecret]], dict[str, SealedSecret] | None]
    ) -> None:
        def work(conn: sa.Connection) -> None:
            s = t.server_secrets
            _lock(conn, _KEYRING_LOCK)
            rows = conn.execute(sa.select(s.c.name, s.c.material, s.c.kek_id).with_for_update()).all()
            changed = change({r.name: (r.material, r.kek_id) for r in rows})
            for name, (material, kek_id) in (changed or {}).items():
                conn.execute(sa.update(s).where(s.c.name == name).values(material=material, kek_id=kek_id))

        await self._runner.write(work)

    async def get_meta(self, name: str) -> str | None:
        return await self._runner.read(lambda c: _meta(c, name))

    async def set_meta(self, name: str, value: str) -> None:
        await self._runner.write(lambda c: _put_meta(c, name, value))

    async def ensure_meta(self, name: str, value: str) -> str:
        def work(conn: sa.Connection) -> str:
            conn.execute(_insert_if_absent(conn, t.server_meta, {"name": name, "value": value}))
            stored = _meta(conn, name)
            if stored is None:  # pragma: no cover - the row was just inserted or already there
                raise StorageError("the database lost a value it just stored")
            return stored

        return await self._runner.write(work)

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
        query = sa.insert(t.audit_events).values(
            at=at,
            kind=kind,
            user_id=user_id,
            session_id=session_id,
            detail=json.dumps(detail or {}, sort_keys=True),
        )
        await self._runner.write(lambda c: c.execute(query))

    async def audit_events(self, *, limit: int = 100) -> list[AuditEvent]:
        a = t.audit_events
        query = sa.select(a).order_by(a.c.id.desc()).limit(max(limit, 0))

        def work(conn: sa.Connection) -> list[AuditEvent]:
            return [
                AuditEvent(r.id, r.at, r.kind, r.user_id, r.session_id, json.loads(r.detail))
                for r in conn.execute(query)
            ]

        return await self._runner.read(work)

    # refresh tokens of registered clients, user grants
    async def rotate_client_refresh_token(
        self,
        parent_digest: str,
        child_digest: str,
        now: float,
        idle_ttl: float,
        client_id: str | None,
        dpop_jkt: str | None = None,
    ) -> RefreshTokenLookup | None:
        # rotate_live_refresh_token with one more condition on the session, in the same statement.
        return await self._rotate(parent_digest, child_digest, now, idle_ttl, dpop_jkt, (client_id,))

    async def set_user_grants(self, user_id: str, roles: Sequence[str], scopes: Sequence[str]) -> bool:
        query = (
            sa.update(t.users)
            .where(t.users.c.id == user_id)
            .values(roles=json.dumps(list(roles)), scopes=json.dumps(list(scopes)))
        )
        return await self._runner.write(lambda c: c.execute(query).rowcount == 1)


def _lookup(conn: sa.Connection, digest: str) -> RefreshTokenLookup | None:
    row = conn.execute(_FIND_TOKEN, {"b_digest": digest}).first()
    if row is None:
        return None
    # Positional unpacking: the select lists the three tables' columns in order.
    values = tuple(row)
    token = RefreshTokenRecord(*values[:_N_TOKEN])
    session = SessionRecord(*values[_N_TOKEN:_N_SESSION])
    return RefreshTokenLookup(token, session, _user_from_tuple(values[_N_SESSION:]))


def _insert_token(conn: sa.Connection, token: RefreshTokenRecord, now: float, idle_expires_at: float) -> bool:
    touched = conn.execute(
        _TOUCH_SESSION, {"b_session_id": token.session_id, "b_now": now, "b_idle": idle_expires_at}
    )
    if touched.rowcount != 1:
        return False
    conn.execute(_INSERT_TOKEN, t.row_values(t.refresh_tokens, token))
    return True


def _add_revocation(conn: sa.Connection, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
    r = t.revocations
    if conn.dialect.name == "postgresql":
        # Serialise revocation writers until commit, so cursors become visible in cursor order and
        # a feed reader polling ``after=N`` can never skip a smaller cursor committed later.
        # (SQLite writers are serialised by BEGIN IMMEDIATE already.) Revocations are rare.
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_REVOCATION_LOCK)))
    query = sa.select(r).where(r.c.kind == kind, r.c.value == value).with_for_update()
    existing = conn.execute(query).first()
    if existing is not None:
        if existing.expires_at >= expires_at:
            return _revocation(existing)
        # A fresh cursor, so that feed readers past the old one see the longer expiry.
        conn.execute(sa.delete(r).where(r.c.cursor == existing.cursor))
    result = conn.execute(sa.insert(r).values(kind=kind, value=value, expires_at=expires_at))
    inserted = result.inserted_primary_key
    if inserted is None or inserted[0] is None:
        raise StorageError("the database did not return the new cursor")
    return Revocation(int(inserted[0]), kind, value, expires_at)


def _one_user(conn: sa.Connection, condition: sa.ColumnElement[bool]) -> UserRecord | None:
    row = conn.execute(sa.select(t.users).where(condition)).first()
    return None if row is None else _user(row)


def _user(row: sa.Row[Any]) -> UserRecord:
    return _user_from(lambda name: getattr(row, name))


def _user_from(get: Any) -> UserRecord:
    return UserRecord(
        id=get("id"),
        username=get("username"),
        password_hash=get("password_hash"),
        disabled=bool(get("disabled")),
        roles=tuple(json.loads(get("roles"))),
        scopes=tuple(json.loads(get("scopes"))),
        created_at=get("created_at"),
        password_changed_at=get("password_changed_at"),
    )


def _user_from_tuple(values: tuple[Any, ...]) -> UserRecord:
    user_id, username, password_hash, disabled, roles, scopes, created_at, changed_at = values
    return UserRecord(
        user_id,
        username,
        password_hash,
        bool(disabled),
        tuple(json.loads(roles)),
        tuple(json.loads(scopes)),
        created_at,
        changed_at,
    )


def _revocation(row: sa.Row[Any]) -> Revocation:
    return Revocation(int(row.cursor), row.kind, row.value, row.expires_at)


def _lock(conn: sa.Connection, key: int) -> None:
    """Serialise this transaction with others taking the same lock (PostgreSQL: an advisory lock held
    until commit). SQLite needs nothing: writers already run one at a time (BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _insert_if_absent(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


def _meta(conn: sa.Connection, name: str) -> str | None:
    m = t.server_meta
    value = conn.execute(sa.select(m.c.value).where(m.c.name == name)).scalar()
    return None if value is None else str(value)


def _put_meta(conn: sa.Connection, name: str, value: str) -> None:
    m = t.server_meta
    if conn.execute(sa.update(m).where(m.c.name == name).values(value=value)).rowcount == 0:
        conn.execute(sa.insert(m).values(name=name, value=value))


def _load_keys(conn: sa.Connection) -> list[StoredKey]:
    k = t.signing_keys
    rows = conn.execute(sa.select(k).order_by(k.c.created_at, k.c.kid)).all()
    return [
        StoredKey(
            KeyInfo(r.kid, r.alg, r.state, r.created_at, r.retire_after, r.activated_at, r.activate_at),
            r.material,
            r.kek_id,
        )
        for r in rows
    ]


def _key_row(item: StoredKey) -> dict[str, Any]:
    info = item.info
    return {
        "kid": info.kid,
        "alg": info.alg,
        "state": info.state,
        "created_at": info.created_at,
        "retire_after": info.retire_after,
        "activated_at": info.activated_at,
        "activate_at": info.activate_at,
        "material": item.material,
        "kek_id": item.kek_id,
    }
