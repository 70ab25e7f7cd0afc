"""Symmetric keys (``kty: oct``) for HS256/384/512."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from jwtgate.errors import BadSignature, ConfigError
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jwa import algorithm
from jwtgate.jose.key import Key, Verify


class OctKey(Key):
    """A symmetric key for HS256/384/512, at least as long as the hash output (RFC 7518 section 3.2)."""

    kty = "oct"
    __slots__ = ("_secret",)

    def __init__(
        self,
        secret: bytes,
        alg: str = "HS256",
        *,
        kid: str | None = None,
        use: str | None = None,
        key_ops: Any = None,
    ) -> None:
        if not isinstance(secret, bytes):
            raise ConfigError("an HMAC secret must be bytes")
        spec = algorithm(alg)
        if len(secret) < spec.hash_size:
            raise ConfigError(f"{alg} needs a secret of at least {spec.hash_size} bytes")
        self._secret = secret
        self._bind(alg, kid, use, key_ops)

    @property
    def is_private(self) -> bool:
        return True

    def public_key(self) -> Key:
        return self

    def _public_members(self) -> dict[str, str]:
        return {}

    def _private_members(self) -> dict[str, str]:
        return {"k": b64url_encode(self._secret)}

    def _thumbprint_members(self) -> dict[str, str]:
        return self._private_members()

    def to_jwk(self, *, private: bool = False) -> dict[str, Any]:
        if not private:
            raise ConfigError("a symmetric key has no public form; pass private=True to export the secret")
        return super().to_jwk(private=True)

    def _make_signer(self) -> Callable[[bytes], bytes]:
        secret, name, digest = self._secret, self.algorithm.hash_name, hmac.digest
        return lambda data: digest(secret, data, name)

    def _make_verifier(self) -> Verify:
        secret, name, digest, equal = self._secret, self.algorithm.hash_name, hmac.digest, hmac.compare_digest

        def verify(data: bytes, signature: bytes) -> None:
            if not equal(digest(secret, data, name), signature):
                raise BadSignature

        return verify
