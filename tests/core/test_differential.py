"""Differential tests against PyJWT and joserfc (issue 2, "Conformance tests").

* tokens we sign verify in both; tokens they sign (``typ: at+jwt``, proper claims) verify here;
* hypothesis mutations of valid tokens (any character, any segment, header and claim edits re-signed
  with a wrong key) are always rejected by us;
* claim edits re-signed with the right key are judged exactly as the issue's claim rules say (a small
  reference model below), and we never accept what both PyJWT and joserfc reject.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwk as joserfc_jwk
from joserfc import jwt as joserfc_jwt
from joserfc.errors import JoseError, SecurityWarning

from jwtgate import Issuer, KeySet, TokenError, Verifier

from ._forge import b64d, compact, encode_json
from ._tokens import base_claims
from .conftest import ALGS, AUDIENCE, ISSUER, NOW, FrozenClock, signer_for

LEEWAY = 30
MAX_NUMERIC_DATE = 253402300799  # the last second of year 9999 (jwtgate's documented bound)
MUTATED_ALGS = ["HS256", "RS256", "PS256", "ES256", "EdDSA"]
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextmanager
def joserfc_quiet() -> Iterator[None]:
    # joserfc warns that the polymorphic "EdDSA" name is deprecated by RFC 9864; that is its opinion,
    # not a failure of the token under test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


def pyjwt_key(key: Any, private: bool = False) -> Any:
    if key.alg.startswith("HS"):
        return b64d(key.to_jwk(private=True)["k"])
    return key.to_pem(private=private)


def joserfc_key(key: Any, private: bool = False) -> Any:
    return joserfc_jwk.import_key(key.to_jwk(private=private or key.alg.startswith("HS")))


def pyjwt_accepts(token: str, key: Any, *, check_time: bool) -> bool:
    options: dict[str, Any] = {"require": ["iss", "sub", "aud", "exp", "iat", "jti"]}
    if not check_time:  # PyJWT has no injectable clock: time rules are left to joserfc and the model
        options.update(verify_exp=False, verify_nbf=False, verify_iat=False)
    try:
        pyjwt.decode(
            token,
            pyjwt_key(key),
            algorithms=[key.alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options=options,
        )
    except pyjwt.PyJWTError:
        return False
    return True


def joserfc_accepts(token: str, key: Any, now: int) -> bool:
    registry = joserfc_jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    try:
        with joserfc_quiet():
            decoded = joserfc_jwt.decode(token, joserfc_key(key), algorithms=[key.alg])
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return False
    return True


def we_accept(verifier: Verifier, token: str, now: float | None = None) -> bool:
    try:
        verifier.verify(token, now=now)
    except TokenError:
        return False
    return True


@pytest.fixture(scope="module")
def verifier(keys_by_alg: dict[str, Any]) -> Verifier:
    keys = KeySet([key.public_key() for key in keys_by_alg.values()])
    return Verifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY, clock=FrozenClock())


# -- interoperability ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_our_tokens_verify_in_pyjwt_and_joserfc(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    # The other libraries read the real clock, so this token is issued at the real time.
    now = int(time.time())
    token = Issuer(key, issuer=ISSUER, audience=AUDIENCE).issue("alice", ttl=900, scope="read", now=now)
    claims = pyjwt.decode(
        token, pyjwt_key(key), algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY
    )
    assert claims["sub"] == "alice"
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    assert joserfc_accepts(token, key.public_key(), now)
    assert pyjwt_accepts(token, key, check_time=True)


@pytest.mark.parametrize("alg", ALGS)
def test_their_tokens_verify_here(alg: str, keys_by_alg: dict[str, Any], verifier: Verifier) -> None:
    key = keys_by_alg[alg]
    claims = {**base_claims(), "sub": "from-pyjwt"}
    from_pyjwt = pyjwt.encode(
        claims, pyjwt_key(key, private=True), algorithm=alg, headers={"typ": "at+jwt", "kid": key.kid}
    )
    assert verifier.verify(from_pyjwt)["sub"] == "from-pyjwt"
    claims["sub"] = "from-joserfc"
    with joserfc_quiet():
        from_joserfc = joserfc_jwt.encode(
            {"alg": alg, "typ": "at+jwt", "kid": key.kid},
            claims,
            joserfc_key(key, private=True),
            algorithms=[alg],
        )
    assert verifier.verify(from_joserfc)["sub"] == "from-joserfc"


@pytest.mark.parametrize("typ", ["JWT", None])
def test_their_default_jwt_typ_is_not_an_access_token(
    typ: str | None, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg["ES256"]
    headers = {"kid": key.kid} if typ else {"kid": key.kid, "typ": None}
    token = pyjwt.encode(base_claims(), pyjwt_key(key, private=True), algorithm="ES256", headers=headers)
    assert not we_accept(verifier, token)


# -- mutations of a valid token --------------------------------------------------------------------

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ \n\x00é"


@st.composite
def char_mutation(draw: st.DrawFn, token: str) -> str:
    index = draw(st.integers(0, len(token) - 1))
    op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate"]))
    char = draw(st.sampled_from(TOKEN_CHARS))
    if op == "replace":
        return token[:index] + char + token[index + 1 :]
    if op == "insert":
        return token[:index] + char + token[index:]
    if op == "delete":
        return token[:index] + token[index + 1 :]
    if op == "truncate":
        return token[:index]
    return token[:index] + token[index:] + token[index:]


@st.composite
def segment_mutation(draw: st.DrawFn, token: str, other: str) -> str:
    parts, foreign = token.split("."), other.split(".")
    op = draw(st.sampled_from(["swap", "splice", "drop", "repeat", "reverse"]))
    i, j = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    if op == "swap":
        parts[i], parts[j] = parts[j], parts[i]
    elif op == "splice":  # one segment from another valid token of the same key
        parts[i] = foreign[i]
    elif op == "drop":
        del parts[i]
    elif op == "repeat":
        parts.insert(i, parts[j])
    else:
        parts[i] = parts[i][::-1]
    return ".".join(parts)


@functools.cache
def valid_token(key: Any, sub: str = "alice") -> str:
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    return compact(header, {**base_claims(), "sub": sub}, signer_for(key))


@pytest.mark.parametrize("alg", MUTATED_ALGS)
@SETTINGS
@given(data=st.data())
def test_any_character_mutation_is_rejected(
    alg: str, data: st.DataObject, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    token = compact(
        {"alg": alg, "typ": "at+jwt", "kid": keys_by_alg[alg].kid},
        base_claims(),
        signer_for(keys_by_alg[alg]),
    )
    assert we_accept(verifier, token)
    mutated = data.draw(char_mutation(token))
    if mutated != token:
        assert not we_accept(verifier, mutated)


@pytest.mark.parametrize("alg", MUTATED_ALGS)
@SETTINGS
@given(data=st.data())
def test_any_segment_mutation_is_rejected(
    alg: str, data: st.DataObject, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg[alg]
    token, other = valid_token(key), valid_token(key, sub="mallory")
    mutated = data.draw(segment_mutation(token, other))
    if mutated != token:
        assert not we_accept(verifier, mutated)


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def header_edit(draw: st.DrawFn, victim_kid: str) -> dict[str, Any]:
    header: dict[str, Any] = {
        "alg": draw(st.sampled_from([*ALGS, "none", "HS1", "EdDSA"])),
        "typ": draw(st.sampled_from(["at+jwt", "application/at+jwt", "JWT", "dpop+jwt"])),
        "kid": draw(st.sampled_from([victim_kid, "other", ""])),
    }
    if draw(st.booleans()):
        header[draw(st.sampled_from(["jku", "jwk", "x5u", "crit", "cty", "zip", "x"]))] = draw(JSON_VALUES)
    return header


@SETTINGS
@given(data=st.data())
def test_header_and_claim_edits_signed_with_a_wrong_key_are_rejected(
    data: st.DataObject,
    keys_by_alg: dict[str, Any],
    other_keys_by_alg: dict[str, Any],
    verifier: Verifier,
) -> None:
    victim = keys_by_alg[data.draw(st.sampled_from(ALGS))]
    attacker = other_keys_by_alg[data.draw(st.sampled_from(ALGS))]
    header = data.draw(header_edit(victim.kid))
    claims = {
        **base_claims(),
        **data.draw(st.dictionaries(st.sampled_from(list(base_claims())), JSON_VALUES)),
    }
    token = compact(header, claims, signer_for(attacker))
    assert not we_accept(verifier, token)


# -- claim edits signed with the right key: the reference model decides ---------------------------

KEEP, DELETE = "<keep>", "<delete>"


def model_accepts(claims: dict[str, Any], now: float) -> bool:
    """The claim rules of issue 2, written out independently of jwtgate's code."""
    if any(name not in claims for name in ("iss", "sub", "aud", "exp", "iat", "jti")):
        return False
    if claims["iss"] != ISSUER:
        return False
    for name in ("sub", "jti", "sid", "client_id"):
        if name in claims and not (type(claims[name]) is str and claims[name]):
            return False
    if "scope" in claims and type(claims["scope"]) is not str:
        return False
    aud = claims["aud"]
    if type(aud) is str:
        if aud != AUDIENCE:
            return False
    elif not (type(aud) is list and aud and all(type(a) is str for a in aud) and AUDIENCE in aud):
        return False
    for name in ("exp", "iat", "nbf"):
        if name in claims:
            value = claims[name]
            if type(value) not in (int, float) or not 0 <= value <= MAX_NUMERIC_DATE:
                return False
    if now >= claims["exp"] + LEEWAY:
        return False
    if "nbf" in claims and now + LEEWAY < claims["nbf"]:
        return False
    return not now + LEEWAY < claims["iat"]


