"""Failed-login limits kept in Redis, so that every instance counts the same attempts.

:class:`RedisRateLimiter` implements :class:`jwtgate.service.ratelimit.RateLimiter` with the exact rules
of the in-process :class:`~jwtgate.service.ratelimit.MemoryRateLimiter` (reservation before the password
check, exponential backoff, a quiet window forgets), each operation one Lua script: atomic across
instances. A key is a Redis hash that expires by itself once it can no longer matter. Reservations of a
process that died mid-check are dropped after ``stale_reservation`` seconds.

Redis errors raise :class:`~jwtgate.errors.StorageError`; the service wraps this limiter in a
:class:`~jwtgate.service.ratelimit.FallbackRateLimiter`, which keeps limiting per process while Redis
is down.
"""

from __future__ import annotations

from typing import Any

from jwtgate.errors import ConfigError, StorageError

__all__ = ["RedisRateLimiter"]

# KEYS[1] the hash; ARGV: now, max_failures, window, ttl, stale
_ACQUIRE = """
local h = redis.call('HMGET', KEYS[1], 'f', 'lf', 'bu', 'if', 'ia')
local now = tonumber(ARGV[1])
local failures = tonumber(h[1]) or 0
local last = tonumber(h[2]) or now
local blocked = tonumber(h[3]) or 0
local inflight = tonumber(h[4]) or 0
local inflight_at = tonumber(h[5]) or now
if inflight > 0 and now - inflight_at > tonumber(ARGV[5]) then inflight = 0 end
if now - last >= tonumber(ARGV[3]) and blocked <= now then failures = 0 end
if blocked > now then return tostring(blocked - now) end
local room = tonumber(ARGV[2]) - failures
if room < 1 then room = 1 end
if inflight >= room then return '1' end
redis.call('HSET', KEYS[1], 'f', failures, 'lf', last, 'bu', blocked, 'if', inflight + 1, 'ia', now)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return '0'
"""

# ARGV: now, failed (0/1), max_failures, max_backoff, ttl
_RELEASE = """
local h = redis.call('HMGET', KEYS[1], 'f', 'lf', 'bu', 'if')
local now = tonumber(ARGV[1])
local failures = tonumber(h[1]) or 0
local last = tonumber(h[2]) or now
local blocked = tonumber(h[3]) or 0
local inflight = (tonumber(h[4]) or 1) - 1
if inflight < 0 then inflight = 0 end
if ARGV[2] == '1' then
  failures = failures + 1
  last = now
  local excess = failures - tonumber(ARGV[3])
  if excess >= 0 then
    local backoff = tonumber(ARGV[4])
    if excess < 60 then backoff = math.min(backoff, 2 ^ excess) end
    blocked = now + backoff
  end
elseif h[1] == false then
  return '0'
end
redis.call('HSET', KEYS[1], 'f', failures, 'lf', last, 'bu', blocked, 'if', inflight)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return '0'
"""

_RESET = """
local inflight = tonumber(redis.call('HGET', KEYS[1], 'if')) or 0
if inflight > 0 then
  redis.call('HSET', KEYS[1], 'f', 0, 'bu', 0)
else
  redis.call('DEL', KEYS[1])
end
return '0'
"""


class RedisRateLimiter:
    """Failed-attempt limits in Redis under ``prefix``; see the module docstring."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        max_failures: int,
        window: float,
        max_backoff: float,
        stale_reservation: float = 60.0,
    ) -> None:
        if max_failures < 1 or window <= 0 or max_backoff <= 0 or not prefix:
            raise ConfigError("rate limit parameters must be positive")
        self._client = client
        self.prefix = prefix
        self.max_failures = max_failures
        self.window = window
        self.max_backoff = max_backoff
        self.stale_reservation = stale_reservation
        # A key matters while it can block or be forgotten: the window plus the longest backoff.
        self._ttl = int(window + max_backoff) + 1
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._reset = client.register_script(_RESET)

    def __repr__(self) -> str:
        return f"RedisRateLimiter(prefix={self.prefix!r}, max_failures={self.max_failures})"

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def _call(self, script: Any, key: str, *args: object) -> float:
        from redis.exceptions import RedisError

        try:
            result = await script(keys=[self._key(key)], args=list(args))
        except (RedisError, OSError) as err:
            raise StorageError("the Redis rate limiter failed") from err
        return float(result.decode() if isinstance(result, bytes) else result)

    async def acquire(self, key: str, now: float) -> float:
        return await self._call(
            self._acquire,
            key,
            repr(now),
            self.max_failures,
            repr(self.window),
            self._ttl,
            repr(self.stale_reservation),
        )

    async def release(self, key: str, now: float, *, failed: bool) -> None:
        await self._call(
            self._release,
            key,
            repr(now),
            "1" if failed else "0",
            self.max_failures,
            repr(self.max_backoff),
            self._ttl,
        )

    async def reset(self, key: str) -> None:
        await self._call(self._reset, key)

    async def blocked_for(self, key: str, now: float) -> float:
        from redis.exceptions import RedisError

        try:
            value = await self._client.hget(self._key(key), "bu")
        except (RedisError, OSError) as err:
            raise StorageError("the Redis rate limiter failed") from err
        return 0.0 if value is None else max(0.0, float(value) - now)
