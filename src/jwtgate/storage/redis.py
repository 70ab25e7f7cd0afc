"""Redis for a fleet of instances: revocation and key-ring broadcast, and its subscriber.

* :class:`RedisBroadcaster`: each new denylist entry is PUBLISHed on the channel (default
  ``jwtgate:revocations``, the guard's ``revocation="redis"`` reads it too) as one JSON message, the same
  entry as the feed's (:meth:`Revocation.feed_entry`); a key-ring change is announced on
  ``<channel>:keys``.
* :class:`RedisSubscriber`: every server instance listens on both channels and applies what others
  publish (within milliseconds); after each (re)subscription it resyncs from the database, which stays
  the source of truth, so nothing published while it was disconnected is lost.

The ``redis`` package is imported only when one of these is built, so the server runs without it when
no Redis URL is set. Failed-login counters live in :mod:`jwtgate.storage.redis_limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from jwtgate.errors import ConfigError, StorageError
from jwtgate.service.records import Revocation

__all__ = ["DEFAULT_CHANNEL", "RedisBroadcaster", "RedisSubscriber", "keys_channel", "redis_client"]

DEFAULT_CHANNEL = "jwtgate:revocations"

logger = logging.getLogger("jwtgate.storage.redis")


def keys_channel(channel: str) -> str:
    """The channel announcing key-ring changes, beside the revocation channel."""
    return f"{channel}:keys"


def redis_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` with short timeouts (ConfigError, never echoing the URL)."""
    try:
        import redis.asyncio
    except ImportError as err:
        raise ConfigError("JWTGATE_REDIS_URL needs the redis package (jwtgate[redis])") from err
    try:
        return redis.asyncio.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError:
        raise ConfigError("JWTGATE_REDIS_URL is not a valid Redis URL") from None  # no URL echo


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
        return cls(redis_client(url, timeout=timeout), channel=channel)

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

    async def publish_key_change(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.publish(keys_channel(self.channel), "changed")
        except (RedisError, OSError) as err:
            raise StorageError("publishing to Redis failed") from err

    async def close(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.aclose()
        except (RedisError, OSError) as err:
            raise StorageError("closing the Redis connection failed") from err


class RedisSubscriber:
    """Listens to the revocation and key channels and hands each message to the callbacks.

    ``on_revocation(entry)`` gets a :class:`Revocation` (malformed messages are skipped and logged);
    ``on_keys_changed()`` a key-ring change; ``on_resubscribed()`` runs after every (re)subscription, for a
    full resync from the database. Errors never stop it: it logs, waits ``reconnect_delay`` and
    resubscribes.
    """

    def __init__(
        self,
        client: Any,
        *,
        channel: str,
        on_revocation: Callable[[Revocation], None],
        on_keys_changed: Callable[[], Awaitable[None]],
        on_resubscribed: Callable[[], Awaitable[None]],
        reconnect_delay: float = 1.0,
    ) -> None:
        self._client = client
        self.channel = channel
        self._on_revocation = on_revocation
        self._on_keys_changed = on_keys_changed
        self._on_resubscribed = on_resubscribed
        self.reconnect_delay = reconnect_delay
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RedisSubscriber(channel={self.channel!r})"

    def handle(self, channel: str, data: bytes | str) -> Revocation | None:
        """Parse one revocation message (the feed entry JSON); None when malformed."""
        try:
            entry = json.loads(data)
            kind, value, expires_at = entry["type"], entry["value"], entry["expires_at"]
            cursor = int(entry["cursor"])
        except (ValueError, TypeError, KeyError):
            logger.warning("redis: skipped a malformed message on %s", channel)
            return None
        if kind not in ("sid", "jti") or not isinstance(value, str) or not 0 < len(value) <= 128:
            logger.warning("redis: skipped a malformed message on %s", channel)
            return None
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            logger.warning("redis: skipped a malformed message on %s", channel)
            return None
        return Revocation(cursor, kind, value, float(expires_at))

    async def _run(self) -> None:
        from redis.exceptions import RedisError

        keys = keys_channel(self.channel)
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, keys)
                await self._on_resubscribed()  # after subscribing: nothing falls in between
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    if channel == keys:
                        await self._on_keys_changed()
                    else:
                        entry = self.handle(channel, message["data"])
                        if entry is not None:
                            self._on_revocation(entry)
            except (RedisError, OSError) as err:
                logger.warning("redis: subscription lost (%s); resubscribing", type(err).__name__)
            except Exception as err:  # the subscriber must outlive any bug: log, resubscribe
                logger.error("redis: subscriber error (%s)", getattr(err, "code", type(err).__name__))
            finally:
                self.subscribed.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self.reconnect_delay)

    async def start(self, *, wait: float = 2.0) -> None:
        """Start listening; wait up to ``wait`` seconds for the first subscription (never raises for an
        unreachable Redis: instances then rely on polling the database)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
