"""RSA keys for RS256/384/512 and PS256/384/512 (RFC 7518 sections 3.3, 3.5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from jwtgate.errors import BadSignature, ConfigError
from jwtgate.jose.key import Key, Verify, int_to_b64, jwk_int_member, ops_list

__all__ = ["MIN_RSA_BITS", "RSAKey", "rsa_from_jwk"]

MIN_RSA_BITS = 2048


class RSAKey(Key):
    """RSA (>= 2048 bits) for RS256/384/512 (PKCS#1 v1.5) and PS256/384/512 (PSS, salt = hash length)."""

    kty = "RSA"
    __slots__ = ("_private", "_public")

    def __init__(
        self,
        key: rsa.RSAPrivateKey | rsa.RSAPublicKey,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        use: str | None = None,
        key_ops: Any = None,
    ) -> None:
        if isinstance(key, rsa.RSAPrivateKey):
            self._private: rsa.RSAPrivateKey | None = key
            self._public = key.public_key()
        elif isinstance(key, rsa.RSAPublicKey):
            self._private = None
            self._public = key
        else:
            raise ConfigError("RSAKey needs an RSA key object")
        if self._public.key_size < MIN_RSA_BITS:
            raise ConfigError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        self._bind(alg, kid, use, key_ops)

    @property
    def is_private(self) -> bool:
        return self._private is not None

    def public_key(self) -> Key:
        return RSAKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=ops_list(self.key_ops))

    def _padding(self) -> padding.AsymmetricPadding:
        if self.algorithm.pss:
            return padding.PSS(
                mgf=padding.MGF1(self.algorithm.hash_algorithm()),
                salt_length=self.algorithm.hash_size,
            )
        return padding.PKCS1v15()

    def _make_signer(self) -> Callable[[bytes], bytes] | None:
        if self._private is None:
            return None
        sign, pad, hash_ = self._private.sign, self._padding(), self.algorithm.hash_algorithm()
        return lambda data: sign(data, pad, hash_)

    def _make_verifier(self) -> Verify:
        verify_, pad, hash_ = self._public.verify, self._padding(), self.algorithm.hash_algorithm()

        def verify(data: bytes, signature: bytes) -> None:
            try:
                verify_(signature, data, pad, hash_)
            except InvalidSignature:
                raise BadSignature from None

        return verify

    def _public_members(self) -> dict[str, str]:
        numbers = self._public.public_numbers()
        return {"n": int_to_b64(numbers.n), "e": int_to_b64(numbers.e)}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None  # guarded by to_jwk
        p = self._private.private_numbers()
        return {
            "d": int_to_b64(p.d),
            "p": int_to_b64(p.p),
            "q": int_to_b64(p.q),
            "dp": int_to_b64(p.dmp1),
            "dq": int_to_b64(p.dmq1),
            "qi": int_to_b64(p.iqmp),
        }

    @property
    def raw(self) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
        return self._private or self._public


def rsa_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
    public = rsa.RSAPublicNumbers(jwk_int_member(jwk, "e"), jwk_int_member(jwk, "n"))
    if "d" not in jwk:
        if any(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
            raise ConfigError("RSA JWK has private members but no 'd'")
        return public.public_key()
    d = jwk_int_member(jwk, "d")
    if all(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
        p, q = jwk_int_member(jwk, "p"), jwk_int_member(jwk, "q")
        dp, dq, qi = jwk_int_member(jwk, "dp"), jwk_int_member(jwk, "dq"), jwk_int_member(jwk, "qi")
    else:
        p, q = rsa.rsa_recover_prime_factors(public.n, public.e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()
