"""Service fixtures: a frozen clock, cheap argon2 parameters, and the service over memory, SQLite and
PostgreSQL (when it runs on 127.0.0.1:5432; see tests/storage/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from jwtgate.service import Argon2Hasher, AuthService, MemoryKeyStore
from jwtgate.service.keyring import KeyStore
from jwtgate.service.ports import RevocationBroadcaster, Store
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore

# The PostgreSQL database of this run (created once, dropped at the end) comes from the storage suite.
from storage.conftest import _empty_tables, postgres_url, redis_url  # noqa: F401

from ._support import FrozenClock, OpenService, cheap_hasher, make_policy


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jwtgate.db'}"
    url: str = request.getfixturevalue("postgres_url")  # outside the event loop: it runs asyncio.run
    return url


@pytest.fixture
async def open_service(store_url: str, clock: FrozenClock) -> AsyncIterator[OpenService]:
    """Opens services on this test's backend (each with its own store connection); closes them all."""
    opened: list[AuthService] = []
    shared_keys = MemoryKeyStore()
    shared_memory = await open_store("memory://")  # services "in other processes" share it
    if store_url.startswith("postgresql"):
        cleaner = SqlStore.from_url(store_url)
        await _empty_tables(cleaner)  # one database serves the whole run
        await cleaner.close()

    async def factory(
        *,
        keys: KeyStore | None = None,
        hasher: Argon2Hasher | None = None,
        wrap: Callable[[Store], Store] | None = None,
        broadcaster: RevocationBroadcaster | None = None,
        **policy: object,
    ) -> AuthService:
        store = shared_memory if store_url == "memory://" else await open_store(store_url)
        await store.migrate()
        service = await AuthService.open(
            store=wrap(store) if wrap else store,
            keys=keys or shared_keys,
            policy=make_policy(**policy),
            clock=clock,
            hasher=hasher or cheap_hasher(),
            maintenance_interval=None,
            broadcaster=broadcaster,
        )
        opened.append(service)
        return service

    yield factory
    for service in opened:
        await service.close()


@pytest.fixture
async def service(open_service: OpenService) -> AuthService:
    svc = await open_service()
    await svc.add_user("alice", "correct horse", roles=["admin"], scopes=["read", "write"])
    await svc.add_user("bob", "bravo password")
    return svc
