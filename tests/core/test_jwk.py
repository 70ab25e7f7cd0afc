"""Keys as typed objects (issue 2): generate, import/export JWK and PEM for every algorithm, the RFC 7638
thumbprint as the default kid, the public part, size floors, and ``use`` / ``key_ops``."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwtgate import ConfigError, KeySet, generate_key, key_from_jwk, key_from_pem
from jwtgate.errors import BadSignature
from jwtgate.jose import OctKey

from ._forge import b64d, b64e
from .conftest import ALGS, ASYMMETRIC_ALGS, load_vector

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
KTY = {"HS": "oct", "RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_is_bound_to_its_algorithm(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    assert key.alg == alg
    assert key.is_private
    assert key.kid == key.thumbprint()  # RFC 7638 thumbprint is the default kid
    assert generate_key(alg, kid="chosen").kid == "chosen"


@pytest.mark.parametrize("alg", ALGS)
def test_sign_then_verify_and_reject_tampering(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    signature = key.sign(b"signing input")
    key.public_key().verify(b"signing input", signature)
    with pytest.raises(BadSignature):
        key.public_key().verify(b"signing inpuT", signature)
    with pytest.raises(BadSignature):
        key.public_key().verify(b"signing input", bytes([signature[0] ^ 1]) + signature[1:])


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_public_key_has_no_private_part(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    public = key.public_key()
    assert not public.is_private
    assert (public.alg, public.kid) == (key.alg, key.kid)
    assert public.thumbprint() == key.thumbprint()
    with pytest.raises(ConfigError):
        public.sign(b"data")
    with pytest.raises(ConfigError):
        public.to_jwk(private=True)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_symmetric_public_key_is_itself(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    assert key.public_key() is key
    with pytest.raises(ConfigError):
        key.to_jwk()  # a secret has no public form
    with pytest.raises(ConfigError):
        key.to_pem()


@pytest.mark.parametrize("alg", ALGS)
def test_jwk_round_trip(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    private_jwk = key.to_jwk(private=True)
    assert private_jwk["kty"] == KTY[alg[:2]]
    assert (private_jwk["alg"], private_jwk["kid"]) == (alg, key.kid)
    imported = key_from_jwk(private_jwk)
    assert imported.is_private
    assert (imported.alg, imported.kid) == (alg, key.kid)
    key.public_key().verify(b"x", imported.sign(b"x"))
    if key.kty != "oct":
        public_jwk = key.to_jwk()
        assert PRIVATE_MEMBERS.isdisjoint(public_jwk)
        public = key_from_jwk(public_jwk)
        assert not public.is_private
        public.verify(b"x", key.sign(b"x"))


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_pem_round_trip(alg: str, keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg[alg]
    private_pem = key.to_pem(private=True)
    public_pem = key.to_pem(private=False)
    assert b"PRIVATE KEY" in private_pem
    assert b"BEGIN PUBLIC KEY" in public_pem
    imported = key_from_pem(private_pem, alg)
    assert imported.is_private
    assert imported.kid == key.kid  # same key material, same thumbprint
    public = key_from_pem(public_pem, alg, kid="k1")
    assert (public.is_private, public.kid) == (False, "k1")
    public.verify(b"y", imported.sign(b"y"))


def test_encrypted_pem_needs_its_password(keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["ES256"]
    pem = key.to_pem(private=True, password=b"correct horse")
    assert b"ENCRYPTED" in pem
    assert key_from_pem(pem, "ES256", password=b"correct horse").kid == key.kid
    with pytest.raises(ConfigError):
        key_from_pem(pem, "ES256", password=b"wrong")
    with pytest.raises(ConfigError):
        key_from_pem(pem, "ES256")


@pytest.mark.parametrize(
    ("alg", "other"), [("RS256", "ES256"), ("ES256", "EdDSA"), ("EdDSA", "RS256"), ("ES384", "ES256")]
)
def test_pem_of_the_wrong_type_is_refused(alg: str, other: str, keys_by_alg: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        key_from_pem(keys_by_alg[alg].to_pem(private=False), other)


def test_garbage_pem_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        key_from_pem(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "RS256")


def test_rfc7638_thumbprint() -> None:
    vector = load_vector("rfc7638_thumbprint.json")
    key = key_from_jwk(vector["jwk"])
    assert key.thumbprint() == vector["thumbprint"]
    assert key.kid == "2011-04-29"  # an explicit kid is kept, the thumbprint is only the default
    without_kid = {k: v for k, v in vector["jwk"].items() if k != "kid"}
    assert key_from_jwk(without_kid).kid == vector["thumbprint"]


def test_rfc8037_thumbprint_ignores_private_and_optional_members() -> None:
    vector = load_vector("rfc8037_appendix_a.json")
    private = key_from_jwk(vector["private_jwk"], "EdDSA")
    public = key_from_jwk({**vector["public_jwk"], "kid": "x", "use": "sig"}, "EdDSA")
    assert private.thumbprint() == public.thumbprint() == vector["thumbprint"]


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_key_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    with pytest.raises(ConfigError):
        key_from_jwk({"kty": "oct", "k": b64e(b"s" * (size - 1))}, alg)
    with pytest.raises(ConfigError):
        OctKey(b"s" * (size - 1), alg)
    assert key_from_jwk({"kty": "oct", "k": b64e(b"s" * size)}, alg).alg == alg


def test_hmac_secret_must_be_bytes() -> None:
    with pytest.raises(ConfigError):
        OctKey("a string secret that is long enough to pass", "HS256")  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [1024, 1536])
def test_rsa_smaller_than_2048_bits_is_refused(bits: int) -> None:
    small = rsa.generate_private_key(65537, bits)
    numbers = small.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64e(numbers.n.to_bytes(bits // 8, "big")), "e": "AQAB"}
    with pytest.raises(ConfigError):
        key_from_jwk(jwk, "RS256")
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError):
        key_from_pem(pem, "PS256")


@pytest.mark.parametrize("alg", ["none", "None", "HS1", "RS1", "ES256K", "EdDSA448", "", "hs256"])
def test_unknown_algorithms_are_refused(alg: str) -> None:
    with pytest.raises(ConfigError):
        generate_key(alg)
    with pytest.raises(ConfigError):
        key_from_jwk({"kty": "oct", "k": b64e(b"s" * 64)}, alg)


def test_jwk_without_any_algorithm_is_refused() -> None:
    with pytest.raises(ConfigError):
        key_from_jwk({"kty": "oct", "k": b64e(b"s" * 64)})


def test_jwk_alg_and_argument_must_agree(keys_by_alg: dict[str, Any]) -> None:
    jwk = keys_by_alg["RS256"].to_jwk()
    with pytest.raises(ConfigError):
        key_from_jwk(jwk, "PS256")


@pytest.mark.parametrize(
    ("source", "alg"),
    [("RS256", "ES256"), ("ES256", "RS256"), ("ES256", "ES384"), ("ES384", "ES256"), ("EdDSA", "ES256")],
)
def test_key_type_must_fit_the_algorithm(source: str, alg: str, keys_by_alg: dict[str, Any]) -> None:
    jwk = {k: v for k, v in keys_by_alg[source].to_jwk().items() if k != "alg"}
    with pytest.raises(ConfigError):
        key_from_jwk(jwk, alg)


def test_ec_point_off_the_curve_is_refused(keys_by_alg: dict[str, Any]) -> None:
    jwk = keys_by_alg["ES256"].to_jwk()
    y = bytearray(b64d(jwk["y"]))
    y[-1] ^= 1
    with pytest.raises(ConfigError):
        key_from_jwk({**jwk, "y": b64e(bytes(y))})


def test_okp_other_curves_are_refused(keys_by_alg: dict[str, Any]) -> None:
    jwk = keys_by_alg["EdDSA"].to_jwk()
    with pytest.raises(ConfigError):
        key_from_jwk({**jwk, "crv": "X25519"})
    with pytest.raises(ConfigError):
        key_from_jwk({**jwk, "crv": "Ed448"})


def test_okp_private_key_must_match_its_public_member() -> None:
    vector = load_vector("rfc8037_appendix_a.json")
    jwk = dict(vector["private_jwk"])
    jwk["x"] = load_vector("rfc7515_appendix_a.json")["tests"][2]["jwk"]["x"]  # some other 32 bytes
    with pytest.raises(ConfigError):
        key_from_jwk(jwk, "EdDSA")


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        [],
        "a string",
        {"kty": "oct"},
        {"kty": "oct", "k": 123},
        {"kty": "oct", "k": "c2VjcmV0=="},  # padded base64
        {"kty": "RSA", "n": "AQAB"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "DSA", "alg": "RS256"},
    ],
)
def test_malformed_jwks_are_config_errors(jwk: Any) -> None:
    with pytest.raises(ConfigError):
        key_from_jwk(jwk, "HS256" if isinstance(jwk, dict) and jwk.get("kty") == "oct" else "ES256")


@pytest.mark.parametrize(
    "marking",
    [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": ["sign"]}, {"key_ops": []}],
)
@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_keys_not_for_verification_never_verify(
    alg: str, marking: dict[str, Any], keys_by_alg: dict[str, Any]
) -> None:
    key = keys_by_alg[alg]
    signature = key.sign(b"data")
    jwk = key.to_jwk(private=alg.startswith("HS"))
    try:
        marked = key_from_jwk({**jwk, **marking})
    except ConfigError:
        return  # refusing the key outright is as good as never verifying with it
    assert not marked.can_verify
    with pytest.raises(BadSignature):
        marked.verify(b"data", signature)


@pytest.mark.parametrize(
    "marking", [{"use": "sig"}, {"key_ops": ["verify"]}, {"key_ops": ["sign", "verify"]}]
)
def test_keys_marked_for_verification_verify(marking: dict[str, Any], keys_by_alg: dict[str, Any]) -> None:
    key = keys_by_alg["ES256"]
    marked = key_from_jwk({**key.to_jwk(), **marking})
    marked.verify(b"data", key.sign(b"data"))


def test_key_repr_never_shows_key_material(keys_by_alg: dict[str, Any]) -> None:
    for key in keys_by_alg.values():
        private = key.to_jwk(private=True)
        text = repr(key) + str(key)
        for member in PRIVATE_MEMBERS & private.keys():
            assert private[member] not in text


def test_wrapped_cryptography_objects_are_accepted() -> None:
    from jwtgate.jose import ECKey, RSAKey

    assert ECKey(ec.generate_private_key(ec.SECP384R1()), "ES384").alg == "ES384"
    with pytest.raises(ConfigError):
        ECKey(ec.generate_private_key(ec.SECP256R1()), "ES384")
    with pytest.raises(ConfigError):
        RSAKey(ec.generate_private_key(ec.SECP256R1()), "RS256")  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_private_jwk_members_must_belong_together(
    alg: str, keys_by_alg: dict[str, Any], other_keys_by_alg: dict[str, Any]
) -> None:
    # A private value from one key with the public members of another is not a key at all.
    mixed = {**keys_by_alg[alg].to_jwk(private=True), "d": other_keys_by_alg[alg].to_jwk(private=True)["d"]}
    with pytest.raises(ConfigError):
        key_from_jwk(mixed)
    if alg == "RS256":  # d alone (no CRT members) is checked against n and e too
        for member in ("p", "q", "dp", "dq", "qi"):
            mixed.pop(member)
        with pytest.raises(ConfigError):
            key_from_jwk(mixed)


@pytest.mark.parametrize("crv", [[], {}, ["P-256"], 1, None])
@pytest.mark.parametrize("kty", ["EC", "OKP"])
def test_curve_that_is_not_a_string_is_a_config_error(kty: str, crv: Any) -> None:
    # Found by test_fuzz: a JWKS entry with "crv": [] raised TypeError (unhashable) instead of being
    # refused, which made KeySet.from_jwks crash instead of skipping the entry.
    with pytest.raises(ConfigError):
        key_from_jwk({"kty": kty, "crv": crv, "x": "AA", "y": "AA"})
    assert len(KeySet.from_jwks({"keys": [{"kty": kty, "crv": crv}]}).skipped) == 1


def test_rsa_private_jwk_without_crt_members(keys_by_alg: dict[str, Any]) -> None:
    full = keys_by_alg["RS256"].to_jwk(private=True)
    minimal = {k: v for k, v in full.items() if k not in ("p", "q", "dp", "dq", "qi")}
    key = key_from_jwk(minimal)  # the primes are recovered from n, e, d
    keys_by_alg["RS256"].public_key().verify(b"m", key.sign(b"m"))
    with pytest.raises(ConfigError):
        key_from_jwk({k: v for k, v in full.items() if k != "d"})  # CRT members without d


@pytest.mark.parametrize(
    "members",
    [{"kid": ""}, {"kid": "k" * 257}, {"kid": 5}, {"use": 1}, {"key_ops": "verify"}, {"key_ops": [1]}],
)
def test_jwk_metadata_is_validated(members: dict[str, Any], keys_by_alg: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        key_from_jwk({**keys_by_alg["ES256"].to_jwk(), **members})


def test_key_ops_are_exported(keys_by_alg: dict[str, Any]) -> None:
    jwk = {**keys_by_alg["ES256"].to_jwk(), "key_ops": ["verify"]}
    assert key_from_jwk(jwk).to_jwk()["key_ops"] == ["verify"]


def test_ec_private_value_of_the_wrong_length(keys_by_alg: dict[str, Any]) -> None:
    jwk = keys_by_alg["ES256"].to_jwk(private=True)
    with pytest.raises(ConfigError):
        key_from_jwk({**jwk, "d": b64e(b"\x00" + b64d(jwk["d"]))})


def test_hmac_keys_have_no_pem_import() -> None:
    with pytest.raises(ConfigError):
        key_from_pem(b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", "HS256")


def test_typed_constructors_refuse_other_objects() -> None:
    from jwtgate.jose import ECKey, OKPKey

    with pytest.raises(ConfigError):
        ECKey(b"not a key", "ES256")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        OKPKey(b"not a key", "EdDSA")  # type: ignore[arg-type]
