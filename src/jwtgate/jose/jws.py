"""Compact JWS (RFC 7515 section 7.1) only: three base64url segments joined by dots.

Verification is strict and ordered cheapest-first: size, shape, header (alg must equal the key's, ``none``
never, only allowed header members, no ``crit``), signature, then payload. The JSON serialization,
JWE, unencoded payloads and key-carrying headers (``jku``, ``x5u``, ``x5c``, ``jwk``) are out of scope and
rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jwtgate.errors import MalformedToken, UnsupportedAlgorithm
from jwtgate.jose.b64 import b64url_encode, decode_checked
from jwtgate.jose.jsonutil import dumps_compact, loads_object
from jwtgate.jose.jwk import Key
from jwtgate.jose.jwks import KeySet

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "DEFAULT_MAX_SIZE",
    "match_compact",
    "parse_header",
    "sign_compact",
    "verify_compact",
]

DEFAULT_MAX_SIZE = 8192
ACCESS_TOKEN_HEADER = frozenset({"alg", "typ", "kid"})

#: Three non-empty base64url segments. Matching the whole token once is cheaper than checking each part.
match_compact = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+").fullmatch


def sign_compact(header: Mapping[str, Any], payload: bytes, key: Key) -> str:
    """Sign ``payload`` with ``key``; the header's ``alg`` and ``kid`` are set from the key."""
    full = {**header, "alg": key.alg, "kid": key.kid}
    signing_input = b64url_encode(dumps_compact(full)) + "." + b64url_encode(payload)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def parse_header(segment: str, allowed: frozenset[str]) -> dict[str, Any]:
    """Decode and check a protected header: a JSON object with a string ``alg`` other than ``none``,
    nothing outside ``allowed`` (so no ``crit``, ``jku``, ``x5u``, ``x5c``, ``jwk``, ``b64``)."""
    header = loads_object(decode_checked(segment))
    alg = header.get("alg")
    if type(alg) is not str:
        raise MalformedToken("header has no alg")
    if alg.lower() == "none":
        raise UnsupportedAlgorithm("alg none is never accepted")
    extra = header.keys() - allowed
    if extra:
        raise MalformedToken(f"header member(s) not allowed: {', '.join(sorted(extra))}")
    for name in ("typ", "kid"):
        if name in header and type(header[name]) is not str:
            raise MalformedToken(f"header {name} must be a string")
    return header


def key_for(header: Mapping[str, Any], keys: KeySet) -> Key:
    """The key the header names; its algorithm must be the header's ``alg``."""
    kid = header.get("kid")
    key = keys.only() if kid is None else keys.get(kid)
    if header["alg"] != key.alg:
        raise UnsupportedAlgorithm(f"alg {header['alg']!r} does not match the key's algorithm")
    return key


def verify_compact(
    token: str,
    keys: KeySet,
    *,
    allowed_header: frozenset[str] = ACCESS_TOKEN_HEADER,
    max_size: int = DEFAULT_MAX_SIZE,
) -> tuple[dict[str, Any], bytes]:
    """Verify a compact JWS against ``keys``; return (header, payload bytes) or raise a TokenError."""
    if type(token) is not str:
        raise MalformedToken("a token must be a string")
    if len(token) > max_size:
        raise MalformedToken("token too large")
    if match_compact(token) is None:
        raise MalformedToken("not a compact JWS")
    head, payload, signature = token.split(".")
    header = parse_header(head, allowed_header)
    key = key_for(header, keys)
    key.verify(token[: len(head) + len(payload) + 1].encode("ascii"), decode_checked(signature))
    return header, decode_checked(payload)
