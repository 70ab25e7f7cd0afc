"""Verifier options for tokens of other issuers; each loosens one thing, the defaults stay strict."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate import KeySet, Verifier, generate_key
from jwtgate.errors import ConfigError, InvalidClaim, MalformedToken, UnsupportedAlgorithm, WrongType
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.jose.jwk import Key, key_from_jwk

NOW = 1_800_000_000
ISS = "https://idp.test"


def _sign(key: Key, header: dict[str, Any], claims: dict[str, Any]) -> str:
    full = {"alg": key.alg, "kid": key.kid, **header}
    signing_input = b64url_encode(dumps_compact(full)) + "." + b64url_encode(dumps_compact(claims))
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def _claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 60, "iat": NOW, "jti": "j", **extra}


@pytest.fixture(scope="module")
def key() -> Key:
    return generate_key("RS256", kid="o1")


def _verifier(key: Key, **options: Any) -> Verifier:
    return Verifier(KeySet([key.public_key()]), issuer=ISS, audience="api", clock=lambda: NOW, **options)


def test_types_none_accepts_a_missing_or_any_typ(key: Key) -> None:
    loose = _verifier(key, types=None)
    for header in ({}, {"typ": "JWT"}, {"typ": "at+jwt"}):
        assert loose.verify(_sign(key, header, _claims()))["sub"] == "alice"


def test_the_default_still_requires_at_jwt(key: Key) -> None:
    strict = _verifier(key)
    for header in ({}, {"typ": "JWT"}):
        with pytest.raises(WrongType):
            strict.verify(_sign(key, header, _claims()))


def test_typ_list_is_case_insensitive(key: Key) -> None:
    assert _verifier(key, types=["JWT"]).verify(_sign(key, {"typ": "jwt"}, _claims()))


def test_algorithms_restrict_the_keys(key: Key) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        _verifier(key, algorithms=["ES256"]).verify(_sign(key, {"typ": "at+jwt"}, _claims()))
    assert _verifier(key, algorithms=["RS256"]).verify(_sign(key, {"typ": "at+jwt"}, _claims()))
    with pytest.raises(ConfigError):
        _verifier(key, algorithms=["none"])
    with pytest.raises(ConfigError):
        _verifier(key, algorithms=[])
    with pytest.raises(ConfigError):
        _verifier(key, algorithms="RS256")


def test_x5t_only_when_the_policy_allows_it(key: Key) -> None:
    token = _sign(key, {"typ": "at+jwt", "x5t": "abc", "x5t#S256": "def"}, _claims())
    with pytest.raises(MalformedToken):
        _verifier(key).verify(token)
    assert _verifier(key, header_members=["x5t", "x5t#S256"]).verify(token)


@pytest.mark.parametrize("member", ["crit", "jku", "x5u", "x5c", "jwk", "b64"])
def test_key_carrying_header_members_can_never_be_allowed(key: Key, member: str) -> None:
    with pytest.raises(ConfigError):
        _verifier(key, header_members=[member])


def test_several_issuer_spellings(key: Key) -> None:
    verifier = Verifier(
        KeySet([key.public_key()]), issuer=[ISS, "idp.test"], audience="api", clock=lambda: NOW, types=None
    )
    assert verifier.issuer == ISS
    for spelling in (ISS, "idp.test"):
        assert verifier.verify(_sign(key, {}, _claims(iss=spelling)))
    for bad in ("https://idp.test/", ["idp.test"], None):
        with pytest.raises(InvalidClaim):
            verifier.verify(_sign(key, {}, _claims(iss=bad)))


def test_audience_from_another_claim_is_never_skipped(key: Key) -> None:
    verifier = _verifier(key, types=None, audience_claim="client_id", require=("sub",))
    claims = _claims(client_id="api")
    del claims["aud"]
    assert verifier.verify(_sign(key, {}, claims))
    with pytest.raises(InvalidClaim) as info:
        verifier.verify(_sign(key, {}, {**claims, "client_id": "other"}))
    assert info.value.claim == "client_id"
    missing = {name: value for name, value in claims.items() if name != "client_id"}
    with pytest.raises(InvalidClaim):
        verifier.verify(_sign(key, {}, missing))


def test_iss_and_aud_are_required_even_when_not_listed(key: Key) -> None:
    verifier = _verifier(key, types=None, require=())
    for name in ("iss", "aud", "exp"):
        claims = {k: v for k, v in _claims().items() if k != name}
        with pytest.raises(InvalidClaim) as info:
            verifier.verify(_sign(key, {}, claims))
        assert info.value.claim == name


def test_claim_values(key: Key) -> None:
    verifier = _verifier(key, types=None, claim_values={"token_use": "access"})
    assert verifier.verify(_sign(key, {}, _claims(token_use="access")))
    for bad in ({"token_use": "id"}, {}):
        with pytest.raises(InvalidClaim):
            verifier.verify(_sign(key, {}, _claims(**bad)))


def test_jwk_without_alg_takes_the_one_allowed_algorithm_that_fits() -> None:
    rsa = generate_key("RS256", kid="r").public_key().to_jwk()
    del rsa["alg"]
    assert key_from_jwk(rsa, algorithms=["ES256", "RS256"]).alg == "RS256"
    with pytest.raises(ConfigError, match="no 'alg'"):
        key_from_jwk(rsa, algorithms=["RS256", "PS256"])  # ambiguous: refused, not guessed
    with pytest.raises(ConfigError, match="no 'alg'"):
        key_from_jwk(rsa)
    with pytest.raises(ConfigError, match="no 'alg'"):
        key_from_jwk(rsa, algorithms=["ES256"])
    ec = generate_key("ES384", kid="e").public_key().to_jwk()
    del ec["alg"]
    assert key_from_jwk(ec, algorithms=["ES256", "ES384", "RS256"]).alg == "ES384"
    with pytest.raises(ConfigError, match="not among the allowed"):
        key_from_jwk({**rsa, "alg": "RS512"}, algorithms=["RS256"])


def test_keyset_from_jwks_with_algorithms() -> None:
    rsa = generate_key("RS256", kid="r").public_key().to_jwk()
    bare = {name: value for name, value in rsa.items() if name != "alg"}
    document = {"keys": [{**bare, "x5c": ["abc"], "x5t": "t"}, {**bare, "kid": "enc", "use": "enc"}]}
    keys = KeySet.from_jwks(document, algorithms=["RS256"])
    assert [item.kid for item in keys] == ["r"]
    assert len(keys.skipped) == 1
    assert len(KeySet.from_jwks(document)) == 0


@pytest.mark.parametrize("segment", [1, 2])
def test_non_canonical_base64_in_payload_or_signature_is_refused(key: Key, segment: int) -> None:
    from jwtgate.jose.b64 import decode_checked, decode_signed_parts

    token = _sign(key, {"typ": "at+jwt"}, _claims())
    parts = token.split(".")
    for _ in range(4):  # make the segment's length leave 2 or 3 characters in its last quantum
        if len(parts[segment]) & 3 in (2, 3):
            break
        parts[segment] = parts[segment][:-1]
    last = parts[segment][-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts[segment] = parts[segment][:-1] + alphabet[alphabet.index(last) | 1]  # a low bit set
    forged = ".".join(parts)
    with pytest.raises(MalformedToken):
        decode_checked(parts[segment])
    with pytest.raises(MalformedToken):
        decode_signed_parts(forged, len(parts[0]), len(parts[1]))
    with pytest.raises(MalformedToken):
        _verifier(key).verify(forged)


def test_decode_signed_parts_matches_decode_checked(key: Key) -> None:
    from jwtgate.jose.b64 import decode_checked, decode_signed_parts

    for n in range(8):
        token = _sign(key, {"typ": "at+jwt"}, _claims(pad="x" * n))
        head, payload, signature = token.split(".")
        assert decode_signed_parts(token, len(head), len(payload)) == (
            f"{head}.{payload}".encode(),
            decode_checked(payload),
            decode_checked(signature),
        )
