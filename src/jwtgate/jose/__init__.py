"""The low level, shaped like the RFCs: base64url (``b64``), strict JSON, algorithms (``jwa``, RFC 7518),
keys (``jwk``, RFC 7517 / 7638 / 8037), key sets (``jwks``) and compact JWS (``jws``, RFC 7515).
Most users want the recipe in :mod:`jwtgate` instead."""

from jwtgate.jose.b64 import b64url_decode, b64url_encode
from jwtgate.jose.jwa import ALGORITHMS, Algorithm
from jwtgate.jose.jwk import (
    ECKey,
    Key,
    OctKey,
    OKPKey,
    RSAKey,
    generate_key,
    key_from_jwk,
    key_from_pem,
)
from jwtgate.jose.jwks import KeySet
from jwtgate.jose.jws import sign_compact, verify_compact

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "ECKey",
    "Key",
    "KeySet",
    "OKPKey",
    "OctKey",
    "RSAKey",
    "b64url_decode",
    "b64url_encode",
    "generate_key",
    "key_from_jwk",
    "key_from_pem",
    "sign_compact",
    "verify_compact",
]
