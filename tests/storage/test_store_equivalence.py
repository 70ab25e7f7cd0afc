"""Random operation sequences give the same answers on SQLite as on the in-memory reference."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtgate.errors import StorageError
from jwtgate.service.ports import Store
from jwtgate.storage import open_store

from .test_store_contract import T0, d, session, token, user

SESSIONS = 3
operation = st.one_of(
    st.tuples(st.just("login"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("rotate"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("rotate_used"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("grace"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("revoke"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("deny"), st.integers(0, 3), st.integers(1, 200)),
    st.tuples(st.just("advance"), st.integers(1, 120)),
    st.tuples(st.just("disable"), st.booleans()),
    st.tuples(
        st.just("purge"),
    ),
)


async def apply(store: Store, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``ops``; return every observable answer (errors included) and a final snapshot."""
    now = T0
    counter = 0
    answers: list[Any] = []
    await store.create_user(user())
    for op in ops:
        kind = op[0]
        try:
            if kind == "login":
                sid = f"s{op[1]}"
                counter += 1
                await store.create_session(session(sid, at=now), token(f"t{counter}-", sid, at=now))
                answers.append(("login", sid))
            elif kind in ("rotate", "grace"):
                sid = f"s{op[1]}"
                current = await store.current_refresh_token(sid)
                answers.append(("current", current))
                if current is not None:
                    counter += 1
                    if kind == "rotate":
                        got = await store.rotate_live_refresh_token(
                            current.digest, d(f"t{counter}-"), now, 60
                        )
                        answers.append(("rotated", got))
                    else:
                        child = token(f"t{counter}-", sid, current.digest, at=now)
                        answers.append(("added", await store.add_refresh_token(child, now, now + 60)))
            elif kind == "rotate_used":
                counter += 1
                child = token(f"t{counter}-", f"s{op[1]}", "t1-", at=now)
                answers.append(await store.rotate_refresh_token(d("t1-"), child, now, now + 60))
            elif kind == "revoke":
                answers.append(await store.revoke_sessions([f"s{op[1]}"], now, now + 90))
            elif kind == "deny":
                answers.append(await store.add_revocation("jti", f"j{op[1]}", now + op[2]))
            elif kind == "advance":
                now += op[1]
            elif kind == "disable":
                answers.append(await store.set_disabled("u1", op[1]))
            elif kind == "purge":
                answers.append(await store.purge(now, audit_before=now))
        except StorageError as err:  # e.g. a second login into an existing session id
            answers.append(("error", str(err)))
    answers.append(await store.list_sessions(active_at=now))
    answers.append(await store.list_sessions())
    answers.append(await store.revocations(after=0, limit=1000, now=now))
    answers.append([await store.current_refresh_token(f"s{i}") for i in range(SESSIONS)])
    answers.append([await store.find_refresh_token(d(f"t{i}-")) for i in range(counter + 1)])
    return answers


async def run_both(ops: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    memory = await open_store("memory://")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'eq.db'}")
        await sqlite.migrate()
        try:
            return await apply(memory, ops), await apply(sqlite, ops)
        finally:
            await sqlite.close()
            await memory.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=25))
def test_sqlite_answers_like_the_reference(ops: list[tuple[Any, ...]]) -> None:
    reference, sqlite = asyncio.run(run_both(ops))

    # Error texts may differ between backends; that an error happened may not.
    def shape(answers: list[Any]) -> list[Any]:
        return [("error",) if isinstance(a, tuple) and a[:1] == ("error",) else a for a in answers]

    assert shape(sqlite) == shape(reference)
