"""Failed-login limits with exponential backoff, behind a port (a Redis implementation comes later).

After ``max_failures`` failures with no more than ``window`` seconds between them, a key is blocked for
1 s, then 2 s, 4 s, ... up to ``max_backoff`` for each further failure. ``window`` quiet seconds forget it.
The caller passes ``now`` (the service's clock), so tests never sleep.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from jwtgate.errors import ConfigError

__all__ = ["MemoryRateLimiter", "RateLimiter"]


class RateLimiter(Protocol):
    async def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""

    async def failure(self, key: str, now: float) -> None:
        """Count a failure for ``key``."""

    async def reset(self, key: str) -> None:
        """Forget ``key`` (after a success)."""


@dataclass(slots=True)
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float


class MemoryRateLimiter:
    """In-process limiter. Holds at most ``max_keys`` keys: stale ones go first, then the oldest."""

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

    async def retry_after(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.blocked_until - now)

    async def failure(self, key: str, now: float) -> None:
        entry = self._entries.pop(key, None)
        if entry is None or now - entry.last_failure >= self.window:
            entry = _Entry(failures=0, last_failure=now, blocked_until=0.0)
        entry.failures += 1
        entry.last_failure = now
        excess = entry.failures - self.max_failures
        if excess >= 0:
            backoff = self.max_backoff if excess >= 60 else min(self.max_backoff, 2.0**excess)
            entry.blocked_until = now + backoff
        self._entries[key] = entry  # most recent last
        if len(self._entries) > self.max_keys:
            self._evict(now)

    async def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [
            k
            for k, e in self._entries.items()
            if now - e.last_failure >= self.window and e.blocked_until <= now
        ]
        for key in stale:
            del self._entries[key]
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
