"""The Alembic migrations build exactly the schema the queries use, on every SQL backend."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jwtgate.migrations import current_revision
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore
from jwtgate.storage.sql.schema import metadata


def _diff(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_tables(sql_store: SqlStore) -> None:
    async with sql_store._engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert await conn.run_sync(current_revision) == "0001"


async def test_sqlite_pragmas(tmp_path: Any) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert isinstance(store, SqlStore)
    await store.migrate()
    async with store._engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
    await store.close()


@pytest.mark.parametrize(
    "url",
    ["", "mysql://x/y", "sqlite:///plain-driver.db", "sqlite+aiosqlite://", "not a url at all"],
)
async def test_open_store_refuses_unsupported_urls(url: str) -> None:
    from jwtgate.errors import ConfigError

    with pytest.raises(ConfigError):
        await open_store(url)
