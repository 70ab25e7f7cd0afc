"""JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037): build typed keys by generating them or importing
a JWK or PEM. Each key is bound to one algorithm (see :mod:`jwtgate.jose.key`)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwtgate.errors import ConfigError
from jwtgate.jose.ec_key import ECKey, ec_from_jwk
from jwtgate.jose.jwa import ALGORITHMS, algorithm
from jwtgate.jose.key import Key, jwk_member
from jwtgate.jose.oct_key import OctKey
from jwtgate.jose.okp_key import OKPKey, okp_from_jwk
from jwtgate.jose.rsa_key import MIN_RSA_BITS, RSAKey, rsa_from_jwk

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


def key_from_jwk(
    jwk: Mapping[str, Any], alg: str | None = None, *, algorithms: Collection[str] | None = None
) -> Key:
    """Import a JWK. The algorithm comes from ``jwk["alg"]`` or ``alg`` (they must agree); EC and OKP keys
    without either get the one their curve implies; RSA and oct keys need it stated.

    ``algorithms`` (the algorithms a verifier accepts) restricts what a JWK may carry, and lets a JWK
    without ``alg`` (as Entra ID publishes them) take the one allowed algorithm that fits its ``kty`` and
    ``crv``; when several fit, the key is refused rather than guessed (it would be bound to one of them).
    Members such as ``x5c``, ``x5t`` and ``x5t#S256`` are ignored: never followed, never used."""
    if not isinstance(jwk, Mapping):
        raise ConfigError("a JWK must be a JSON object")
    kty = jwk.get("kty")
    jwk_alg = jwk.get("alg")
    if jwk_alg is not None and alg is not None and jwk_alg != alg:
        raise ConfigError(f"JWK alg {jwk_alg!r} does not match the expected {alg!r}")
    chosen = jwk_alg if jwk_alg is not None else alg
    if chosen is None and algorithms is not None:
        chosen = _only_fitting(jwk, algorithms)
    if chosen is None and kty in ("EC", "OKP"):
        crv = jwk.get("crv")  # any JSON value: only a string can name a curve (a list is unhashable)
        chosen = _DEFAULT_ALG.get(crv) if type(crv) is str else None
    if chosen is None:
        raise ConfigError("the JWK has no 'alg' and none was given")
    if algorithms is not None and chosen not in algorithms:
        raise ConfigError(f"JWK alg {chosen!r} is not among the allowed algorithms")
    kid, use, key_ops = jwk.get("kid"), jwk.get("use"), jwk.get("key_ops")
    try:
        if kty == "oct":
            return OctKey(jwk_member(jwk, "k"), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "RSA":
            return RSAKey(rsa_from_jwk(jwk), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "EC":
            return ECKey(ec_from_jwk(jwk, chosen), chosen, kid=kid, use=use, key_ops=key_ops)
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise ConfigError("only the Ed25519 OKP curve is supported")
            return OKPKey(okp_from_jwk(jwk), chosen, kid=kid, use=use, key_ops=key_ops)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"invalid {kty} JWK: {err}") from err
    raise ConfigError(f"unsupported JWK kty {kty!r}")


def _only_fitting(jwk: Mapping[str, Any], algorithms: Collection[str]) -> str | None:
    """The one allowed algorithm that fits the JWK's key type (and curve), or None (none or several)."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    fits = [
        name
        for name in dict.fromkeys(algorithms)
        if name in ALGORITHMS
        and ALGORITHMS[name].kty == kty
        and (ALGORITHMS[name].curve is None or ALGORITHMS[name].curve == crv)
    ]
    return fits[0] if len(fits) == 1 else None


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
