"""Octet key pairs (RFC 8037): Ed25519 for EdDSA."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from jwtgate.errors import BadSignature, ConfigError
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.key import Key, Verify, jwk_member, ops_list

__all__ = ["OKPKey", "okp_from_jwk"]


class OKPKey(Key):
    """Ed25519 for EdDSA (RFC 8037)."""

    kty = "OKP"
    __slots__ = ("_private", "_public")

    def __init__(
        self,
        key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey,
        alg: str = "EdDSA",
        *,
        kid: str | None = None,
        use: str | None = None,
        key_ops: Any = None,
    ) -> None:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self._private: ed25519.Ed25519PrivateKey | None = key
            self._public = key.public_key()
        elif isinstance(key, ed25519.Ed25519PublicKey):
            self._private = None
            self._public = key
        else:
            raise ConfigError("OKPKey needs an Ed25519 key object")
        self._bind(alg, kid, use, key_ops)

    @property
    def is_private(self) -> bool:
        return self._private is not None

    def public_key(self) -> Key:
        return OKPKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=ops_list(self.key_ops))

    def _make_signer(self) -> Callable[[bytes], bytes] | None:
        return None if self._private is None else self._private.sign

    def _make_verifier(self) -> Verify:
        verify_ = self._public.verify

        def verify(data: bytes, signature: bytes) -> None:
            if len(signature) != 64:
                raise BadSignature("Ed25519 signature has the wrong length")
            try:
                verify_(signature, data)
            except InvalidSignature:
                raise BadSignature from None

        return verify

    def _public_members(self) -> dict[str, str]:
        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "x": b64url_encode(raw)}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None  # guarded by to_jwk
        raw = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return {"d": b64url_encode(raw)}

    @property
    def raw(self) -> ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
        return self._private or self._public


def okp_from_jwk(jwk: Mapping[str, Any]) -> ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
    x = jwk_member(jwk, "x")
    if "d" not in jwk:
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    private = ed25519.Ed25519PrivateKey.from_private_bytes(jwk_member(jwk, "d"))
    derived = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not hmac.compare_digest(derived, x):
        raise ConfigError("OKP JWK 'x' does not match its private key")
    return private
