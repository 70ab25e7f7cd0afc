"""DPoP proofs (RFC 9449, issue 10): the RFC's examples, round trips per algorithm, and one named test per
refusal of the issue's "Proof of safety" and of RFC 9449 section 4.3. Attack proofs are forged with
``_forge`` (stdlib + cryptography), never with jwtgate's own signer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate import TokenError, generate_key
from jwtgate.dpop import (
    DEFAULT_ALGORITHMS,
    DPoPPolicy,
    DPoPVerifier,
    NonceSource,
    ProofSigner,
    access_token_hash,
    create_proof,
    normalize_htu,
    proof_from_headers,
    public_key_from_jwk,
)
from jwtgate.errors import ConfigError, InvalidDPoPProof, UseDPoPNonce

from ._forge import b64d, b64e, compact, encode_json, hmac_signer
from .conftest import NOW, FrozenClock, load_vector, signer_for

URL = "https://api.example/things"
TOKEN = "an-access-token"
RFC = load_vector("dpop/rfc9449_examples.json")


@pytest.fixture
def es256(keys_by_alg: dict[str, Any]) -> Any:
    return keys_by_alg["ES256"]


@pytest.fixture
def verifier() -> DPoPVerifier:
    return DPoPVerifier()


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"jti": "jti-1", "htm": "GET", "htu": URL, "iat": NOW}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def header_for(key: Any, **changes: Any) -> dict[str, Any]:
    jwk = {
        name: value
        for name, value in key.public_key().to_jwk().items()
        if name not in ("alg", "kid", "use", "key_ops")
    }
    base: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": jwk}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def forge(key: Any, header: Any = None, payload: Any = None) -> str:
    """A proof signed independently of jwtgate with ``key``'s private material."""
    return compact(header_for(key) if header is None else header, payload or claims(), signer_for(key))


def check(verifier: DPoPVerifier, proof: str, **options: Any) -> Any:
    request: dict[str, Any] = {"method": "GET", "url": URL, "now": NOW}
    request.update(options)
    return verifier.verify(proof, **request)


# -- RFC 9449 examples -----------------------------------------------------------------------------


def test_rfc9449_token_request_proof_verifies_with_its_thumbprint(verifier: DPoPVerifier) -> None:
    vector = RFC["token_request"]
    proof = verifier.verify(vector["proof"], method="POST", url=vector["url"], now=vector["iat"] + 4)
    assert (proof.jkt, proof.jti, proof.iat, proof.htm) == (RFC["jkt"], vector["jti"], vector["iat"], "POST")


def test_rfc9449_resource_request_proof_verifies_with_its_access_token(verifier: DPoPVerifier) -> None:
    vector = RFC["resource_request"]
    assert access_token_hash(vector["access_token"]) == vector["ath"]
    request = {"method": "GET", "url": vector["url"], "now": vector["iat"], "jkt": RFC["jkt"]}
    proof = verifier.verify(vector["proof"], access_token=vector["access_token"], **request)
    assert proof.jkt == RFC["jkt"]
    with pytest.raises(InvalidDPoPProof, match="ath"):
        verifier.verify(vector["proof"], access_token="another token", **request)


def test_rfc9449_example_key_thumbprint() -> None:
    header = json.loads(b64d(RFC["token_request"]["proof"].split(".")[0]))
    assert public_key_from_jwk(header["jwk"], "ES256").thumbprint() == RFC["jkt"]


