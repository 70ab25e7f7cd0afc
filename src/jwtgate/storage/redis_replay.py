"""The DPoP replay cache in Redis (:class:`jwtgate.dpop_replay.ProofReplayCache`): one ``SET NX PX`` per
proof, so a proof is accepted once across every instance sharing the Redis.

:class:`RedisReplayCache` uses ``redis.asyncio`` (ASGI apps, the auth server); :class:`SyncRedisReplayCache`
the synchronous client, for WSGI apps (Flask, Django, any WSGI server), whose guards check proofs without
an event loop. Both write the same keys the same way, so WSGI and ASGI instances can share one cache.
The ``redis`` package is imported only when a cache is built from a URL."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self

from jwtgate.errors import ConfigError, StorageError

__all__ = ["DEFAULT_PREFIX", "RedisReplayCache", "SyncRedisReplayCache"]

DEFAULT_PREFIX = "jwtgate:dpop:"

_FAILED = "the DPoP replay cache in Redis failed"  # fixed: a URL may hold a password
_CLOSE_FAILED = "closing the Redis connection failed"


def _client_from_url(url: str, timeout: float, *, asynchronous: bool) -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as err:
        raise ConfigError("a Redis replay cache needs the redis package (jwtgate[redis])") from err
    factory = redis.asyncio.Redis if asynchronous else redis.Redis
    try:
        return factory.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError:
        raise ConfigError("the Redis URL is not valid") from None  # never echo the URL


class _RedisKeys:
    """What both caches share: ``client``, keys ``prefix`` + the proof's replay key, expiring with the
    proof. Only the client (asyncio or blocking) differs."""

    _asynchronous: ClassVar[bool]

    def __init__(
        self, client: Any, *, prefix: str = DEFAULT_PREFIX, clock: Callable[[], float] = time.time
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("a Redis key prefix is required")
        self.prefix = prefix
        self._client = client
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r})"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        client = _client_from_url(url, timeout, asynchronous=cls._asynchronous)
        return cls(client, prefix=prefix, clock=clock)

    def _ttl_ms(self, expires_at: float) -> int:
        # At least a second: Redis needs a positive expiry, and clocks of instances differ a little.
        return max(1000, math.ceil((expires_at - self._clock()) * 1000))


class RedisReplayCache(_RedisKeys):
    """``client`` is a ``redis.asyncio.Redis``. Failures raise StorageError with a fixed message (a URL
    may hold a password)."""

    _asynchronous = True

    async def first_use(self, key: str, expires_at: float) -> bool:
        from redis.exceptions import RedisError

        ttl_ms = self._ttl_ms(expires_at)
        try:
            stored = await self._client.set(self.prefix + key, b"1", nx=True, px=ttl_ms)
        except (RedisError, OSError) as err:
            raise StorageError(_FAILED) from err
        return bool(stored)

    async def close(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.aclose()
        except (RedisError, OSError) as err:
            raise StorageError(_CLOSE_FAILED) from err


class SyncRedisReplayCache(_RedisKeys):
    """:class:`RedisReplayCache` for WSGI apps: ``client`` is a ``redis.Redis`` (thread-safe: one cache
    serves every thread of the server). Pass it as ``Guard(dpop_replay=...)``. ``first_use_sync`` blocks
    for one round trip; ``first_use`` (for an ASGI app sharing the guard) runs it in a worker thread.
    Failures raise StorageError with a fixed message; the guard then answers 503, never lets it pass."""

    _asynchronous = False

    def first_use_sync(self, key: str, expires_at: float) -> bool:
        from redis.exceptions import RedisError

        ttl_ms = self._ttl_ms(expires_at)
        try:
            stored = self._client.set(self.prefix + key, b"1", nx=True, px=ttl_ms)
        except (RedisError, OSError) as err:
            raise StorageError(_FAILED) from err
        return bool(stored)

    async def first_use(self, key: str, expires_at: float) -> bool:
        return await asyncio.to_thread(self.first_use_sync, key, expires_at)

    def close(self) -> None:
        from redis.exceptions import RedisError

        try:
            self._client.close()
        except (RedisError, OSError) as err:
            raise StorageError(_CLOSE_FAILED) from err
