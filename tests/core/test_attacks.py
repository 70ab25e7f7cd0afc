"""One named regression test per known JWT attack (issue 2). Every forged token is built independently
of jwtgate's signer (see _forge.py) and must be refused by the access-token Verifier."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from jwtgate import (
    BadSignature,
    ExpiredToken,
    InvalidClaim,
    KeySet,
    MalformedToken,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
    WrongType,
)
from jwtgate.jose.jws import verify_compact

from ._forge import b64d, b64e, compact, encode_json, hmac_signer, private_key_signer, segment
from ._tokens import base_claims, forge
from .conftest import AUDIENCE, ISSUER, FrozenClock, signer_for

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_N = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
)


@pytest.fixture
def hs(keys_by_alg: dict[str, Any]) -> Any:
    return keys_by_alg["HS256"]


@pytest.fixture
def verifier(keys_by_alg: dict[str, Any], clock: FrozenClock) -> Verifier:
    """A verifier trusting the public half of every key (the realistic multi-key JWKS case)."""
    keys = KeySet([key.public_key() for key in keys_by_alg.values()])
    return Verifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


def header_of(key: Any, **members: Any) -> dict[str, Any]:
    return {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **members}


def with_signature(token: str, signature: str) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{signature}"


def test_control_a_forged_but_honest_token_is_accepted(
    verifier: Verifier, keys_by_alg: dict[str, Any]
) -> None:
    # Every attack below changes one thing in this token; this proves the baseline itself passes.
    for key in keys_by_alg.values():
        assert verifier.verify(forge(key)) == base_claims()


# -- alg none --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_never_accepted(alg: str, hs: Any, verifier: Verifier) -> None:
    head = header_of(hs, alg=alg)
    unsigned = compact(head, base_claims(), None)
    assert unsigned.endswith(".")
    with pytest.raises(MalformedToken):
        verifier.verify(unsigned)
    # With some signature bytes attached it reaches the header check, which refuses the algorithm.
    signed = compact(head, base_claims(), hmac_signer(b"k" * 32))
    with pytest.raises(UnsupportedAlgorithm):
        verifier.verify(signed)
    with pytest.raises(UnsupportedAlgorithm):
        verify_compact(signed, KeySet([hs]))


def test_alg_none_without_kid_against_a_single_key(hs: Any, clock: FrozenClock) -> None:
    single = Verifier(KeySet([hs]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    token = compact({"alg": "none", "typ": "at+jwt"}, base_claims(), lambda data: b"\x00")
    with pytest.raises(UnsupportedAlgorithm):
        single.verify(token)


@pytest.mark.parametrize("alg", [None, 1, ["HS256"], {"alg": "HS256"}, True])
def test_alg_not_a_string(alg: Any, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, header={"alg": alg}))


def test_alg_missing_or_empty(hs: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, drop_header=("alg",)))
    with pytest.raises(UnsupportedAlgorithm):
        verifier.verify(forge(hs, header={"alg": ""}))


# -- signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_empty_signature(alg: str, keys_by_alg: dict[str, Any], verifier: Verifier) -> None:
    token = forge(keys_by_alg[alg])
    with pytest.raises(MalformedToken):
        verifier.verify(with_signature(token, ""))
    with pytest.raises(BadSignature):
        verifier.verify(with_signature(token, "AA"))  # one zero byte


@pytest.mark.parametrize("alg", ["HS256", "RS256", "PS256", "ES256", "EdDSA"])
def test_signature_by_another_key_with_the_same_kid(
    alg: str, keys_by_alg: dict[str, Any], other_keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    with pytest.raises(BadSignature):
        verifier.verify(forge(keys_by_alg[alg], sign_with=other_keys_by_alg[alg]))


def _public_key_secrets(key: Any) -> dict[str, bytes]:
    """Every byte form of a public key an attacker might try as an HMAC secret."""
    pem = key.to_pem(private=False)
    der = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = key.to_jwk()
    return {
        "pem": pem,
        "pem-stripped": pem.strip(),
        "der": der,
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-compact": encode_json(jwk),
        "jwk-sorted": json.dumps(jwk, sort_keys=True).encode(),
    }


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_key_confusion_hmac_with_the_public_key_as_secret(
    alg: str, hmac_alg: str, keys_by_alg: dict[str, Any], verifier: Verifier, clock: FrozenClock
) -> None:
    public = keys_by_alg[alg].public_key()
    single = Verifier(KeySet([public]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    for secret in _public_key_secrets(public).values():
        signer = hmac_signer(secret, hmac_alg[2:])
        with_kid = compact(header_of(public, alg=hmac_alg), base_claims(), signer)
        without_kid = compact({"alg": hmac_alg, "typ": "at+jwt"}, base_claims(), signer)
        for token in (with_kid, without_kid):
            with pytest.raises(UnsupportedAlgorithm):
                single.verify(token)
        with pytest.raises(UnsupportedAlgorithm, match="algorithm"):
            verifier.verify(with_kid)


def _psychic(r: int, s: int, size: int) -> str:
    return b64e(r.to_bytes(size, "big") + s.to_bytes(size, "big"))


@pytest.mark.parametrize(("alg", "order", "size"), [("ES256", P256_N, 32), ("ES384", P384_N, 48)])
@pytest.mark.parametrize("pair", [(0, 0), ("n", "n"), (0, "n"), ("n", 0), (1, 0), (0, 1), ("n+1", 1), (1, 1)])
def test_psychic_ecdsa_signatures(
    alg: str, order: int, size: int, pair: tuple[Any, Any], keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    # CVE-2022-21449: r = s = 0 verified in Java 15-18. r or s equal to n (or out of range) is the same bug
    # in another form; none may pass, whatever the message.
    values = {"n": order, "n+1": order + 1}
    r, s = (values.get(v, v) for v in pair)
    token = forge(keys_by_alg[alg])
    with pytest.raises(BadSignature):
        verifier.verify(with_signature(token, _psychic(r, s, size)))


@pytest.mark.parametrize("alg", ["ES256", "ES384"])
def test_ecdsa_signature_must_be_raw_r_s_of_exact_length(
    alg: str, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg[alg]
    token = forge(key)
    raw = b64d(token.split(".")[2])
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    for signature in (der, raw + b"\x00", b"\x00" + raw, raw[:-1], raw[1:]):
        with pytest.raises(BadSignature):
            verifier.verify(with_signature(token, b64e(signature)))


# -- kid -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/dev/null",
        "..\\..\\windows\\win.ini",
        "%2e%2e%2fetc%2fpasswd",
        "' OR '1'='1",
        "1; DROP TABLE keys; --",
        "x' UNION SELECT 'secret",
        "${jndi:ldap://evil/a}",
        "kid\u0000hidden",
        "k" * 257,
    ],
)
def test_kid_injection(kid: str, verifier: Verifier) -> None:
    # The classic: kid points at an empty file, the token is HMAC'd with the empty key. A kid is only ever
    # a dictionary lookup here, so it is simply unknown.
    token = compact({"alg": "HS256", "typ": "at+jwt", "kid": kid}, base_claims(), hmac_signer(b""))
    with pytest.raises(UnknownKey) as info:
        verifier.verify(token)
    assert info.value.kid in (kid, None)


@pytest.mark.parametrize("kid", [None, 1, ["a"], {"a": 1}, True])
def test_kid_not_a_string(kid: Any, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, header={"kid": kid}))


def test_missing_kid_with_several_keys(hs: Any, verifier: Verifier) -> None:
    with pytest.raises(UnknownKey):
        verifier.verify(forge(hs, drop_header=("kid",)))


# -- key-carrying and other headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jku", "https://evil.example/jwks.json"),
        ("x5u", "https://evil.example/cert.pem"),
        ("x5c", ["MIIBszCCAVmgAwIBAgIU"]),
        ("x5t", "dGh1bWJwcmludA"),
        ("x5t#S256", "dGh1bWJwcmludA"),
        ("b64", False),
        ("zip", "DEF"),
        ("cty", "JWT"),
        ("enc", "A256GCM"),
    ],
)
def test_foreign_headers_are_refused_even_when_properly_signed(
    member: str, value: Any, hs: Any, verifier: Verifier
) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, header={member: value}))


def test_embedded_jwk_header_is_not_trusted(
    keys_by_alg: dict[str, Any], other_keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    victim, attacker = keys_by_alg["ES256"], other_keys_by_alg["ES256"]
    header = header_of(victim, jwk=attacker.to_jwk())
    token = compact(header, base_claims(), private_key_signer("ES256", attacker.to_pem(private=True)))
    with pytest.raises(MalformedToken):
        verifier.verify(token)
    # and with the victim's own kid removed, so that only the embedded key could match
    del header["kid"]
    token = compact(header, base_claims(), private_key_signer("ES256", attacker.to_pem(private=True)))
    with pytest.raises(MalformedToken):
        verifier.verify(token)


@pytest.mark.parametrize(
    "members",
    [{"crit": ["exp"], "exp": 1}, {"crit": []}, {"crit": ["b64"], "b64": False}, {"crit": "exp"}],
)
def test_crit_is_refused(members: dict[str, Any], hs: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, header=members))


# -- numeric dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1999999999", "never", ""])
def test_exp_as_string(value: str, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"exp": value}))


@pytest.mark.parametrize("value", [10**20, 2**63, 2**64 + 1, 1e300, 253402300800])
def test_exp_as_huge_number(value: float, hs: Any, verifier: Verifier) -> None:
    # Not "never expires": a NumericDate after the year 9999 is nonsense and refused.
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"exp": value}))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 5000])
def test_exp_as_nan_infinity_or_overflow(literal: bytes, hs: Any, verifier: Verifier) -> None:
    payload = encode_json(base_claims()).replace(b'"exp":', b'"exp":' + literal + b',"x":')
    assert literal in payload
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, payload=payload))


@pytest.mark.parametrize("value", [True, False])
def test_exp_as_bool(value: bool, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"exp": value}))


def test_exp_negative_or_past_is_expired_not_crashing(hs: Any, verifier: Verifier) -> None:
    with pytest.raises(ExpiredToken):
        verifier.verify(forge(hs, claims={"exp": 0, "iat": 0, "nbf": 0}))
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"exp": -(2**64)}))


# -- iss / aud -------------------------------------------------------------------------------------


@pytest.mark.parametrize("iss", ["https://auth.exam", "https://auth", "https:"])
def test_iss_prefix_match_rejected(iss: str, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"iss": iss}))


@pytest.mark.parametrize(
    "iss", ["https://auth.example.evil.com", "https://auth.example/x", "https://auth.example@evil"]
)
def test_iss_suffix_match_rejected(iss: str, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(hs, claims={"iss": iss}))


@pytest.mark.parametrize(
    ("trick", "aud"),
    [
        ("empty list", []),
        ("nested list", [["api"]]),
        ("non-string member", [123]),
        ("null member", [None]),
        ("substring", "ap"),
        ("superstring", "apis"),
        ("comma joined", "api,other"),
        ("space joined", "api other"),
        ("object", {"api": True}),
        ("list with a non-string beside the audience", ["api", {"x": 1}]),
        ("case", "API"),
        ("empty string", ""),
    ],
)
def test_aud_list_tricks(trick: str, aud: Any, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(InvalidClaim) as info:
        verifier.verify(forge(hs, claims={"aud": aud}))
    assert info.value.claim == "aud", trick


# -- encoding --------------------------------------------------------------------------------------


def _canonical_variant(segment_text: str) -> str | None:
    """The same bytes spelt with non-zero unused trailing bits, or None when the length has none."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(segment_text) % 4 not in (2, 3):
        return None
    last = alphabet.index(segment_text[-1])
    return segment_text[:-1] + alphabet[last | 1]