# -- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEFAULT_ALGORITHMS)
def test_created_proofs_verify_for_every_default_algorithm(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    proof = create_proof(key, "POST", URL + "?q=1#frag", now=NOW, access_token=TOKEN, nonce="n-1")
    verified = DPoPVerifier().verify(
        proof, method="POST", url=URL, now=NOW, access_token=TOKEN, nonce="n-1", jkt=key.thumbprint()
    )
    assert verified.jkt == key.thumbprint()
    assert verified.nonce == "n-1"
    assert verified.htu == URL  # query and fragment are not part of htu
    assert verified.expires_at == NOW + 120 + 30


def test_created_proof_has_exactly_the_rfc_members(es256: Any) -> None:
    proof = create_proof(es256, "GET", "https://user:pw@api.example/x?y#z", now=NOW + 0.7, jti="fixed")
    header, payload = (json.loads(b64d(part)) for part in proof.split(".")[:2])
    assert header == {
        "typ": "dpop+jwt",
        "alg": "ES256",
        "jwk": {name: es256.to_jwk()[name] for name in ("kty", "crv", "x", "y")},
    }
    assert payload == {"jti": "fixed", "htm": "GET", "htu": "https://api.example/x", "iat": NOW}


def test_proof_signer_refuses_symmetric_and_public_keys(keys_by_alg: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ProofSigner(keys_by_alg["HS256"])
    with pytest.raises(ConfigError):
        ProofSigner(keys_by_alg["ES256"].public_key())


def test_proof_signer_repr_shows_no_key_material(es256: Any) -> None:
    text = repr(ProofSigner(es256))
    assert es256.to_jwk(private=True)["d"] not in text
    assert "ES256" in text


def test_fresh_jti_per_proof(es256: Any) -> None:
    signer = ProofSigner(es256)
    jtis = {json.loads(b64d(signer.proof("GET", URL, now=NOW).split(".")[1]))["jti"] for _ in range(50)}
    assert len(jtis) == 50


# -- the issue's "Proof of safety" and RFC 9449 section 4.3 ------------------------------------------


def test_captured_token_with_a_proof_from_another_key_is_refused(
    verifier: DPoPVerifier, es256: Any, other_keys_by_alg: dict[str, Any]
) -> None:
    thief = other_keys_by_alg["ES256"]
    proof = forge(thief, payload=claims(ath=access_token_hash(TOKEN)))
    check(verifier, proof, access_token=TOKEN)  # a valid proof in itself...
    with pytest.raises(InvalidDPoPProof, match="another key"):
        check(verifier, proof, access_token=TOKEN, jkt=es256.thumbprint())  # ...but not for this token


def test_proof_for_another_url_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    with pytest.raises(InvalidDPoPProof, match="another URI"):
        check(verifier, forge(es256, payload=claims(htu="https://api.example/other")))
    with pytest.raises(InvalidDPoPProof, match="another URI"):
        check(verifier, forge(es256, payload=claims(htu="https://evil.example/things")))
    with pytest.raises(InvalidDPoPProof, match="another URI"):
        check(verifier, forge(es256, payload=claims(htu="http://api.example/things")))


def test_proof_for_another_method_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    with pytest.raises(InvalidDPoPProof, match="method"):
        check(verifier, forge(es256, payload=claims(htm="POST")))
    with pytest.raises(InvalidDPoPProof, match="method"):
        check(verifier, forge(es256, payload=claims(htm="get")))  # methods are case-sensitive


def test_private_key_in_jwk_is_refused(verifier: DPoPVerifier, keys_by_alg: dict[str, Any]) -> None:
    for alg in ("ES256", "EdDSA", "RS256"):
        key = keys_by_alg[alg]
        private = {**header_for(key)["jwk"], "d": key.to_jwk(private=True)["d"]}  # kept small enough
        with pytest.raises(InvalidDPoPProof, match="private"):
            check(verifier, forge(key, header=header_for(key, jwk=private)))


def test_alg_none_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    for name in ("none", "None", "NONE"):
        with pytest.raises(InvalidDPoPProof, match="compact"):
            check(verifier, compact(header_for(es256, alg=name), claims(), None))  # empty signature
        with pytest.raises(InvalidDPoPProof, match="alg"):
            check(verifier, compact(header_for(es256, alg=name), claims(), lambda data: b"sig"))


def test_hs256_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    # The classic confusion: an HMAC "signed" with the public key's bytes.
    secret = encode_json(header_for(es256)["jwk"])
    proof = compact(header_for(es256, alg="HS256"), claims(), hmac_signer(secret))
    with pytest.raises(InvalidDPoPProof, match="alg"):
        check(verifier, proof)
    with pytest.raises(ConfigError):
        DPoPPolicy(algorithms=("ES256", "HS256"))


def test_10kb_header_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    header = header_for(es256)
    header["jwk"]["kid"] = "k" * 10_240
    big = forge(es256, header=header)
    with pytest.raises(InvalidDPoPProof, match="too large"):
        check(verifier, big)
    roomy = DPoPVerifier(DPoPPolicy(max_size=65536))
    with pytest.raises(InvalidDPoPProof, match="header is too large"):
        check(roomy, big)


def test_oversized_proof_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    with pytest.raises(InvalidDPoPProof, match="too large"):
        check(verifier, forge(es256, payload=claims(pad="x" * 5000)))


def test_alg_not_matching_the_jwk_is_refused(verifier: DPoPVerifier, keys_by_alg: dict[str, Any]) -> None:
    es256, rsa, ed = keys_by_alg["ES256"], keys_by_alg["RS256"], keys_by_alg["EdDSA"]
    cases = [
        header_for(keys_by_alg["ES384"], alg="ES256"),  # a P-384 key under ES256
        header_for(es256, alg="RS256"),
        header_for(es256, alg="EdDSA"),
        header_for(ed, alg="ES256"),
        header_for(rsa, alg="ES256"),
        header_for(es256, jwk={**header_for(es256)["jwk"], "alg": "ES384"}),
    ]
    for header in cases:
        with pytest.raises(InvalidDPoPProof, match="does not fit"):
            check(verifier, forge(es256, header=header))


def test_algorithm_outside_the_policy_is_refused(keys_by_alg: dict[str, Any]) -> None:
    es512 = keys_by_alg["ES512"]
    with pytest.raises(InvalidDPoPProof, match="alg"):
        check(DPoPVerifier(), forge(es512))
    check(DPoPVerifier(DPoPPolicy(algorithms=("ES512",))), forge(es512))
    with pytest.raises(InvalidDPoPProof, match="alg"):
        check(DPoPVerifier(DPoPPolicy(algorithms=("ES512",))), forge(keys_by_alg["ES256"]))


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt", 1])
def test_wrong_typ_is_refused(verifier: DPoPVerifier, es256: Any, typ: Any) -> None:
    header = header_for(es256, typ=typ)  # None: no typ at all
    with pytest.raises(InvalidDPoPProof, match="typ"):
        check(verifier, forge(es256, header=header))


@pytest.mark.parametrize("member", ["crit", "kid", "jku", "x5u", "x5c", "b64"])
def test_other_header_members_are_refused(verifier: DPoPVerifier, es256: Any, member: str) -> None:
    header = header_for(es256)
    header[member] = ["alg"] if member == "crit" else "https://evil.example/keys"
    with pytest.raises(InvalidDPoPProof, match="not accepted"):
        check(verifier, forge(es256, header=header))


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        "a key",
        ["EC"],
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "oct"},
        {"kty": "EC", "crv": "P-256"},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
    ],
)
def test_missing_or_bad_jwk_is_refused(verifier: DPoPVerifier, es256: Any, jwk: Any) -> None:
    header = header_for(es256, jwk=jwk)
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, header=header))


