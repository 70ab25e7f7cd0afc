"""TokenAuthority: signs and checks access tokens (key ring + issuer + verifier + denylist mirror).

It keeps everything a request needs in memory. :meth:`TokenAuthority.sync` pulls what other processes
changed (revocations by cursor, the key ring's version) at most every ``revocation_sync_interval`` /
``key_check_interval`` seconds, promotes a ``next`` key whose scheduled time has come (writable
authorities only), and rebuilds the verifier when a retired key passes its end of life. A server runs
:meth:`sync` in a background task (``JWTGATE_SYNC_INTERVAL``); with Redis, pushed messages
(:meth:`apply_pushed`, :meth:`keys_changed_elsewhere`) apply changes at once.

When the database does not answer, requests keep being served from the denylist as last synced, for
at most ``revocation_max_stale`` seconds after the last sync that succeeded; past that every
authentication fails closed with a StorageError (503) until a sync succeeds again, like the guard's
``max_stale``. A revocation cannot be written while the database is down, so the list can only miss
what other instances revoked through it in that time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from jwtgate.errors import JwtgateError, MalformedToken, RevokedToken, StorageError
from jwtgate.jose.b64 import decode_checked
from jwtgate.jose.jsonutil import loads_object
from jwtgate.jose.jwks import KeySet
from jwtgate.service.denylist import Denylist
from jwtgate.service.keyring import KeyInfo, KeyRing, Rotation
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ports import RevocationBroadcaster, RevocationStore
from jwtgate.service.records import Revocation
from jwtgate.tokens import RFC9068_REQUIRED, Issuer, Verifier

__all__ = ["TokenAuthority"]

_VERIFY_CACHE = 4096
_MAX_TOKEN = 8192

logger = logging.getLogger("jwtgate.service")


class TokenAuthority:
    def __init__(
        self,
        ring: KeyRing,
        policy: ServicePolicy,
        revocations: RevocationStore,
        clock: Callable[[], float],
        broadcaster: RevocationBroadcaster | None = None,
        *,
        writable: bool = True,
    ) -> None:
        self._ring = ring
        self._writable = writable
        self.broadcaster = broadcaster
        self._policy = policy
        self._revocations = revocations
        self._clock = clock
        self._denylist = Denylist()
        self._synced_at = float("-inf")  # the last sync attempt (spaces the retries)
        self._confirmed_at = float("-inf")  # the last sync that succeeded
        self._max_stale = max(policy.revocation_max_stale, 2 * policy.revocation_sync_interval)
        self._sync_failing = False
        self._keys_checked_at = float("-inf")
        self._keys_valid_until = math.inf
        self._activation_at = math.inf  # when a scheduled next key is due (writable authorities only)
        self._lock = asyncio.Lock()
        self.issuer: Issuer
        self._verifier: Verifier | None = None
        self._install(clock())

    def _install(self, now: float) -> None:
        policy = self._policy
        self.issuer = Issuer(
            self._ring.active_key,
            issuer=policy.issuer,
            audience=policy.audience,
            client_id=policy.client_id,
            default_ttl=policy.access_ttl,
            max_ttl=max(policy.access_ttl, 86400),
            clock=self._clock,
        )
        keys = self._ring.verification_keys(now)
        if self._verifier is not None:
            self._verifier.update_keys(keys)
        else:
            self._verifier = Verifier(
                keys,
                issuer=policy.issuer,
                audience=policy.audience,
                leeway=policy.leeway,
                clock=self._clock,
                require=(*RFC9068_REQUIRED, "sid"),
                cache_size=_VERIFY_CACHE,
            )
        retiring = [i.retire_after for i in self._ring.infos() if i.retire_after is not None]
        self._keys_valid_until = min((t for t in retiring if t > now), default=math.inf)
        # Precomputed here, so the per-request sync check is one comparison.
        scheduled = self._ring.next_activation() if self._writable else None
        self._activation_at = math.inf if scheduled is None else scheduled

    @property
    def verifier(self) -> Verifier:
        assert self._verifier is not None  # set by _install in __init__
        return self._verifier

    async def sync(self, now: float, *, force: bool = False) -> None:
        """Pull other processes' revocations and key rotations, at most every interval."""
        policy = self._policy
        due_revocations = force or now - self._synced_at >= policy.revocation_sync_interval
        due_keys = force or now - self._keys_checked_at >= policy.key_check_interval
        due_activation = now >= self._activation_at
        if not (due_revocations or due_keys or due_activation or now >= self._keys_valid_until):
            return
        async with self._lock:
            if due_revocations and (force or now - self._synced_at >= policy.revocation_sync_interval):
                self._synced_at = now
                try:
                    await self._denylist.sync(self._revocations, now)
                except StorageError:
                    self._sync_failed(now)
                else:
                    self._sync_succeeded(now)
                    self._denylist.prune(now)
            changed = False
            if due_keys and (force or now - self._keys_checked_at >= policy.key_check_interval):
                self._keys_checked_at = now
                try:
                    changed = await self._ring.refresh()
                except StorageError:
                    self._sync_failed(now)  # the ring in memory keeps verifying and signing
            if due_activation:
                # Whoever promoted it (this instance or another), the ring was just reloaded: reinstall.
                changed = True
                if await self._ring.activate_due(now):
                    await self._announce_key_change()
            if changed or now >= self._keys_valid_until:
                self._install(now)

    def _sync_failed(self, now: float) -> None:
        if not self._sync_failing:
            self._sync_failing = True
            logger.warning(
                "sync with the database failed: serving from the revocation list synced %.0f s ago, "
                "for at most %.0f s",
                now - self._confirmed_at,
                self._max_stale,
            )
        self._check_fresh(now)

    def _sync_succeeded(self, now: float) -> None:
        self._confirmed_at = now
        if self._sync_failing:
            self._sync_failing = False
            logger.warning("sync with the database works again")

    def _check_fresh(self, now: float) -> None:
        if now - self._confirmed_at > self._max_stale:
            raise StorageError("the revocation list is out of date: the database does not answer")

    async def authenticate(self, access_token: str, now: float) -> dict[str, Any]:
        """The claims of a valid, unrevoked access token; a TokenError otherwise; a StorageError when
        the revocation list could not be synced for ``revocation_max_stale`` seconds."""
        await self.sync(now)
        self._check_fresh(now)
        claims = self.verifier.verify(access_token, now=now)
        if self._denylist.is_revoked(claims.get("sid"), claims.get("jti"), now):
            raise RevokedToken
        return claims

    async def inspect(self, access_token: str, now: float) -> dict[str, Any]:
        """Like :meth:`authenticate`, for any audience and without a session (client credentials
        tokens have none): what introspection and revocation need. Signature, issuer, type and
        times are checked as strictly; a TokenError otherwise."""
        await self.sync(now)
        self._check_fresh(now)
        audience = _unverified_audience(access_token)
        verifier = Verifier(
            self.verifier.keys,
            issuer=self._policy.issuer,
            audience=audience,
            leeway=self._policy.leeway,
            clock=self._clock,
        )
        claims = verifier.verify(access_token, now=now)
        if self._denylist.is_revoked(claims.get("sid"), claims.get("jti"), now):
            raise RevokedToken
        return claims

    async def revoked(self, entries: Sequence[Revocation]) -> None:
        """``entries`` were just committed to the store: deny them here, then broadcast them.

        Never raises for the broadcast: the revocation is done and the feed serves it; a guard that
        missed the message catches up from the feed when it resubscribes."""
        for entry in entries:
            self._denylist.add(entry)
        if not entries or self.broadcaster is None:
            return
        try:
            await self.broadcaster.publish(entries)
        except Exception as err:  # any broadcaster failure: the store already holds the truth
            logger.warning(
                "revocation broadcast failed (%s); %d entries are in the feed only",
                getattr(err, "code", type(err).__name__),
                len(entries),
            )

    def apply_pushed(self, entry: Revocation) -> None:
        """A revocation another instance pushed (Redis): deny it here at once. The cursor of the store
        sync is left alone, so an entry pushed out of order never makes a sync skip older ones."""
        self._denylist.add(entry)

    async def keys_changed_elsewhere(self) -> None:
        """Another instance said the ring changed: reload it now."""
        async with self._lock:
            now = self._clock()
            self._keys_checked_at = now
            if await self._ring.refresh():
                self._install(now)

    async def _announce_key_change(self) -> None:
        if self.broadcaster is None:
            return
        try:
            await self.broadcaster.publish_key_change()
        except Exception as err:  # best effort: the others notice the new version at their next poll
            logger.warning("key ring change broadcast failed (%s)", getattr(err, "code", type(err).__name__))

    def jwks(self, now: float) -> dict[str, Any]:
        return self._ring.jwks(now)

    @property
    def verification_keys(self) -> KeySet:
        return self.verifier.keys

    def key_infos(self) -> list[KeyInfo]:
        return self._ring.infos()

    @property
    def ring(self) -> KeyRing:
        return self._ring

    async def rotate(
        self, now: float, *, alg: str | None = None, older_than: float | None = None, at_once: bool = False
    ) -> Rotation | None:
        """See :meth:`KeyRing.rotate`; other instances are told at once."""
        before = self._ring.version
        rotation = await self._ring.rotate(now, alg=alg, older_than=older_than, at_once=at_once)
        self._install(now)
        if self._ring.version != before:
            await self._announce_key_change()
        return rotation

    async def rewrap(self) -> int:
        """Reseal every ring key with the current key-encryption key."""
        count = await self._ring.rewrap()
        if count:
            self._install(self._clock())
            await self._announce_key_change()
        return count

    async def prune(self, now: float) -> dict[str, int]:
        """Drop expired keys and mirror entries."""
        keys = await self._ring.prune(now)
        self._install(now)
        if keys:
            await self._announce_key_change()
        return {"keys": keys, "denylist_mirror": self._denylist.prune(now)}


def _unverified_audience(token: str) -> list[str]:
    # Only picks which audience the strict verifier accepts; the signature is checked right after.
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        raise MalformedToken("not a compact JWS")
    try:
        claims = loads_object(decode_checked(token.split(".")[1])) if token.count(".") == 2 else {}
    except (JwtgateError, ValueError):
        raise MalformedToken("not a compact JWS") from None
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    checked = [a for a in audiences if isinstance(a, str) and 0 < len(a) <= 256]
    if not checked or len(checked) != len(audiences):
        raise MalformedToken("the token has no valid aud")
    return checked