def edit(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(KEEP), st.just(DELETE), values, JSON_VALUES)


TEXT_EDITS = {
    "iss": edit(st.sampled_from([ISSUER, ISSUER + "/", ISSUER[:-1], ISSUER.upper(), ""])),
    "sub": edit(st.sampled_from(["alice", "", "bob"])),
    "aud": edit(
        st.sampled_from([AUDIENCE, [AUDIENCE], ["x", AUDIENCE], "x", [], [[AUDIENCE]], [AUDIENCE, 1]])
    ),
    "jti": edit(st.sampled_from(["j", ""])),
    "sid": edit(st.sampled_from(["s1", ""])),
    "client_id": edit(st.sampled_from(["c", ""])),
    "scope": edit(st.sampled_from(["read", "", "read write"])),
}
TIMES = st.one_of(
    st.integers(NOW - 100, NOW + 100),
    st.floats(NOW - 100, NOW + 100),
    st.sampled_from([0, -1, MAX_NUMERIC_DATE, MAX_NUMERIC_DATE + 1, 2**64, 1e300, True, str(NOW)]),
)
TIME_EDITS = {name: edit(TIMES) for name in ("exp", "iat", "nbf")}


def apply(edits: dict[str, Any]) -> dict[str, Any]:
    claims = base_claims()
    for name, value in edits.items():
        if value == DELETE:
            claims.pop(name, None)
        elif value != KEEP:
            claims[name] = value
    return claims