def test_jwk_with_a_foreign_member_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    jwk = {**header_for(es256)["jwk"], "x5u": "https://evil.example/cert"}
    with pytest.raises(InvalidDPoPProof, match="not accepted"):
        check(verifier, forge(es256, header=header_for(es256, jwk=jwk)))


def test_jwk_in_non_canonical_form_is_refused(verifier: DPoPVerifier, keys_by_alg: dict[str, Any]) -> None:
    rsa = keys_by_alg["RS256"]
    jwk = header_for(rsa)["jwk"]
    jwk["n"] = b64e(b"\x00" + b64d(jwk["n"]))  # the same number with a leading zero octet
    with pytest.raises(InvalidDPoPProof, match="canonical"):
        check(verifier, forge(rsa, header=header_for(rsa, jwk=jwk)))


def test_webcrypto_jwk_metadata_is_tolerated(verifier: DPoPVerifier, es256: Any) -> None:
    # What crypto.subtle.exportKey("jwk", publicKey) gives a browser client.
    jwk = {**header_for(es256)["jwk"], "ext": True, "key_ops": ["verify"]}
    assert check(verifier, forge(es256, header=header_for(es256, jwk=jwk))).jkt == es256.thumbprint()


def test_jwk_marked_for_encryption_never_verifies(verifier: DPoPVerifier, es256: Any) -> None:
    jwk = {**header_for(es256)["jwk"], "use": "enc"}
    with pytest.raises(InvalidDPoPProof, match="signature"):
        check(verifier, forge(es256, header=header_for(es256, jwk=jwk)))


@pytest.mark.parametrize("name", ["jti", "htm", "htu", "iat"])
def test_missing_claim_is_refused(verifier: DPoPVerifier, es256: Any, name: str) -> None:
    payload = claims()
    del payload[name]
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, payload=payload))


