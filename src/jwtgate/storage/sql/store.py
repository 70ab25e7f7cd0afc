"""The SQL backend (SQLAlchemy 2 async Core): SQLite by default, PostgreSQL for scale-out.

Each port method is one transaction. Refresh rotation is one conditional UPDATE (``used_at IS NULL``) whose
row count decides the winner, followed by the child INSERT in the same transaction: two concurrent refreshes
of one token cannot both rotate, and a failure rolls both writes back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jwtgate.errors import Conflict, JwtgateError, StorageError
from jwtgate.service.records import (
    AuditEvent,
    ClientRecord,
    RefreshTokenRecord,
    Revocation,
    RevocationKind,
    SessionRecord,
    UserRecord,
)
from jwtgate.storage.sql import schema as t
from jwtgate.storage.sql.engine import WRITE_OPTION, create_engine

__all__ = ["SqlStore"]


class _Abort(Exception):
    """Raised inside a transaction to roll it back on purpose."""


class SqlStore:
    """Implements :class:`jwtgate.service.ports.Store` over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(create_engine(url))

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                yield conn
        except JwtgateError:
            raise
        except (sa.exc.SQLAlchemyError, OSError) as err:
            raise StorageError() from err

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction: committed when the block ends normally, rolled back on any exception."""
        try:
            async with self._writer.begin() as conn:
                yield conn
        except JwtgateError:
            raise
        except sa.exc.IntegrityError as err:
            raise StorageError("a uniqueness or reference constraint failed") from err
        except (sa.exc.SQLAlchemyError, OSError) as err:
            raise StorageError() from err

    # lifecycle
    async def migrate(self) -> None:
        from jwtgate.migrations import upgrade

        async with self._write() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._engine.dispose()

    async def purge(self, now: float, *, audit_before: float) -> dict[str, int]:
        s = t.sessions
        dead = sa.or_(s.c.revoked_at.is_not(None), s.c.expires_at <= now, s.c.idle_expires_at <= now)
        async with self._write() as conn:
            revs = await conn.execute(sa.delete(t.revocations).where(t.revocations.c.expires_at <= now))
            # Explicit child delete: foreign-key cascades may be off on a database opened elsewhere.
            tokens = await conn.execute(
                sa.delete(t.refresh_tokens).where(
                    t.refresh_tokens.c.session_id.in_(sa.select(s.c.id).where(dead))
                )
            )
            sessions = await conn.execute(sa.delete(s).where(dead))
            audit = await conn.execute(sa.delete(t.audit_events).where(t.audit_events.c.at < audit_before))
        return {
            "revocations": revs.rowcount,
            "sessions": sessions.rowcount,
            "refresh_tokens": tokens.rowcount,
            "audit_events": audit.rowcount,
        }

    # users
    async def create_user(self, user: UserRecord) -> None:
        try:
            async with self._write() as conn:
                exists = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(t.users)
                    .where(sa.or_(t.users.c.id == user.id, t.users.c.username == user.username))
                )
                if exists:
                    raise Conflict("a user with this name already exists")
                await conn.execute(
                    sa.insert(t.users).values(
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
        except StorageError as err:
            # Lost a race with a concurrent insert of the same name.
            if isinstance(err.__cause__, sa.exc.IntegrityError):
                raise Conflict("a user with this name already exists") from err
            raise

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(t.users).where(t.users.c.id == user_id))).first()
        return None if row is None else _user(row)

    async def get_user_by_name(self, username: str) -> UserRecord | None:
        async with self._read() as conn:
            query = sa.select(t.users).where(t.users.c.username == username)
            row = (await conn.execute(query)).first()
        return None if row is None else _user(row)

    async def list_users(self) -> list[UserRecord]:
        async with self._read() as conn:
            rows = await conn.execute(sa.select(t.users).order_by(t.users.c.username))
            return [_user(r) for r in rows]

    async def count_users(self) -> int:
        async with self._read() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(t.users)) or 0)

    async def set_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                sa.update(t.users)
                .where(t.users.c.id == user_id)
                .values(password_hash=password_hash, password_changed_at=now)
            )
        return result.rowcount == 1

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                sa.update(t.users).where(t.users.c.id == user_id).values(disabled=disabled)
            )
        return result.rowcount == 1

    # sessions and refresh tokens
    async def create_session(self, session: SessionRecord, token: RefreshTokenRecord) -> None:
        async with self._write() as conn:
            await conn.execute(sa.insert(t.sessions).values(**_session_values(session)))
            await conn.execute(sa.insert(t.refresh_tokens).values(**_token_values(token)))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._read() as conn:
            query = sa.select(t.sessions).where(t.sessions.c.id == session_id)
            row = (await conn.execute(query)).first()
        return None if row is None else _session(row)

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
        async with self._read() as conn:
            return [_session(r) for r in await conn.execute(query)]

    async def revoke_sessions(
        self, session_ids: Sequence[str], now: float, deny_until: float
    ) -> list[Revocation]:
        entries: list[Revocation] = []
        async with self._write() as conn:
            for sid in dict.fromkeys(session_ids):
                result = await conn.execute(
                    sa.update(t.sessions)
                    .where(t.sessions.c.id == sid, t.sessions.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                if result.rowcount == 1:
                    entries.append(await _add_revocation(conn, "sid", sid, deny_until))
        return entries

    async def find_refresh_token(self, digest: str) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        rt, s = t.refresh_tokens, t.sessions
        query = (
            sa.select(rt, s)
            .join(s, s.c.id == rt.c.session_id)
            .where(rt.c.digest == digest)
            .set_label_style(sa.LABEL_STYLE_TABLENAME_PLUS_COL)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        m = row._mapping
        token = RefreshTokenRecord(
            digest=m[rt.c.digest],
            session_id=m[rt.c.session_id],
            parent_digest=m[rt.c.parent_digest],
            created_at=m[rt.c.created_at],
            expires_at=m[rt.c.expires_at],
            used_at=m[rt.c.used_at],
        )
        session = SessionRecord(**{c.name: m[c] for c in s.c})
        return token, session

    async def current_refresh_token(self, session_id: str) -> RefreshTokenRecord | None:
        rt = t.refresh_tokens
        query = (
            sa.select(rt)
            .where(rt.c.session_id == session_id, rt.c.used_at.is_(None))
            .order_by(rt.c.created_at.desc(), rt.c.digest.desc())
            .limit(1)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else RefreshTokenRecord(**row._asdict())

    async def rotate_refresh_token(
        self, parent_digest: str, child: RefreshTokenRecord, now: float, idle_expires_at: float
    ) -> bool:
        rt = t.refresh_tokens
        try:
            async with self._write() as conn:
                marked = await conn.execute(
                    sa.update(rt)
                    .where(
                        rt.c.digest == parent_digest,
                        rt.c.used_at.is_(None),
                        rt.c.session_id == child.session_id,
                    )
                    .values(used_at=now)
                )
                if marked.rowcount != 1:
                    return False  # nothing written: the transaction commits empty
                if not await _insert_token(conn, child, now, idle_expires_at):
                    raise _Abort  # the session was revoked: roll the UPDATE above back
        except _Abort:
            return False
        return True

    async def add_refresh_token(self, token: RefreshTokenRecord, now: float, idle_expires_at: float) -> bool:
        async with self._write() as conn:
            return await _insert_token(conn, token, now, idle_expires_at)

    # revocations
    async def add_revocation(self, kind: RevocationKind, value: str, expires_at: float) -> Revocation:
        async with self._write() as conn:
            return await _add_revocation(conn, kind, value, expires_at)

    async def revocations(self, *, after: int, limit: int, now: float) -> list[Revocation]:
        r = t.revocations
        query = (
            sa.select(r)
            .where(r.c.cursor > after, r.c.expires_at > now)
            .order_by(r.c.cursor)
            .limit(max(limit, 0))
        )
        async with self._read() as conn:
            return [_revocation(row) for row in await conn.execute(query)]

    # clients
    async def create_client(self, client: ClientRecord) -> None:
        c = t.clients
        async with self._write() as conn:
            exists = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(c)
                .where(sa.or_(c.c.id == client.id, c.c.name == client.name))
            )
            if exists:
                raise Conflict("a client with this id or name already exists")
            await conn.execute(
                sa.insert(c).values(
                    id=client.id,
                    name=client.name,
                    secret_hash=client.secret_hash,
                    created_at=client.created_at,
                )
            )

    async def get_client(self, client_id: str) -> ClientRecord | None:
        async with self._read() as conn:
            query = sa.select(t.clients).where(t.clients.c.id == client_id)
            row = (await conn.execute(query)).first()
        return None if row is None else ClientRecord(**row._asdict())

    async def list_clients(self) -> list[ClientRecord]:
        async with self._read() as conn:
            rows = await conn.execute(sa.select(t.clients).order_by(t.clients.c.name))
            return [ClientRecord(**r._asdict()) for r in rows]

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
        async with self._write() as conn:
            await conn.execute(
                sa.insert(t.audit_events).values(
                    at=at,
                    kind=kind,
                    user_id=user_id,
                    session_id=session_id,
                    detail=json.dumps(detail or {}, sort_keys=True),
                )
            )

    async def audit_events(self, *, limit: int = 100) -> list[AuditEvent]:
        a = t.audit_events
        query = sa.select(a).order_by(a.c.id.desc()).limit(max(limit, 0))
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [
                AuditEvent(
                    id=r.id,
                    at=r.at,
                    kind=r.kind,
                    user_id=r.user_id,
                    session_id=r.session_id,
                    detail=json.loads(r.detail),
                )
                for r in rows
            ]


async def _insert_token(
    conn: AsyncConnection, token: RefreshTokenRecord, now: float, idle_expires_at: float
) -> bool:
    s = t.sessions
    touched = await conn.execute(
        sa.update(s)
        .where(s.c.id == token.session_id, s.c.revoked_at.is_(None))
        .values(last_used_at=now, idle_expires_at=idle_expires_at)
    )
    if touched.rowcount != 1:
        return False
    await conn.execute(sa.insert(t.refresh_tokens).values(**_token_values(token)))
    return True


async def _add_revocation(
    conn: AsyncConnection, kind: RevocationKind, value: str, expires_at: float
) -> Revocation:
    r = t.revocations
    query = sa.select(r).where(r.c.kind == kind, r.c.value == value).with_for_update()
    existing = (await conn.execute(query)).first()
    if existing is not None:
        if existing.expires_at >= expires_at:
            return _revocation(existing)
        # A fresh cursor, so that feed readers past the old one see the longer expiry.
        await conn.execute(sa.delete(r).where(r.c.cursor == existing.cursor))
    result = await conn.execute(sa.insert(r).values(kind=kind, value=value, expires_at=expires_at))
    inserted = result.inserted_primary_key
    if inserted is None or inserted[0] is None:
        raise StorageError("the database did not return the new cursor")
    return Revocation(int(inserted[0]), kind, value, expires_at)


def _user(row: sa.Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
        roles=tuple(json.loads(row.roles)),
        scopes=tuple(json.loads(row.scopes)),
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


def _session(row: sa.Row[Any]) -> SessionRecord:
    return SessionRecord(**row._asdict())


def _revocation(row: sa.Row[Any]) -> Revocation:
    return Revocation(int(row.cursor), row.kind, row.value, row.expires_at)


def _session_values(session: SessionRecord) -> dict[str, Any]:
    return {c.name: getattr(session, c.name) for c in t.sessions.c}


def _token_values(token: RefreshTokenRecord) -> dict[str, Any]:
    return {c.name: getattr(token, c.name) for c in t.refresh_tokens.c}
