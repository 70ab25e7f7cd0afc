"""The SQL backend's OAuth tables: registered clients, authorization codes and ``private_key_jwt``
assertion ids (each accepted once). A part of :class:`~jwtgate.storage.sql.store.SqlStore`, kept apart
because it is a concern of its own; each method is one transaction on the store's runner."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from jwtgate.errors import Conflict, StorageError
from jwtgate.service.records import AuthorizationCodeRecord, ClientRecord
from jwtgate.storage.sql import schema as t
from jwtgate.storage.sql.runner import Runner

__all__ = ["OAuthTables"]


class OAuthTables:
    """The OAuth methods of :class:`jwtgate.service.ports.Store` (mixed into ``SqlStore``)."""

    _runner: Runner

    async def create_client(self, client: ClientRecord) -> None:
        def work(conn: sa.Connection) -> None:
            c = t.clients
            taken = conn.scalar(
                sa.select(sa.func.count())
                .select_from(c)
                .where(sa.or_(c.c.id == client.id, c.c.name == client.name))
            )
            if taken:
                raise Conflict("a client with this id or name already exists")
            conn.execute(sa.insert(c).values(**_client_values(client)))

        await self._runner.write(work)

    async def get_client(self, client_id: str) -> ClientRecord | None:
        def work(conn: sa.Connection) -> ClientRecord | None:
            row = conn.execute(sa.select(t.clients).where(t.clients.c.id == client_id)).first()
            return None if row is None else _client(row)

        return await self._runner.read(work)

    async def list_clients(self) -> list[ClientRecord]:
        query = sa.select(t.clients).order_by(t.clients.c.name)
        return await self._runner.read(lambda c: [_client(r) for r in c.execute(query)])

    async def get_client_by_name(self, name: str) -> ClientRecord | None:
        def work(conn: sa.Connection) -> ClientRecord | None:
            row = conn.execute(sa.select(t.clients).where(t.clients.c.name == name)).first()
            return None if row is None else _client(row)

        return await self._runner.read(work)

    async def delete_client(self, client_id: str) -> bool:
        query = sa.delete(t.clients).where(t.clients.c.id == client_id)
        return await self._runner.write(lambda c: c.execute(query).rowcount == 1)

    async def set_client_secret(self, client_id: str, secret_hash: str) -> bool:
        query = sa.update(t.clients).where(t.clients.c.id == client_id).values(secret_hash=secret_hash)
        return await self._runner.write(lambda c: c.execute(query).rowcount == 1)

    async def client_session_ids(self, client_id: str) -> list[str]:
        s = t.sessions
        query = sa.select(s.c.id).where(s.c.client_id == client_id, s.c.revoked_at.is_(None)).order_by(s.c.id)
        return await self._runner.read(lambda c: [row.id for row in c.execute(query)])

    async def create_authorization_code(self, code: AuthorizationCodeRecord) -> None:
        query = sa.insert(t.authorization_codes).values(**t.row_values(t.authorization_codes, code))
        await self._runner.write(lambda c: c.execute(query))

    async def use_authorization_code(
        self, digest: str, now: float, session_id: str
    ) -> AuthorizationCodeRecord | None:
        codes = t.authorization_codes

        def work(conn: sa.Connection) -> AuthorizationCodeRecord | None:
            row = conn.execute(sa.select(codes).where(codes.c.digest == digest).with_for_update()).first()
            if row is None or row.used_at is not None:
                return None if row is None else AuthorizationCodeRecord(**row._asdict())
            # The condition keeps the spend atomic where FOR UPDATE is a no-op (SQLite serialises
            # writers with BEGIN IMMEDIATE anyway).
            spent = conn.execute(
                sa.update(codes)
                .where(codes.c.digest == digest, codes.c.used_at.is_(None))
                .values(used_at=now, session_id=session_id)
            )
            if spent.rowcount != 1:
                raise StorageError("the authorization code changed during its exchange")
            return AuthorizationCodeRecord(**row._asdict())

        return await self._runner.write(work)

    async def use_assertion_id(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        a = t.assertion_ids

        def work(conn: sa.Connection) -> bool:
            key = sa.and_(a.c.client_id == client_id, a.c.jti == jti)
            row = conn.execute(sa.select(a.c.expires_at).where(key).with_for_update()).first()
            if row is not None:
                if row.expires_at > now:
                    return False
                conn.execute(sa.delete(a).where(key))
            conn.execute(sa.insert(a).values(client_id=client_id, jti=jti, expires_at=expires_at))
            return True

        try:
            return await self._runner.write(work)
        except StorageError as err:
            # Two processes inserted the same jti at once: the loser sees the primary key clash.
            if isinstance(err.__cause__, sa.exc.IntegrityError):
                return False
            raise

    async def purge_oauth(self, now: float) -> dict[str, int]:
        def work(conn: sa.Connection) -> dict[str, int]:
            codes = conn.execute(
                sa.delete(t.authorization_codes).where(t.authorization_codes.c.expires_at <= now)
            )
            assertions = conn.execute(sa.delete(t.assertion_ids).where(t.assertion_ids.c.expires_at <= now))
            return {"authorization_codes": codes.rowcount, "assertion_ids": assertions.rowcount}

        return await self._runner.write(work)


_CLIENT_LISTS = ("grants", "scopes", "redirect_uris", "audiences")


def _client(row: sa.Row[Any]) -> ClientRecord:
    values = row._asdict()
    for name in _CLIENT_LISTS:
        values[name] = tuple(json.loads(values[name]))
    values["first_party"] = bool(values["first_party"])
    values["introspect"] = bool(values["introspect"])
    return ClientRecord(**values)


def _client_values(client: ClientRecord) -> dict[str, Any]:
    values = t.row_values(t.clients, client)
    for name in _CLIENT_LISTS:
        values[name] = json.dumps(list(values[name]))
    return values
