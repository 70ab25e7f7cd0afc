"""RFC examples as vectors (tests/vectors/README.md): RFC 7515 appendix A, RFC 7520 section 4, RFC 8037
appendix A. They exercise the JWS layer (the examples carry no ``typ: at+jwt``), so the access-token
profile must refuse them while the compact verifier accepts them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate import KeySet, Verifier, key_from_jwk
from jwtgate.errors import BadSignature, MalformedToken, TokenError, WrongType
from jwtgate.jose.b64 import b64url_decode, b64url_encode
from jwtgate.jose.jsonutil import loads_object
from jwtgate.jose.jws import verify_compact

from .conftest import load_vector

RFC7515 = load_vector("rfc7515_appendix_a.json")
RFC7520 = load_vector("rfc7520/jws_rfc7520.json")
RFC8037 = load_vector("rfc8037_appendix_a.json")
DETERMINISTIC = ("HS", "RS", "Ed")  # HMAC, PKCS#1 v1.5 and Ed25519 signatures are reproducible


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url_encode(bytes(raw))}"


@pytest.mark.parametrize("case", RFC7515["tests"], ids=lambda c: c["section"])
def test_rfc7515_appendix_a(case: dict[str, Any]) -> None:
    private = key_from_jwk(case["jwk"], case["alg"])
    keys = KeySet([private.public_key()])
    header, payload = verify_compact(case["compact"], keys)
    assert header == case["protected"]
    if "payload" in case:
        assert payload == case["payload"].encode()
    else:
        assert loads_object(payload) == RFC7515["payload_json"]
    signing_input, _, signature = case["compact"].rpartition(".")
    if case["alg"].startswith(DETERMINISTIC):
        assert b64url_encode(private.sign(signing_input.encode())) == signature
    else:  # randomized ECDSA: a fresh signature differs but must verify
        fresh = private.sign(signing_input.encode())
        assert b64url_encode(fresh) != signature
        verify_compact(f"{signing_input}.{b64url_encode(fresh)}", keys)
    with pytest.raises(BadSignature):
        verify_compact(_tampered(case["compact"]), keys)


def test_rfc7515_a1_is_not_an_access_token() -> None:
    case = RFC7515["tests"][0]
    verifier = Verifier(
        KeySet([key_from_jwk(case["jwk"], "HS256")]), issuer="joe", audience="api", require=()
    )
    with pytest.raises(WrongType):  # typ "JWT", not "at+jwt"
        verifier.verify(case["compact"], now=1300819000)


def _rfc7520_key(name: str, alg: str) -> Any:
    return key_from_jwk(load_vector(f"rfc7520/{name}"), alg)


@pytest.mark.parametrize("case", RFC7520["tests"], ids=lambda c: c["protected"]["alg"])
def test_rfc7520_section4_compact(case: dict[str, Any]) -> None:
    alg = case["protected"]["alg"]
    private = _rfc7520_key(case["private_key"], alg)
    keys = KeySet([private.public_key()])
    header, payload = verify_compact(case["compact"], keys)
    assert header == case["protected"]
    assert payload.decode("utf-8") == RFC7520["payload"]
    signing_input, _, signature = case["compact"].rpartition(".")
    if alg.startswith(DETERMINISTIC):
        assert b64url_encode(private.sign(signing_input.encode())) == signature
    with pytest.raises(BadSignature):
        verify_compact(_tampered(case["compact"]), keys)


@pytest.mark.parametrize("case", RFC7520["tests"], ids=lambda c: c["protected"]["alg"])
@pytest.mark.parametrize("form", ["general_json", "flattened_json"])
def test_rfc7520_json_serializations_are_refused(case: dict[str, Any], form: str) -> None:
    if form not in case:
        pytest.fail(f"vector file lost its {form} form")
    alg = case["protected"]["alg"]
    keys = KeySet([_rfc7520_key(case["private_key"], alg).public_key()])
    for text in (json.dumps(case[form]), json.dumps(case[form], separators=(",", ":"))):
        with pytest.raises(MalformedToken):
            verify_compact(text, keys)


def test_rfc7520_covers_all_four_examples() -> None:
    assert [c["protected"]["alg"] for c in RFC7520["tests"]] == ["RS256", "PS384", "ES512", "HS256"]


def test_rfc8037_a4_signature_is_reproduced_byte_for_byte() -> None:
    private = key_from_jwk(RFC8037["private_jwk"], "EdDSA")
    signature = private.sign(RFC8037["signing_input"].encode("ascii"))
    assert f"{RFC8037['signing_input']}.{b64url_encode(signature)}" == RFC8037["compact"]


def test_rfc8037_a5_verification() -> None:
    public = key_from_jwk(RFC8037["public_jwk"], "EdDSA")
    header, payload = verify_compact(RFC8037["compact"], KeySet([public]))
    assert header == RFC8037["protected"]
    assert payload.decode() == RFC8037["payload"]
    with pytest.raises(BadSignature):
        verify_compact(_tampered(RFC8037["compact"]), KeySet([public]))


def test_rfc8037_a3_thumbprint() -> None:
    assert key_from_jwk(RFC8037["public_jwk"], "EdDSA").thumbprint() == RFC8037["thumbprint"]


def test_rfc_examples_fail_with_a_key_of_another_algorithm() -> None:
    # A.2 (RS256) presented to a key set holding the A.3 P-256 key under no kid: wrong alg for the key.
    ec_key = key_from_jwk(RFC7515["tests"][2]["jwk"], "ES256").public_key()
    with pytest.raises(TokenError):
        verify_compact(RFC7515["tests"][1]["compact"], KeySet([ec_key]))
