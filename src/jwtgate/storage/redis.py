"""Revocation broadcast over Redis pub/sub (the server side of the guard's ``revocation="redis"``).

Each new denylist entry is PUBLISHed on the channel (default ``jwtgate:revocations``) as one JSON
message, the same entry as the feed's (:meth:`Revocation.feed_entry`). The ``redis`` package is
imported only when a broadcaster is built, so the server runs without it when no Redis URL is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jwtgate.errors import ConfigError, StorageError
from jwtgate.service.records import Revocation

__all__ = ["DEFAULT_CHANNEL", "RedisBroadcaster"]

DEFAULT_CHANNEL = "jwtgate:revocations"


class RedisBroadcaster:
    """Implements :class:`jwtgate.service.ports.RevocationBroadcaster` with ``redis.asyncio``.

    ``client`` is a ``redis.asyncio.Redis``; :meth:`from_url` builds one with short timeouts, so an
    unreachable Redis delays a revocation by at most about ``timeout`` seconds. Failures raise
    StorageError with a fixed message (the URL may hold a password and is never repeated).
    """

    def __init__(self, client: Any, *, channel: str = DEFAULT_CHANNEL) -> None:
        if not isinstance(channel, str) or not channel:
            raise ConfigError("a Redis channel name is required")
        self._client = client
        self.channel = channel

    def __repr__(self) -> str:
        return f"RedisBroadcaster(channel={self.channel!r})"

    @classmethod
    def from_url(cls, url: str, *, channel: str = DEFAULT_CHANNEL, timeout: float = 2.0) -> RedisBroadcaster:
        try:
            import redis.asyncio
        except ImportError as err:
            raise ConfigError("JWTGATE_REDIS_URL needs the redis package (jwtgate[redis])") from err
        try:
            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        except ValueError:
            raise ConfigError("JWTGATE_REDIS_URL is not a valid Redis URL") from None  # no URL echo
        return cls(client, channel=channel)

    async def publish(self, entries: Sequence[Revocation]) -> None:
        if not entries:
            return
        from redis.exceptions import RedisError

        messages = [json.dumps(e.feed_entry(), separators=(",", ":")) for e in entries]
        try:
            # One round trip for a batch (logout everywhere revokes many sessions at once).
            async with self._client.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.publish(self.channel, message)
                await pipe.execute()
        except (RedisError, OSError) as err:
            raise StorageError("publishing to Redis failed") from err

    async def close(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.aclose()
        except (RedisError, OSError) as err:
            raise StorageError("closing the Redis connection failed") from err
