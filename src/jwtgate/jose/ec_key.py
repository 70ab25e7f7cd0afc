"""Elliptic-curve keys for ES256/384/512 (RFC 7518 section 3.4): signatures are raw r||s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from jwtgate.errors import BadSignature, ConfigError
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jwa import algorithm
from jwtgate.jose.key import Key, Verify, jwk_member, ops_list

__all__ = ["ECKey", "ec_from_jwk"]


class ECKey(Key):
    """ECDSA on P-256 (ES256), P-384 (ES384) or P-521 (ES512); signatures are raw r||s (RFC 7518 3.4)."""

    kty = "EC"
    __slots__ = ("_private", "_public")

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
        alg: str = "ES256",
        *,
        kid: str | None = None,
        use: str | None = None,
        key_ops: Any = None,
    ) -> None:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._private: ec.EllipticCurvePrivateKey | None = key
            self._public = key.public_key()
        elif isinstance(key, ec.EllipticCurvePublicKey):
            self._private = None
            self._public = key
        else:
            raise ConfigError("ECKey needs an elliptic-curve key object")
        spec = algorithm(alg)
        if spec.kty != "EC" or self._public.curve.name != spec.ec_curve().name:
            raise ConfigError(f"{alg} needs a key on curve {spec.curve}")
        self._bind(alg, kid, use, key_ops)

    @property
    def is_private(self) -> bool:
        return self._private is not None

    def public_key(self) -> Key:
        return ECKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=ops_list(self.key_ops))

    @property
    def _size(self) -> int:
        return (self._public.curve.key_size + 7) // 8

    def _make_signer(self) -> Callable[[bytes], bytes] | None:
        if self._private is None:
            return None
        sign, scheme, size = self._private.sign, ec.ECDSA(self.algorithm.hash_algorithm()), self._size

        def signer(data: bytes) -> bytes:
            r, s = decode_dss_signature(sign(data, scheme))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return signer

    def _make_verifier(self) -> Verify:
        verify_, scheme, size = self._public.verify, ec.ECDSA(self.algorithm.hash_algorithm()), self._size
        from_bytes = int.from_bytes

        def verify(data: bytes, signature: bytes) -> None:
            if len(signature) != 2 * size:
                raise BadSignature("ECDSA signature has the wrong length")
            r = from_bytes(signature[:size], "big")
            s = from_bytes(signature[size:], "big")
            if not r or not s:  # r = s = 0 ("psychic signatures"); OpenSSL rejects it too
                raise BadSignature
            try:
                verify_(encode_dss_signature(r, s), data, scheme)
            except InvalidSignature:
                raise BadSignature from None

        return verify

    def _public_members(self) -> dict[str, str]:
        numbers = self._public.public_numbers()
        size = self._size
        return {
            "crv": self.algorithm.curve or "",
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None  # guarded by to_jwk
        value = self._private.private_numbers().private_value
        return {"d": b64url_encode(value.to_bytes(self._size, "big"))}

    @property
    def raw(self) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
        return self._private or self._public


def ec_from_jwk(jwk: Mapping[str, Any], alg: str) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    spec = algorithm(alg)
    if spec.kty != "EC" or jwk.get("crv") != spec.curve:
        raise ConfigError(f"{alg} needs an EC JWK on curve {spec.curve}")
    size = spec.signature_size // 2 if spec.signature_size else 0
    x, y = jwk_member(jwk, "x"), jwk_member(jwk, "y")
    if len(x) != size or len(y) != size:
        raise ConfigError("EC JWK coordinates have the wrong length")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), spec.ec_curve()
    )
    if "d" not in jwk:
        return public.public_key()
    d = jwk_member(jwk, "d")
    if len(d) != size:
        raise ConfigError("EC JWK private value has the wrong length")
    private = ec.EllipticCurvePrivateNumbers(int.from_bytes(d, "big"), public).private_key()
    return private
