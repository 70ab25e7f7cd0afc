"""A local identity provider for the preset tests: discovery documents and JWKS in each provider's
published shape, served over httpx.MockTransport (any host), and tokens in each provider's real shape
(header and claims) signed locally."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from jwtgate import Key
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jsonutil import dumps_compact

#: Not a certificate: x5c is never parsed or followed, so any base64 will do.
FAKE_X5C = ["MIIDBTCCAe2gAwIBAgIQNotARealCertificateAtAll"]


@dataclass
class IdP:
    """Answers GET on registered URLs with JSON documents; counts hits per URL."""

    documents: dict[str, Callable[[], httpx.Response]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def serve(self, url: str, document: Any, *, cache_control: str = "max-age=300") -> None:
        body = json.dumps(document).encode()
        self.documents[url] = lambda: httpx.Response(
            200, content=body, headers={"content-type": "application/json", "cache-control": cache_control}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        self.hits[url] = self.hits.get(url, 0) + 1
        answer = self.documents.get(url)
        return answer() if answer is not None else httpx.Response(404)

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def sync_client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def publish(
        self, *, issuer: str, discovery_url: str | None, jwks_uri: str, keys: list[dict[str, Any]]
    ) -> None:
        if discovery_url is not None:
            self.serve(
                discovery_url,
                {
                    "issuer": issuer,
                    "jwks_uri": jwks_uri,
                    "token_endpoint": issuer.rstrip("/") + "/token",
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        self.serve(jwks_uri, {"keys": keys})


def jwk_as_published(key: Key, shape: str) -> dict[str, Any]:
    """The public JWK of ``key`` the way a provider's JWKS lists it."""
    public = key.public_key().to_jwk()
    base = {"kty": public["kty"], "n": public["n"], "e": public["e"], "kid": key.kid}
    if shape == "entra":  # no alg; x5t, x5c; an issuer member
        return {**base, "use": "sig", "x5t": key.kid, "x5c": FAKE_X5C, "issuer": "https://example"}
    if shape == "auth0":
        return {**base, "alg": "RS256", "use": "sig", "x5t": key.kid, "x5c": FAKE_X5C}
    if shape == "keycloak":
        return {**base, "alg": "RS256", "use": "sig", "x5c": FAKE_X5C, "x5t": "AA", "x5t#S256": "BB"}
    return {**base, "alg": "RS256", "use": "sig"}


def sign(key: Key, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS with exactly this header (plus the key's alg and kid unless given)."""
    full = {"alg": key.alg, "kid": key.kid, **header}
    signing_input = b64url_encode(dumps_compact(full)) + "." + b64url_encode(dumps_compact(claims))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token with any header and signature bytes (for forgeries)."""
    head = b64url_encode(dumps_compact(header))
    body = b64url_encode(dumps_compact(claims))
    return f"{head}.{body}.{b64url_encode(signature)}"
