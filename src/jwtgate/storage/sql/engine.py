"""Engine construction: SQLite gets WAL, foreign keys, a busy timeout and IMMEDIATE write transactions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from jwtgate.errors import ConfigError

#: Execution option marking a connection that will write: on SQLite it begins with BEGIN IMMEDIATE, so a
#: transaction that reads before it writes waits for the write lock (busy_timeout) instead of failing.
WRITE_OPTION = "jwtgate_write"

SQLITE_BUSY_TIMEOUT_MS = 5000


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL (ConfigError otherwise)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as err:
        raise ConfigError("invalid database URL") from err
    driver = parsed.drivername
    if driver == "sqlite+aiosqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("SQLite needs a file path (use memory:// for an in-memory store)")
        # One connection per process: SQLite serialises writers anyway, and a single connection
        # removes lock contention inside the process. Other processes wait on busy_timeout.
        engine = create_async_engine(parsed, pool_size=1, max_overflow=0, pool_timeout=30)
        _configure_sqlite(engine)
        return engine
    if driver == "postgresql+asyncpg":
        return create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)
    raise ConfigError(f"unsupported database driver {driver!r}: use sqlite+aiosqlite or postgresql+asyncpg")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that do_begin below decides BEGIN's mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the
        # last transactions, never corrupt the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def do_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
