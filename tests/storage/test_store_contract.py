"""The storage contract: every backend behaves like the in-memory reference."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from jwtgate.errors import Conflict, StorageError
from jwtgate.service.ports import Store
from jwtgate.service.records import ClientRecord, RefreshTokenRecord, SessionRecord, UserRecord

T0 = 1_800_000_000.0


def user(uid: str = "u1", name: str = "alice") -> UserRecord:
    return UserRecord(
        id=uid,
        username=name,
        password_hash="$argon2id$fake",
        disabled=False,
        roles=("admin",),
        scopes=("read", "write"),
        created_at=T0,
        password_changed_at=T0,
    )


def session(sid: str = "s1", uid: str = "u1", at: float = T0) -> SessionRecord:
    return SessionRecord(
        id=sid,
        user_id=uid,
        created_at=at,
        last_used_at=at,
        idle_expires_at=at + 100,
        expires_at=at + 1000,
        scope="read",
        user_agent="ua",
        ip="127.0.0.1",
    )


def token(digest: str, sid: str = "s1", parent: str | None = None, at: float = T0):
    return RefreshTokenRecord(
        digest=digest.ljust(64, "0"),
        session_id=sid,
        parent_digest=None if parent is None else parent.ljust(64, "0"),
        created_at=at,
        expires_at=at + 100,
    )


def d(name: str) -> str:
    return name.ljust(64, "0")


async def with_session(store: Store, sid: str = "s1", uid: str = "u1") -> None:
    if await store.get_user(uid) is None:
        await store.create_user(user(uid, f"user-{uid}"))
    await store.create_session(session(sid, uid), token(f"a{sid}", sid))


async def test_users_round_trip(store: Store) -> None:
    await store.create_user(user())
    await store.create_user(user("u2", "bob"))
    assert await store.get_user("u1") == user()
    assert await store.get_user_by_name("alice") == user()
    assert await store.get_user_by_name("ALICE") is None
    assert await store.get_user("nope") is None
    assert [u.username for u in await store.list_users()] == ["alice", "bob"]
    assert await store.count_users() == 2


async def test_duplicate_username_is_a_conflict(store: Store) -> None:
    await store.create_user(user())
    with pytest.raises(Conflict):
        await store.create_user(user("u2", "alice"))
    assert await store.count_users() == 1


async def test_update_user(store: Store) -> None:
    await store.create_user(user())
    assert await store.set_password_hash("u1", "$argon2id$new", T0 + 5)
    assert await store.set_disabled("u1", True)
    got = await store.get_user("u1")
    assert got is not None
    assert (got.password_hash, got.password_changed_at, got.disabled) == ("$argon2id$new", T0 + 5, True)
    assert not await store.set_password_hash("nope", "x", T0)
    assert not await store.set_disabled("nope", True)


async def test_huge_or_odd_lookups_find_nothing(store: Store) -> None:
    await store.create_user(user())
    assert await store.get_user_by_name("a" * 100_000) is None
    assert await store.find_refresh_token("\u00e9" * 1000) is None
    assert await store.get_client("x" * 10_000) is None
    assert await store.get_user("u1") == user()


async def test_session_and_token_lookup(store: Store) -> None:
    await with_session(store)
    found = await store.find_refresh_token(d("as1"))
    assert found is not None
    tok, sess, owner = found
    assert tok == token("as1")
    assert sess == session()
    assert owner == user("u1", "user-u1")
    assert await store.get_session("s1") == session()
    assert await store.find_refresh_token(d("zz")) is None
    assert await store.current_refresh_token("s1") == token("as1")
    assert await store.current_refresh_token("nope") is None


async def test_list_sessions_filters_and_orders(store: Store) -> None:
    await store.create_user(user())
    await store.create_session(session("s1", at=T0), token("a1", "s1"))
    await store.create_session(session("s2", at=T0 + 1), token("a2", "s2"))
    await store.create_session(session("s3", at=T0 + 2), token("a3", "s3"))
    await store.revoke_sessions(["s3"], T0 + 3, T0 + 50)
    assert [s.id for s in await store.list_sessions(user_id="u1")] == ["s3", "s2", "s1"]
    assert [s.id for s in await store.list_sessions(user_id="u1", active_at=T0 + 3)] == ["s2", "s1"]
    # s1 idles out at T0 + 100, s2 at T0 + 101
    assert [s.id for s in await store.list_sessions(active_at=T0 + 100.5)] == ["s2"]
    assert await store.list_sessions(user_id="other") == []


async def test_rotation_marks_parent_and_inserts_child(store: Store) -> None:
    await with_session(store)
    child = token("b", parent="as1", at=T0 + 10)
    assert await store.rotate_refresh_token(d("as1"), child, T0 + 10, T0 + 110)
    parent_found = await store.find_refresh_token(d("as1"))
    assert parent_found is not None
    assert parent_found[0].used_at == T0 + 10
    child_found = await store.find_refresh_token(d("b"))
    assert child_found is not None
    assert child_found[0] == child
    assert (child_found[1].last_used_at, child_found[1].idle_expires_at) == (T0 + 10, T0 + 110)
    assert await store.current_refresh_token("s1") == child


async def test_a_used_token_rotates_only_once(store: Store) -> None:
    await with_session(store)
    assert await store.rotate_refresh_token(d("as1"), token("b", parent="as1"), T0 + 1, T0 + 101)
    assert not await store.rotate_refresh_token(d("as1"), token("c", parent="as1"), T0 + 2, T0 + 102)
    assert await store.find_refresh_token(d("c")) is None
    found = await store.find_refresh_token(d("as1"))
    assert found is not None
    assert found[0].used_at == T0 + 1
    assert found[1].last_used_at == T0 + 1


async def test_the_current_token_among_equal_timestamps_is_the_same_on_every_backend(store: Store) -> None:
    # Regression (found by the equivalence property test): two unused tokens of one session created in
    # the same instant; memory picked the last inserted, SQL the greatest digest.
    await with_session(store)  # "as1", at T0
    for name in ("t9-", "t10-"):  # inserted in this order; "t9-..." > "t10-..." as text
        assert await store.add_refresh_token(token(name), T0, T0 + 100)
    current = await store.current_refresh_token("s1")
    assert current is not None
    assert current.digest == d("t9-")


async def test_concurrent_rotations_have_exactly_one_winner(store: Store) -> None:
    await with_session(store)
    results = await asyncio.gather(
        *(
            store.rotate_refresh_token(d("as1"), token(f"c{i}", parent="as1"), T0 + 1, T0 + 101)
            for i in range(8)
        )
    )
    assert sorted(results) == [False] * 7 + [True]
    children = [await store.find_refresh_token(d(f"c{i}")) for i in range(8)]
    assert sum(c is not None for c in children) == 1


async def test_failed_rotation_changes_nothing(store: Store) -> None:
    await with_session(store)
    await store.create_session(session("s2"), token("taken", "s2"))
    # The child digest collides with an existing token: the insert fails after the conditional update.
    with pytest.raises(StorageError):
        await store.rotate_refresh_token(d("as1"), token("taken", parent="as1"), T0 + 5, T0 + 105)
    found = await store.find_refresh_token(d("as1"))
    assert found is not None
    assert found[0].used_at is None
    assert found[1] == session()
    # ... and the old token still rotates afterwards.
    assert await store.rotate_refresh_token(d("as1"), token("ok", parent="as1"), T0 + 6, T0 + 106)


async def test_rotation_in_a_revoked_session_fails_without_change(store: Store) -> None:
    await with_session(store)
    await store.revoke_sessions(["s1"], T0 + 1, T0 + 60)
    assert not await store.rotate_refresh_token(d("as1"), token("b", parent="as1"), T0 + 2, T0 + 99)
    found = await store.find_refresh_token(d("as1"))
    assert found is not None
    assert found[0].used_at is None
    assert await store.find_refresh_token(d("b")) is None


async def test_rotation_cannot_move_a_token_to_another_session(store: Store) -> None:
    await with_session(store, "s1")
    await with_session(store, "s2")
    moved = dataclasses.replace(token("b", parent="as1"), session_id="s2")
    assert not await store.rotate_refresh_token(d("as1"), moved, T0 + 1, T0 + 101)
    assert await store.find_refresh_token(d("b")) is None


async def test_add_refresh_token_is_the_grace_path(store: Store) -> None:
    await with_session(store)
    assert await store.add_refresh_token(token("g", parent="as1", at=T0 + 3), T0 + 3, T0 + 103)
    found = await store.find_refresh_token(d("g"))
    assert found is not None
    assert found[1].idle_expires_at == T0 + 103
    await store.revoke_sessions(["s1"], T0 + 4, T0 + 60)
    assert not await store.add_refresh_token(token("h", parent="as1"), T0 + 5, T0 + 105)
    assert await store.find_refresh_token(d("h")) is None
    assert not await store.add_refresh_token(token("i", sid="nope"), T0 + 5, T0 + 105)


async def test_revoke_sessions_denylists_each_once(store: Store) -> None:
    await with_session(store, "s1")
    await with_session(store, "s2")
    entries = await store.revoke_sessions(["s1", "s2", "s1", "missing"], T0 + 1, T0 + 61)
    assert sorted((e.kind, e.value, e.expires_at) for e in entries) == [
        ("sid", "s1", T0 + 61),
        ("sid", "s2", T0 + 61),
    ]
    assert await store.revoke_sessions(["s1"], T0 + 2, T0 + 62) == []
    revoked = await store.get_session("s1")
    assert revoked is not None
    assert revoked.revoked_at == T0 + 1
    feed = await store.revocations(after=0, limit=10, now=T0 + 2)
    assert [(r.kind, r.value) for r in feed] == [(e.kind, e.value) for e in entries]


async def test_revocation_feed_cursor_expiry_and_limit(store: Store) -> None:
    first = await store.add_revocation("jti", "j1", T0 + 10)
    second = await store.add_revocation("jti", "j2", T0 + 20)
    third = await store.add_revocation("sid", "s1", T0 + 30)
    assert first.cursor < second.cursor < third.cursor
    assert await store.revocations(after=0, limit=10, now=T0) == [first, second, third]
    assert await store.revocations(after=first.cursor, limit=1, now=T0) == [second]
    assert await store.revocations(after=0, limit=10, now=T0 + 15) == [second, third]
    assert await store.revocations(after=third.cursor, limit=10, now=T0) == []
    assert await store.revocations(after=0, limit=0, now=T0) == []


async def test_relisting_keeps_the_longer_expiry(store: Store) -> None:
    first = await store.add_revocation("jti", "j1", T0 + 10)
    assert await store.add_revocation("jti", "j1", T0 + 5) == first
    longer = await store.add_revocation("jti", "j1", T0 + 50)
    assert longer.cursor > first.cursor
    assert await store.revocations(after=0, limit=10, now=T0) == [longer]
    # the same value under another kind is another entry
    other = await store.add_revocation("sid", "j1", T0 + 10)
    assert await store.revocations(after=0, limit=10, now=T0) == [longer, other]


async def test_purge_removes_only_dead_rows_and_cursors_never_go_back(store: Store) -> None:
    await with_session(store, "live")
    await with_session(store, "revoked")
    await with_session(store, "old")
    await store.rotate_refresh_token(d("aold"), token("bold", "old", "aold"), T0 + 1, T0 + 2)
    await store.revoke_sessions(["revoked"], T0 + 1, T0 + 61)
    kept = await store.add_revocation("jti", "keep", T0 + 500)
    await store.add_audit_event("old_event", T0 - 1000)
    await store.add_audit_event("new_event", T0 + 1)
    counts = await store.purge(T0 + 62, audit_before=T0)
    # "old" idled out at T0 + 2, "revoked" was revoked, the sid entry expired at T0 + 61
    assert counts == {"revocations": 1, "sessions": 2, "refresh_tokens": 3, "audit_events": 1}
    assert await store.get_session("live") is not None
    assert await store.get_session("old") is None
    assert await store.find_refresh_token(d("aold")) is None
    assert await store.find_refresh_token(d("alive")) is not None
    assert await store.revocations(after=0, limit=10, now=T0 + 62) == [kept]
    assert [e.kind for e in await store.audit_events()] == ["new_event"]
    # purge everything, then a new entry still gets a larger cursor
    await store.purge(T0 + 10_000, audit_before=T0 + 10_000)
    assert (await store.add_revocation("jti", "next", T0 + 20_000)).cursor > kept.cursor
    assert await store.purge(T0 + 10_000, audit_before=T0) == {
        "revocations": 0,
        "sessions": 0,
        "refresh_tokens": 0,
        "audit_events": 0,
    }


async def test_clients(store: Store) -> None:
    client = ClientRecord(id="c1", name="api", secret_hash="ab" * 32, created_at=T0)
    await store.create_client(client)
    with pytest.raises(Conflict):
        await store.create_client(dataclasses.replace(client, id="c2"))
    with pytest.raises(Conflict):
        await store.create_client(dataclasses.replace(client, name="other"))
    await store.create_client(ClientRecord(id="c0", name="aaa", secret_hash="cd" * 32, created_at=T0))
    assert await store.get_client("c1") == client
    assert await store.get_client("nope") is None
    assert [c.name for c in await store.list_clients()] == ["aaa", "api"]


async def test_audit_events_newest_first(store: Store) -> None:
    await store.add_audit_event("a", T0, user_id="u1", detail={"n": 1, "list": [1, "x"]})
    await store.add_audit_event("b", T0 + 1, session_id="s1")
    events = await store.audit_events()
    assert [(e.kind, e.user_id, e.session_id, e.detail) for e in events] == [
        ("b", None, "s1", {}),
        ("a", "u1", None, {"n": 1, "list": [1, "x"]}),
    ]
    assert events[0].id > events[1].id
    assert [e.kind for e in await store.audit_events(limit=1)] == ["b"]
    assert await store.audit_events(limit=0) == []


async def test_session_needs_an_existing_user(store: Store) -> None:
    with pytest.raises(StorageError):
        await store.create_session(session("s1", "ghost"), token("a"))
    assert await store.get_session("s1") is None
    assert await store.find_refresh_token(d("a")) is None


async def test_migrate_is_idempotent(store: Store) -> None:
    await store.create_user(user())
    await store.migrate()
    assert await store.get_user("u1") == user()


async def test_a_closed_store_fails_cleanly(store_url: str) -> None:
    from jwtgate.storage import open_store

    closed = await open_store(store_url)
    await closed.migrate()
    await closed.ping()
    await closed.close()
    with pytest.raises(StorageError):
        await closed.get_user("u1")
    with pytest.raises(StorageError):
        await closed.ping()


async def test_ping_needs_the_schema(tmp_path: Path) -> None:
    from jwtgate.storage import open_store

    fresh = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        with pytest.raises(StorageError):
            await fresh.ping()  # no tables yet: the database is not ready
        await fresh.migrate()
        await fresh.ping()
    finally:
        await fresh.close()


async def test_live_rotation_fast_path(store: Store) -> None:
    await with_session(store)
    rotated = await store.rotate_live_refresh_token(d("as1"), d("b"), T0 + 10, 50)
    assert rotated is not None
    assert rotated.token == RefreshTokenRecord(d("b"), "s1", d("as1"), T0 + 10, T0 + 60)
    assert (rotated.session.last_used_at, rotated.session.idle_expires_at) == (T0 + 10, T0 + 60)
    assert rotated.session == await store.get_session("s1")
    assert rotated.user.id == "u1"
    parent = await store.find_refresh_token(d("as1"))
    assert parent is not None
    assert parent.token.used_at == T0 + 10
    assert await store.current_refresh_token("s1") == rotated.token
    # the idle window never outlives the session (expires at T0 + 1000)
    capped = await store.rotate_live_refresh_token(d("b"), d("c"), T0 + 20, 5000)
    assert capped is not None
    assert capped.token.expires_at == T0 + 1000


async def test_live_rotation_refuses_without_change(store: Store) -> None:
    await with_session(store, "s1", "u1")
    await with_session(store, "s2", "u2")
    await with_session(store, "s3", "u3")
    assert await store.rotate_live_refresh_token(d("as1"), d("x1"), T0 + 1, 50) is not None
    # used, unknown, expired token, revoked session, disabled user
    assert await store.rotate_live_refresh_token(d("as1"), d("x2"), T0 + 2, 50) is None
    assert await store.rotate_live_refresh_token(d("nope"), d("x3"), T0 + 2, 50) is None
    assert await store.rotate_live_refresh_token(d("as2"), d("x4"), T0 + 100, 50) is None
    await store.revoke_sessions(["s2"], T0 + 3, T0 + 60)
    assert await store.rotate_live_refresh_token(d("as2"), d("x5"), T0 + 4, 50) is None
    await store.set_disabled("u3", True)
    assert await store.rotate_live_refresh_token(d("as3"), d("x6"), T0 + 4, 50) is None
    for child in ("x2", "x3", "x4", "x5", "x6"):
        assert await store.find_refresh_token(d(child)) is None
    for parent in ("as2", "as3"):
        found = await store.find_refresh_token(d(parent))
        assert found is not None
        assert found.token.used_at is None


async def test_live_rotation_failure_changes_nothing(store: Store) -> None:
    await with_session(store, "s1")
    await with_session(store, "s2")
    with pytest.raises(StorageError):
        await store.rotate_live_refresh_token(d("as1"), d("as2"), T0 + 1, 50)  # digest taken
    found = await store.find_refresh_token(d("as1"))
    assert found is not None
    assert found.token.used_at is None
    assert found.session == session("s1")


async def test_live_rotation_race_has_one_winner(store: Store) -> None:
    await with_session(store)
    results = await asyncio.gather(
        *(store.rotate_live_refresh_token(d("as1"), d(f"c{i}"), T0 + 1, 50) for i in range(8))
    )
    assert sum(r is not None for r in results) == 1


async def test_close_is_idempotent(store_url: str) -> None:
    from jwtgate.storage import open_store

    opened = await open_store(store_url)
    await opened.migrate()
    await opened.close()
    await opened.close()
    with pytest.raises(StorageError):
        await opened.ping()
