"""Backends for the storage contract suite: memory (the reference), SQLite (file), PostgreSQL when present.

PostgreSQL: a uniquely named database on 127.0.0.1:5432 (user postgres) per test run, dropped afterwards.
When the server is down its tests are skipped, unless JWTGATE_REQUIRE_SERVICES=1, then they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jwtgate.service.ports import Store
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore, schema

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(**PG_ADMIN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"jwtgate_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ImportError) as err:
        if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL required but unavailable: {err}")
        pytest.skip(f"PostgreSQL not available on 127.0.0.1:5432: {err}")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    async def migrate() -> None:
        store = await open_store(url)
        await store.migrate()
        await store.close()

    asyncio.run(migrate())
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_tables(store: SqlStore) -> None:
    def work(conn: sa.Connection) -> None:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(sa.delete(table))

    await store._runner.write(work)


def _backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend: str = request.param
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jwtgate.db'}"
    # Resolved here, outside the event loop: the session fixture runs its own asyncio.run().
    url: str = request.getfixturevalue("postgres_url")
    return url


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _backend_url(request, tmp_path)


@pytest.fixture(params=BACKENDS[1:])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _backend_url(request, tmp_path)


@pytest.fixture
async def sql_store(sql_url: str) -> AsyncIterator[SqlStore]:
    opened = SqlStore.from_url(sql_url)
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    if isinstance(opened, SqlStore) and opened.dialect == "postgresql":
        await _empty_tables(opened)
    else:
        await opened.migrate()
    yield opened
    await opened.close()


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_url() -> str:
    """Redis on 127.0.0.1:6379 (tests use a unique channel each); skipped when it is down, unless
    JWTGATE_REQUIRE_SERVICES=1, then the test fails (the same rule as tests/protect)."""
    import redis.asyncio
    from redis.exceptions import RedisError

    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError):
        if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("Redis on 127.0.0.1:6379 is required (JWTGATE_REQUIRE_SERVICES=1)")
        pytest.skip("Redis on 127.0.0.1:6379 is not running")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A unique key prefix on the real Redis (the skip/fail rule of ``redis_url``); every key under it
    is deleted afterwards."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url, socket_connect_timeout=2)
    prefix = f"jwtgate-test-{uuid.uuid4().hex}:dpop:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def unique_channel() -> str:
    return f"jwtgate-test-{uuid.uuid4().hex}:revocations"


async def next_messages(pubsub: Any, count: int) -> list[Any]:
    """The next ``count`` published messages, within a deadline of about 5 s."""
    got: list[Any] = []
    for _ in range(100):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            got.append(message["data"])
            if len(got) == count:
                return got
    raise AssertionError(f"got {len(got)} of {count} messages")
