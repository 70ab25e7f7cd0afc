"""Logout, logout everywhere, password changes, disabling, the denylist and its expiry."""

from __future__ import annotations

import pytest

from jwtgate.errors import (
    ExpiredToken,
    InvalidCredentials,
    InvalidGrant,
    NotFound,
    RevokedToken,
)
from jwtgate.service import AuthService, InvalidRequest

from ._support import FrozenClock, OpenService


async def user_id(service: AuthService, name: str) -> str:
    return next(u.id for u in await service.list_users() if u.username == name)


async def test_logout_kills_the_session_at_once(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse")
    other = await service.login("alice", "correct horse")
    await service.logout(pair.session_id)
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)
    await service.authenticate(other.access_token)
    await service.logout(pair.session_id)  # idempotent
    await service.logout("no-such-session")
    await service.logout("x" * 100_000)


async def test_logout_all(service: AuthService) -> None:
    pairs = [await service.login("alice", "correct horse") for _ in range(3)]
    bob = await service.login("bob", "bravo password")
    assert await service.logout_all(await user_id(service, "alice")) == 3
    for pair in pairs:
        with pytest.raises(RevokedToken):
            await service.authenticate(pair.access_token)
    await service.authenticate(bob.access_token)
    assert await service.list_sessions(await user_id(service, "alice")) == []
    assert await service.logout_all(await user_id(service, "alice")) == 0


async def test_list_and_revoke_own_sessions(service: AuthService) -> None:
    alice = await user_id(service, "alice")
    first = await service.login("alice", "correct horse")
    second = await service.login("alice", "correct horse")
    bob = await service.login("bob", "bravo password")
    assert {s.id for s in await service.list_sessions(alice)} == {first.session_id, second.session_id}
    with pytest.raises(NotFound):
        await service.revoke_session(bob.session_id, user_id=alice)  # not hers
    with pytest.raises(NotFound):
        await service.revoke_session("missing", user_id=alice)
    await service.revoke_session(first.session_id, user_id=alice)
    assert [s.id for s in await service.list_sessions(alice)] == [second.session_id]
    await service.authenticate(bob.access_token)
    # admin view
    assert {s.id for s in await service.list_all_sessions()} == {second.session_id, bob.session_id}
    assert [s.id for s in await service.list_all_sessions("bob")] == [bob.session_id]
    with pytest.raises(NotFound):
        await service.list_all_sessions("nobody")


async def test_change_password_keeps_this_session_only(service: AuthService) -> None:
    alice = await user_id(service, "alice")
    here = await service.login("alice", "correct horse")
    elsewhere = await service.login("alice", "correct horse")
    with pytest.raises(InvalidCredentials):
        await service.change_password(alice, "wrong", "new password 1", keep_session_id=here.session_id)
    with pytest.raises(InvalidRequest):
        await service.change_password(alice, "correct horse", "short", keep_session_id=here.session_id)
    await service.authenticate(elsewhere.access_token)  # failed attempts changed nothing
    await service.change_password(alice, "correct horse", "new password 1", keep_session_id=here.session_id)
    await service.authenticate(here.access_token)
    await service.refresh(here.refresh_token)
    with pytest.raises(RevokedToken):
        await service.authenticate(elsewhere.access_token)
    with pytest.raises(InvalidCredentials):
        await service.login("alice", "correct horse")
    await service.login("alice", "new password 1")
    kinds = [e["kind"] for e in await service.audit_events()]
    assert "password_changed" in kinds
    with pytest.raises(NotFound):
        await service.change_password("nobody", "a", "new password 1")


