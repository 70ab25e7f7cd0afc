"""jwtgate: secure HTTP APIs with JSON Web Tokens.

The recipe::

    from jwtgate import generate_key, KeySet, Issuer, Verifier, TokenError
    key = generate_key("RS256")
    issuer = Issuer(key, issuer="https://auth.example", audience="api")
    token = issuer.issue(subject="alice", ttl=900, scope="read", session_id="s1")
    verifier = Verifier(KeySet([key.public_key()]), issuer="https://auth.example", audience="api")
    claims = verifier.verify(token)    # raises a TokenError subclass

The low level lives in :mod:`jwtgate.jose`; the auth server in :mod:`jwtgate.server`; the guard for your
own APIs in :mod:`jwtgate.protect`.
"""

from jwtgate.errors import (
    AuthError,
    BadSignature,
    ConfigError,
    ExpiredToken,
    InsufficientScope,
    InvalidClaim,
    JwtgateError,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    TokenError,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongType,
)
from jwtgate.jose.jwk import Key, generate_key, key_from_jwk, key_from_pem
from jwtgate.jose.jwks import KeySet
from jwtgate.tokens import Issuer, MintedToken, Verifier

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BadSignature",
    "ConfigError",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClaim",
    "Issuer",
    "JwtgateError",
    "Key",
    "KeySet",
    "MalformedToken",
    "MintedToken",
    "NotYetValid",
    "RevokedToken",
    "TokenError",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "Verifier",
    "WrongType",
    "generate_key",
    "key_from_jwk",
    "key_from_pem",
]
