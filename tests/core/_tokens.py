"""Builders for access tokens with arbitrary headers and claims, signed independently of jwtgate."""

from __future__ import annotations

from typing import Any

from ._forge import compact
from .conftest import AUDIENCE, ISSUER, NOW, signer_for

_DROP = object()


def base_claims(now: int = NOW) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": "jti-1",
        "client_id": "jwtgate",
        "sid": "s1",
        "scope": "read",
    }


def forge(
    key: Any,
    *,
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    drop_header: tuple[str, ...] = (),
    payload: bytes | None = None,
    raw_header: bytes | None = None,
    sign_with: Any = None,
) -> str:
    """A token signed with ``sign_with`` (default: ``key``). ``claims``/``header`` override the defaults
    of a valid access token; ``drop`` removes members; ``payload``/``raw_header`` give exact bytes."""
    head: dict[str, Any] = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **(header or {})}
    for name in drop_header:
        head.pop(name, None)
    body = {**base_claims(), **(claims or {})}
    for name in drop:
        body.pop(name, None)
    signer = signer_for(sign_with or key)
    return compact(
        raw_header if raw_header is not None else head, payload if payload is not None else body, signer
    )
