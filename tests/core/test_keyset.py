"""Key sets (RFC 7517 section 5): built from keys, exported as a public JWKS, imported, looked up by kid."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate import ConfigError, KeySet, UnknownKey, generate_key, key_from_jwk

from .conftest import ALGS, ASYMMETRIC_ALGS

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def test_lookup_by_kid(keys_by_alg: dict[str, Any]) -> None:
    keys = KeySet(keys_by_alg.values())
    assert len(keys) == len(ALGS)
    for key in keys_by_alg.values():
        assert key.kid in keys
        assert keys.get(key.kid) is key
    assert {key.kid for key in keys} == {key.kid for key in keys_by_alg.values()}


@pytest.mark.parametrize("kid", ["missing", "", "../../etc/passwd", "x" * 300, None, 7, ["a"]])
def test_unknown_kid(kid: Any, keys_by_alg: dict[str, Any]) -> None:
    keys = KeySet(keys_by_alg.values())
    if isinstance(kid, str):
        assert kid not in keys
    with pytest.raises(UnknownKey) as info:
        keys.get(kid)
    if isinstance(kid, str) and len(kid) <= 256:
        assert info.value.kid == kid  # lets a JWKS client refetch and retry


def test_duplicate_kids_are_refused() -> None:
    with pytest.raises(ConfigError):
        KeySet([generate_key("ES256", kid="same"), generate_key("EdDSA", kid="same")])


def test_only_keys_are_accepted() -> None:
    with pytest.raises(ConfigError):
        KeySet([{"kty": "oct", "k": "c2VjcmV0"}])  # type: ignore[list-item]


def test_jwks_export_is_public_only(keys_by_alg: dict[str, Any]) -> None:
    document = KeySet(keys_by_alg.values()).to_jwks()
    assert set(document) == {"keys"}
    published = {jwk["kid"]: jwk for jwk in document["keys"]}
    # Private halves are exported without private members; symmetric secrets are never published.
    assert set(published) == {keys_by_alg[alg].kid for alg in ASYMMETRIC_ALGS}
    for jwk in published.values():
        assert PRIVATE_MEMBERS.isdisjoint(jwk)
        assert jwk["use"] == "sig"
    json.dumps(document)  # a plain JSON document


def test_jwks_round_trip_verifies(keys_by_alg: dict[str, Any]) -> None:
    document = KeySet(keys_by_alg.values()).to_jwks()
    imported = KeySet.from_jwks(json.loads(json.dumps(document)))
    assert len(imported) == len(ASYMMETRIC_ALGS)
    for alg in ASYMMETRIC_ALGS:
        key = imported.get(keys_by_alg[alg].kid)
        assert (key.alg, key.is_private) == (alg, False)
        key.verify(b"m", keys_by_alg[alg].sign(b"m"))


@pytest.mark.parametrize("document", [None, [], {}, {"keys": {}}, {"keys": "x"}, {"other": []}])
def test_not_a_jwks_is_a_config_error(document: Any) -> None:
    with pytest.raises(ConfigError):
        KeySet.from_jwks(document)


def test_jwks_entries_that_cannot_verify_are_left_out(keys_by_alg: dict[str, Any]) -> None:
    good = keys_by_alg["ES256"].to_jwk()
    encryption = {**keys_by_alg["RS256"].to_jwk(), "use": "enc"}
    wrong_ops = {**keys_by_alg["EdDSA"].to_jwk(), "key_ops": ["encrypt"]}
    unknown = {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA", "kid": "k1"}
    keys = KeySet.from_jwks({"keys": [good, encryption, wrong_ops, unknown]})
    assert [key.kid for key in keys] == [good["kid"]]
    assert len(keys.skipped) == 3
    with pytest.raises(UnknownKey):
        keys.get(encryption["kid"])


def test_empty_key_set_knows_nothing() -> None:
    keys = KeySet([])
    assert len(keys) == 0
    with pytest.raises(UnknownKey):
        keys.get("any")


def test_keyset_repr_shows_kids_not_material(keys_by_alg: dict[str, Any]) -> None:
    keys = KeySet(keys_by_alg.values())
    text = repr(keys)
    for key in keys_by_alg.values():
        for member, value in key.to_jwk(private=True).items():
            if member in PRIVATE_MEMBERS:
                assert value not in text


def test_from_jwks_keeps_the_declared_algorithm(keys_by_alg: dict[str, Any]) -> None:
    jwk = keys_by_alg["PS256"].to_jwk()
    key = KeySet.from_jwks({"keys": [jwk]}).get(jwk["kid"])
    assert key.alg == "PS256"
    assert key_from_jwk(jwk).alg == "PS256"
