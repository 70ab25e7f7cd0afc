"""Replay protection for DPoP proofs: each proof (its key and ``jti``) is accepted once while its ``iat``
window lasts (RFC 9449 section 11.1).

:class:`ProofReplayCache` is the port; :class:`MemoryReplayCache` serves one process, and
:class:`jwtgate.storage.redis_replay.RedisReplayCache` several instances sharing Redis. WSGI apps check
proofs without an event loop: they need a :class:`SyncReplayCache` (``first_use_sync`` too), which the
memory cache and :class:`jwtgate.storage.redis_replay.SyncRedisReplayCache` are.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from jwtgate.dpop import VerifiedProof
from jwtgate.errors import ConfigError, InvalidDPoPProof, StorageError

__all__ = ["MemoryReplayCache", "ProofReplayCache", "SyncReplayCache", "accept_once", "accept_once_sync"]

_REPLAYED = "the DPoP proof was already used"


class ProofReplayCache(Protocol):
    """Remembers keys until they expire."""

    async def first_use(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at`` (epoch seconds); True the first time, False on a replay.
        Raises StorageError when it cannot tell (the caller then refuses the request)."""
        ...


@runtime_checkable
class SyncReplayCache(ProofReplayCache, Protocol):
    """A :class:`ProofReplayCache` that also answers without an event loop (for WSGI apps)."""

    def first_use_sync(self, key: str, expires_at: float) -> bool:
        """:meth:`first_use`, blocking the calling thread until it knows."""
        ...


async def accept_once(proof: VerifiedProof, cache: ProofReplayCache) -> None:
    """Raise InvalidDPoPProof when ``proof`` was seen before (the last step of checking a proof)."""
    if not await cache.first_use(proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof(_REPLAYED)


def accept_once_sync(proof: VerifiedProof, cache: SyncReplayCache) -> None:
    """:func:`accept_once` without an event loop."""
    if not cache.first_use_sync(proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof(_REPLAYED)


class MemoryReplayCache:
    """A bounded in-process :class:`ProofReplayCache`. Expired entries are dropped as new ones come in.

    When ``max_entries`` live entries fill it, new proofs are refused with StorageError rather than old
    entries forgotten early (forgetting would reopen a replay window). Size it above the peak rate of
    proofs times their lifetime (``max_age + leeway`` of the verifier's policy).
    """

    __slots__ = ("_clock", "_expiry", "_heap", "_lock", "max_entries")

    def __init__(self, *, max_entries: int = 500_000, clock: Callable[[], float] = time.time) -> None:
        if type(max_entries) is not int or max_entries < 1:
            raise ConfigError("max_entries must be a positive integer")
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryReplayCache(entries={len(self._expiry)}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        return len(self._expiry)

    async def first_use(self, key: str, expires_at: float) -> bool:
        return self.first_use_sync(key, expires_at)

    def first_use_sync(self, key: str, expires_at: float) -> bool:
        # The check and the insert must be one step; the threads of a WSGI server interleave otherwise.
        with self._lock:
            return self._first_use(key, expires_at)

    def _first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            _, old = heapq.heappop(heap)
            if expiry.get(old, now + 1) <= now:
                del expiry[old]
        known = expiry.get(key)
        if known is not None and known > now:
            return False
        if len(expiry) >= self.max_entries:
            raise StorageError("the DPoP replay cache is full")
        expiry[key] = expires_at
        heapq.heappush(heap, (expires_at, key))
        return True
