"""Service fixtures: a frozen clock, cheap argon2 parameters, and the service over memory, SQLite and
PostgreSQL (when it runs on 127.0.0.1:5432; see tests/storage/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from jwtgate.service import Argon2Hasher, AuthService
from jwtgate.service.keyring import KeyStore
from jwtgate.service.ports import RevocationBroadcaster, Store
from jwtgate.service.sealing import Sealer
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
    shared_memory = await open_store("memory://")  # services "in other processes" share it
    if store_url.startswith("postgresql"):
        cleaner = SqlStore.from_url(store_url)
        await _empty_tables(cleaner)  # one database serves the whole run
        await cleaner.close()

    async def factory(
        *,
        keys: KeyStore | None = None,
        sealer: Sealer | None = None,
        create: bool = True,
        hasher: Argon2Hasher | None = None,
        wrap: Callable[[Store], Store] | None = None,
        broadcaster: RevocationBroadcaster | None = None,
        **policy: object,
    ) -> AuthService:
        store = _Shared(shared_memory) if store_url == "memory://" else await open_store(store_url)
        await store.migrate()
        service = await AuthService.open(
            store=wrap(store) if wrap else store,
            keys=keys,
            sealer=sealer,
            create=create,
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


class _Shared:
    """The memory store shared by the services of one test ("other processes"): a service that fails
    to open, or closes, must not close it for the others."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def close(self) -> None:
        return None
