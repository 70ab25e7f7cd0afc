"""JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) as typed objects bound to one algorithm.

A key is created for exactly one ``alg`` and checks at construction that its type and size fit it
(an HMAC key at least as long as the hash, RSA at least 2048 bits, the right curve). Verification
always uses the key's own algorithm. A key whose JWK says ``use`` other than ``sig``, or whose
``key_ops`` lacks ``verify``, never verifies a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from jwtgate.errors import BadSignature, ConfigError, MalformedToken
from jwtgate.jose.b64 import b64url_decode, b64url_encode
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.jose.jwa import Algorithm, algorithm

__all__ = [
    "ECKey",
    "Key",
    "OKPKey",
    "OctKey",
    "RSAKey",
    "generate_key",
    "key_from_jwk",
    "key_from_pem",
]

MIN_RSA_BITS = 2048
_Verify = Callable[[bytes, bytes], None]


class Key:
    """A signing or verification key bound to one algorithm. Never a string: see :func:`key_from_jwk`."""

    kty: ClassVar[str]
    __slots__ = ("_sign", "_verify", "alg", "algorithm", "key_ops", "kid", "use")

    alg: str
    kid: str
    algorithm: Algorithm
    use: str | None
    key_ops: tuple[str, ...] | None
    _verify: _Verify
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
        self._verify = self._make_verifier() if self.can_verify else _never_verifies
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

    def _make_verifier(self) -> _Verify:
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
        return _to_pem(self, private=private, password=password)

    def __repr__(self) -> str:
        # Never show key material.
        return f"{type(self).__name__}(alg={self.alg!r}, kid={self.kid!r}, private={self.is_private})"


def _never_verifies(signing_input: bytes, signature: bytes) -> None:
    raise BadSignature("key is not usable for signature verification")


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

    def _make_verifier(self) -> _Verify:
        secret, name, digest, equal = self._secret, self.algorithm.hash_name, hmac.digest, hmac.compare_digest

        def verify(data: bytes, signature: bytes) -> None:
            if not equal(digest(secret, data, name), signature):
                raise BadSignature

        return verify


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
        return RSAKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=_ops(self.key_ops))

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

    def _make_verifier(self) -> _Verify:
        verify_, pad, hash_ = self._public.verify, self._padding(), self.algorithm.hash_algorithm()

        def verify(data: bytes, signature: bytes) -> None:
            try:
                verify_(signature, data, pad, hash_)
            except InvalidSignature:
                raise BadSignature from None

        return verify

    def _public_members(self) -> dict[str, str]:
        numbers = self._public.public_numbers()
        return {"n": _int_to_b64(numbers.n), "e": _int_to_b64(numbers.e)}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None  # guarded by to_jwk
        p = self._private.private_numbers()
        return {
            "d": _int_to_b64(p.d),
            "p": _int_to_b64(p.p),
            "q": _int_to_b64(p.q),
            "dp": _int_to_b64(p.dmp1),
            "dq": _int_to_b64(p.dmq1),
            "qi": _int_to_b64(p.iqmp),
        }

    @property
    def raw(self) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
        return self._private or self._public


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
        return ECKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=_ops(self.key_ops))

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

    def _make_verifier(self) -> _Verify:
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
        return OKPKey(self._public, self.alg, kid=self.kid, use=self.use, key_ops=_ops(self.key_ops))

    def _make_signer(self) -> Callable[[bytes], bytes] | None:
        return None if self._private is None else self._private.sign

    def _make_verifier(self) -> _Verify:
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


def _ops(key_ops: tuple[str, ...] | None) -> list[str] | None:
    return None if key_ops is None else list(key_ops)


def _int_to_b64(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


# -- construction helpers -------------------------------------------------------------------------


def generate_key(alg: str = "RS256", *, kid: str | None = None) -> Key:
    """Generate a new private key for ``alg`` (RS/PS: 2048-bit RSA; HS: a secret as long as the hash)."""
    spec = algorithm(alg)
    if spec.kty == "oct":
        return OctKey(os.urandom(spec.hash_size), alg, kid=kid)
    if spec.kty == "RSA":
        return RSAKey(rsa.generate_private_key(65537, MIN_RSA_BITS), alg, kid=kid)
    if spec.kty == "EC":
        return ECKey(ec.generate_private_key(spec.ec_curve()), alg, kid=kid)
    return OKPKey(ed25519.Ed25519PrivateKey.generate(), alg, kid=kid)


_DEFAULT_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "Ed25519": "EdDSA"}


def key_from_jwk(jwk: Mapping[str, Any], alg: str | None = None) -> Key:
    """Import a JWK. The algorithm comes from ``jwk["alg"]`` or ``alg`` (they must agree); EC and OKP keys
    without either get the one their curve implies; RSA and oct keys need it stated."""
    if not isinstance(jwk, Mapping):
        raise ConfigError("a JWK must be a JSON object")
    kty = jwk.get("kty")
    jwk_alg = jwk.get("alg")
    if jwk_alg is not None and alg is not None and jwk_alg != alg:
        raise ConfigError(f"JWK alg {jwk_alg!r} does not match the expected {alg!r}")
    chosen = jwk_alg if jwk_alg is not None else alg
    if chosen is None and kty in ("EC", "OKP"):
        crv = jwk.get("crv")  # any JSON value: only a string can name a curve (a list is unhashable)
        chosen = _DEFAULT_ALG.get(crv) if type(crv) is str else None
    if chosen is None:
        raise ConfigError("the JWK has no 'alg' and none was given")
    kid, use, key_ops = jwk.get("kid"), jwk.get("use"), jwk.get("key_ops")
    try:
        if kty == "oct":
            return OctKey(_member(jwk, "k"), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "RSA":
            return RSAKey(_rsa_from_jwk(jwk), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "EC":
            return ECKey(_ec_from_jwk(jwk, chosen), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise ConfigError("only the Ed25519 OKP curve is supported")
            return OKPKey(_okp_from_jwk(jwk), chosen, kid=kid, use=use, key_ops=key_ops)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"invalid {kty} JWK: {err}") from err
    raise ConfigError(f"unsupported JWK kty {kty!r}")


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if type(value) is not str:
        raise ConfigError(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value)
    except MalformedToken as err:
        raise ConfigError(f"JWK member {name!r} is not valid base64url") from err


def _int_member(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member(jwk, name), "big")


def _rsa_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
    public = rsa.RSAPublicNumbers(_int_member(jwk, "e"), _int_member(jwk, "n"))
    if "d" not in jwk:
        if any(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
            raise ConfigError("RSA JWK has private members but no 'd'")
        return public.public_key()
    d = _int_member(jwk, "d")
    if all(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
        p, q = _int_member(jwk, "p"), _int_member(jwk, "q")
        dp, dq, qi = _int_member(jwk, "dp"), _int_member(jwk, "dq"), _int_member(jwk, "qi")
    else:
        p, q = rsa.rsa_recover_prime_factors(public.n, public.e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()


def _ec_from_jwk(jwk: Mapping[str, Any], alg: str) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    spec = algorithm(alg)
    if spec.kty != "EC" or jwk.get("crv") != spec.curve:
        raise ConfigError(f"{alg} needs an EC JWK on curve {spec.curve}")
    size = spec.signature_size // 2 if spec.signature_size else 0
    x, y = _member(jwk, "x"), _member(jwk, "y")
    if len(x) != size or len(y) != size:
        raise ConfigError("EC JWK coordinates have the wrong length")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), spec.ec_curve()
    )
    if "d" not in jwk:
        return public.public_key()
    d = _member(jwk, "d")
    if len(d) != size:
        raise ConfigError("EC JWK private value has the wrong length")
    private = ec.EllipticCurvePrivateNumbers(int.from_bytes(d, "big"), public).private_key()
    return private


def _okp_from_jwk(jwk: Mapping[str, Any]) -> ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
    x = _member(jwk, "x")
    if "d" not in jwk:
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_member(jwk, "d"))
    derived = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not hmac.compare_digest(derived, x):
        raise ConfigError("OKP JWK 'x' does not match its private key")
    return private


def key_from_pem(pem: bytes, alg: str, *, kid: str | None = None, password: bytes | None = None) -> Key:
    """Import a PEM private key (PKCS#8 or traditional) or public key (SubjectPublicKeyInfo) for ``alg``."""
    spec = algorithm(alg)
    if spec.kty == "oct":
        raise ConfigError("HMAC secrets are not PEM keys; use OctKey(secret_bytes, alg)")
    loaded: Any
    try:
        if b"PRIVATE KEY" in pem:
            loaded = serialization.load_pem_private_key(pem, password=password)
        else:
            loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ConfigError(f"cannot load PEM key: {err}") from err
    if spec.kty == "RSA" and isinstance(loaded, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSAKey(loaded, alg, kid=kid)
    if spec.kty == "EC" and isinstance(loaded, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECKey(loaded, alg, kid=kid)
    if spec.kty == "OKP" and isinstance(loaded, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return OKPKey(loaded, alg, kid=kid)
    raise ConfigError(f"the PEM key does not fit {alg}")


def _to_pem(key: Key, *, private: bool = True, password: bytes | None = None) -> bytes:
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
