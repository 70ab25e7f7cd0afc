"""The signing key ring: ``next`` (published, not signing yet), ``active`` (signs), ``retired`` (verifies).

The ring lives in the database (:class:`~.keystore.KeyStore`), private keys sealed with the key-encryption
key when one is configured (:class:`~.sealing.Sealer`); every instance holds a copy in memory and reloads
it when the ring's version changes.

Rotation promotes the ``next`` key once it has been published long enough for every JWKS cache to know it
(``publication_delay``; keys created with the ring itself were published from the start): at once when it
has, else it is scheduled (``activate_at``) and whichever instance syncs first after that moment promotes
it. The old active key retires until the last token it signed has expired (``retire_delay``); a fresh
``next`` is published. ``rotate(alg=...)`` switches algorithm the same way: a ``next`` key of the new
algorithm is published first and starts signing after the publication delay. The configured signing
algorithm only chooses the algorithm of the very first key.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from jwtgate.errors import ConfigError
from jwtgate.jose.jwk import Key, generate_key, key_from_jwk
from jwtgate.jose.jwks import KeySet
from jwtgate.service.keystore import KeyInfo, KeyState, KeyStore, StoredKey
from jwtgate.service.ports import NotInitialised
from jwtgate.service.sealing import Sealer

__all__ = ["KeyInfo", "KeyRing", "KeyState", "KeyStore", "NoKeyRing", "Rotation"]

_WHAT = "the signing keys"
_RANK = {"retired": 0, "active": 1, "next": 2}


class NoKeyRing(NotInitialised):
    """The database holds no key ring yet (read-only open of an uninitialised store)."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a rotation: the key that signs now, and the key scheduled to sign next (if the
    rotation waits for its publication delay)."""

    active: KeyInfo
    scheduled: KeyInfo | None = None


class KeyRing:
    """The keys in memory. Build with :meth:`open`; all times come from the caller."""

    def __init__(
        self, store: KeyStore, *, sealer: Sealer, retire_delay: int, publication_delay: int = 300
    ) -> None:
        self._store = store
        self._sealer = sealer
        self.retire_delay = retire_delay
        self.publication_delay = publication_delay
        self._entries: list[tuple[StoredKey, Key]] = []
        self._version: str | None = None

    @classmethod
    async def open(
        cls,
        store: KeyStore,
        *,
        sealer: Sealer,
        signing_alg: str,
        retire_delay: int,
        now: float,
        create: bool = True,
        publication_delay: int = 300,
    ) -> KeyRing:
        """Load the ring. With ``create``, a missing ring gets an active and a next key of
        ``signing_alg`` (atomically: instances starting together agree on one ring); without it, a
        missing ring is :class:`NoKeyRing` and nothing is written."""
        ring = cls(store, sealer=sealer, retire_delay=retire_delay, publication_delay=publication_delay)
        if create:
            stored, version = await store.update_keys(lambda keys: _complete(keys, signing_alg, now, sealer))
        else:
            version = await store.keys_version()
            stored = await store.load_keys()
            if not stored:
                raise NoKeyRing
        ring._install(stored, version)
        return ring

    def _install(self, stored: list[StoredKey], version: str | None) -> None:
        entries = []
        # One order whatever the backend: oldest first, then retired, active, next.
        for item in sorted(stored, key=lambda s: (s.info.created_at, _RANK[s.info.state], s.info.kid)):
            info = item.info
            plaintext = self._sealer.open(info.kid, item.material, item.kek_id, what=_WHAT)
            try:
                jwk = json.loads(plaintext)
                key = key_from_jwk(jwk, info.alg)
            except ConfigError as err:
                # The cause names the rule ("HS256 needs a secret of at least 32 bytes"), never key material.
                raise ConfigError(f"ring key {info.kid!r} is invalid: {err.description}") from err
            except (ValueError, TypeError) as err:
                raise ConfigError(f"ring key {info.kid!r} is not a valid JWK") from err
            if not key.is_private:
                raise ConfigError(f"ring key {info.kid!r} has no private part")
            entries.append((item, key))
        if sum(item.info.state == "active" for item, _ in entries) != 1:
            raise ConfigError("the key ring must hold exactly one active key")
        self._entries = entries
        self._version = version

    @property
    def version(self) -> str | None:
        return self._version

    @property
    def active_key(self) -> Key:
        return next(key for item, key in self._entries if item.info.state == "active")

    @property
    def alg(self) -> str:
        """The algorithm the ring signs with (the active key's)."""
        return self.active_key.alg

    def infos(self) -> list[KeyInfo]:
        return [item.info for item, _ in self._entries]

    def unsealed_count(self) -> int:
        """How many ring keys are not sealed with the current key-encryption key."""
        return sum(not self._sealer.is_current(item.kek_id) for item, _ in self._entries)

    def refuse_plaintext(self) -> None:
        """Production: once a key-encryption key is configured, a signing key still stored in clear
        (the upgrade path opens them) is refused: ConfigError telling how to seal it."""
        if self._sealer.kek_id is None:
            return
        plain = sum(item.kek_id is None for item, _ in self._entries)
        if plain:
            raise ConfigError(
                f"{plain} signing key(s) are stored unencrypted although a key-encryption key is set; "
                "production refuses them: run `jwtgate keys rewrap` to seal them, then start again"
            )

    def verification_keys(self, now: float) -> KeySet:
        """Public keys that may have signed a live token. ``next`` is included: another instance may
        already have promoted it before this one reloads."""
        return KeySet(key.public_key() for item, key in self._entries if _usable(item.info, now))

    def jwks(self, now: float) -> dict[str, object]:
        """The public JWKS (symmetric keys are never published)."""
        return dict(self.verification_keys(now).to_jwks())

    def next_activation(self) -> float | None:
        """When a scheduled ``next`` key starts signing (None when nothing is scheduled)."""
        return min((i.activate_at for i in self.infos() if i.activate_at is not None), default=None)

    async def refresh(self) -> bool:
        """Reload when the ring changed (in any process); True when it did."""
        version = await self._store.keys_version()
        if version == self._version:
            return False
        self._install(await self._store.load_keys(), await self._store.keys_version())
        return True

    async def _update(self, change: object) -> None:
        stored, version = await self._store.update_keys(change)  # type: ignore[arg-type]
        self._install(stored, version)

    async def rotate(
        self, now: float, *, alg: str | None = None, older_than: float | None = None, at_once: bool = False
    ) -> Rotation | None:
        """Rotate (see the module docstring). With ``older_than``, only when the active key has signed
        for at least that many seconds (checked inside the atomic update, so two instances never both
        rotate), else None. ``at_once`` promotes ``next`` without waiting for its publication delay
        (a compromised key); ``alg`` switches algorithm (always through a published ``next``)."""
        outcome: list[Rotation | None] = [None]

        def change(stored: list[StoredKey]) -> list[StoredKey] | None:
            active = _one(stored, "active")
            if older_than is not None:
                since = active.info.activated_at or active.info.created_at
                if now - since < older_than:
                    return None
            upcoming = _find(stored, "next")
            target = alg or (upcoming.info.alg if upcoming is not None else active.info.alg)
            if upcoming is None or upcoming.info.alg != target:
                # A new algorithm: publish a next key of it; it signs once published long enough.
                fresh = _new(target, "next", now, self._sealer, activate_at=now + self.publication_delay)
                kept = [s for s in stored if s is not upcoming]
                outcome[0] = Rotation(active.info, fresh.info)
                return [*kept, fresh]
            ready = at_once or _published_since(upcoming, stored) + self.publication_delay <= now
            if not ready:
                when = _published_since(upcoming, stored) + self.publication_delay
                if upcoming.info.activate_at == when:
                    outcome[0] = Rotation(active.info, upcoming.info)
                    return None
                scheduled = _with(upcoming, activate_at=when)
                outcome[0] = Rotation(active.info, scheduled.info)
                return [scheduled if s is upcoming else s for s in stored]
            rotated = _promote(stored, upcoming, now, now + self.retire_delay, self._sealer)
            outcome[0] = Rotation(_one(rotated, "active").info)
            return rotated

        await self._update(change)
        return outcome[0]

    async def activate_due(self, now: float) -> bool:
        """Promote a scheduled ``next`` key whose time has come; True when this call did."""
        due = self.next_activation()
        if due is None or due > now:
            return False
        done = [False]

        def change(stored: list[StoredKey]) -> list[StoredKey] | None:
            upcoming = _find(stored, "next")
            if upcoming is None or upcoming.info.activate_at is None or upcoming.info.activate_at > now:
                return None  # another instance got there first
            done[0] = True
            return _promote(stored, upcoming, now, now + self.retire_delay, self._sealer)

        await self._update(change)
        return done[0]

    async def prune(self, now: float) -> int:
        """Drop retired keys whose tokens have all expired; returns how many."""
        dropped = [0]

        def change(stored: list[StoredKey]) -> list[StoredKey] | None:
            kept = [s for s in stored if _usable(s.info, now)]
            dropped[0] = len(stored) - len(kept)
            return kept if dropped[0] else None

        await self._update(change)
        return dropped[0]

    async def rewrap(self) -> int:
        """Seal every key with the current key-encryption key; returns how many were resealed."""
        count = [0]

        def change(stored: list[StoredKey]) -> list[StoredKey] | None:
            result = []
            for item in stored:
                if self._sealer.is_current(item.kek_id):
                    result.append(item)
                    continue
                plaintext = self._sealer.open(item.info.kid, item.material, item.kek_id, what=_WHAT)
                material, kek_id = self._sealer.seal(item.info.kid, plaintext)
                result.append(dataclasses.replace(item, material=material, kek_id=kek_id))
                count[0] += 1
            return result if count[0] else None

        await self._update(change)
        return count[0]


def import_keys(
    stored: list[StoredKey], legacy: list[tuple[KeyInfo, dict[str, object]]], sealer: Sealer
) -> list[StoredKey] | None:
    """The change that imports a legacy key folder into an empty ring (None when the ring has keys)."""
    if stored or not legacy:
        return None
    return [_seal(info, jwk, sealer) for info, jwk in legacy]


def _usable(info: KeyInfo, now: float) -> bool:
    return info.state != "retired" or (info.retire_after is not None and now < info.retire_after)


def _find(stored: list[StoredKey], state: KeyState) -> StoredKey | None:
    return next((s for s in stored if s.info.state == state), None)


def _one(stored: list[StoredKey], state: KeyState) -> StoredKey:
    found = _find(stored, state)
    if found is None:
        raise ConfigError(f"the key ring has no {state} key")
    return found


def _published_since(key: StoredKey, stored: list[StoredKey]) -> float:
    """When the JWKS started listing ``key``. A key created with the ring itself (no older key, no
    rotation yet) was in every JWKS ever served: published since the beginning of time."""
    oldest = min(s.info.created_at for s in stored)
    active = _one(stored, "active").info
    untouched = active.activated_at == active.created_at and _find(stored, "retired") is None
    return float("-inf") if untouched and key.info.created_at <= oldest else key.info.created_at


def _seal(info: KeyInfo, jwk: dict[str, object], sealer: Sealer) -> StoredKey:
    material, kek_id = sealer.seal(info.kid, json.dumps(jwk).encode("utf-8"))
    return StoredKey(info, material, kek_id)


def _new(
    alg: str, state: KeyState, now: float, sealer: Sealer, *, activate_at: float | None = None
) -> StoredKey:
    key = generate_key(alg)
    activated_at = now if state == "active" else None
    info = KeyInfo(key.kid, alg, state, now, None, activated_at, activate_at)
    return _seal(info, key.to_jwk(private=True), sealer)


def _complete(stored: list[StoredKey], alg: str, now: float, sealer: Sealer) -> list[StoredKey] | None:
    """None when the ring has an active and a next key, else a completed copy."""
    states = [s.info.state for s in stored]
    if "active" in states and "next" in states:
        return None
    completed = list(stored)
    if "active" not in states:
        promoted = _find(completed, "next")
        if promoted is not None:
            completed.remove(promoted)
            completed.append(_with(promoted, state="active", activated_at=now, activate_at=None))
        else:
            completed.append(_new(alg, "active", now, sealer))
    if _find(completed, "next") is None:
        completed.append(_new(_one(completed, "active").info.alg, "next", now, sealer))
    return completed


def _promote(
    stored: list[StoredKey], upcoming: StoredKey, now: float, retire_after: float, sealer: Sealer
) -> list[StoredKey]:
    result: list[StoredKey] = []
    for item in stored:
        if item.info.state == "active":
            result.append(_with(item, state="retired", retire_after=retire_after))
        elif item.info.state == "retired" and _usable(item.info, now):
            result.append(item)
        # an expired retired key, and the promoted next key (added below), are left out
    result.append(_with(upcoming, state="active", activated_at=now, activate_at=None))
    result.append(_new(upcoming.info.alg, "next", now, sealer))
    return result


def _with(item: StoredKey, **changes: object) -> StoredKey:
    return dataclasses.replace(item, info=dataclasses.replace(item.info, **changes))  # type: ignore[arg-type]
