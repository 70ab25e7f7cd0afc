"""Refresh rotation, the grace window, reuse detection, races, expiry and failures mid-refresh."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jwtgate.errors import InvalidGrant, RevokedToken, StorageError
from jwtgate.service import AuthService
from jwtgate.service.opaque import digest
from jwtgate.service.ports import Store

from ._support import FrozenClock, OpenService


async def test_each_refresh_rotates(service: AuthService, clock: FrozenClock) -> None:
    first = await service.login("alice", "correct horse")
    clock.advance(60)
    second = await service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    claims = await service.authenticate(second.access_token)
    assert claims["sid"] == first.session_id
    assert claims["iat"] == int(clock.now)
    found = await service.store.find_refresh_token(digest(first.refresh_token))
    assert found is not None
    assert found[0].used_at == clock.now
    clock.advance(60)
    third = await service.refresh(second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3


async def test_only_the_digest_is_stored(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse")
    found = await service.store.find_refresh_token(digest(pair.refresh_token))
    assert found is not None
    assert pair.refresh_token not in repr(found)
    assert found[0].digest == digest(pair.refresh_token) != pair.refresh_token
    assert "refresh_token" not in repr(pair) or pair.refresh_token not in repr(pair)
    assert pair.access_token not in repr(pair)


async def test_reuse_within_grace_gets_a_fresh_pair_from_the_newest(
    service: AuthService, clock: FrozenClock
) -> None:
    login = await service.login("alice", "correct horse")
    winner = await service.refresh(login.refresh_token)
    clock.advance(10)  # the grace window is inclusive
    retry = await service.refresh(login.refresh_token)
    assert retry.session_id == login.session_id
    assert retry.refresh_token not in (winner.refresh_token, login.refresh_token)
    await service.authenticate(retry.access_token)
    # The grace rotation used the winner's token: one live branch only.
    newest = await service.store.current_refresh_token(login.session_id)
    assert newest is not None
    assert newest.digest == digest(retry.refresh_token)
    used = await service.store.find_refresh_token(digest(winner.refresh_token))
    assert used is not None
    assert used[0].used_at == clock.now
    # the session survives, the newest token keeps rotating
    await service.refresh(retry.refresh_token)


async def test_reuse_after_grace_revokes_the_session_and_audits(
    service: AuthService, clock: FrozenClock
) -> None:
    login = await service.login("alice", "correct horse", ip="203.0.113.9")
    other = await service.login("alice", "correct horse")
    current = await service.refresh(login.refresh_token)
    clock.advance(11)
    with pytest.raises(InvalidGrant, match="reuse"):
        await service.refresh(login.refresh_token, ip="198.51.100.1")
    # every token of the session is dead, access tokens at once
    with pytest.raises(InvalidGrant):
        await service.refresh(current.refresh_token)
    for access in (login.access_token, current.access_token):
        with pytest.raises(RevokedToken):
            await service.authenticate(access)
    # the user's other session is untouched
    await service.authenticate(other.access_token)
    await service.refresh(other.refresh_token)
    events = await service.audit_events()
    reuse = [e for e in events if e["kind"] == "refresh_token_reuse"]
    assert len(reuse) == 1
    assert reuse[0]["session_id"] == login.session_id
    assert reuse[0]["detail"]["ip"] == "198.51.100.1"
    revoked = [e for e in events if e["kind"] == "sessions_revoked"]
    assert revoked[0]["detail"] == {"reason": "refresh_token_reuse", "count": 1}
    assert all(login.refresh_token not in str(e) for e in events)


async def test_concurrent_refreshes_one_rotation_one_grace(service: AuthService) -> None:
    login = await service.login("alice", "correct horse")
    results = await asyncio.gather(
        *(service.refresh(login.refresh_token) for _ in range(4)), return_exceptions=True
    )
    pairs = [r for r in results if not isinstance(r, BaseException)]
    assert len(pairs) == 4, results
    assert len({p.refresh_token for p in pairs}) == 4
    # Exactly one live token remains: the newest; the session is intact.
    newest = await service.store.current_refresh_token(login.session_id)
    assert newest is not None
    live = [p for p in pairs if digest(p.refresh_token) == newest.digest]
    assert len(live) == 1
    await service.refresh(live[0].refresh_token)


async def test_idle_expiry(open_service: OpenService, clock: FrozenClock) -> None:
    service = await open_service(refresh_idle_ttl=3600, session_absolute_ttl=86400)
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    clock.advance(3599)
    pair = await service.refresh(pair.refresh_token)  # activity extends the idle window
    clock.advance(3599)
    pair = await service.refresh(pair.refresh_token)
    clock.advance(3600)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)
    user = (await service.list_users())[0]
    assert await service.list_sessions(user.id) == []


async def test_absolute_expiry(open_service: OpenService, clock: FrozenClock) -> None:
    service = await open_service(refresh_idle_ttl=3600, session_absolute_ttl=7200)
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    for _ in range(3):
        clock.advance(2000)
        pair = await service.refresh(pair.refresh_token)
    found = await service.store.find_refresh_token(digest(pair.refresh_token))
    assert found is not None
    assert found[0].expires_at == found[1].expires_at  # the idle window is capped by the session
    clock.advance(1200)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "jgr_",
        "jgr_" + "A" * 43,  # well formed, unknown
        "jgr_" + "A" * 44,
        "jgr_" + "!" * 43,
        "x" * 1_000_000,
        None,
        123,
        ["jgr_"],
        "jgr_" + "\u00e9" * 43,
    ],
)
async def test_bad_refresh_tokens_are_invalid_grant(service: AuthService, token: Any) -> None:
    await service.login("alice", "correct horse")
    with pytest.raises(InvalidGrant):
        await service.refresh(token)


async def test_disabled_users_cannot_refresh(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse")
    await service.set_user_disabled("alice", True)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


class FailingRotation:
    """Wraps a store; its next rotation fails before or after the real (committed) rotation."""

    def __init__(self, inner: Store, *, after_commit: bool) -> None:
        self._inner = inner
        self.after_commit = after_commit
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def rotate_live_refresh_token(self, *args: Any, **kwargs: Any) -> Any:
        return await self._fail_or_pass("rotate_live_refresh_token", *args, **kwargs)

    async def rotate_refresh_token(self, *args: Any, **kwargs: Any) -> Any:
        return await self._fail_or_pass("rotate_refresh_token", *args, **kwargs)

    async def rotate_client_refresh_token(self, *args: Any, **kwargs: Any) -> Any:
        # The fast path of a refresh since issue 8 (the rotation also checks the token's client).
        return await self._fail_or_pass("rotate_client_refresh_token", *args, **kwargs)

    async def _fail_or_pass(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._inner, name)
        if not self.armed:
            return await method(*args, **kwargs)
        self.armed = False
        if self.after_commit:
            assert await method(*args, **kwargs)  # done, but the answer is lost
        raise StorageError("injected failure")


@pytest.mark.parametrize("after_commit", [False, True])
async def test_failure_mid_refresh_never_loses_the_session(
    open_service: OpenService, clock: FrozenClock, after_commit: bool
) -> None:
    wrappers: list[FailingRotation] = []

    def wrap(store: Store) -> Store:
        wrapper = FailingRotation(store, after_commit=after_commit)
        wrappers.append(wrapper)
        return wrapper  # type: ignore[return-value]

    service = await open_service(wrap=wrap)
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    wrappers[0].armed = True
    with pytest.raises(StorageError):
        await service.refresh(pair.refresh_token)
    clock.advance(2)
    # The client retries with the token it still holds: it works either way.
    retried = await service.refresh(pair.refresh_token)
    await service.authenticate(retried.access_token)
    await service.refresh(retried.refresh_token)


async def test_every_grace_pair_is_audited(service: AuthService) -> None:
    """Regression (security review): pairs handed out in the grace window left no trace."""
    login = await service.login("alice", "correct horse")
    await service.refresh(login.refresh_token)
    await service.refresh(login.refresh_token, ip="198.51.100.7")  # a retry, or a replay
    graces = [e for e in await service.audit_events() if e["kind"] == "refresh_grace"]
    assert len(graces) == 1
    assert graces[0]["session_id"] == login.session_id
    assert graces[0]["detail"] == {"ip": "198.51.100.7"}


class UnreachableDatabase:
    """Wraps a store; while ``down``, the reads of the per-request sync fail like a lost database."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def revocations(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StorageError("injected outage")
        return await self._inner.revocations(*args, **kwargs)

    async def keys_version(self) -> Any:
        if self.down:
            raise StorageError("injected outage")
        return await self._inner.keys_version()


