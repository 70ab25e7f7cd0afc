"""The key base class: a signing or verification key bound to exactly one JWS algorithm.

Subclasses per key type (``oct_key``, ``rsa_key``, ``ec_key``, ``okp_key``) check at construction that
their type and size fit the algorithm. A key whose JWK says ``use`` other than ``sig``, or whose
``key_ops`` lacks ``verify``, never verifies a signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization

from jwtgate.errors import BadSignature, ConfigError, MalformedToken
from jwtgate.jose.b64 import b64url_decode, b64url_encode
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.jose.jwa import Algorithm, algorithm

__all__ = [
    "Key",
    "Verify",
    "int_to_b64",
    "jwk_int_member",
    "jwk_member",
    "never_verifies",
    "ops_list",
    "to_pem_bytes",
]

Verify = Callable[[bytes, bytes], None]


class Key:
    """A signing or verification key bound to one algorithm. Never a string: see :func:`key_from_jwk`."""

    kty: ClassVar[str]
    __slots__ = ("_sign", "_verify", "alg", "algorithm", "key_ops", "kid", "use")

    alg: str
    kid: str
    algorithm: Algorithm
    use: str | None
    key_ops: tuple[str, ...] | None
    _verify: Verify
    _sign: Callable[[bytes], bytes] | None

    def _bind(self, alg: str, kid: str | None, use: str | None, key_ops: Any) -> None:
        spec = algorithm(alg)
        if spec.kty != self.kty:
            raise ConfigError(f"algorithm {alg} needs a {spec.kty} key, not {self.kty}")
        if use is not None and type(use) is not str:
            raise ConfigError("JWK 'use' must be a string")
        if key_ops is not None:
            if type(key_ops) is not list or not all(type(op) is str for op in key_ops):
                raise ConfigError("JWK 'key_ops' must be a list of strings")
            key_ops = tuple(key_ops)
        self.alg = alg
        self.algorithm = spec
        self.use = use
        self.key_ops = key_ops
        self._sign = self._make_signer()
        self._verify = self._make_verifier() if self.can_verify else never_verifies
        if kid is None:
            kid = self.thumbprint()
        elif type(kid) is not str or not kid or len(kid) > 256:
            raise ConfigError("kid must be a non-empty string of at most 256 characters")
        self.kid = kid

    # -- what subclasses provide
    @property
    def is_private(self) -> bool:
        raise NotImplementedError  # pragma: no cover - abstract

    def public_key(self) -> Key:
        """The public half (symmetric keys return themselves)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _public_members(self) -> dict[str, str]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _private_members(self) -> dict[str, str]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _make_signer(self) -> Callable[[bytes], bytes] | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _make_verifier(self) -> Verify:
        raise NotImplementedError  # pragma: no cover - abstract

    # -- shared behaviour
    @property
    def can_verify(self) -> bool:
        """False for keys marked for encryption (``use``) or without ``verify`` in ``key_ops``."""
        if self.use is not None and self.use != "sig":
            return False
        return self.key_ops is None or "verify" in self.key_ops

    @property
    def can_sign(self) -> bool:
        if self._sign is None or (self.use is not None and self.use != "sig"):
            return False
        return self.key_ops is None or "sign" in self.key_ops

    def sign(self, signing_input: bytes) -> bytes:
        """Sign bytes with this key's algorithm (JWS signature encoding)."""
        if self._sign is None or not self.can_sign:
            raise ConfigError(f"key {self.kid!r} cannot sign")
        return self._sign(signing_input)

    def verify(self, signing_input: bytes, signature: bytes) -> None:
        """Raise BadSignature unless ``signature`` is valid for ``signing_input``. Never returns a bool."""
        self._verify(signing_input, signature)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url): the default ``kid``."""
        members = {"kty": self.kty, **self._thumbprint_members()}
        canonical = dumps_compact(dict(sorted(members.items())))
        return b64url_encode(hashlib.sha256(canonical).digest())

    def _thumbprint_members(self) -> dict[str, str]:
        return self._public_members()

    def to_jwk(self, *, private: bool = False) -> dict[str, Any]:
        """Export as a JWK dict. ``private=True`` includes the private members (handle with care)."""
        jwk: dict[str, Any] = {"kty": self.kty, **self._public_members()}
        if private:
            if not self.is_private:
                raise ConfigError("this is a public key: it has no private members")
            jwk.update(self._private_members())
        jwk["alg"] = self.alg
        jwk["kid"] = self.kid
        jwk["use"] = self.use or "sig"
        if self.key_ops is not None:
            jwk["key_ops"] = list(self.key_ops)
        return jwk

    def to_pem(self, *, private: bool = True, password: bytes | None = None) -> bytes:
        """PEM of an asymmetric key: PKCS#8 (encrypted when ``password``) or SubjectPublicKeyInfo."""
        return to_pem_bytes(self, private=private, password=password)

    def __repr__(self) -> str:
        # Never show key material.
        return f"{type(self).__name__}(alg={self.alg!r}, kid={self.kid!r}, private={self.is_private})"


def never_verifies(signing_input: bytes, signature: bytes) -> None:
    raise BadSignature("key is not usable for signature verification")


def ops_list(key_ops: tuple[str, ...] | None) -> list[str] | None:
    return None if key_ops is None else list(key_ops)


def int_to_b64(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def jwk_member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if type(value) is not str:
        raise ConfigError(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value)
    except MalformedToken as err:
        raise ConfigError(f"JWK member {name!r} is not valid base64url") from err


def jwk_int_member(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(jwk_member(jwk, name), "big")


def to_pem_bytes(key: Key, *, private: bool = True, password: bytes | None = None) -> bytes:
    """PEM of an asymmetric key: PKCS#8 for private keys (encrypted when ``password``), SPKI for public."""
    raw = getattr(key, "raw", None)
    if raw is None:
        raise ConfigError("only asymmetric keys have a PEM form")
    if private and key.is_private:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return bytes(
            raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        )
    public = raw.public_key() if key.is_private else raw
    return bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