@pytest.mark.parametrize("part", [0, 1, 2])
def test_padded_base64_segment(part: int, hs: Any, verifier: Verifier) -> None:
    token = forge(hs, claims={"pad": "x"})
    parts = token.split(".")
    if len(parts[part]) % 4 == 0:
        parts[part] += "===="  # no legitimate padding is possible: try a full padding quantum instead
    else:
        parts[part] += "=" * (-len(parts[part]) % 4)
    with pytest.raises(MalformedToken):
        verifier.verify(".".join(parts))


@pytest.mark.parametrize("part", [0, 1, 2])
def test_non_canonical_base64_segment(part: int, hs: Any, verifier: Verifier) -> None:
    for pad in range(4):  # vary lengths until the segment has unused trailing bits
        typ = "at+jwt" if pad < 2 else "AT+JWT"
        parts = forge(hs, claims={"pad": "x" * pad}, header={"typ": typ}).split(".")
        variant = _canonical_variant(parts[part])
        if variant is not None:
            break
    assert variant is not None
    assert b64d(variant) == b64d(parts[part])  # lenient decoders see the very same bytes
    parts[part] = variant
    if part < 2:  # re-sign the altered text, so that only the decoder can object
        parts[2] = b64e(signer_for(hs)(f"{parts[0]}.{parts[1]}".encode()))
    with pytest.raises(MalformedToken):
        verifier.verify(".".join(parts))


