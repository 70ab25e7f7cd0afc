"""DPoP (RFC 9449) proof of possession on resource requests, shared by both HTTP edges (the auth server's
own API routes and the guard): the rules a sender-constrained token is held to, apart from any framework.

A token carrying ``cnf.jkt`` is only accepted as ``Authorization: DPoP <token>`` with a ``DPoP`` proof for
this very request: signed by the bound key, for this method and URL, fresh, with ``ath`` = the token's
hash, and never seen before (a replay cache: in this process, or in Redis shared by every instance:
:class:`RedisReplayCache` for ASGI apps, :class:`SyncRedisReplayCache` for WSGI apps, which check proofs
without an event loop). Modes (``JWTGATE_DPOP`` on the server; ``dpop=`` on the guard,
``require(dpop=...)`` per route):

* ``off``: the DPoP scheme is refused (bound tokens too: they are never accepted without a proof);
* ``allowed`` (the default): unbound tokens as Bearer, bound ones as DPoP with a proof;
* ``required``: only DPoP-bound tokens with a proof.

With ``nonce_secret``, resource requests also need the resource server's own nonces (RFC 9449
section 9): a proof without the current one is refused with ``WWW-Authenticate: DPoP
error="use_dpop_nonce"`` and a fresh ``DPoP-Nonce``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from jwtgate.credentials import DPOP
from jwtgate.dpop import DPoPPolicy, DPoPVerifier, NonceSource, VerifiedProof, proof_from_headers
from jwtgate.dpop_replay import (
    MemoryReplayCache,
    ProofReplayCache,
    SyncReplayCache,
    accept_once,
    accept_once_sync,
)
from jwtgate.errors import ConfigError, InvalidDPoPProof, TokenError

__all__ = ["DPoPBoundToken", "DPoPMode", "DPoPRequired", "GuardDPoP", "request_url", "route_mode"]

DPoPMode = Literal["off", "allowed", "required"]


class DPoPBoundToken(TokenError):
    code = "dpop_bound_token"
    description = "a DPoP-bound token must be sent with the DPoP scheme and a proof"


class DPoPRequired(TokenError):
    code = "dpop_required"
    description = "this API requires DPoP-bound tokens"


class GuardDPoP:
    """Proof checks for resource requests; see the module docstring."""

    def __init__(
        self,
        mode: DPoPMode = "allowed",
        *,
        nonce_secret: bytes | None = None,
        replay: ProofReplayCache | None = None,
        policy: DPoPPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in ("off", "allowed", "required"):
            raise ConfigError("dpop must be 'off', 'allowed' or 'required'")
        self.mode = mode
        self._verifier = DPoPVerifier(policy or DPoPPolicy())
        self.nonces = None if nonce_secret is None else NonceSource(nonce_secret, clock=clock)
        self.replay = replay if replay is not None else MemoryReplayCache(clock=clock)
        # Decided once: the WSGI path needs a cache that answers without an event loop.
        self._sync_replay = self.replay if isinstance(self.replay, SyncReplayCache) else None
        self._clock = clock

    def __repr__(self) -> str:
        return f"GuardDPoP(mode={self.mode!r}, nonces={self.nonces is not None})"

    def needed(self, scheme: str, claims: dict[str, Any], mode: DPoPMode | None = None) -> bool:
        """Whether this request needs a proof check (cheap: decides before any parsing)."""
        return scheme == DPOP or "cnf" in claims or (mode or self.mode) == "required"

    def verify(
        self,
        scheme: str,
        token: str,
        claims: dict[str, Any],
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        mode: DPoPMode | None = None,
    ) -> VerifiedProof:
        """Check everything but the replay; raises a TokenError subclass (401 at the edge)."""
        active = mode or self.mode
        cnf = claims.get("cnf")
        bound = cnf.get("jkt") if isinstance(cnf, dict) else None
        if scheme != DPOP:
            raise DPoPBoundToken if bound is not None else DPoPRequired
        if active == "off":
            raise InvalidDPoPProof("this API does not accept DPoP")
        if not isinstance(bound, str):
            raise InvalidDPoPProof("the token is not DPoP-bound: send it as Bearer")
        proof = proof_from_headers(proofs)
        if proof is None:
            raise InvalidDPoPProof("a DPoP proof is required with a DPoP-bound token")
        return self._verifier.verify(
            proof, method=method, url=url, now=self._clock(), access_token=token, jkt=bound, nonce=self.nonces
        )

    async def check(
        self, scheme: str, token: str, claims: dict[str, Any], proofs: Sequence[str], **request: Any
    ) -> None:
        await accept_once(self.verify(scheme, token, claims, proofs, **request), self.replay)

    def check_sync(
        self, scheme: str, token: str, claims: dict[str, Any], proofs: Sequence[str], **request: Any
    ) -> None:
        """:meth:`check` for WSGI apps, without an event loop (see :meth:`require_sync`)."""
        proof = self.verify(scheme, token, claims, proofs, **request)
        accept_once_sync(proof, self.require_sync())

    def require_sync(self) -> SyncReplayCache:
        """The replay cache, when it can answer without an event loop (the in-process one,
        :class:`SyncRedisReplayCache`); ConfigError otherwise (e.g. the asyncio RedisReplayCache)."""
        if self._sync_replay is None:
            raise ConfigError(
                "WSGI apps need a DPoP replay cache that works without an event loop: "
                "MemoryReplayCache or jwtgate.storage.redis_replay.SyncRedisReplayCache"
            )
        return self._sync_replay


def request_url(scheme: str, host: str | None, path: str, *, default_host: str = "localhost") -> str:
    """The URL a client addressed (for ``htu``): scheme and host as received, the path without query."""
    return f"{scheme}://{host or default_host}{path}"


def route_mode(scheme: object, mode: DPoPMode) -> None:
    """A route stricter (or looser) than the middleware that already checked the request's proof."""
    if mode == "required" and scheme != DPOP:
        raise DPoPRequired
    if mode == "off" and scheme == DPOP:
        raise InvalidDPoPProof("this route does not accept DPoP")