async def test_admin_password_reset_and_disable_revoke_everything(service: AuthService) -> None:
    first = await service.login("alice", "correct horse")
    await service.set_password("alice", "reset password")
    with pytest.raises(RevokedToken):
        await service.authenticate(first.access_token)
    second = await service.login("alice", "reset password")
    disabled = await service.set_user_disabled("alice", True)
    assert disabled.disabled
    with pytest.raises(RevokedToken):
        await service.authenticate(second.access_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(second.refresh_token)
    with pytest.raises(NotFound):
        await service.set_password("nobody", "whatever long")
    with pytest.raises(NotFound):
        await service.set_user_disabled("Not Valid!", True)


async def test_denylist_entries_expire_and_are_purged(service: AuthService, clock: FrozenClock) -> None:
    login = await service.login("alice", "correct horse")
    clock.advance(100)
    pair = await service.refresh(login.refresh_token)  # the session's newest access token
    await service.logout(pair.session_id)
    feed = await service.revocations()
    assert [(r["type"], r["value"]) for r in feed["revocations"]] == [("sid", pair.session_id)]
    # the entry lives until the newest possible token of the session has expired
    assert feed["revocations"][0]["expires_at"] == int(clock.now) + 900 + 30
    clock.advance(929)
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    clock.advance(1)
    assert (await service.revocations())["revocations"] == []
    with pytest.raises(ExpiredToken):  # the token has expired by itself meanwhile
        await service.authenticate(pair.access_token)
    counts = await service.purge()
    assert counts["revocations"] == 1
    assert counts["sessions"] == 1
    assert counts["refresh_tokens"] == 2
    assert await service.store.revocations(after=0, limit=10, now=0) == []
    assert await service.purge() == {
        "revocations": 0,
        "sessions": 0,
        "refresh_tokens": 0,
        "audit_events": 0,
        "keys": 0,
        "denylist_mirror": 0,
        "authorization_codes": 0,
        "assertion_ids": 0,
    }


async def test_revocations_from_another_process_are_picked_up(
    open_service: OpenService, clock: FrozenClock
) -> None:
    here = await open_service()
    await here.add_user("alice", "correct horse")
    there = await open_service()  # same database and keys, its own memory
    pair = await here.login("alice", "correct horse")
    await there.authenticate(pair.access_token)
    await here.logout(pair.session_id)
    with pytest.raises(RevokedToken):
        await here.authenticate(pair.access_token)  # at once in the revoking process
    clock.advance(2)  # revocation_sync_interval
    with pytest.raises(RevokedToken):
        await there.authenticate(pair.access_token)


async def test_a_fresh_process_loads_the_live_denylist(open_service: OpenService, clock: FrozenClock) -> None:
    first = await open_service()
    await first.add_user("alice", "correct horse")
    pair = await first.login("alice", "correct horse")
    await first.logout(pair.session_id)
    later = await open_service()
    with pytest.raises(RevokedToken):
        await later.authenticate(pair.access_token)


async def test_registration_and_users(service: AuthService) -> None:
    from jwtgate.errors import Conflict

    carol = await service.register("Carol", "charlie password")
    assert (carol.username, carol.scopes, carol.roles, carol.disabled) == ("carol", ("read",), (), False)
    assert await service.get_user(carol.id) == carol
    with pytest.raises(Conflict):
        await service.register("CAROL", "another passphrase")
    for bad_name in ("", "has space", "x" * 65, "émile", None, 5, "a\x00b"):
        with pytest.raises(InvalidRequest):
            await service.register(bad_name, "good password")  # type: ignore[arg-type]
    for bad_password in ("short", "x" * 1025, None, b"bytes password", "nul\x00password"):
        with pytest.raises(InvalidRequest):
            await service.register("dave", bad_password)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        await service.add_user("erin", "good password", scopes=["bad scope"])
    with pytest.raises(NotFound):
        await service.get_user("nope")
    assert [u.username for u in await service.list_users()] == ["alice", "bob", "carol"]
    assert await service.count_users() == 3


@pytest.mark.parametrize("bad", [None, "", 5, "x" * 65])
async def test_user_wide_calls_need_a_real_user_id(service: AuthService, bad: object) -> None:
    pair = await service.login("alice", "correct horse")
    with pytest.raises(InvalidRequest):
        await service.logout_all(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        await service.list_sessions(bad)  # type: ignore[arg-type]
    await service.authenticate(pair.access_token)  # nobody was logged out


async def test_roles_and_scopes_as_strings_and_odd_flags(service: AuthService) -> None:
    erin = await service.add_user("erin", "echo password", roles="admin ops", scopes="read")
    assert (erin.roles, erin.scopes) == (("admin", "ops"), ("read",))
    with pytest.raises(InvalidRequest):
        await service.set_user_disabled("erin", "false")  # type: ignore[arg-type]
    assert not (await service.get_user(erin.id)).disabled
