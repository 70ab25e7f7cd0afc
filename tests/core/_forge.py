"""Independent token forging for the conformance and attack tests.

Everything here uses the standard library and ``cryptography`` directly, never jwtgate's signing code, so
a test can build exactly the bytes an attacker would send (odd headers, bad JSON, wrong algorithms) and a
bug in our signer cannot hide a bug in our verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

Signer = Callable[[bytes], bytes]

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def b64e(data: bytes) -> str:
    """base64url without padding, the JOSE way."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Lenient base64url decode (tests only: re-adds the padding)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def segment(value: Any) -> str:
    """A header or payload segment: raw bytes are encoded as they are, anything else as compact JSON."""
    if isinstance(value, bytes):
        return b64e(value)
    return b64e(encode_json(value))


def compact(header: Any, payload: Any, sign: Signer | None) -> str:
    """Build ``header.payload.signature``; ``sign`` None gives an empty signature."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = sign(signing_input.encode("ascii")) if sign is not None else b""
    return f"{signing_input}.{b64e(signature)}"


def hmac_signer(secret: bytes, bits: str = "256") -> Signer:
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[bits]
    return lambda data: hmac.new(secret, data, digest).digest()


def private_key_signer(alg: str, pem: bytes) -> Signer:
    """A signer for ``alg`` from a PKCS#8 PEM private key (RS*, PS*, ES*, EdDSA)."""
    key = serialization.load_pem_private_key(pem, password=None)
    if alg == "EdDSA":
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign
    hash_cls = HASHES[alg[2:]]
    if alg.startswith("RS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        return lambda data: key.sign(data, padding.PKCS1v15(), hash_cls())
    if alg.startswith("PS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)
        return lambda data: key.sign(data, pss, hash_cls())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    size = (key.curve.key_size + 7) // 8

    def sign_ec(data: bytes) -> bytes:
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hash_cls())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign_ec
