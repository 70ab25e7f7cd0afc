"""Login: credentials, uniform failures, argon2 parameters, rehash, rate limits."""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.errors import InvalidCredentials, RateLimited
from jwtgate.service import Argon2Hasher, AuthService, InvalidRequest
from jwtgate.service.opaque import looks_like_refresh_token

from ._support import T0, FrozenClock, OpenService, cheap_hasher, make_policy


async def test_login_issues_a_pair_with_session_claims(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse", user_agent="pytest", ip="10.0.0.1")
    assert looks_like_refresh_token(pair.refresh_token)
    assert (pair.token_type, pair.expires_in, pair.scope) == ("Bearer", 900, "read write")
    claims = await service.authenticate(pair.access_token)
    user = await service.get_user(claims["sub"])
    assert user.username == "alice"
    assert claims["sid"] == pair.session_id
    assert claims["username"] == "alice"
    assert claims["roles"] == ["admin"]
    assert claims["scope"] == "read write"
    assert claims["exp"] == int(T0) + 900
    assert claims["jti"]
    sessions = await service.list_sessions(user.id)
    assert [(s.id, s.user_agent, s.ip) for s in sessions] == [(pair.session_id, "pytest", "10.0.0.1")]


async def test_usernames_are_case_insensitive(service: AuthService) -> None:
    pair = await service.login("  ALICE ", "correct horse")
    assert (await service.authenticate(pair.access_token))["username"] == "alice"


async def test_requested_scope_is_narrowed_to_the_users(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse", scope="read admin:all")
    assert pair.scope == "read"
    refreshed = await service.refresh(pair.refresh_token)
    assert refreshed.scope == "read"
    with pytest.raises(InvalidRequest):
        await service.login("alice", "correct horse", scope='bad"scope')


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password"),
        ("nobody", "correct horse"),
        ("alice", ""),
        ("", "x"),
        ("a" * 10_000, "correct horse"),
        ("alice\x00", "correct horse"),
        (None, "x"),
        ("alice", None),
        ("alice", 12345),
        ("alice", "correct horse" * 1000),
    ],
)
async def test_every_failure_is_the_same_error(service: AuthService, username, password) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        await service.login(username, password)
    assert (caught.value.code, caught.value.oauth_error) == ("invalid_credentials", "invalid_grant")
    assert str(caught.value) == "invalid username or password"


async def test_disabled_user_gets_the_same_error_and_enabled_again_works(
    service: AuthService,
) -> None:
    await service.set_user_disabled("alice", True)
    with pytest.raises(InvalidCredentials) as caught:
        await service.login("alice", "correct horse")
    assert str(caught.value) == "invalid username or password"
    await service.set_user_disabled("alice", False)
    await service.login("alice", "correct horse")


