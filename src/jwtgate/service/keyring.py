"""The signing key ring: ``next`` (published, not signing yet), ``active`` (signs), ``retired`` (verifies).

Rotation promotes the pre-published ``next`` key to ``active`` at once (resource servers have had it in
the JWKS since the previous rotation, so their caches already know it), retires the old active key until
the last token it signed has expired (``rotated_at + access_ttl + leeway``) and publishes a fresh ``next``.
A retired key past its ``retire_after`` leaves the JWKS and the verifier, and its file is deleted.

Several processes may share a ring (the server and ``jwtgate keys rotate``): each change is a locked
load-modify-save, and :meth:`KeyRing.refresh` reloads when another process saved.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jwtgate.errors import ConfigError
from jwtgate.jose.jwk import Key, generate_key, key_from_jwk
from jwtgate.jose.jwks import KeySet
from jwtgate.service.keystore import (
    FileKeyStore,
    KeyInfo,
    KeyState,
    KeyStore,
    MemoryKeyStore,
    StoredKey,
)

__all__ = ["FileKeyStore", "KeyInfo", "KeyRing", "KeyState", "KeyStore", "MemoryKeyStore"]


class KeyRing:
    """The keys in memory. Build with :meth:`open`; all times come from the caller."""

    def __init__(self, store: KeyStore, *, signing_alg: str, retire_delay: int) -> None:
        self._store = store
        self.signing_alg = signing_alg
        self.retire_delay = retire_delay
        self._entries: list[tuple[KeyInfo, Key]] = []
        self._version: object = None

    @classmethod
    async def open(cls, store: KeyStore, *, signing_alg: str, retire_delay: int, now: float) -> KeyRing:
        """Load the ring; on first use create an active key and a next key with ``signing_alg``."""
        ring = cls(store, signing_alg=signing_alg, retire_delay=retire_delay)
        async with store.locked():
            stored = await store.load()
            changed = _complete(stored, signing_alg, now)
            if changed is not stored:
                await store.save(changed)
            ring._install(changed, await store.version())
        return ring

    def _install(self, stored: list[StoredKey], version: object) -> None:
        entries = []
        for item in stored:
            try:
                key = key_from_jwk(item.jwk, item.info.alg)
            except ConfigError as err:
                # The cause names the rule ("HS256 needs a secret of at least 32 bytes"), never key material.
                raise ConfigError(f"ring key {item.info.kid!r} is invalid: {err.description}") from err
            if not key.is_private:
                raise ConfigError(f"ring key {item.info.kid!r} has no private part")
            entries.append((item.info, key))
        if sum(info.state == "active" for info, _ in entries) != 1:
            raise ConfigError("the key ring must hold exactly one active key")
        self._entries = entries
        self._version = version

    @property
    def active_key(self) -> Key:
        return next(key for info, key in self._entries if info.state == "active")

    def infos(self) -> list[KeyInfo]:
        return [info for info, _ in self._entries]

    def verification_keys(self, now: float) -> KeySet:
        """Public keys that may have signed a live token. ``next`` is included: another process may
        already have promoted it before this one reloads."""
        return KeySet(key.public_key() for info, key in self._entries if _usable(info, now))

    def jwks(self, now: float) -> dict[str, Any]:
        """The public JWKS (symmetric keys are never published)."""
        return self.verification_keys(now).to_jwks()

    async def refresh(self) -> bool:
        """Reload when another process changed the ring; True when it did."""
        version = await self._store.version()
        if version == self._version:
            return False
        async with self._store.locked():
            self._install(await self._store.load(), await self._store.version())
        return True

    async def rotate(self, now: float, *, older_than: float | None = None) -> KeyInfo | None:
        """Promote ``next`` to active, retire the old active key, publish a new ``next``; returns the
        new active key's info. With ``older_than``, only when the active key has signed for at least
        that many seconds (checked under the lock, so two processes never both rotate); else None."""
        async with self._store.locked():
            stored = await self._store.load()
            if older_than is not None:
                active = next(s.info for s in stored if s.info.state == "active")
                since = active.activated_at if active.activated_at is not None else active.created_at
                if now - since < older_than:
                    self._install(stored, await self._store.version())
                    return None
            rotated = _rotate(stored, self.signing_alg, now, now + self.retire_delay)
            await self._store.save(rotated)
            self._install(rotated, await self._store.version())
        return next(info for info in self.infos() if info.state == "active")

    async def prune(self, now: float) -> int:
        """Drop retired keys whose tokens have all expired; returns how many."""
        async with self._store.locked():
            stored = await self._store.load()
            kept = [s for s in stored if _usable(s.info, now)]
            if len(kept) != len(stored):
                await self._store.save(kept)
            self._install(kept, await self._store.version())
        return len(stored) - len(kept)


def _usable(info: KeyInfo, now: float) -> bool:
    return info.state != "retired" or (info.retire_after is not None and now < info.retire_after)


def _new(alg: str, state: KeyState, now: float) -> StoredKey:
    key = generate_key(alg)
    activated_at = now if state == "active" else None
    return StoredKey(KeyInfo(key.kid, alg, state, now, None, activated_at), key.to_jwk(private=True))


def _complete(stored: list[StoredKey], alg: str, now: float) -> list[StoredKey]:
    """``stored`` itself when it has an active and a next key, else a completed copy."""
    states = [s.info.state for s in stored]
    if "active" in states and "next" in states:
        return stored
    completed = list(stored)
    if "active" not in states:
        promoted = next((s for s in completed if s.info.state == "next"), None)
        if promoted is not None:
            completed.remove(promoted)
            completed.append(_with_state(promoted, "active", activated_at=now))
        else:
            completed.append(_new(alg, "active", now))
    if not any(s.info.state == "next" for s in completed):
        completed.append(_new(alg, "next", now))
    return completed


def _rotate(stored: list[StoredKey], alg: str, now: float, retire_after: float) -> list[StoredKey]:
    result: list[StoredKey] = []
    upcoming: StoredKey | None = None
    for item in stored:
        if item.info.state == "active":
            result.append(_with_state(item, "retired", retire_after))
        elif item.info.state == "next" and upcoming is None and item.info.alg == alg:
            upcoming = item
        elif _usable(item.info, now) and item.info.state == "retired":
            result.append(item)
        # an expired retired key, or a ``next`` key of a no longer configured alg, is dropped
    result.append(_with_state(upcoming, "active", activated_at=now) if upcoming else _new(alg, "active", now))
    result.append(_new(alg, "next", now))
    return result


def _with_state(
    item: StoredKey,
    state: KeyState,
    retire_after: float | None = None,
    *,
    activated_at: float | None = None,
) -> StoredKey:
    info = dataclasses.replace(item.info, state=state, retire_after=retire_after)
    if activated_at is not None:
        info = dataclasses.replace(info, activated_at=activated_at)
    return dataclasses.replace(item, info=info)
