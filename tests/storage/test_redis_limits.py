"""Failed-login limits in Redis: the same answers as the in-process reference, shared by every
instance, and a per-process fallback while Redis is down."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jwtgate.errors import InvalidCredentials, RateLimited
from jwtgate.service import AuthService
from jwtgate.service.ratelimit import FallbackRateLimiter, MemoryRateLimiter
from jwtgate.storage import open_store
from jwtgate.storage.redis_limits import RedisRateLimiter
from service.conftest import _Shared  # the memory store shared by two services

pytestmark = pytest.mark.redis

LIMITS = {"max_failures": 3, "window": 60.0, "max_backoff": 30.0}


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    prefix = f"jwtgate-test-{uuid.uuid4().hex}"
    client.test_prefix = prefix
    yield client
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def limiter(client: Any, suffix: str = "a") -> RedisRateLimiter:
    # Reservations never go stale here: the reference keeps them until released (a live process).
    return RedisRateLimiter(client, prefix=f"{client.test_prefix}:{suffix}", stale_reservation=1e9, **LIMITS)


async def test_redis_answers_like_the_reference(redis_client: Any) -> None:
    """Random sequences of acquire / release / reset / blocked_for give the same answers."""
    rng = random.Random(7)
    for trial in range(5):
        shared = limiter(redis_client, f"eq{trial}")
        reference = MemoryRateLimiter(**LIMITS)
        now = 1000.0
        reserved: dict[str, int] = {"u": 0, "v": 0}
        for _ in range(60):
            key = rng.choice(["u", "v"])
            now += rng.choice([0.0, 0.5, 1.0, 3.0, 20.0, 70.0])
            action = rng.choice(["acquire", "acquire", "fail", "ok", "reset", "blocked"])
            if action == "acquire":
                got, want = await shared.acquire(key, now), await reference.acquire(key, now)
                assert got == pytest.approx(want), (trial, action)
                if want == 0:
                    reserved[key] += 1
            elif action in ("fail", "ok") and reserved[key]:
                reserved[key] -= 1
                await shared.release(key, now, failed=action == "fail")
                await reference.release(key, now, failed=action == "fail")
            elif action == "reset":
                await shared.reset(key)
                await reference.reset(key)
            else:
                got, want = await shared.blocked_for(key, now), await reference.blocked_for(key, now)
                assert got == pytest.approx(want), (trial, action)


async def test_two_instances_share_the_count(redis_client: Any) -> None:
    one, two = limiter(redis_client, "shared"), limiter(redis_client, "shared")
    now = 10.0
    for attempt in range(3):
        first = one if attempt % 2 == 0 else two
        assert await first.acquire("user:alice", now) == 0
        await first.release("user:alice", now, failed=True)
    assert await two.acquire("user:alice", now) > 0
    assert await one.blocked_for("user:alice", now) == pytest.approx(1.0)


async def test_keys_expire_by_themselves(redis_client: Any) -> None:
    shared = limiter(redis_client, "ttl")
    assert await shared.acquire("user:bob", 1.0) == 0
    await shared.release("user:bob", 1.0, failed=True)
    ttl = await redis_client.ttl(f"{shared.prefix}:user:bob")
    assert 0 < ttl <= 91


async def test_a_reservation_of_a_dead_process_is_dropped(redis_client: Any) -> None:
    shared = RedisRateLimiter(
        redis_client, prefix=f"{redis_client.test_prefix}:dead", max_failures=1, window=60, max_backoff=30
    )
    assert await shared.acquire("user:carol", 0.0) == 0  # and never released: the process died
    assert await shared.acquire("user:carol", 1.0) == 1.0
    assert await shared.acquire("user:carol", 61.0) == 0


async def test_fallback_limits_per_process_while_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio

    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    fallbacks: list[int] = []
    guarded = FallbackRateLimiter(
        RedisRateLimiter(dead, prefix="x", **LIMITS),
        MemoryRateLimiter(**LIMITS),
        on_fallback=lambda: fallbacks.append(1),
    )
    with caplog.at_level(logging.WARNING, logger="jwtgate.service"):
        for _ in range(3):
            assert await guarded.acquire("user:dave", 5.0) == 0
            await guarded.release("user:dave", 5.0, failed=True)
        assert await guarded.acquire("user:dave", 5.0) > 0  # still limited, per process
    assert guarded.degraded
    assert len(fallbacks) == 7
    outage_lines = [r for r in caplog.records if "shared login limits unavailable" in r.message]
    assert len(outage_lines) == 1  # logged once per outage
    await dead.aclose()


async def test_thirty_wrong_passwords_over_two_instances_get_no_more_checks(redis_client: Any) -> None:
    """Regression: with limits in each process, 30 wrong passwords alternating between A and B got the
    first 429 at the 11th on A, and an account blocked on A logged in on B."""
    from service._support import FrozenClock, cheap_hasher, make_policy

    clock = FrozenClock()
    store = await open_store("memory://")
    services = []
    for _ in range(2):
        services.append(
            await AuthService.open(
                store=_Shared(store),
                policy=make_policy(),
                clock=clock,
                hasher=cheap_hasher(),
                maintenance_interval=None,
                account_limiter=RedisRateLimiter(
                    redis_client,
                    prefix=f"{redis_client.test_prefix}:acct",
                    max_failures=5,
                    window=900,
                    max_backoff=900,
                ),
                ip_limiter=RedisRateLimiter(
                    redis_client,
                    prefix=f"{redis_client.test_prefix}:ip",
                    max_failures=50,
                    window=900,
                    max_backoff=900,
                ),
                # The per-account budget of clients without a device token (issue 12 item 2).
                untrusted_limiter=RedisRateLimiter(
                    redis_client,
                    prefix=f"{redis_client.test_prefix}:untrusted",
                    max_failures=5,
                    window=3600,
                    max_backoff=3600,
                ),
            )
        )
    try:
        await services[0].add_user("alice", "correct horse")
        outcomes = []
        for attempt in range(30):
            try:
                await services[attempt % 2].login("alice", "wrong", ip=f"198.51.100.{attempt}")
            except InvalidCredentials:
                outcomes.append("checked")
            except RateLimited:
                outcomes.append("429")
        assert outcomes[:5] == ["checked"] * 5
        assert outcomes[5] == "429"  # the 6th attempt, on whichever instance
        with pytest.raises(RateLimited):
            await services[1].login("alice", "correct horse", ip="203.0.113.9")
    finally:
        for service in services:
            await service.close()
        await store.close()
