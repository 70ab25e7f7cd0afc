"""A small DPoP token server and resource for the client tests: a real ASGI app (Starlette) that checks
proofs with jwtgate's DPoPVerifier, issues nonces with NonceSource and refuses replays, as RFC 9449 asks
of an authorization server (sections 5, 8) and a resource server (section 7). Tokens are opaque counters:
the client under test must not care what they look like."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwtgate.dpop import DPoPVerifier, NonceSource, VerifiedProof
from jwtgate.dpop_replay import MemoryReplayCache, accept_once
from jwtgate.errors import InvalidDPoPProof, UseDPoPNonce

SECRET = b"a nonce secret of thirty-two b.."


@dataclass
class Seen:
    """One request as the server saw it (for the tests' assertions)."""

    path: str
    authorization: str | None
    proof: VerifiedProof | None
    status: int


@dataclass
class DPoPServer:
    clock: Callable[[], float]
    ttl: int = 900
    dpop: bool = True  # False: a server without DPoP support (ignores proofs, issues Bearer)
    nonce_at_token_endpoint: bool = False
    nonce_at_resource: bool = False
    never_satisfied: bool = False  # always ask for a new nonce (a broken server)
    nonce_window: int = 60
    access: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # token -> (expiry, jkt)
    refresh: dict[str, str | None] = field(default_factory=dict)  # token -> jkt
    seen: list[Seen] = field(default_factory=list)
    logins: int = 0
    refreshes: int = 0

    def __post_init__(self) -> None:
        self.verifier = DPoPVerifier()
        self.nonces = NonceSource(SECRET, window=self.nonce_window, clock=self.clock)
        self.replays = MemoryReplayCache(clock=self.clock)
        self.counter = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/api/login", self.login, methods=["POST"]),
                Route("/api/token/refresh", self.refresh_route, methods=["POST"]),
                Route("/api/data", self.resource, methods=["GET", "POST"]),
            ]
        )

    # -- helpers

    async def check_proof(
        self, request: Request, *, nonce: bool, access_token: str | None = None, jkt: str | None = None
    ) -> VerifiedProof | None:
        proofs = request.headers.getlist("dpop")
        if not proofs:
            return None
        if len(proofs) != 1:
            raise InvalidDPoPProof("more than one DPoP header")
        if self.never_satisfied:
            raise UseDPoPNonce(nonce=f"never-{next(self.counter)}")
        proof = self.verifier.verify(
            proofs[0],
            method=request.method,
            url=str(request.url),
            now=self.clock(),
            access_token=access_token,
            jkt=jkt,
            nonce=self.nonces if nonce else None,
        )
        await accept_once(proof, self.replays)
        return proof

    def issue(self, jkt: str | None) -> dict[str, Any]:
        number = next(self.counter)
        access, refresh = f"at-{number}", f"rt-{number}"
        self.access[access] = (self.clock() + self.ttl, jkt)
        self.refresh[refresh] = jkt
        return {
            "access_token": access,
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": self.ttl,
            "refresh_token": refresh,
        }

    def token_error(self, err: Exception) -> Response:
        headers = {}
        if isinstance(err, UseDPoPNonce):
            headers["DPoP-Nonce"] = err.nonce
        code = getattr(err, "oauth_error", "invalid_request")
        return JSONResponse({"error": code, "error_description": "refused"}, 400, headers=headers)

    def record(self, request: Request, proof: VerifiedProof | None, response: Response) -> Response:
        self.seen.append(
            Seen(request.url.path, request.headers.get("authorization"), proof, response.status_code)
        )
        return response

    # -- routes

    async def login(self, request: Request) -> Response:
        self.logins += 1
        proof = None
        try:
            if self.dpop:
                proof = await self.check_proof(request, nonce=self.nonce_at_token_endpoint)
        except (InvalidDPoPProof, UseDPoPNonce) as err:
            return self.record(request, None, self.token_error(err))
        body = json.loads(await request.body())
        if body != {"username": "alice", "password": "pw"}:
            return self.record(request, proof, JSONResponse({"error": "invalid_grant"}, 401))
        return self.record(request, proof, JSONResponse(self.issue(proof.jkt if proof else None)))

    async def refresh_route(self, request: Request) -> Response:
        self.refreshes += 1
        token = json.loads(await request.body())["refresh_token"]
        if token not in self.refresh:
            return self.record(request, None, JSONResponse({"error": "invalid_grant"}, 400))
        bound = self.refresh[token]
        try:
            proof = await self.check_proof(request, nonce=self.nonce_at_token_endpoint) if self.dpop else None
            if bound is not None and (proof is None or proof.jkt != bound):
                raise InvalidDPoPProof("the refresh token is bound to another key")
        except (InvalidDPoPProof, UseDPoPNonce) as err:
            return self.record(request, None, self.token_error(err))
        del self.refresh[token]
        return self.record(request, proof, JSONResponse(self.issue(bound)))

    async def resource(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry, bound = self.access.get(token, (0.0, None))
        if self.clock() >= expiry:
            return self.record(request, None, self.challenge("invalid_token"))
        if bound is None:
            ok = scheme == "Bearer"
            return self.record(request, None, JSONResponse({"token": token}) if ok else self.challenge("x"))
        if scheme != "DPoP":  # a DPoP-bound token sent as Bearer
            return self.record(request, None, self.challenge("invalid_token"))
        try:
            proof = await self.check_proof(
                request, nonce=self.nonce_at_resource, access_token=token, jkt=bound
            )
            if proof is None:
                raise InvalidDPoPProof("no proof")
        except UseDPoPNonce as err:
            return self.record(request, None, self.challenge("use_dpop_nonce", nonce=err.nonce))
        except InvalidDPoPProof:
            return self.record(request, None, self.challenge("invalid_dpop_proof"))
        return self.record(request, proof, JSONResponse({"token": token, "jkt": proof.jkt}))

    def challenge(self, error: str, *, nonce: str | None = None) -> Response:
        headers = {"WWW-Authenticate": f'Bearer realm="test", DPoP algs="ES256 EdDSA", error="{error}"'}
        if nonce is not None:
            headers["DPoP-Nonce"] = nonce
        return JSONResponse({"error": error}, 401, headers=headers)
