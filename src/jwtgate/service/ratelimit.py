"""Failed-login limits with exponential backoff, behind a port (in process here; shared across
instances by :class:`jwtgate.storage.redis_limits.RedisRateLimiter`, wrapped in a
:class:`FallbackRateLimiter`).

After ``max_failures`` failures with no more than ``window`` seconds between them, a key is blocked for
1 s, then 2 s, 4 s, ... up to ``max_backoff`` for each further failure. ``window`` quiet seconds forget it.

An attempt is *reserved* before the password is checked (:meth:`RateLimiter.acquire`) and settled after
(:meth:`RateLimiter.release`): attempts still in flight count against the limit, so a burst of concurrent
guesses cannot all pass the check before the first failure is recorded. The caller passes ``now`` (the
service's clock), so tests never sleep.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from jwtgate.errors import ConfigError, StorageError

__all__ = ["FallbackRateLimiter", "MemoryRateLimiter", "RateLimiter"]

logger = logging.getLogger("jwtgate.service")


class RateLimiter(Protocol):
    async def acquire(self, key: str, now: float) -> float:
        """Reserve one attempt for ``key`` and return 0, or return the seconds to wait (nothing reserved)."""

    async def release(self, key: str, now: float, *, failed: bool) -> None:
        """Settle an attempt reserved by :meth:`acquire`; ``failed`` counts it as a failure."""

    async def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (after a success); attempts in flight stay reserved."""

    async def blocked_for(self, key: str, now: float) -> float:
        """Seconds ``key`` stays blocked by its failures (0 when it is not blocked)."""


@dataclass(slots=True)
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float
    in_flight: int = 0


class MemoryRateLimiter:
    """In-process limiter holding at most ``max_keys`` keys: quiet ones are dropped first, then the
    oldest that are not blocked (a flood of new keys cannot lift an existing block while any other
    entry can go)."""

    def __init__(
        self, *, max_failures: int, window: float, max_backoff: float, max_keys: int = 100_000
    ) -> None:
        if max_failures < 1 or window <= 0 or max_backoff <= 0 or max_keys < 1:
            raise ConfigError("rate limit parameters must be positive")
        self.max_failures = max_failures
        self.window = window
        self.max_backoff = max_backoff
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def acquire(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(failures=0, last_failure=now, blocked_until=0.0)
            if len(self._entries) > self.max_keys:
                self._evict(now, keep=key)
        elif now - entry.last_failure >= self.window and entry.blocked_until <= now:
            entry.failures = 0  # quiet long enough: forgotten
        if entry.blocked_until > now:
            return entry.blocked_until - now
        if entry.in_flight >= max(1, self.max_failures - entry.failures):
            # Attempts still being checked may use up what is left: one at a time past the limit.
            return 1.0
        entry.in_flight += 1
        return 0.0

    async def release(self, key: str, now: float, *, failed: bool) -> None:
        entry = self._entries.get(key)
        if entry is None:  # evicted meanwhile
            if not failed:
                return
            entry = self._entries[key] = _Entry(failures=0, last_failure=now, blocked_until=0.0)
        entry.in_flight = max(0, entry.in_flight - 1)
        if not failed:
            return
        entry.failures += 1
        entry.last_failure = now
        excess = entry.failures - self.max_failures
        if excess >= 0:
            backoff = self.max_backoff if excess >= 60 else min(self.max_backoff, 2.0**excess)
            entry.blocked_until = now + backoff
        self._entries.move_to_end(key)  # most recent last

    async def blocked_for(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - now)

    async def reset(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.in_flight:
            entry.failures, entry.blocked_until = 0, 0.0
        else:
            del self._entries[key]

    def _evict(self, now: float, *, keep: str) -> None:
        def idle(entry: _Entry) -> bool:
            return entry.in_flight == 0 and entry.blocked_until <= now

        for key in [k for k, e in self._entries.items() if idle(e) and now - e.last_failure >= self.window]:
            if key != keep:
                del self._entries[key]
        for key in [k for k, e in self._entries.items() if idle(e)]:
            if len(self._entries) <= self.max_keys:
                return
            if key != keep:
                del self._entries[key]
        while len(self._entries) > self.max_keys:  # every entry is blocked: the oldest block goes
            oldest = next(iter(self._entries))
            if oldest == keep:
                self._entries.move_to_end(keep)
                continue
            del self._entries[oldest]


class FallbackRateLimiter:
    """A shared limiter (Redis) that falls back to an in-process one while it fails.

    Limits never switch off: during an outage each process limits on its own (N instances then allow up
    to N times the attempts). The outage is logged once when it starts and once when it ends, and
    ``on_fallback`` is called for every operation served by the fallback (a metric)."""

    def __init__(
        self, primary: RateLimiter, fallback: RateLimiter, *, on_fallback: Callable[[], None] | None = None
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._on_fallback = on_fallback
        self.degraded = False

    async def _run(self, call: Callable[[RateLimiter], Awaitable[float]]) -> float:
        try:
            result = await call(self._primary)
        except StorageError:
            if not self.degraded:
                self.degraded = True
                logger.warning("shared login limits unavailable: limiting per process until it is back")
            if self._on_fallback is not None:
                self._on_fallback()
            return await call(self._fallback)
        if self.degraded:
            self.degraded = False
            logger.warning("shared login limits are back")
        return result

    async def acquire(self, key: str, now: float) -> float:
        return await self._run(lambda limiter: limiter.acquire(key, now))

    async def release(self, key: str, now: float, *, failed: bool) -> None:
        async def call(limiter: RateLimiter) -> float:
            await limiter.release(key, now, failed=failed)
            return 0.0

        await self._run(call)

    async def reset(self, key: str) -> None:
        async def call(limiter: RateLimiter) -> float:
            await limiter.reset(key)
            return 0.0

        await self._run(call)

    async def blocked_for(self, key: str, now: float) -> float:
        return await self._run(lambda limiter: limiter.blocked_for(key, now))