class CountingHasher(Argon2Hasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifications = 0
        self.dummy_verifications = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return await super().verify(password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        self.dummy_verifications += 1
        await super().verify_dummy(password)


async def test_unknown_users_cost_one_verification_like_known_ones(
    open_service: OpenService,
) -> None:
    hasher = CountingHasher()
    service = await open_service(hasher=hasher)
    assert hasher.dummy_verifications == 1  # warmed up by open(): no first-call difference
    hasher.verifications = hasher.dummy_verifications = 0
    await service.add_user("alice", "correct horse")
    for name in ("alice", "ghost", "Not A Valid Name!"):
        with pytest.raises(InvalidCredentials):
            await service.login(name, "wrong password")
    # one real verification for alice, one against the dummy hash for each unknown name
    assert (hasher.verifications - hasher.dummy_verifications, hasher.dummy_verifications) == (1, 2)


def test_production_argon2_parameters_are_the_defaults() -> None:
    hasher = Argon2Hasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (2, 19456, 1)


async def test_service_hashes_with_production_parameters_by_default(
    store_url: str, clock: FrozenClock
) -> None:

    from jwtgate.storage import open_store

    store = await open_store(store_url)
    await store.migrate()
    service = await AuthService.open(
        store=store, policy=make_policy(), clock=clock, maintenance_interval=None
    )
    try:
        user = await service.add_user("carol", "production password")
        record = await service.store.get_user(user.id)
        assert record is not None
        assert record.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        await service.login("carol", "production password")
    finally:
        await service.close()


async def test_login_rehashes_when_parameters_changed(open_service: OpenService) -> None:
    old = await open_service(hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1))
    await old.add_user("dave", "delta password")
    newer = await open_service(hasher=Argon2Hasher(time_cost=2, memory_cost=16, parallelism=1))
    before = await newer.store.get_user_by_name("dave")
    assert before is not None
    assert "m=8,t=1" in before.password_hash
    await newer.login("dave", "delta password")
    after = await newer.store.get_user_by_name("dave")
    assert after is not None
    assert "m=16,t=2" in after.password_hash
    assert after.password_changed_at == before.password_changed_at
    await newer.login("dave", "delta password")  # the new hash verifies
    with pytest.raises(InvalidCredentials):
        await newer.login("dave", "not it at all")


async def test_wrong_password_does_not_rehash(open_service: OpenService) -> None:
    old = await open_service(hasher=cheap_hasher())
    await old.add_user("erin", "echo password")
    newer = await open_service(hasher=Argon2Hasher(time_cost=2, memory_cost=16, parallelism=1))
    with pytest.raises(InvalidCredentials):
        await newer.login("erin", "nope nope")
    record = await newer.store.get_user_by_name("erin")
    assert record is not None
    assert "m=8,t=1" in record.password_hash


async def test_account_rate_limit_with_backoff(service: AuthService, clock: FrozenClock) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await service.login("alice", "wrong password", ip="10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        await service.login("alice", "correct horse", ip="10.0.0.1")  # even the right password
    assert caught.value.retry_after == 1
    # Failures count per (account, client): they do not block the owner elsewhere (issue 12 item 2).
    await service.login("alice", "correct horse", ip="10.0.0.2")
    clock.advance(1)
    with pytest.raises(InvalidCredentials):
        await service.login("alice", "wrong password", ip="10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        await service.login("alice", "correct horse", ip="10.0.0.1")
    assert caught.value.retry_after == 2  # doubled
    # other accounts are not affected
    await service.login("bob", "bravo password", ip="10.0.0.1")
    clock.advance(2)
    await service.login("alice", "correct horse", ip="10.0.0.1")  # success resets the account
    with pytest.raises(InvalidCredentials):
        await service.login("alice", "wrong password", ip="10.0.0.1")
    await service.login("alice", "correct horse", ip="10.0.0.1")


async def test_ip_rate_limit_spans_accounts(open_service: OpenService, clock: FrozenClock) -> None:
    service = await open_service(login_max_failures_ip=3)
    await service.add_user("alice", "correct horse")
    for name in ("x1", "x2", "x3"):
        with pytest.raises(InvalidCredentials):
            await service.login(name, "whatever", ip="192.0.2.7")
    with pytest.raises(RateLimited):
        await service.login("alice", "correct horse", ip="192.0.2.7")
    await service.login("alice", "correct horse", ip="192.0.2.8")
    clock.advance(1)
    await service.login("alice", "correct horse", ip="192.0.2.7")


async def test_failures_are_forgotten_after_a_quiet_window(service: AuthService, clock: FrozenClock) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await service.login("alice", "wrong password")
    clock.advance(900)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await service.login("alice", "wrong password")
    await service.login("alice", "correct horse")


async def test_logins_without_an_ip_share_no_bucket(open_service: OpenService) -> None:
    service = await open_service(login_max_failures_ip=2)
    await service.add_user("alice", "correct horse")
    for name in ("x1", "x2", "x3", "x4"):
        with pytest.raises(InvalidCredentials):
            await service.login(name, "whatever")  # no ip given
    await service.login("alice", "correct horse")


async def test_throttling_is_audited_once_per_step(service: AuthService, clock: FrozenClock) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await service.login("alice", "wrong password", ip="198.51.100.4")
    with pytest.raises(RateLimited):
        await service.login("alice", "wrong password", ip="198.51.100.4")
    events = [e for e in await service.audit_events() if e["kind"] == "login_throttled"]
    # The account exists: its id is stored, never the typed name.
    alice_id = next(u.id for u in await service.list_users() if u.username == "alice")
    assert [(e["user_id"], e["detail"]) for e in events] == [
        (alice_id, {"ip": "198.51.100.4", "retry_after": 1, "account_blocked": True})
    ]
    assert "wrong password" not in repr(events)


async def test_concurrent_wrong_passwords_are_limited_like_sequential_ones(service: AuthService) -> None:
    """Regression (security review): a burst of concurrent guesses all reached argon2 because the
    failure was recorded only after the check. Attempts in flight now count against the limit."""
    outcomes = await asyncio.gather(
        *(service.login("alice", f"guess {n}", ip="10.0.0.9") for n in range(30)), return_exceptions=True
    )
    checked = [o for o in outcomes if isinstance(o, InvalidCredentials)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(checked) <= 5  # the account limit, as if they had come one by one
    assert len(checked) + len(refused) == 30


async def test_ipv6_clients_are_limited_per_64(open_service: OpenService) -> None:
    service = await open_service(login_max_failures_ip=3)
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            await service.login(f"nobody{n}", "whatever", ip=f"2001:db8:1:2::{n + 1}")
    with pytest.raises(RateLimited):
        await service.login("nobody9", "whatever", ip="2001:db8:1:2:ffff::7")  # same /64
    with pytest.raises(InvalidCredentials):
        await service.login("nobody9", "whatever", ip="2001:db8:1:3::1")  # another /64
