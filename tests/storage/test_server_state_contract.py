"""The server-state part of the store contract (key ring, secrets, named values), on every backend;
and the migration lock and schema checks on the SQL ones."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from jwtgate.errors import ConfigError
from jwtgate.service.keystore import KeyInfo, StoredKey
from jwtgate.service.ports import NotInitialised, Store
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore


def key(kid: str, state: str = "active", created_at: float = 1.0) -> StoredKey:
    return StoredKey(KeyInfo(kid, "ES256", state, created_at), f'{{"kid": "{kid}"}}', None)  # type: ignore[arg-type]


async def test_an_empty_ring_has_no_version(store: Store) -> None:
    assert await store.load_keys() == []
    assert await store.keys_version() is None


async def test_update_keys_replaces_the_ring_and_changes_the_version(store: Store) -> None:
    ring, version = await store.update_keys(lambda current: [*current, key("a"), key("b", "next", 2.0)])
    assert {k.info.kid for k in ring} == {"a", "b"}
    assert version is not None
    assert await store.keys_version() == version
    assert {k.info.kid for k in await store.load_keys()} == {"a", "b"}
    loaded = {k.info.kid: k for k in await store.load_keys()}
    assert loaded["b"] == key("b", "next", 2.0)
    again, same = await store.update_keys(lambda current: None)  # no change: same version
    assert same == version
    assert len(again) == 2
    _, changed = await store.update_keys(lambda current: [k for k in current if k.info.kid != "a"])
    assert changed != version
    assert [k.info.kid for k in await store.load_keys()] == ["b"]


async def test_a_failing_change_changes_nothing(store: Store) -> None:
    await store.update_keys(lambda current: [key("a")])
    version = await store.keys_version()

    def broken(current: list[StoredKey]) -> list[StoredKey]:
        raise ConfigError("no")

    with pytest.raises(ConfigError):
        await store.update_keys(broken)
    assert [k.info.kid for k in await store.load_keys()] == ["a"]
    assert await store.keys_version() == version


async def test_concurrent_updates_never_lose_a_change(store_url: str, store: Store) -> None:
    others = [store] if store_url == "memory://" else [await open_store(store_url) for _ in range(3)]
    try:

        async def add(index: int) -> None:
            target = others[index % len(others)]
            await target.update_keys(lambda current: [*current, key(f"k{index}", "retired", float(index))])

        await asyncio.gather(*(add(i) for i in range(12)))
        assert len(await store.load_keys()) == 12
    finally:
        if store_url != "memory://":
            for other in others:
                await other.close()


async def test_secrets_are_created_once(store: Store) -> None:
    assert await store.get_secret("csrf") is None
    first = await store.ensure_secret("csrf", "one", None, 1.0)
    assert first == ("one", None)
    assert await store.ensure_secret("csrf", "two", "kek", 2.0) == ("one", None)  # the first one wins
    assert await store.get_secret("csrf") == ("one", None)

    def reseal(stored: dict[str, Any]) -> dict[str, Any]:
        return {name: ("sealed-" + material, "kek") for name, (material, _) in stored.items()}

    await store.update_secrets(reseal)
    assert await store.get_secret("csrf") == ("sealed-one", "kek")
    await store.update_secrets(lambda stored: None)
    assert await store.get_secret("csrf") == ("sealed-one", "kek")


async def test_named_values(store: Store) -> None:
    assert await store.get_meta("issuer") is None
    assert await store.ensure_meta("issuer", "https://a") == "https://a"
    assert await store.ensure_meta("issuer", "https://b") == "https://a"
    await store.set_meta("issuer", "https://c")
    assert await store.get_meta("issuer") == "https://c"


# -- SQL only: migrations under a lock, schema versions ------------------------------------------------


async def test_concurrent_migrations_on_an_empty_database(sql_url: str, tmp_path: Any) -> None:
    """Regression: two instances migrating an empty database at once both created alembic_version."""
    if sql_url.startswith("postgresql"):
        from storage.conftest import _pg_admin

        name = f"jwtgate_mig_{__import__('uuid').uuid4().hex[:10]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        url = sql_url.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    stores = [SqlStore.from_url(url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        for s in stores:
            await s.check_schema()
    finally:
        for s in stores:
            await s.close()
        if url.startswith("postgresql"):
            from storage.conftest import _pg_admin

            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_schema_checks_name_both_versions(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"
    store = SqlStore.from_url(url)
    try:
        with pytest.raises(NotInitialised):
            await store.check_schema()

        def stamp(revision: str) -> Any:
            def work(conn: sa.Connection) -> None:
                conn.execute(sa.text("DELETE FROM alembic_version"))
                conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})

            return work

        await store.migrate()
        await store.check_schema()
        await store._runner.write(stamp("0001"))
        with pytest.raises(
            ConfigError, match=r"at revision 0001; this jwtgate needs 0003: run `jwtgate migrate`"
        ):
            await store.check_schema()
        await store._runner.write(stamp("9999"))
        with pytest.raises(ConfigError, match=r"revision 9999, newer than this jwtgate knows \(up to 0003\)"):
            await store.check_schema()
        with pytest.raises(ConfigError, match="newer"):
            await store.migrate()  # never touches a newer schema
    finally:
        await store.close()
