"""The asyncpg connections of the single-statement hot path (jwtgate.storage.sql.statements), on a real
PostgreSQL: reused, bounded, a connection the server dropped is skipped, a failed or cancelled statement
costs its connection, idle ones are closed in time, and the store's fast path survives a dropped one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from jwtgate.errors import StorageError
from jwtgate.storage.sql.statements import StatementPool

pytestmark = pytest.mark.postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dsn(postgres_url: str) -> str:
    return postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def opened(dsn: str) -> AsyncIterator[list[Any]]:
    """Every connection the pool under test opened (to check on them from outside)."""
    connections: list[Any] = []
    yield connections
    for conn in connections:
        conn.terminate()


def pool_of(dsn: str, opened: list[Any], **options: Any) -> StatementPool:
    async def connect() -> Any:
        conn = await asyncpg.connect(dsn)
        opened.append(conn)
        return conn

    return StatementPool(connect, **options)


async def _terminate_backend(dsn: str, pid: int) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_one_connection_serves_statements_one_after_another(dsn: str, opened: list[Any]) -> None:
    pool = pool_of(dsn, opened, max_size=4)
    pids = {(await pool.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"] for _ in range(5)}
    assert len(pids) == 1
    assert len(opened) == 1
    assert pool.idle_count == 1
    await pool.close()
    assert opened[0].is_closed()


async def test_at_most_max_size_statements_run_at_once(dsn: str, opened: list[Any]) -> None:
    pool = pool_of(dsn, opened, max_size=2)
    sql = "SELECT pg_backend_pid() AS pid, pg_sleep(0.05)"
    rows = await asyncio.gather(*(pool.fetch(sql) for _ in range(6)))
    assert len(rows) == 6
    assert len(opened) == 2  # the other four waited for a connection instead of opening more
    assert len({r[0]["pid"] for r in rows}) == 2
    await pool.close()


async def test_a_connection_the_server_dropped_is_skipped(dsn: str, opened: list[Any]) -> None:
    pool = pool_of(dsn, opened, max_size=2)
    first = (await pool.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"]
    await _terminate_backend(dsn, first)
    for _ in range(100):  # the event loop notices the closed socket
        if opened[0].is_closed():
            break
        await asyncio.sleep(0.01)
    second = (await pool.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"]
    assert second != first
    assert len(opened) == 2
    await pool.close()


async def test_a_failed_statement_costs_its_connection_and_raises(dsn: str, opened: list[Any]) -> None:
    pool = pool_of(dsn, opened, max_size=2)
    with pytest.raises(asyncpg.PostgresError):
        await pool.fetch("SELECT 1 / 0")
    assert opened[0].is_closed()
    assert pool.idle_count == 0
    assert (await pool.fetch("SELECT 2 AS two"))[0]["two"] == 2
    await pool.close()


async def test_a_cancelled_statement_costs_its_connection(dsn: str, opened: list[Any]) -> None:
    pool = pool_of(dsn, opened, max_size=1)
    slow = asyncio.ensure_future(pool.fetch("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert opened[0].is_closed()
    # Its slot was given back: the only one.
    assert (await asyncio.wait_for(pool.fetch("SELECT 3 AS three"), 5))[0]["three"] == 3
    await pool.close()


async def test_connections_idle_for_too_long_are_closed(dsn: str, opened: list[Any]) -> None:
    clock = Clock()
    pool = pool_of(dsn, opened, max_size=2, max_idle=300.0, clock=clock)
    await asyncio.gather(*(pool.fetch("SELECT pg_sleep(0.05)") for _ in range(2)))
    assert pool.idle_count == 2
    clock.now += 301
    await pool.fetch("SELECT 1")  # closes the oldest idle connection, runs on the other
    assert pool.idle_count == 1
    assert sum(conn.is_closed() for conn in opened) == 1
    await pool.close()


async def test_the_store_fast_path_survives_a_dropped_connection(postgres_url: str) -> None:
    """The refresh rotation's statement after the server dropped the connection it last ran on: a fresh
    connection answers; the database out of reach is a StorageError, never a driver error."""
    from jwtgate.storage.sql import SqlStore

    store = SqlStore.from_url(postgres_url)
    runner: Any = store._runner
    try:
        pid = (await runner.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"]
        await _terminate_backend(postgres_url.replace("+asyncpg", ""), pid)
        await asyncio.sleep(0.1)
        assert (await runner.fetch("SELECT 1 AS one"))[0]["one"] == 1
        with pytest.raises(StorageError):
            await runner.fetch("SELECT 1 / 0")
    finally:
        await store.close()
    with pytest.raises(StorageError, match="closed"):
        await runner.fetch("SELECT 1")