@pytest.mark.parametrize("alphabet_swap", [("-", "+"), ("_", "/")])
def test_standard_base64_alphabet_is_refused(
    alphabet_swap: tuple[str, str], hs: Any, verifier: Verifier
) -> None:
    for pad in range(40):
        token = forge(hs, claims={"pad": "\u00ff" * pad})
        if alphabet_swap[0] in token:
            break
    assert alphabet_swap[0] in token
    with pytest.raises(MalformedToken):
        verifier.verify(token.replace(*alphabet_swap))


@pytest.mark.parametrize(
    "shape",
    [
        "{t}.",
        "{t}..",
        ".{t}",
        "{t}.x",
        "{t}.{t}",
        "{h}.{p}",
        "{h}..{s}",
        "{h}.{p}.{s}.{s}",
        "{h}.{p}.{p}.{p}.{s}",
        " {t}",
        "{t} ",
        "{t}\n",
        "Bearer {t}",
        "{h}\uff0e{p}\uff0e{s}",
    ],
)
def test_trailing_dots_and_extra_segments(shape: str, hs: Any, verifier: Verifier) -> None:
    token = forge(hs)
    h, p, s = token.split(".")
    with pytest.raises(MalformedToken):
        verifier.verify(shape.format(t=token, h=h, p=p, s=s))


