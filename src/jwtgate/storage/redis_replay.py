"""The DPoP replay cache in Redis (:class:`jwtgate.dpop_replay.ProofReplayCache`): one ``SET NX PX`` per
proof, so a proof is accepted once across every instance sharing the Redis. The ``redis`` package is
imported only when a cache is built from a URL."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from jwtgate.errors import ConfigError, StorageError

__all__ = ["DEFAULT_PREFIX", "RedisReplayCache"]

DEFAULT_PREFIX = "jwtgate:dpop:"


class RedisReplayCache:
    """``client`` is a ``redis.asyncio.Redis``; keys are ``prefix`` + the proof's replay key, and expire
    with the proof. Failures raise StorageError with a fixed message (a URL may hold a password)."""

    def __init__(
        self, client: Any, *, prefix: str = DEFAULT_PREFIX, clock: Callable[[], float] = time.time
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("a Redis key prefix is required")
        self._client = client
        self._clock = clock
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisReplayCache(prefix={self.prefix!r})"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> RedisReplayCache:
        try:
            import redis.asyncio
        except ImportError as err:
            raise ConfigError("a Redis replay cache needs the redis package (jwtgate[redis])") from err
        try:
            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        except ValueError:
            raise ConfigError("the Redis URL is not valid") from None  # never echo the URL
        return cls(client, prefix=prefix, clock=clock)

    async def first_use(self, key: str, expires_at: float) -> bool:
        from redis.exceptions import RedisError

        # At least a second: Redis needs a positive expiry, and clocks of instances differ a little.
        ttl_ms = max(1000, math.ceil((expires_at - self._clock()) * 1000))
        try:
            stored = await self._client.set(self.prefix + key, b"1", nx=True, px=ttl_ms)
        except (RedisError, OSError) as err:
            raise StorageError("the DPoP replay cache in Redis failed") from err
        return bool(stored)

    async def close(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.aclose()
        except (RedisError, OSError) as err:
            raise StorageError("closing the Redis connection failed") from err
