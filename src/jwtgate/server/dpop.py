"""DPoP (RFC 9449) at the auth server: proofs at the token endpoints, bound tokens on the API routes.

* Token endpoints (``/api/login``, ``/api/token/refresh``, ``/oauth/token``): a valid ``DPoP`` proof
  binds the session (its refresh tokens) and the access token (``cnf.jkt``, ``token_type: DPoP``) to the
  proof's key. The server asks for its nonce (RFC 9449 section 8): a proof without the current one gets
  400 ``use_dpop_nonce`` with a fresh ``DPoP-Nonce``. Nonces are stateless (a MAC over a time window
  under the shared server secret ``dpop_nonce``), so every instance accepts every other's.
* API routes: a DPoP-bound token must come as ``Authorization: DPoP`` with a proof for this request
  (``ath`` = its hash, signed by the bound key); sent as ``Bearer`` it is refused.
* Every proof is accepted once (a replay cache in process, or in Redis shared by every instance).

``JWTGATE_DPOP``: ``off`` (proofs ignored), ``allowed`` (the default: bound when a proof is sent),
``required`` (token endpoints refuse requests without a proof; API routes refuse Bearer tokens).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Request

from jwtgate.credentials import challenge
from jwtgate.dpop import DEFAULT_ALGORITHMS, DPoPPolicy, DPoPVerifier, NonceSource, proof_from_headers
from jwtgate.dpop_binding import GuardDPoP
from jwtgate.dpop_replay import MemoryReplayCache, ProofReplayCache, accept_once
from jwtgate.errors import InvalidDPoPProof, StorageError, TokenError, UseDPoPNonce
from jwtgate.server.problems import REALM, ApiError

if TYPE_CHECKING:
    from jwtgate.service import AuthService

__all__ = ["DPOP_ALGORITHMS", "NONCE_HEADER", "DPoPGate", "DPoPMode"]

DPoPMode = Literal["off", "allowed", "required"]
DPOP_ALGORITHMS = DEFAULT_ALGORITHMS
NONCE_HEADER = "DPoP-Nonce"
_ALGS = " ".join(DPOP_ALGORITHMS)


class DPoPGate:
    """The server's DPoP checks; one per app, built when the service is open (it needs the secret)."""

    def __init__(
        self,
        mode: DPoPMode,
        *,
        nonces: NonceSource,
        replays: ProofReplayCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mode = mode
        self._verifier = DPoPVerifier(DPoPPolicy(require_nonce=True))
        self._resources = GuardDPoP(mode, replay=replays, clock=clock)
        self._nonces = nonces
        self._replays = replays
        self._clock = clock

    def __repr__(self) -> str:
        return f"DPoPGate(mode={self.mode!r})"

    @classmethod
    def open(
        cls,
        mode: DPoPMode,
        service: AuthService,
        *,
        redis: Any = None,
        channel: str = "jwtgate",
        clock: Callable[[], float] = time.time,
    ) -> DPoPGate:
        """The gate of a running service: nonces keyed by its shared secret; proofs remembered in Redis
        (``redis``, a client: every instance refuses a proof any of them has seen) or in this process."""
        replays: ProofReplayCache
        if redis is not None:
            from jwtgate.storage.redis_replay import RedisReplayCache

            replays = RedisReplayCache(redis, prefix=f"{channel}:dpop", clock=clock)
        else:
            replays = MemoryReplayCache(clock=clock)
        nonces = NonceSource(service.server_secret("dpop_nonce"), clock=clock)
        return cls(mode, nonces=nonces, replays=replays, clock=clock)

    def nonce(self) -> str:
        return self._nonces.issue()

    def nonce_header(self) -> dict[str, str]:
        return {} if self.mode == "off" else {NONCE_HEADER: self._nonces.issue()}

    async def token_request(self, request: Request) -> str | None:
        """The thumbprint to bind new tokens to, or None for a request without a proof. Raises ApiError
        (400 ``invalid_dpop_proof`` / ``use_dpop_nonce``) as RFC 9449 section 5 asks of token endpoints."""
        if self.mode == "off":
            return None
        try:
            proof = proof_from_headers(request.headers.getlist("dpop"))
            if proof is None:
                if self.mode == "required":
                    raise InvalidDPoPProof("this server requires a DPoP proof")
                return None
            verified = self._verifier.verify(
                proof, method=request.method, url=_request_url(request), now=self._clock(), nonce=self._nonces
            )
            await accept_once(verified, self._replays)
        except UseDPoPNonce as err:
            raise ApiError(
                400,
                "use_dpop_nonce",
                type(err).description,
                headers={NONCE_HEADER: err.nonce or self.nonce()},
            ) from None
        except InvalidDPoPProof as err:
            raise ApiError(400, "invalid_dpop_proof", err.description, headers=self.nonce_header()) from None
        except StorageError:
            raise ApiError(503, "temporarily_unavailable", "the DPoP replay cache does not answer") from None
        return verified.jkt

    async def resource_request(
        self, request: Request, scheme: str, token: str, claims: dict[str, Any]
    ) -> None:
        """Check the token's binding on an API route (the guard's rules, :mod:`jwtgate.dpop_binding`);
        raises ApiError 401 with a DPoP challenge."""
        resources = self._resources
        if not resources.needed(scheme, claims):
            return
        try:
            await resources.check(
                scheme,
                token,
                claims,
                request.headers.getlist("dpop"),
                method=request.method,
                url=_request_url(request),
            )
        except InvalidDPoPProof as err:
            raise self._refusal("invalid_dpop_proof", err.description) from None
        except TokenError as err:  # a bound token as Bearer, or Bearer where DPoP is required
            raise self._refusal("invalid_token", err.description) from None
        except StorageError:
            raise ApiError(503, "temporarily_unavailable", "the DPoP replay cache does not answer") from None

    def _refusal(self, error: str, description: str) -> ApiError:
        header = challenge(REALM, error, description, scheme="DPoP", algs=_ALGS)
        return ApiError(401, error, description, headers={"WWW-Authenticate": header, **self.nonce_header()})


def _request_url(request: Request) -> str:
    """The URL as the client addressed it (scheme from the trusted proxy, host from the request)."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{url.path}"
