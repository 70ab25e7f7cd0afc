"""The OAuth part of the storage contract (``OAuthStore``): memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import dataclasses

from jwtgate.service.ports import Store
from jwtgate.service.records import AuthorizationCodeRecord, ClientRecord, RefreshTokenRecord

from .test_store_contract import T0, session, user


def client(cid: str = "jgc_1", name: str = "web", **changes: object) -> ClientRecord:
    record = ClientRecord(
        id=cid,
        name=name,
        secret_hash="a" * 64,
        created_at=T0,
        kind="confidential",
        grants=("authorization_code", "refresh_token"),
        scopes=("read", "write"),
        redirect_uris=("https://app.example/cb", "http://127.0.0.1:8080/cb"),
        first_party=False,
        audiences=("orders-api",),
        introspect=True,
        jwks_url=None,
        jwks='{"keys":[]}',
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def code(digest: str = "d" * 64, **changes: object) -> AuthorizationCodeRecord:
    record = AuthorizationCodeRecord(
        digest=digest,
        client_id="jgc_1",
        user_id="u1",
        redirect_uri="https://app.example/cb",
        scope="read",
        code_challenge="c" * 43,
        created_at=T0,
        expires_at=T0 + 60,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


async def test_client_registrations_round_trip(store: Store) -> None:
    web = client()
    spa = client("jgc_2", "spa", kind="public", secret_hash=None, grants=(), jwks=None, introspect=False)
    await store.create_client(web)
    await store.create_client(spa)
    assert await store.get_client("jgc_1") == web
    assert await store.get_client_by_name("spa") == spa
    assert await store.get_client_by_name("nope") is None
    assert [c.name for c in await store.list_clients()] == ["spa", "web"]
    assert await store.set_client_secret("jgc_1", "b" * 64)
    changed = await store.get_client("jgc_1")
    assert changed is not None
    assert changed.secret_hash == "b" * 64
    assert not await store.set_client_secret("jgc_none", "b" * 64)
    assert await store.delete_client("jgc_2")
    assert not await store.delete_client("jgc_2")
    assert await store.get_client("jgc_2") is None


async def test_sessions_remember_their_client(store: Store) -> None:
    await store.create_user(user())
    first = dataclasses.replace(session("s1"), client_id="jgc_1")
    await store.create_session(first, RefreshTokenRecord("t1", "s1", None, T0, T0 + 100))
    await store.create_session(session("s2"), RefreshTokenRecord("t2", "s2", None, T0, T0 + 100))
    found = await store.find_refresh_token("t1")
    assert found is not None
    assert found.session.client_id == "jgc_1"
    assert (await store.get_session("s2")).client_id is None  # type: ignore[union-attr]
    assert await store.client_session_ids("jgc_1") == ["s1"]
    await store.revoke_sessions(["s1"], T0 + 1, T0 + 100)
    assert await store.client_session_ids("jgc_1") == []


async def test_user_grants_are_replaced(store: Store) -> None:
    await store.create_user(user())
    assert await store.set_user_grants("u1", ["ops"], ["read", "reports"])
    changed = await store.get_user("u1")
    assert changed is not None
    assert (changed.roles, changed.scopes) == (("ops",), ("read", "reports"))
    assert not await store.set_user_grants("nobody", [], [])


async def test_a_code_is_spent_once_and_a_replay_sees_the_first_session(store: Store) -> None:
    await store.create_user(user())
    await store.create_authorization_code(code())
    spent = await store.use_authorization_code("d" * 64, T0 + 5, "s-first")
    assert spent == code()  # as it was before: unused
    replay = await store.use_authorization_code("d" * 64, T0 + 6, "s-second")
    assert replay is not None
    assert (replay.used_at, replay.session_id) == (T0 + 5, "s-first")
    assert await store.use_authorization_code("e" * 64, T0, "s") is None


async def test_concurrent_exchanges_of_one_code_have_one_winner(store: Store) -> None:
    await store.create_user(user())
    await store.create_authorization_code(code())
    results = await asyncio.gather(
        *(store.use_authorization_code("d" * 64, T0 + 1, f"s{i}") for i in range(5)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, AuthorizationCodeRecord) and r.used_at is None]
    assert len(winners) == 1


async def test_an_assertion_id_is_accepted_once_until_it_expires(store: Store) -> None:
    assert await store.use_assertion_id("jgc_1", "jti-1", T0 + 60, T0)
    assert not await store.use_assertion_id("jgc_1", "jti-1", T0 + 60, T0 + 30)
    assert await store.use_assertion_id("jgc_2", "jti-1", T0 + 60, T0 + 30)  # per client
    assert await store.use_assertion_id("jgc_1", "jti-1", T0 + 200, T0 + 61)  # expired: usable again


async def test_purge_oauth_drops_expired_codes_and_assertion_ids(store: Store) -> None:
    await store.create_user(user())
    await store.create_authorization_code(code("1" * 64))
    await store.create_authorization_code(code("2" * 64, expires_at=T0 + 600))
    await store.use_assertion_id("jgc_1", "old", T0 + 10, T0)
    await store.use_assertion_id("jgc_1", "new", T0 + 900, T0)
    assert await store.purge_oauth(T0 + 100) == {"authorization_codes": 1, "assertion_ids": 1}
    assert await store.use_authorization_code("1" * 64, T0, "s") is None
    assert await store.use_authorization_code("2" * 64, T0, "s") is not None
    assert not await store.use_assertion_id("jgc_1", "new", T0 + 900, T0 + 100)


async def test_rotation_for_a_client_needs_the_session_to_be_its_own(store: Store) -> None:
    await store.create_user(user())
    await store.create_session(
        dataclasses.replace(session("s1"), client_id="jgc_1"),
        RefreshTokenRecord("t1", "s1", None, T0, T0 + 100),
    )
    await store.create_session(session("s2"), RefreshTokenRecord("t2", "s2", None, T0, T0 + 100))
    assert await store.rotate_client_refresh_token("t1", "c1", T0 + 1, 100, None) is None
    assert await store.rotate_client_refresh_token("t1", "c1", T0 + 1, 100, "jgc_2") is None
    assert await store.rotate_client_refresh_token("t2", "c2", T0 + 1, 100, "jgc_1") is None
    unspent = await store.find_refresh_token("t1")
    assert unspent is not None
    assert unspent.token.used_at is None  # the refusals changed nothing
    rotated = await store.rotate_client_refresh_token("t1", "c1", T0 + 1, 100, "jgc_1")
    assert rotated is not None
    assert (rotated.token.digest, rotated.session.client_id) == ("c1", "jgc_1")
    builtin = await store.rotate_client_refresh_token("t2", "c2", T0 + 1, 100, None)
    assert builtin is not None
    assert await store.rotate_client_refresh_token("t1", "c3", T0 + 2, 100, "jgc_1") is None  # used
    assert await store.rotate_client_refresh_token("nope", "c4", T0 + 2, 100, None) is None