@pytest.mark.parametrize(
    "changes",
    [
        {"jti": ""},
        {"jti": 7},
        {"jti": "j" * 257},
        {"htm": ["GET"]},
        {"htu": {"u": URL}},
        {"iat": "1800000000"},
        {"iat": True},
    ],
)
def test_claim_of_the_wrong_type_is_refused(
    verifier: DPoPVerifier, es256: Any, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, payload=claims(**changes)))


def test_iat_outside_the_window_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    window = verifier.policy.max_age + verifier.policy.leeway
    check(verifier, forge(es256, payload=claims(iat=NOW - window)))
    check(verifier, forge(es256, payload=claims(iat=NOW + verifier.policy.leeway)))
    check(verifier, forge(es256, payload=claims(iat=NOW - 0.5)))  # fractional NumericDate
    with pytest.raises(InvalidDPoPProof, match="window"):
        check(verifier, forge(es256, payload=claims(iat=NOW - window - 1)))
    with pytest.raises(InvalidDPoPProof, match="window"):
        check(verifier, forge(es256, payload=claims(iat=NOW + verifier.policy.leeway + 1)))


def test_missing_or_wrong_ath_is_refused_when_a_token_is_sent(verifier: DPoPVerifier, es256: Any) -> None:
    check(verifier, forge(es256, payload=claims(ath=access_token_hash(TOKEN))), access_token=TOKEN)
    with pytest.raises(InvalidDPoPProof, match="ath"):
        check(verifier, forge(es256), access_token=TOKEN)
    with pytest.raises(InvalidDPoPProof, match="ath"):
        check(verifier, forge(es256, payload=claims(ath=access_token_hash("other"))), access_token=TOKEN)
    with pytest.raises(InvalidDPoPProof, match="ath"):
        check(verifier, forge(es256, payload=claims(ath=b64e(b"x" * 32))), access_token=TOKEN)


def test_tampered_signature_or_payload_is_refused(verifier: DPoPVerifier, es256: Any) -> None:
    proof = forge(es256)
    head, payload, signature = proof.split(".")
    flipped = bytearray(b64d(signature))
    flipped[5] ^= 1
    with pytest.raises(InvalidDPoPProof, match="signature"):
        check(verifier, f"{head}.{payload}.{b64e(bytes(flipped))}")
    other_payload = b64e(encode_json(claims(jti="jti-2")))
    with pytest.raises(InvalidDPoPProof, match="signature"):
        check(verifier, f"{head}.{other_payload}.{signature}")


def test_duplicate_claim_names_are_refused(verifier: DPoPVerifier, es256: Any) -> None:
    payload = f'{{"jti":"a","htm":"POST","htm":"GET","htu":"{URL}","iat":{NOW}}}'.encode()
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, payload=payload))


@pytest.mark.parametrize("proof", ["", "a.b", "a.b.c.d", "a..c", "a b.c.d", 42, None])
def test_not_a_compact_jws_is_refused(verifier: DPoPVerifier, proof: Any) -> None:
    with pytest.raises(InvalidDPoPProof):
        check(verifier, proof)


def test_dpop_errors_are_token_errors_with_their_codes() -> None:
    assert issubclass(InvalidDPoPProof, TokenError)
    assert issubclass(UseDPoPNonce, TokenError)
    assert (InvalidDPoPProof.code, InvalidDPoPProof.oauth_error) == ("invalid_dpop_proof",) * 2
    error = UseDPoPNonce(nonce="n")
    assert (error.code, error.oauth_error, error.nonce) == ("use_dpop_nonce", "use_dpop_nonce", "n")


# -- header cache ----------------------------------------------------------------------------------


def test_header_cache_is_bounded_and_never_keeps_a_refused_header(keys_by_alg: dict[str, Any]) -> None:
    verifier = DPoPVerifier(DPoPPolicy(cache_size=2))
    keys = [keys_by_alg[alg] for alg in ("ES256", "ES384", "EdDSA")]
    for _ in range(2):
        for key in keys:
            assert check(verifier, forge(key)).jkt == key.thumbprint()
        assert len(verifier._headers) <= 2
    bad = forge(keys[0], header=header_for(keys[0], typ="JWT"))
    for _ in range(2):
        with pytest.raises(InvalidDPoPProof, match="typ"):
            check(verifier, bad)


