"""Two stores on one database (as two processes would be): the conditional UPDATE still has one winner."""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.storage.sql import SqlStore

from .conftest import _empty_tables
from .test_store_contract import T0, d, token, with_session


@pytest.fixture
async def fresh_url(sql_url: str) -> str:
    store = SqlStore.from_url(sql_url)
    await store.migrate()
    await _empty_tables(store)  # the PostgreSQL database is shared by the whole run
    await store.close()
    return sql_url


async def test_rotation_race_across_connections(fresh_url: str) -> None:
    first = SqlStore.from_url(fresh_url)
    await first.migrate()
    second = SqlStore.from_url(fresh_url)
    try:
        await with_session(first)
        stores = [first, second] * 4
        results = await asyncio.gather(
            *(
                store.rotate_refresh_token(d("as1"), token(f"c{i}", parent="as1"), T0 + 1, T0 + 101)
                for i, store in enumerate(stores)
            )
        )
        assert sorted(results) == [False] * 7 + [True]
        winner = results.index(True)
        found = await second.find_refresh_token(d(f"c{winner}"))
        assert found is not None
        assert await second.current_refresh_token("s1") == found.token
    finally:
        await second.close()
        await first.close()


async def test_revocation_cursors_are_unique_across_connections(fresh_url: str) -> None:
    first = SqlStore.from_url(fresh_url)
    await first.migrate()
    second = SqlStore.from_url(fresh_url)
    try:
        entries = await asyncio.gather(
            *(store.add_revocation("jti", f"j{i}", T0 + 100) for i, store in enumerate([first, second] * 5))
        )
        cursors = [e.cursor for e in entries]
        assert len(set(cursors)) == 10
        feed = await first.revocations(after=0, limit=100, now=T0)
        assert sorted(cursors) == [e.cursor for e in feed]
    finally:
        await second.close()
        await first.close()