def test_json_serialization_passed_as_compact(hs: Any, verifier: Verifier) -> None:
    h, p, s = forge(hs).split(".")
    flattened = json.dumps({"protected": h, "payload": p, "signature": s})
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    for text in (flattened, general, json.dumps(flattened)):
        with pytest.raises(MalformedToken):
            verifier.verify(text)


def test_duplicate_keys_in_header(hs: Any, verifier: Verifier) -> None:
    raw = f'{{"alg":"HS256","typ":"at+jwt","kid":"{hs.kid}","alg":"none"}}'.encode()
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, raw_header=raw))
    raw = f'{{"alg":"HS256","typ":"at+jwt","kid":"other","kid":"{hs.kid}"}}'.encode()
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, raw_header=raw))


@pytest.mark.parametrize("name", ["sub", "aud", "iss", "exp", "scope"])
def test_duplicate_keys_in_payload(name: str, hs: Any, verifier: Verifier) -> None:
    body = encode_json(base_claims())
    duplicate = body[:-1] + b"," + encode_json({name: "admin"})[1:]
    assert duplicate.count(f'"{name}":'.encode()) == 2
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, payload=duplicate))


def test_deep_nesting_in_header(hs: Any, verifier: Verifier) -> None:
    # The header is parsed before the signature is checked: this needs no key at all.
    raw = b'{"alg":"HS256","typ":"at+jwt","x":' + b"[" * 4000 + b"]" * 4000 + b"}"
    with pytest.raises(MalformedToken):
        verifier.verify(compact(raw, base_claims(), lambda data: b"\x00" * 32))


