"""The service's smaller parts: policy bounds, the rate limiter, hashing off the loop, key secrecy."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jwtgate.errors import ConfigError, InvalidCredentials
from jwtgate.service import MemoryRateLimiter, ServicePolicy, opaque
from jwtgate.service.keystore import KeyInfo, StoredKey
from jwtgate.service.opaque import looks_like_refresh_token, new_client_secret, new_refresh_token

from ._support import cheap_hasher


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuer": ""},
        {"audience": ""},
        {"access_ttl": 0},
        {"access_ttl": 86401},
        {"leeway": 301},
        {"leeway": -1},
        {"reuse_grace": 301},
        {"signing_alg": "none"},
        {"signing_alg": "HS1"},
        {"access_ttl": 900.5},
        {"access_ttl": True},
        {"revocation_sync_interval": 0},
        {"key_rotation_interval": 60},
    ],
)
def test_policy_refuses_out_of_bounds_values(overrides: dict[str, object]) -> None:
    options: dict[str, object] = {"issuer": "https://auth.test", **overrides}
    with pytest.raises(ConfigError):
        ServicePolicy(**options)  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    policy = ServicePolicy(issuer="https://auth.test")
    assert (policy.access_ttl, policy.refresh_idle_ttl, policy.session_absolute_ttl) == (
        900,
        7 * 86400,
        30 * 86400,
    )
    assert (policy.reuse_grace, policy.leeway, policy.signing_alg) == (10, 30, "RS256")
    assert policy.deny_ttl == 930


async def _fail(limiter: MemoryRateLimiter, key: str, now: float) -> None:
    assert await limiter.acquire(key, now) == 0
    await limiter.release(key, now, failed=True)


async def test_rate_limiter_backoff_caps_and_memory_is_bounded() -> None:
    limiter = MemoryRateLimiter(max_failures=2, window=60, max_backoff=8, max_keys=3)
    for _ in range(2):
        await _fail(limiter, "k", 0)
    assert await limiter.acquire("k", 0) == 1
    for now in range(1, 12):  # one attempt per second once blocked: the backoff grows, then caps
        if await limiter.acquire("k", now) == 0:
            await limiter.release("k", now, failed=True)
    assert await limiter.blocked_for("k", 11) <= 8
    assert await limiter.acquire("k", 30) == 0  # the cap has passed
    await limiter.release("k", 30, failed=False)
    for key in ("a", "b", "c", "d"):
        await _fail(limiter, key, 100)
    assert len(limiter) == 3  # "k" was quiet, then the oldest unblocked went
    await limiter.reset("d")
    assert await limiter.acquire("d", 100) == 0
    with pytest.raises(ConfigError):
        MemoryRateLimiter(max_failures=0, window=1, max_backoff=1)


async def test_rate_limiter_counts_attempts_in_flight() -> None:
    """Regression: concurrent guesses all passed the check before the first failure was recorded."""
    limiter = MemoryRateLimiter(max_failures=3, window=60, max_backoff=60)
    granted = [await limiter.acquire("user:alice", 0) == 0 for _ in range(10)]
    assert granted.count(True) == 3  # the rest wait, although nothing has failed yet
    for _ in range(3):
        await limiter.release("user:alice", 0, failed=True)
    assert await limiter.blocked_for("user:alice", 0) == 1


async def test_rate_limiter_flood_of_new_keys_does_not_lift_a_block() -> None:
    limiter = MemoryRateLimiter(max_failures=1, window=60, max_backoff=60, max_keys=3)
    await _fail(limiter, "user:victim", 0)
    await _fail(limiter, "user:victim", 1)  # blocked now
    for n in range(10):
        assert await limiter.acquire(f"ip:flood{n}", 2) == 0
        await limiter.release(f"ip:flood{n}", 2, failed=False)
    assert await limiter.blocked_for("user:victim", 2) > 0


async def test_hashing_runs_off_the_event_loop_thread() -> None:
    hasher = cheap_hasher()
    threads: list[int] = []
    inner = hasher._hasher

    class Spy:
        def hash(self, password: str) -> str:
            threads.append(threading.get_ident())
            return inner.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            threads.append(threading.get_ident())
            return inner.verify(password_hash, password)

    hasher._hasher = Spy()  # type: ignore[assignment]
    stored = await hasher.hash("a password")
    assert await hasher.verify(stored, "a password")
    assert not await hasher.verify(stored, "another one")
    assert not await hasher.verify("not a hash", "a password")
    await hasher.verify_dummy("whatever")
    assert threads
    assert threading.get_ident() not in threads


def test_private_keys_never_appear_in_reprs() -> None:
    from jwtgate import generate_key

    key = generate_key("ES256")
    jwk = key.to_jwk(private=True)
    stored = StoredKey(KeyInfo(key.kid, "ES256", "active", 0.0), jwk)
    assert jwk["d"] not in repr(stored)
    assert jwk["d"] not in repr(key)


def test_opaque_secrets_have_256_bits_and_a_prefix() -> None:
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(looks_like_refresh_token(t) and len(t) == 47 for t in tokens)
    assert new_client_secret().startswith("jgs_")
    assert not looks_like_refresh_token(new_client_secret())


def test_identifiers_never_begin_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # A session id such as "-x3..." was read by `jwtgate sessions revoke` as an option (a flaky CI failure).
    drawn = iter(["-dash-first", "_then_fine"])
    monkeypatch.setattr(opaque.secrets, "token_urlsafe", lambda _n: next(drawn))
    assert opaque.new_id("jgc_") == "jgc__then_fine"
    monkeypatch.undo()
    assert not any(opaque.new_id().startswith("-") for _ in range(2000))


async def test_no_secret_reaches_a_log_or_an_audit_event(
    service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    pair = await service.login("alice", "correct horse", ip="192.0.2.1")
    with pytest.raises(InvalidCredentials):
        await service.login("alice", "wrong password")
    newer = await service.refresh(pair.refresh_token)
    await service.revoke_token(newer.access_token)
    _, client_secret = await service.add_client("api")
    await service.change_password(
        (await service.authenticate(pair.access_token))["sub"],
        "correct horse",
        "brand new password",
    )
    secrets = [
        pair.access_token,
        pair.refresh_token,
        newer.access_token,
        newer.refresh_token,
        client_secret,
        "correct horse",
        "wrong password",
        "brand new password",
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    audited = repr(await service.audit_events(limit=1000))
    for secret in secrets:
        assert secret not in logged
        assert secret not in audited


def test_invalid_argon2_parameters_are_a_config_error() -> None:
    from jwtgate.service import Argon2Hasher

    with pytest.raises(ConfigError):
        Argon2Hasher(time_cost=0)


async def test_background_maintenance_starts_and_stops(store_url: str) -> None:
    from jwtgate.service import AuthService
    from jwtgate.storage import open_store

    from ._support import make_policy

    store = await open_store(store_url)
    await store.migrate()
    service = await AuthService.open(
        store=store,
        policy=make_policy(),
        hasher=cheap_hasher(),
        maintenance_interval=3600,
    )
    assert service._maintenance is not None
    assert not service._maintenance.done()
    task = service._maintenance
    await service.close()
    assert task.cancelled()


def test_invalid_request_lives_in_the_error_tree() -> None:
    import jwtgate.service
    from jwtgate import errors

    assert jwtgate.service.InvalidRequest is errors.InvalidRequest
    assert issubclass(errors.InvalidRequest, errors.AuthError)
    assert errors.InvalidRequest.code == "invalid_request"
    assert errors.InvalidRequest.oauth_error == "invalid_request"
    assert "InvalidRequest" in errors.__all__
    assert list(errors.__all__) == sorted(errors.__all__)
