"""Total functions: whatever arrives, the verifier raises a TokenError (never another exception, which an
HTTP edge would turn into a 500) and key import raises a ConfigError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtgate import ConfigError, KeySet, TokenError, Verifier, key_from_jwk
from jwtgate.jose.jws import verify_compact

from ._forge import b64e
from .conftest import AUDIENCE, ISSUER, FrozenClock

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEGMENT = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{0,60}", fullmatch=True),
    st.binary(max_size=60).map(b64e),
    st.builds(lambda v: b64e(json.dumps(v).encode()), st.dictionaries(st.text(max_size=5), st.integers())),
)
TOKENISH = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", SEGMENT, SEGMENT, SEGMENT),
    st.lists(SEGMENT, max_size=6).map(".".join),
)


@pytest.fixture(scope="module")
def verifier(keys_by_alg: dict[str, Any]) -> Verifier:
    keys = KeySet([key.public_key() for key in keys_by_alg.values()])
    return Verifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock())


@FUZZ
@given(token=TOKENISH)
def test_verifier_only_raises_token_errors(token: str, verifier: Verifier) -> None:
    with pytest.raises(TokenError):
        verifier.verify(token)


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit", "x"]), st.none() | st.text(max_size=8) | st.integers()
    ),
    body=st.binary(max_size=40),
)
def test_verifier_only_raises_token_errors_on_odd_headers(
    header: dict[str, Any], body: bytes, verifier: Verifier, keys_by_alg: dict[str, Any]
) -> None:
    token = f"{b64e(json.dumps(header).encode())}.{b64e(body)}.{b64e(b'sig')}"
    with pytest.raises(TokenError):
        verifier.verify(token)
    with pytest.raises(TokenError):
        verify_compact(token, KeySet([keys_by_alg["HS256"]]))


JWK_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=12),
    st.binary(max_size=70).map(b64e),
    st.lists(st.text(max_size=8), max_size=3),
)


@FUZZ
@given(
    jwk=st.dictionaries(
        st.sampled_from(
            ["kty", "alg", "crv", "k", "n", "e", "d", "x", "y", "p", "q", "use", "key_ops", "kid"]
        ),
        JWK_VALUES,
    ),
    kty=st.sampled_from(["oct", "RSA", "EC", "OKP", "other"]),
    alg=st.sampled_from([None, "HS256", "RS256", "ES256", "EdDSA", "none"]),
)
def test_key_import_only_raises_config_errors(jwk: dict[str, Any], kty: str, alg: str | None) -> None:
    try:
        key = key_from_jwk({"kty": kty, **jwk} if "kty" not in jwk else jwk, alg)
    except ConfigError:
        return
    # Anything accepted is a coherent key: it can at least produce its public JWK / thumbprint.
    assert key.thumbprint()


@FUZZ
@given(
    document=st.one_of(
        st.none(),
        st.lists(st.integers()),
        st.dictionaries(
            st.just("keys"), st.lists(st.dictionaries(st.text(max_size=4), JWK_VALUES), max_size=3)
        ),
    )
)
def test_jwks_import_only_raises_config_errors(document: Any) -> None:
    try:
        keys = KeySet.from_jwks(document)
    except ConfigError:
        return
    assert len(keys) + len(keys.skipped) == len(document["keys"])