def test_deep_nesting_in_payload(hs: Any, keys_by_alg: dict[str, Any], clock: FrozenClock) -> None:
    roomy = Verifier(KeySet([hs]), issuer=ISSUER, audience=AUDIENCE, clock=clock, max_token_size=65536)
    body = encode_json(base_claims())[:-1] + b',"x":' + b'{"a":' * 7000 + b"1" + b"}" * 7000 + b"}"
    with pytest.raises(MalformedToken):
        roomy.verify(forge(hs, payload=body))
    body = encode_json(base_claims())[:-1] + b',"x":' + b"[" * 20000 + b"]" * 20000 + b"}"
    with pytest.raises(MalformedToken):
        roomy.verify(forge(hs, payload=body))


def test_oversized_token_rejected_before_decoding(
    hs: Any, verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jwtgate.jose.jws as jws_module
    import jwtgate.tokens as tokens_module

    calls: list[str] = []

    def trap(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} ran on an oversized token")

        return record

    for module in (jws_module, tokens_module):
        for name in ("match_compact", "decode_checked", "loads_object", "parse_header", "b64url_decode"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, trap(name))
    oversized = forge(hs, claims={"pad": "x" * 7000})
    assert len(oversized) > 8192
    with pytest.raises(MalformedToken):
        verifier.verify(oversized)
    with pytest.raises(MalformedToken):
        verifier.verify("A" * 50_000_000)
    with pytest.raises(MalformedToken):
        verify_compact(oversized, KeySet([hs]))
    assert calls == []


@pytest.mark.parametrize(
    ("label", "payload"),
    [
        ("latin-1 byte", b'{"sub":"caf\xe9"}'),
        ("invalid byte", b'{"sub":"\xff"}'),
        ("overlong slash", b'{"sub":"\xc0\xaf"}'),
        ("utf-8 surrogate", b'{"sub":"\xed\xa0\x80"}'),
        ("truncated sequence", b'{"sub":"\xe2\x82"}'),
        ("utf-16", '{"sub":"alice"}'.encode("utf-16")),
        ("utf-8 bom", b"\xef\xbb\xbf" + b'{"sub":"alice"}'),
    ],
)
def test_non_utf8_payload(label: str, payload: bytes, hs: Any, verifier: Verifier) -> None:
    claims = encode_json({k: v for k, v in base_claims().items() if k != "sub"})
    if payload.startswith(b'{"sub"'):
        payload = payload[:-1] + b"," + claims[1:]
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, payload=payload))


def test_non_utf8_header(hs: Any, verifier: Verifier) -> None:
    raw = f'{{"alg":"HS256","typ":"at+jwt","kid":"{hs.kid}","x":"\xff"}}'.encode("latin-1")
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, raw_header=raw))


@pytest.mark.parametrize("value", [[], "claims", 1, None, True])
def test_payload_or_header_not_an_object(value: Any, hs: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(compact(encode_json(value), base_claims(), lambda data: b"\x00" * 32))
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, payload=encode_json(value)))


@pytest.mark.parametrize("token", [b"a.b.c", None, 1, ["a", "b", "c"]])
def test_token_not_a_string(token: Any, verifier: Verifier) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(token)