async def test_a_database_outage_serves_from_the_synced_list_then_fails_closed(
    open_service: OpenService, clock: FrozenClock
) -> None:
    """Regression: during an outage, the request whose sync fell due got a 503 and the others in the
    same interval were served (200 or 503 by the luck of timing). Now: served from the list as last
    synced for ``revocation_max_stale`` seconds, then refused (StorageError, a 503) until a sync works."""
    stores: list[UnreachableDatabase] = []

    def wrap(store: Store) -> Store:
        stores.append(UnreachableDatabase(store))
        return stores[-1]  # type: ignore[return-value]

    service = await open_service(wrap=wrap, revocation_max_stale=30)
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    revoked = await service.login("alice", "correct horse")
    await service.logout(revoked.session_id)
    await service.authenticate(pair.access_token)  # synced
    stores[0].down = True
    for _ in range(29):
        clock.advance(1)  # every second a sync falls due and fails
        assert (await service.authenticate(pair.access_token))["sid"] == pair.session_id
        with pytest.raises(RevokedToken):
            await service.authenticate(revoked.access_token)  # what was synced still holds
    clock.advance(2)
    with pytest.raises(StorageError):
        await service.authenticate(pair.access_token)  # 31 s without a sync: fail closed
    with pytest.raises(StorageError):
        await service.authenticate(pair.access_token)  # every request, not only the one due to sync
    stores[0].down = False
    clock.advance(1)
    assert (await service.authenticate(pair.access_token))["sid"] == pair.session_id
