"""The Alembic migrations build exactly the schema the queries use, on every SQL backend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jwtgate.migrations import current_revision
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore
from jwtgate.storage.sql.schema import metadata

from .conftest import _pg_admin


def _diff(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_tables(sql_store: SqlStore) -> None:
    assert await sql_store.run_read(_diff) == []
    assert await sql_store.run_read(current_revision) == "0003"


async def test_sqlite_pragmas(tmp_path: Any) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert isinstance(store, SqlStore)
    await store.migrate()

    def pragmas(conn: sa.Connection) -> tuple[Any, ...]:
        return tuple(
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        )

    assert await store.run_read(pragmas) == ("wal", 1, 5000, 1)
    await store.close()


@pytest.mark.parametrize(
    "url",
    ["", "mysql://x/y", "sqlite+aiosqlite://", "not a url at all"],
)
async def test_open_store_refuses_unsupported_urls(url: str) -> None:
    from jwtgate.errors import ConfigError

    with pytest.raises(ConfigError):
        await open_store(url)


def test_record_fields_follow_the_table_columns() -> None:
    """The SQL store builds records positionally from these tables' columns."""
    import dataclasses

    from jwtgate.service.records import RefreshTokenRecord, SessionRecord, UserRecord
    from jwtgate.storage.sql import schema

    for table, record in [
        (schema.refresh_tokens, RefreshTokenRecord),
        (schema.sessions, SessionRecord),
        (schema.users, UserRecord),
    ]:
        assert [c.name for c in table.c] == [f.name for f in dataclasses.fields(record)]


async def test_existing_clients_and_sessions_survive_the_oauth_migration(sql_url: str) -> None:
    """0001 -> 0003: a client made before registrations existed becomes a confidential client that may
    introspect and revoke, with its secret; sessions made before belong to the built-in client."""
    from jwtgate.migrations import upgrade
    from jwtgate.service import opaque
    from jwtgate.storage.sql import schema

    fresh_database = None
    if sql_url.startswith("postgresql"):
        # The shared test database is already at head: this one starts empty, at 0001.
        fresh_database = f"jwtgate_migration_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{fresh_database}"')
        sql_url = sql_url.rsplit("/", 1)[0] + "/" + fresh_database
    store = SqlStore.from_url(sql_url)
    try:

        def old_rows(conn: sa.Connection) -> None:
            upgrade(conn, "0001")
            conn.execute(
                sa.text("INSERT INTO clients (id, name, secret_hash, created_at) VALUES (:i, :n, :h, 1.0)"),
                {"i": "jgc_old", "n": "orders api", "h": opaque.digest("jgs_old")},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, username, password_hash, disabled, roles, scopes, created_at,"
                    " password_changed_at) VALUES ('u1', 'alice', 'x', false, '[]', '[]', 1.0, 1.0)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at,"
                    " expires_at) VALUES ('s1', 'u1', 1.0, 1.0, 9e9, 9e9)"
                )
            )

        await store._runner.write(old_rows)
        await store.migrate()
        client = await store.get_client("jgc_old")
        assert client is not None
        assert (client.kind, client.introspect, client.grants, client.first_party) == (
            "confidential",
            True,
            (),
            False,
        )
        assert client.secret_hash == opaque.digest("jgs_old")
        session = await store.get_session("s1")
        assert session is not None
        assert session.client_id is None
        assert await store.run_read(_diff) == []
        assert schema.clients.c.secret_hash.nullable
    finally:
        await store.close()
        if fresh_database is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{fresh_database}" WITH (FORCE)')
