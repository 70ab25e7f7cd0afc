"""DPoP interop with joserfc (issue 10, "Proof of safety"): proofs built by joserfc alone, not by jwtgate's
code, are accepted when valid and refused when tampered; thumbprints agree; and jwtgate's proofs verify in
joserfc with the key taken from their own header."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from jwtgate.dpop import DPoPVerifier, access_token_hash, create_proof
from jwtgate.errors import InvalidDPoPProof

from ._forge import b64d, b64e
from .conftest import NOW

URL = "https://api.example/orders"
TOKEN = "an-access-token"


@contextmanager
def joserfc_quiet() -> Iterator[None]:
    # joserfc calls the polymorphic "EdDSA" name deprecated (RFC 9864); RFC 9449 and the issue use it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


def joserfc_key(alg: str) -> Any:
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    if alg in ("RS256", "PS256"):
        return RSAKey.generate_key(2048)
    return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384"}[alg])


KEYS = {alg: joserfc_key(alg) for alg in ("ES256", "ES384", "EdDSA", "RS256", "PS256")}


def joserfc_proof(alg: str, key: Any = None, **claims: Any) -> str:
    key = key or KEYS[alg]
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    body = {"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN), **claims}
    with joserfc_quiet():
        return jws.serialize_compact(header, json.dumps(body), key, algorithms=[alg])


def verify(proof: str) -> Any:
    return DPoPVerifier().verify(proof, method="POST", url=URL, now=NOW, access_token=TOKEN)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_joserfc_proofs_are_accepted_with_the_same_thumbprint(alg: str) -> None:
    verified = verify(joserfc_proof(alg))
    assert verified.jkt == KEYS[alg].thumbprint()


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_tampered_joserfc_proofs_are_refused(alg: str) -> None:
    head, payload, signature = joserfc_proof(alg).split(".")
    claims = json.loads(b64d(payload))
    tampered = [
        # claims changed after signing: method, URL, token hash, time
        b64e(json.dumps({**claims, "htm": "GET"}).encode()),
        b64e(json.dumps({**claims, "htu": "https://evil.example/orders"}).encode()),
        b64e(json.dumps({**claims, "ath": access_token_hash("another")}).encode()),
        b64e(json.dumps({**claims, "iat": NOW + 1}).encode()),
    ]
    for other in tampered:
        with pytest.raises(InvalidDPoPProof, match="signature"):
            verify(f"{head}.{other}.{signature}")
    flipped = bytearray(b64d(signature))
    flipped[-3] ^= 0x10
    with pytest.raises(InvalidDPoPProof, match="signature"):
        verify(f"{head}.{payload}.{b64e(bytes(flipped))}")
    # the header of another key (signature by the first): the key swap a thief would try
    other_head = joserfc_proof(alg, joserfc_key(alg)).split(".")[0]
    with pytest.raises(InvalidDPoPProof, match="signature"):
        verify(f"{other_head}.{payload}.{signature}")


def test_joserfc_proof_with_its_private_key_in_the_header_is_refused() -> None:
    key = KEYS["ES256"]
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=True)}
    body = {"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    proof = jws.serialize_compact(header, json.dumps(body), key, algorithms=["ES256"])
    with pytest.raises(InvalidDPoPProof, match="private"):
        verify(proof)


def test_joserfc_hs256_proof_is_refused() -> None:
    secret = import_key({"kty": "oct", "k": b64e(b"s" * 32)})
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": KEYS["ES256"].as_dict(private=False)}
    body = {"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    proof = jws.serialize_compact(header, json.dumps(body), secret, algorithms=["HS256"])
    with pytest.raises(InvalidDPoPProof, match="alg"):
        verify(proof)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_jwtgate_proofs_verify_in_joserfc(alg: str, keys_by_alg: dict[str, Any]) -> None:
    proof = create_proof(keys_by_alg[alg], "POST", URL, now=NOW, access_token=TOKEN)
    header = json.loads(b64d(proof.split(".")[0]))
    public = import_key(header["jwk"])
    registry = jws.JWSRegistry(algorithms=[alg])
    registry.max_header_length = 2048  # joserfc's default (512) is below an RSA jwk
    with joserfc_quiet():
        decoded = jws.deserialize_compact(proof, public, registry=registry)
    assert decoded.protected["typ"] == "dpop+jwt"
    assert public.thumbprint() == keys_by_alg[alg].thumbprint()
    assert json.loads(decoded.payload)["ath"] == access_token_hash(TOKEN)