def test_a_cached_header_still_needs_a_valid_signature(
    verifier: DPoPVerifier, es256: Any, other_keys_by_alg: dict[str, Any]
) -> None:
    check(verifier, forge(es256))
    head = forge(es256).split(".")[0]
    _, payload, signature = compact(
        {"typ": "dpop+jwt"}, claims(), signer_for(other_keys_by_alg["ES256"])
    ).split(".")
    with pytest.raises(InvalidDPoPProof, match="signature"):
        check(verifier, f"{head}.{payload}.{signature}")


def test_policy_is_validated() -> None:
    for bad in (
        {"algorithms": ()},
        {"algorithms": ("none",)},
        {"algorithms": ("HS512",)},
        {"max_size": 10},
        {"max_age": 0},
        {"leeway": 301},
        {"cache_size": -1},
        {"require_nonce": "yes"},
    ):
        with pytest.raises(ConfigError):
            DPoPPolicy(**bad)
    with pytest.raises(ConfigError):
        DPoPVerifier(policy="strict")  # type: ignore[arg-type]


# -- nonces ----------------------------------------------------------------------------------------


def test_proof_without_the_required_nonce_gets_a_fresh_one(verifier: DPoPVerifier, es256: Any) -> None:
    source = NonceSource(b"s" * 32, clock=FrozenClock())
    with pytest.raises(UseDPoPNonce) as raised:
        check(verifier, forge(es256), nonce=source)
    fresh = raised.value.nonce
    assert check(verifier, forge(es256, payload=claims(nonce=fresh)), nonce=source).nonce == fresh
    with pytest.raises(UseDPoPNonce):
        check(verifier, forge(es256, payload=claims(nonce="made-up")), nonce=source)


def test_stale_nonce_is_refused_and_the_retry_with_the_new_one_succeeds(
    verifier: DPoPVerifier, es256: Any
) -> None:
    clock = FrozenClock()
    source = NonceSource(b"s" * 32, window=60, clock=clock)
    old = source.issue()
    clock.advance(120)
    with pytest.raises(UseDPoPNonce) as raised:
        check(verifier, forge(es256, payload=claims(nonce=old, iat=clock.now)), now=clock.now, nonce=source)
    new = raised.value.nonce
    assert new != old
    retry = forge(es256, payload=claims(nonce=new, iat=clock.now, jti="jti-2"))
    assert check(verifier, retry, now=clock.now, nonce=source).nonce == new


def test_exact_nonce_string(verifier: DPoPVerifier, es256: Any) -> None:
    check(verifier, forge(es256, payload=claims(nonce="abc")), nonce="abc")
    with pytest.raises(UseDPoPNonce) as raised:
        check(verifier, forge(es256, payload=claims(nonce="abd")), nonce="abc")
    assert raised.value.nonce == "abc"
    with pytest.raises(UseDPoPNonce):
        check(verifier, forge(es256, payload=claims(nonce=["abc"])), nonce="abc")


def test_an_invalid_proof_is_invalid_before_its_nonce_is_asked_for(
    verifier: DPoPVerifier, es256: Any
) -> None:
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, payload=claims(htm="POST")), nonce=NonceSource(b"s" * 32))


def test_policy_requiring_a_nonce_refuses_to_check_without_one(es256: Any) -> None:
    verifier = DPoPVerifier(DPoPPolicy(require_nonce=True))
    with pytest.raises(ConfigError):
        check(verifier, forge(es256))
    check(verifier, forge(es256, payload=claims(nonce="n")), nonce="n")


def test_nonces_are_shared_by_instances_with_the_same_secret() -> None:
    clock = FrozenClock()
    first, second = NonceSource(b"k" * 32, clock=clock), NonceSource(b"k" * 32, clock=clock)
    assert first.issue() == second.issue()
    second.check(first.issue())
    with pytest.raises(UseDPoPNonce):
        NonceSource(b"j" * 32, clock=clock).check(first.issue())


def test_nonce_windows_rotate_and_the_previous_one_is_still_accepted() -> None:
    clock = FrozenClock(NOW - NOW % 300)
    source = NonceSource(b"k" * 32, window=300, clock=clock)
    nonce = source.issue()
    clock.advance(299)
    assert source.issue() == nonce
    clock.advance(1)
    assert source.issue() != nonce
    source.check(nonce)  # previous window
    clock.advance(300)
    with pytest.raises(UseDPoPNonce):
        source.check(nonce)  # two windows old


