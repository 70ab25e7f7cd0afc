"""Total functions for DPoP: whatever a client sends as a proof (and whatever htu it claims), the verifier
raises InvalidDPoPProof, never another exception that an HTTP edge would turn into a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtgate.dpop import DPoPVerifier, normalize_htu
from jwtgate.errors import InvalidDPoPProof

from ._forge import b64e, compact
from .conftest import NOW, signer_for

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
URL = "https://api.example/things"
JSONISH = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
SEGMENT = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{0,60}", fullmatch=True),
    st.binary(max_size=60).map(b64e),
    st.builds(lambda v: b64e(json.dumps(v).encode()), st.dictionaries(st.text(max_size=5), JSONISH)),
)
PROOFISH = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", SEGMENT, SEGMENT, SEGMENT),
)

VERIFIER = DPoPVerifier()


@FUZZ
@given(proof=PROOFISH)
def test_arbitrary_input_is_an_invalid_proof(proof: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        VERIFIER.verify(proof, method="GET", url=URL, now=NOW)


@FUZZ
@given(
    jwk=st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg", "use", "ext"]), JSONISH),
    alg=st.sampled_from(["ES256", "EdDSA", "RS256", "PS256", "ES384"]),
)
def test_odd_jwks_are_invalid_proofs(jwk: dict[str, Any], alg: str, keys_by_alg: dict[str, Any]) -> None:
    proof = compact(
        {"typ": "dpop+jwt", "alg": alg, "jwk": jwk}, {"jti": "j"}, signer_for(keys_by_alg["ES256"])
    )
    with pytest.raises(InvalidDPoPProof):
        VERIFIER.verify(proof, method="GET", url=URL, now=NOW)


@FUZZ
@given(claims=st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), JSONISH))
def test_odd_claims_are_invalid_proofs(claims: dict[str, Any], keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["ES256"]
    jwk = {name: key.to_jwk()[name] for name in ("kty", "crv", "x", "y")}
    proof = compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, claims, signer_for(key))
    with pytest.raises(InvalidDPoPProof):
        VERIFIER.verify(proof, method="GET", url=URL, now=NOW, access_token="t", nonce="n")


@FUZZ
@given(
    uri=st.text(max_size=80) | st.builds("https://{}/{}".format, st.text(max_size=20), st.text(max_size=20))
)
def test_normalize_htu_raises_only_invalid_proof(uri: str) -> None:
    try:
        normalized = normalize_htu(uri)
    except InvalidDPoPProof:
        return
    assert normalize_htu(normalized) == normalized  # idempotent