@pytest.mark.parametrize("alg", ["HS256", "ES256"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.fixed_dictionaries(TEXT_EDITS))
def test_claim_edits_follow_the_rules_and_the_other_libraries(
    alg: str, edits: dict[str, Any], keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg[alg]
    claims = apply(edits)
    token = compact({"alg": alg, "typ": "at+jwt", "kid": key.kid}, claims, signer_for(key))
    ours = we_accept(verifier, token)
    assert ours == model_accepts(claims, NOW)
    if ours:
        assert pyjwt_accepts(token, key, check_time=False) or joserfc_accepts(token, key.public_key(), NOW)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.fixed_dictionaries(TIME_EDITS), skew=st.integers(-200, 200))
def test_time_claim_edits_follow_the_rules(
    edits: dict[str, Any], skew: int, keys_by_alg: dict[str, Any], verifier: Verifier
) -> None:
    key = keys_by_alg["HS256"]
    claims = apply(edits)
    token = compact({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, claims, signer_for(key))
    now = NOW + skew
    ours = we_accept(verifier, token, now=now)
    assert ours == model_accepts(claims, now)
    if ours:
        assert joserfc_accepts(token, key, now) or pyjwt_accepts(token, key, check_time=False)


def test_model_accepts_the_baseline() -> None:
    assert model_accepts(base_claims(), NOW)
    assert not model_accepts({**base_claims(), "aud": []}, NOW)
    assert encode_json(base_claims())