def test_nonce_from_the_future_or_tampered_is_refused() -> None:
    clock = FrozenClock()
    source = NonceSource(b"k" * 32, window=60, clock=clock)
    clock.advance(60)
    future = source.issue()
    clock.advance(-60)
    with pytest.raises(UseDPoPNonce):
        source.check(future)
    raw = bytearray(b64d(source.issue()))
    raw[-1] ^= 1
    for bad in (b64e(bytes(raw)), "", "=" * 10, "x" * 200, None, 12):
        with pytest.raises(UseDPoPNonce):
            source.check(bad)


def test_nonce_source_is_validated() -> None:
    with pytest.raises(ConfigError):
        NonceSource(b"short")
    with pytest.raises(ConfigError):
        NonceSource("k" * 32)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        NonceSource(b"k" * 32, window=1)
    assert "k" * 32 not in repr(NonceSource(b"k" * 32))


# -- htu normalisation (RFC 3986 section 6.2.2 and 6.2.3) --------------------------------------------


@pytest.mark.parametrize(
    ("sent", "request_url"),
    [
        ("HTTPS://API.Example/things", URL),
        ("https://api.example:443/things", URL),
        ("https://api.example/./a/../things", URL),
        ("https://api.example/%74hings", URL),  # %74 is "t", unreserved: decoded
        ("https://api.example/a%2fb", "https://api.example/a%2Fb"),  # reserved: kept, hex upper-cased
        ("https://api.example/%7Euser", "https://api.example/~user"),
        ("http://api.example:80", "http://api.example/"),
        ("http://api.example:", "http://api.example/"),
        ("https://api.example:8443/x", "https://API.EXAMPLE:8443/x?debug=1#top"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_equivalent_uris_match(verifier: DPoPVerifier, es256: Any, sent: str, request_url: str) -> None:
    assert normalize_htu(sent) == normalize_htu(request_url)
    check(verifier, forge(es256, payload=claims(htu=sent)), url=request_url)


@pytest.mark.parametrize(
    "htu",
    [
        "/things",
        "api.example/things",
        "ftp://api.example/things",
        "https://user@api.example/things",
        "https://api.example/%zz",
        "https://api.example/%4",
        "https://api.example/ünïcode",
        "https://api.example/a b",
        "https://api.example:99999/",
        "https:///things",
        "",
        "https://api.example/" + "a" * 2048,
    ],
)
def test_htu_that_is_not_an_http_uri_is_refused(verifier: DPoPVerifier, es256: Any, htu: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        normalize_htu(htu)
    with pytest.raises(InvalidDPoPProof):
        check(verifier, forge(es256, payload=claims(htu=htu)))


def test_dot_segments_are_removed_as_rfc3986_section_5_2_4_shows() -> None:
    assert normalize_htu("http://a/b/c/./../../g") == "http://a/g"
    assert normalize_htu("http://a/b/c/..") == "http://a/b/"
    assert normalize_htu("http://a/b/c/.") == "http://a/b/c/"
    assert normalize_htu("http://a/../../g") == "http://a/g"


def test_generated_keys_work_as_dpop_keys() -> None:
    key = generate_key("ES256")
    proof = create_proof(key, "PUT", URL, now=NOW)
    assert DPoPVerifier().verify(proof, method="PUT", url=URL, now=NOW).key.thumbprint() == key.thumbprint()


def test_exactly_one_dpop_header_is_accepted() -> None:
    assert proof_from_headers([]) is None
    assert proof_from_headers(["a.b.c"]) == "a.b.c"
    with pytest.raises(InvalidDPoPProof, match="only one"):
        proof_from_headers(["a.b.c", "a.b.c"])
    with pytest.raises(InvalidDPoPProof, match="only one"):
        proof_from_headers(["a.b.c, d.e.f"])  # two headers joined by a proxy


def test_uri_cache_is_bounded(es256: Any) -> None:
    verifier = DPoPVerifier(DPoPPolicy(cache_size=3))
    for n in range(10):
        url = f"https://api.example/items/{n}"
        check(verifier, forge(es256, payload=claims(htu=url, jti=f"j{n}")), url=url)
        assert len(verifier._uris) <= 3