# -- typ and alg confusion -------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["dpop+jwt", "JWT", "jwt", "secevent+jwt", "id_token+jwt", None])
def test_typ_confusion(typ: str | None, hs: Any, verifier: Verifier) -> None:
    # A DPoP proof, an ID token or a plain JWT signed by the same key is not an access token.
    drop = ("typ",) if typ is None else ()
    with pytest.raises(WrongType):
        verifier.verify(forge(hs, header={} if typ is None else {"typ": typ}, drop_header=drop))


def test_dpop_proof_signed_by_the_issuer_key_is_not_an_access_token(hs: Any, verifier: Verifier) -> None:
    proof_claims = {**base_claims(), "htm": "GET", "htu": "https://api.example/x"}
    with pytest.raises(WrongType):
        verifier.verify(forge(hs, header={"typ": "dpop+jwt"}, claims=proof_claims))


@pytest.mark.parametrize(
    ("key_alg", "header_alg"),
    [
        ("RS256", "PS256"),
        ("PS256", "RS256"),
        ("RS256", "RS512"),
        ("HS256", "HS384"),
        ("HS256", "HS512"),
        ("HS512", "HS256"),
        ("ES256", "ES384"),
        ("EdDSA", "Ed25519"),
        ("ES256", "EdDSA"),
    ],
)
def test_header_alg_differing_from_the_key_alg(
    key_alg: str, header_alg: str, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg[key_alg]
    # Signed with the key's own material under the other algorithm where that is possible.
    if key_alg.startswith("HS"):
        signer = hmac_signer(b64d(key.to_jwk(private=True)["k"]), header_alg[2:])
    elif key_alg[:2] in ("RS", "PS") and header_alg[:2] in ("RS", "PS"):
        signer = private_key_signer(header_alg, key.to_pem(private=True))
    else:
        signer = private_key_signer(key_alg, key.to_pem(private=True))
    token = compact(header_of(key, alg=header_alg), base_claims(), signer)
    with pytest.raises(UnsupportedAlgorithm):
        verifier.verify(token)


def test_segment_helper_matches_compact(hs: Any) -> None:
    # Guard for the forging helpers themselves: a segment is base64url of compact JSON.
    assert b64d(segment({"a": 1})) == b'{"a":1}'


@pytest.mark.parametrize(
    "escaped", [b"\\ud800", b"\\uDFFF", b"x\\udbff", b"\\udc00\\ud800", b"\\ud83d\\ud83d"]
)
def test_lone_surrogate_escapes(escaped: bytes, hs: Any, verifier: Verifier) -> None:
    # Valid JSON syntax, but no Unicode text: a later UTF-8 encode (a JSON response, a database driver, a
    # replay cache) would fail on it. I-JSON (RFC 7493) forbids it; so do we, in names and values alike.
    claims = encode_json(base_claims())[:-1]
    for payload in (claims + b',"x":"' + escaped + b'"}', claims + b',"' + escaped + b'":1}'):
        with pytest.raises(MalformedToken):
            verifier.verify(forge(hs, payload=payload))
    raw = f'{{"alg":"HS256","typ":"at+jwt","kid":"{hs.kid}","x":"'.encode() + escaped + b'"}'
    with pytest.raises(MalformedToken):
        verifier.verify(forge(hs, raw_header=raw))


def test_paired_surrogate_escapes_are_fine(hs: Any, verifier: Verifier) -> None:
    # PyJWT and other ensure_ascii encoders write non-BMP characters as escaped pairs: those must pass.
    payload = encode_json(base_claims())[:-1] + b',"name":"\\ud83d\\ude00 caf\\u00e9","path":"a\\\\ud800"}'
    claims = verifier.verify(forge(hs, payload=payload))
    assert claims["name"] == "\U0001f600 caf\u00e9"
    assert claims["path"] == "a\\ud800"  # an escaped backslash, not a surrogate
