"""JSON Web Algorithms (RFC 7518, RFC 8037): which key type and parameters each ``alg`` means.

The table is immutable data: a key is bound to exactly one of these at construction and never takes an
algorithm from a token. ``none`` is not here and cannot be added.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from jwtgate.errors import ConfigError

__all__ = ["ALGORITHMS", "Algorithm", "algorithm"]


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One JWS algorithm: its name, key type (``kty``), hash and type-specific parameters."""

    name: str
    kty: str
    hash_name: str  # hashlib / hmac name
    hash_size: int  # bytes
    curve: str | None = None  # EC / OKP curve (JWK ``crv``)
    pss: bool = False

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return _HASHES[self.hash_name]()

    def ec_curve(self) -> ec.EllipticCurve:
        return _CURVES[self.curve or ""]()

    @property
    def signature_size(self) -> int | None:
        """Exact signature length in bytes where the algorithm fixes it (ECDSA r||s, Ed25519)."""
        if self.kty == "EC":
            return 2 * _CURVE_BYTES[self.curve or ""]
        if self.kty == "OKP":
            return 64
        return None


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
_CURVE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("HS256", "oct", "sha256", 32),
        Algorithm("HS384", "oct", "sha384", 48),
        Algorithm("HS512", "oct", "sha512", 64),
        Algorithm("RS256", "RSA", "sha256", 32),
        Algorithm("RS384", "RSA", "sha384", 48),
        Algorithm("RS512", "RSA", "sha512", 64),
        Algorithm("PS256", "RSA", "sha256", 32, pss=True),
        Algorithm("PS384", "RSA", "sha384", 48, pss=True),
        Algorithm("PS512", "RSA", "sha512", 64, pss=True),
        Algorithm("ES256", "EC", "sha256", 32, curve="P-256"),
        Algorithm("ES384", "EC", "sha384", 48, curve="P-384"),
        Algorithm("ES512", "EC", "sha512", 64, curve="P-521"),
        Algorithm("EdDSA", "OKP", "sha512", 64, curve="Ed25519"),
    )
}


def algorithm(name: object) -> Algorithm:
    """Look up an algorithm by its exact ``alg`` name; raise ConfigError for anything else."""
    if type(name) is not str or name not in ALGORITHMS:
        raise ConfigError(f"unsupported algorithm {name!r}; supported: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
