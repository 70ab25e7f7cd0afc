"""Proof replay (issue 10): a proof is accepted once while it is fresh, in memory and in the real Redis
(where it holds across instances). Redis tests use a unique key prefix and delete their keys."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from jwtgate.dpop import DPoPVerifier, VerifiedProof, create_proof
from jwtgate.dpop_replay import (
    MemoryReplayCache,
    ProofReplayCache,
    SyncReplayCache,
    accept_once,
    accept_once_sync,
)
from jwtgate.errors import ConfigError, InvalidDPoPProof, StorageError
from jwtgate.storage.redis_replay import RedisReplayCache, SyncRedisReplayCache

from .conftest import NOW, FrozenClock

URL = "https://api.example/pay"
REDIS_URL = "redis://127.0.0.1:6379/0"


def verified(key: Any, *, jti: str | None = None, now: float = NOW) -> VerifiedProof:
    proof = create_proof(key, "POST", URL, now=now, jti=jti)
    return DPoPVerifier().verify(proof, method="POST", url=URL, now=now)


async def test_replayed_proof_is_refused(keys_by_alg: dict[str, Any]) -> None:
    cache = MemoryReplayCache(clock=FrozenClock())
    proof = create_proof(keys_by_alg["ES256"], "POST", URL, now=NOW)
    verifier = DPoPVerifier()
    await accept_once(verifier.verify(proof, method="POST", url=URL, now=NOW), cache)
    with pytest.raises(InvalidDPoPProof, match="already used"):
        await accept_once(verifier.verify(proof, method="POST", url=URL, now=NOW + 1), cache)


async def test_same_jti_under_another_key_is_another_proof(
    keys_by_alg: dict[str, Any], other_keys_by_alg: dict[str, Any]
) -> None:
    cache = MemoryReplayCache(clock=FrozenClock())
    await accept_once(verified(keys_by_alg["ES256"], jti="shared"), cache)
    await accept_once(verified(other_keys_by_alg["ES256"], jti="shared"), cache)
    with pytest.raises(InvalidDPoPProof):
        await accept_once(verified(keys_by_alg["ES256"], jti="shared"), cache)


async def test_memory_cache_forgets_a_proof_only_after_it_expired() -> None:
    clock = FrozenClock()
    cache = MemoryReplayCache(clock=clock)
    assert await cache.first_use("a", NOW + 10)
    clock.advance(9)
    assert not await cache.first_use("a", NOW + 20)
    clock.advance(1)
    assert await cache.first_use("a", NOW + 20)  # expired: the verifier refuses its iat by now anyway
    assert len(cache) == 1


async def test_memory_cache_refuses_new_proofs_when_full_instead_of_forgetting() -> None:
    clock = FrozenClock()
    cache = MemoryReplayCache(max_entries=2, clock=clock)
    assert await cache.first_use("a", NOW + 10)
    assert await cache.first_use("b", NOW + 20)
    with pytest.raises(StorageError):
        await cache.first_use("c", NOW + 30)
    assert not await cache.first_use("a", NOW + 10)  # still remembered
    clock.advance(10)
    assert await cache.first_use("c", NOW + 30)  # "a" expired and made room
    with pytest.raises(ConfigError):
        MemoryReplayCache(max_entries=0)


async def test_memory_cache_under_concurrency_accepts_a_proof_once() -> None:
    cache = MemoryReplayCache(clock=FrozenClock())
    results = await asyncio.gather(*(cache.first_use("same", NOW + 60) for _ in range(50)))
    assert results.count(True) == 1


def test_caches_implement_the_port() -> None:
    caches: list[ProofReplayCache] = [
        MemoryReplayCache(),
        RedisReplayCache(object()),
        SyncRedisReplayCache(object()),
    ]
    assert all(callable(cache.first_use) for cache in caches)
    # Only these answer without an event loop, as the WSGI integrations need.
    assert [isinstance(cache, SyncReplayCache) for cache in caches] == [True, False, True]


# -- Redis -----------------------------------------------------------------------------------------


REDIS_CACHES = [RedisReplayCache, SyncRedisReplayCache]


async def close(cache: RedisReplayCache | SyncRedisReplayCache) -> None:
    if isinstance(cache, SyncRedisReplayCache):
        cache.close()
    else:
        await cache.close()


@pytest.mark.redis
@pytest.mark.parametrize("kind", REDIS_CACHES)
async def test_redis_replay_is_refused_across_instances(
    redis_prefix: str, keys_by_alg: dict[str, Any], kind: type[RedisReplayCache | SyncRedisReplayCache]
) -> None:
    first = kind.from_url(REDIS_URL, prefix=redis_prefix)
    second = kind.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        proof = verified(keys_by_alg["ES256"])
        await accept_once(proof, first)
        with pytest.raises(InvalidDPoPProof, match="already used"):
            await accept_once(proof, second)  # another instance sharing the Redis
        await accept_once(verified(keys_by_alg["ES256"]), second)  # a new proof is fine
    finally:
        await close(first)
        await close(second)


@pytest.mark.redis
def test_sync_redis_cache_without_an_event_loop(redis_prefix: str, keys_by_alg: dict[str, Any]) -> None:
    """What a WSGI guard does: every call blocks; threads racing on one proof get one acceptance."""
    first = SyncRedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    second = SyncRedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        proof = verified(keys_by_alg["ES256"])
        accept_once_sync(proof, first)
        with pytest.raises(InvalidDPoPProof, match="already used"):
            accept_once_sync(proof, second)
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: second.first_use_sync("race", NOW + 60), range(40)))
        assert results.count(True) == 1
    finally:
        first.close()
        second.close()


@pytest.mark.redis
@pytest.mark.parametrize("kind", REDIS_CACHES)
async def test_redis_entries_expire_with_the_proof(
    redis_prefix: str, kind: type[RedisReplayCache | SyncRedisReplayCache]
) -> None:
    import redis.asyncio

    clock = FrozenClock()
    cache = kind.from_url(REDIS_URL, prefix=redis_prefix, clock=clock)
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        assert await cache.first_use("k", NOW + 150)
        ttl = await client.pttl(redis_prefix + "k")
        assert 149_000 < ttl <= 150_000
        assert await cache.first_use("past", NOW - 5)  # never a non-positive expiry
        assert 0 < await client.pttl(redis_prefix + "past") <= 1000
        results = await asyncio.gather(*(cache.first_use("race", NOW + 60) for _ in range(20)))
        assert results.count(True) == 1
    finally:
        await close(cache)
        await client.aclose()


@pytest.mark.redis
@pytest.mark.parametrize("kind", REDIS_CACHES)
async def test_unreachable_redis_is_a_storage_error_without_the_url(
    kind: type[RedisReplayCache | SyncRedisReplayCache],
) -> None:
    cache = kind.from_url("redis://:hunter2@127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(StorageError) as raised:
        await cache.first_use("k", NOW + 60)
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in repr(cache)
    await close(cache)


@pytest.mark.parametrize("kind", REDIS_CACHES)
def test_redis_cache_is_validated(kind: type[RedisReplayCache | SyncRedisReplayCache]) -> None:
    with pytest.raises(ConfigError):
        kind(object(), prefix="")
    with pytest.raises(ConfigError) as raised:
        kind.from_url("nonsense://:pw@host")
    assert "pw" not in str(raised.value)
