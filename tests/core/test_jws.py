"""Compact JWS (RFC 7515 section 7.1) at the low level: sign_compact / verify_compact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate import ConfigError, KeySet, MalformedToken, UnsupportedAlgorithm
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.jose.jws import sign_compact, verify_compact

from ._forge import b64d
from .conftest import ALGS


@pytest.mark.parametrize("alg", ALGS)
def test_sign_then_verify(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    token = sign_compact({"typ": "at+jwt"}, b'{"hello":"world"}', key)
    header, payload = verify_compact(token, KeySet([key.public_key()]))
    assert header == {"typ": "at+jwt", "alg": alg, "kid": key.kid}
    assert payload == b'{"hello":"world"}'


def test_the_key_decides_alg_and_kid(keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["ES256"]
    token = sign_compact({"alg": "none", "kid": "someone-else"}, b"{}", key)
    assert json.loads(b64d(token.split(".")[0])) == {"alg": "ES256", "kid": key.kid}
    verify_compact(token, KeySet([key]))


def test_allowed_header_members_are_the_callers_choice(keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["EdDSA"]
    token = sign_compact({"typ": "dpop+jwt", "jwk": key.to_jwk()}, b"{}", key)
    with pytest.raises(MalformedToken):
        verify_compact(token, KeySet([key]))  # access-token header set: alg, typ, kid only
    header, _ = verify_compact(token, KeySet([key]), allowed_header=frozenset({"alg", "typ", "kid", "jwk"}))
    assert header["jwk"]["x"] == key.to_jwk()["x"]


def test_max_size(keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["HS256"]
    token = sign_compact({}, b"x" * 300, key)
    verify_compact(token, KeySet([key]), max_size=len(token))
    with pytest.raises(MalformedToken):
        verify_compact(token, KeySet([key]), max_size=len(token) - 1)


@pytest.mark.parametrize("token", [b"a.b.c", None, 3])
def test_token_must_be_a_string(token: Any, keys_by_alg: dict[str, Any]) -> None:
    with pytest.raises(MalformedToken):
        verify_compact(token, KeySet([keys_by_alg["HS256"]]))


def test_public_keys_cannot_sign(keys_by_alg: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        sign_compact({}, b"{}", keys_by_alg["RS256"].public_key())


def test_kid_selects_among_several_keys(keys_by_alg: dict[str, Any]) -> None:
    keys = KeySet([key.public_key() for key in keys_by_alg.values()])
    for alg, key in keys_by_alg.items():
        header, _ = verify_compact(sign_compact({}, b"{}", key), keys)
        assert header["alg"] == alg


def test_header_alg_must_be_the_named_keys_alg(keys_by_alg: dict[str, Any]) -> None:
    rs = keys_by_alg["RS256"]
    _, payload, signature = sign_compact({}, b"{}", rs).split(".")
    forged_head = b64url_encode(dumps_compact({"alg": "PS256", "kid": rs.kid}))
    with pytest.raises(UnsupportedAlgorithm):  # refused before any signature check
        verify_compact(f"{forged_head}.{payload}.{signature}", KeySet([rs]))
