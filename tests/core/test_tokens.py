"""The access-token profile (RFC 9068, issue 2): Issuer and Verifier with a frozen clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate import (
    ConfigError,
    ExpiredToken,
    InvalidClaim,
    Issuer,
    KeySet,
    MalformedToken,
    NotYetValid,
    UnknownKey,
    Verifier,
    WrongType,
    generate_key,
)
from jwtgate.tokens import REGISTERED_CLAIMS

from ._forge import b64d
from ._tokens import base_claims, forge
from .conftest import ALGS, AUDIENCE, ISSUER, NOW, FrozenClock


@pytest.fixture
def key(keys_by_alg: dict[str, Any]) -> Any:
    return keys_by_alg["HS256"]


def make_verifier(key: Any, clock: FrozenClock, **options: Any) -> Verifier:
    return Verifier(KeySet([key.public_key()]), issuer=ISSUER, audience=AUDIENCE, clock=clock, **options)


def make_issuer(key: Any, clock: FrozenClock, **options: Any) -> Issuer:
    return Issuer(key, issuer=ISSUER, audience=AUDIENCE, clock=clock, **options)


# -- issue -> verify -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_issued_token_verifies(alg: str, keys_by_alg: dict[str, Any], clock: FrozenClock) -> None:
    key = keys_by_alg[alg]
    token = make_issuer(key, clock).issue(subject="alice", ttl=900, scope="read", session_id="s1")
    header = json.loads(b64d(token.split(".")[0]))
    assert header == {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    claims = make_verifier(key, clock).verify(token)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "alice"
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] == NOW + 900
    assert claims["iat"] == claims["nbf"] == NOW
    assert claims["client_id"] == "jwtgate"
    assert claims["sid"] == "s1"
    assert claims["scope"] == "read"
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


def test_mint_returns_the_claims_it_signed(key: Any, clock: FrozenClock) -> None:
    issuer = make_issuer(key, clock)
    minted = issuer.mint("bob", ttl=60, scope=["read", "write"], claims={"roles": ["admin"]})
    assert make_verifier(key, clock).verify(minted.token) == minted.claims
    assert minted.claims["scope"] == "read write"
    assert minted.claims["roles"] == ["admin"]
    assert minted.token not in repr(minted)


def test_each_token_gets_a_fresh_jti(key: Any, clock: FrozenClock) -> None:
    issuer = make_issuer(key, clock)
    jtis = {issuer.mint("alice").claims["jti"] for _ in range(20)}
    assert len(jtis) == 20
    assert issuer.mint("alice", jti="chosen").claims["jti"] == "chosen"


def test_issuer_uses_its_clock_and_now_overrides_it(key: Any, clock: FrozenClock) -> None:
    issuer = make_issuer(key, clock)
    clock.advance(100)
    assert issuer.mint("alice", ttl=10).claims["iat"] == NOW + 100
    assert issuer.mint("alice", ttl=10, now=NOW + 5).claims["exp"] == NOW + 15


def test_audience_per_token(key: Any, clock: FrozenClock) -> None:
    issuer = make_issuer(key, clock)
    token = issuer.issue("alice", audience="billing")
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(token)
    assert info.value.claim == "aud"
    billing = Verifier(KeySet([key]), issuer=ISSUER, audience=["api", "billing"], clock=clock)
    assert billing.verify(token)["aud"] == "billing"


def test_issuer_refuses_a_public_key(keys_by_alg: dict[str, Any], clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        make_issuer(keys_by_alg["ES256"].public_key(), clock)


@pytest.mark.parametrize("name", sorted(REGISTERED_CLAIMS))
def test_caller_claims_cannot_override_registered_ones(name: str, key: Any, clock: FrozenClock) -> None:
    issuer = make_issuer(key, clock)
    with pytest.raises(ConfigError):
        issuer.issue("alice", session_id="s1", scope="read", claims={name: "evil"})


def test_registered_claims_cover_the_profile() -> None:
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "sid", "scope"} <= REGISTERED_CLAIMS


@pytest.mark.parametrize("ttl", [0, -1, 1.5, "60", 10**9])
def test_bad_ttl_is_a_config_error(ttl: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        make_issuer(key, clock).issue("alice", ttl=ttl)


# -- typ -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_access_token_types_accepted(typ: str, key: Any, clock: FrozenClock) -> None:
    # RFC 7515 section 4.1.9: typ values compare case-insensitively.
    make_verifier(key, clock).verify(forge(key, header={"typ": typ}))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "dpop+jwt", "application/jwt", "at+jwt ", "", "at"])
def test_other_types_are_refused(typ: str, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(WrongType):
        make_verifier(key, clock).verify(forge(key, header={"typ": typ}))


def test_missing_typ_is_refused(key: Any, clock: FrozenClock) -> None:
    with pytest.raises(WrongType):
        make_verifier(key, clock).verify(forge(key, drop_header=("typ",)))


def test_verifier_types_are_configurable(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, types=("example+jwt",))
    verifier.verify(forge(key, header={"typ": "example+jwt"}))
    with pytest.raises(WrongType):
        verifier.verify(forge(key))


# -- iss / aud -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://auth.example/",
        "https://auth.example.evil",
        "https://auth.exampl",
        "HTTPS://AUTH.EXAMPLE",
        "https://evil/https://auth.example",
        " https://auth.example",
        "",
        None,
        ["https://auth.example"],
        {"https://auth.example": 1},
        1,
    ],
)
def test_iss_must_match_exactly(iss: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(forge(key, claims={"iss": iss}))
    assert info.value.claim == "iss"


@pytest.mark.parametrize("aud", ["api", ["api"], ["other", "api"], ["api", "other"]])
def test_aud_membership(aud: Any, key: Any, clock: FrozenClock) -> None:
    assert make_verifier(key, clock).verify(forge(key, claims={"aud": aud}))["aud"] == aud


@pytest.mark.parametrize(
    "aud",
    [
        "apix",
        "ap",
        "API",
        "api ",
        "",
        [],
        [["api"]],
        ["other"],
        [1],
        [None],
        1,
        None,
        True,
        {"api": 1},
        ["api", 1],
    ],
)
def test_aud_must_contain_the_audience_exactly(aud: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(forge(key, claims={"aud": aud}))
    assert info.value.claim == "aud"


def test_verifier_with_several_audiences(key: Any, clock: FrozenClock) -> None:
    verifier = Verifier(KeySet([key]), issuer=ISSUER, audience=["api", "admin"], clock=clock)
    verifier.verify(forge(key, claims={"aud": "admin"}))
    verifier.verify(forge(key, claims={"aud": ["x", "api"]}))
    with pytest.raises(InvalidClaim):
        verifier.verify(forge(key, claims={"aud": "x"}))


# -- time ------------------------------------------------------------------------------------------


def test_exp_with_leeway(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, leeway=30)
    token = forge(key, claims={"exp": NOW + 10})
    clock.now = NOW + 10 + 29
    verifier.verify(token)
    clock.now = NOW + 10 + 30  # RFC 7519: the current time must be *before* exp (plus leeway)
    with pytest.raises(ExpiredToken):
        verifier.verify(token)
    with pytest.raises(ExpiredToken):
        verifier.verify(token, now=NOW + 10_000)
    verifier.verify(token, now=NOW)  # an explicit now overrides the clock


def test_zero_leeway_is_exact(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, leeway=0)
    token = forge(key, claims={"exp": NOW + 10, "nbf": NOW + 5, "iat": NOW})
    with pytest.raises(NotYetValid):
        verifier.verify(token, now=NOW + 4)
    verifier.verify(token, now=NOW + 5)
    verifier.verify(token, now=NOW + 9.999)
    with pytest.raises(ExpiredToken):
        verifier.verify(token, now=NOW + 10)


def test_nbf_with_leeway(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, leeway=30)
    verifier.verify(forge(key, claims={"nbf": NOW + 30}))
    with pytest.raises(NotYetValid):
        verifier.verify(forge(key, claims={"nbf": NOW + 31}))


def test_iat_in_the_future_beyond_leeway(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, leeway=30)
    verifier.verify(forge(key, claims={"iat": NOW + 30}))
    with pytest.raises(NotYetValid):
        verifier.verify(forge(key, claims={"iat": NOW + 31}))


def test_default_leeway_is_30_seconds(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock)
    token = forge(key, claims={"exp": NOW})
    verifier.verify(token, now=NOW + 29)
    with pytest.raises(ExpiredToken):
        verifier.verify(token, now=NOW + 30)


@pytest.mark.parametrize("leeway", [301, 3600, -1, 1.5, "30", None])
def test_leeway_is_bounded(leeway: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        make_verifier(key, clock, leeway=leeway)


def test_leeway_of_300_is_allowed(key: Any, clock: FrozenClock) -> None:
    make_verifier(key, clock, leeway=300).verify(forge(key, claims={"exp": NOW}), now=NOW + 299)


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value", [str(NOW + 100), True, False, None, [NOW + 100], {"t": NOW + 100}, -1, 10**30, "1e3"]
)
def test_numeric_dates_must_be_numbers(name: str, value: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(forge(key, claims={name: value}))
    assert info.value.claim == name


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_numeric_dates_may_be_fractional(name: str, key: Any, clock: FrozenClock) -> None:
    value = NOW + 100.5 if name == "exp" else NOW - 0.5
    assert make_verifier(key, clock).verify(forge(key, claims={name: value}))[name] == value


# -- required claims -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iss", "sub", "aud", "exp", "iat", "jti"])
def test_default_required_claims(name: str, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(forge(key, drop=(name,)))
    assert info.value.claim == name


@pytest.mark.parametrize("name", ["iss", "sub", "jti", "sid", "client_id"])
def test_required_claims_may_not_be_null(name: str, key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(
        key, clock, require=("iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id")
    )
    with pytest.raises(InvalidClaim) as info:
        verifier.verify(forge(key, claims={name: None}))
    assert info.value.claim == name


@pytest.mark.parametrize("name", ["sub", "jti", "sid", "client_id", "scope"])
@pytest.mark.parametrize("value", [1, ["x"], {"x": 1}, True])
def test_string_claims_must_be_strings(name: str, value: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(InvalidClaim) as info:
        make_verifier(key, clock).verify(forge(key, claims={name: value}))
    assert info.value.claim == name


def test_optional_claims_are_optional(key: Any, clock: FrozenClock) -> None:
    claims = make_verifier(key, clock).verify(forge(key, drop=("nbf", "sid", "scope", "client_id")))
    assert "sid" not in claims


def test_extra_required_claims(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, require=("iss", "sub", "aud", "exp", "iat", "jti", "sid"))
    verifier.verify(forge(key))
    with pytest.raises(InvalidClaim) as info:
        verifier.verify(forge(key, drop=("sid",)))
    assert info.value.claim == "sid"


def test_exp_is_required_even_when_not_listed(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, require=("iss",))
    with pytest.raises(InvalidClaim) as info:
        verifier.verify(forge(key, drop=("exp",)))
    assert info.value.claim == "exp"


def test_caller_claims_come_back(key: Any, clock: FrozenClock) -> None:
    token = make_issuer(key, clock).issue("alice", claims={"roles": ["a", "b"], "tenant": "t1"})
    claims = make_verifier(key, clock).verify(token)
    assert (claims["roles"], claims["tenant"]) == (["a", "b"], "t1")


# -- size, keys ------------------------------------------------------------------------------------


def test_max_token_size(key: Any, clock: FrozenClock) -> None:
    token = forge(key, claims={"pad": "x" * 600})
    make_verifier(key, clock, max_token_size=len(token)).verify(token)
    with pytest.raises(MalformedToken):
        make_verifier(key, clock, max_token_size=len(token) - 1).verify(token)


def test_default_max_size_is_8_kib(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock)
    fits = forge(key, claims={"pad": "x" * 5600})
    assert len(fits) <= 8192
    verifier.verify(fits)
    too_big = forge(key, claims={"pad": "x" * 6200})
    assert len(too_big) > 8192
    with pytest.raises(MalformedToken):
        verifier.verify(too_big)


def test_unknown_kid_carries_the_kid(key: Any, keys_by_alg: dict[str, Any], clock: FrozenClock) -> None:
    other = keys_by_alg["HS384"]
    verifier = Verifier(KeySet([other]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    with pytest.raises(UnknownKey) as info:
        verifier.verify(forge(key))
    assert info.value.kid == key.kid


# -- cache -----------------------------------------------------------------------------------------


def test_cache_still_checks_expiry(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key, claims={"exp": NOW + 60})
    assert verifier.verify(token)["sub"] == "alice"
    assert verifier.verify(token)["sub"] == "alice"  # served from the cache
    clock.now = NOW + 60 + 30
    with pytest.raises(ExpiredToken):
        verifier.verify(token)


def test_cache_still_checks_not_before(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key, claims={"nbf": NOW + 100})
    verifier.verify(token, now=NOW + 100)
    with pytest.raises(NotYetValid):
        verifier.verify(token, now=NOW)


def test_update_keys_clears_the_cache(key: Any, keys_by_alg: dict[str, Any], clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key)
    verifier.verify(token)
    verifier.update_keys(KeySet([keys_by_alg["ES256"].public_key()]))
    with pytest.raises(UnknownKey):
        verifier.verify(token)
    verifier.update_keys(KeySet([key]))
    verifier.verify(token)


def test_cache_returns_a_fresh_dict(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key)
    first = verifier.verify(token)
    first["sub"] = "mallory"
    first.pop("exp")
    second = verifier.verify(token)
    assert second["sub"] == "alice"
    assert second["exp"] == NOW + 900


def test_cache_never_holds_rejected_tokens(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key, claims={"aud": "other"})
    for _ in range(3):
        with pytest.raises(InvalidClaim):
            verifier.verify(token)


def test_cache_is_bounded(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock, cache_size=2)
    tokens = [forge(key, claims={"jti": f"j{i}"}) for i in range(5)]
    for token in tokens:
        verifier.verify(token)
    # Every token still verifies (evicted ones are verified again), and time is checked for all.
    for token in tokens:
        assert verifier.verify(token)["sub"] == "alice"
        with pytest.raises(ExpiredToken):
            verifier.verify(token, now=NOW + 10_000)


@pytest.mark.parametrize("cache_size", [-1, 1.5, "8"])
def test_cache_size_is_validated(cache_size: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        make_verifier(key, clock, cache_size=cache_size)


# -- construction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": ""},
        {"issuer": None},
        {"audience": []},
        {"audience": ""},
        {"audience": ["api", 1]},
    ],
)
def test_verifier_configuration_is_validated(options: dict[str, Any], key: Any, clock: FrozenClock) -> None:
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **options}
    with pytest.raises(ConfigError):
        Verifier(KeySet([key]), clock=clock, **settings)


def test_verifier_needs_a_keyset(key: Any) -> None:
    with pytest.raises(ConfigError):
        Verifier([key], issuer=ISSUER, audience=AUDIENCE)  # type: ignore[arg-type]


def test_base_claims_helper_is_a_valid_token(key: Any, clock: FrozenClock) -> None:
    assert make_verifier(key, clock).verify(forge(key)) == base_claims()


def test_cache_is_safe_across_threads(key: Any, clock: FrozenClock) -> None:
    # A Verifier is shared by worker threads (WSGI, FastAPI sync routes). Evicting from a small cache
    # while other threads do the same once raised KeyError/RuntimeError out of verify(), the KeyError
    # carrying a token in its message. Tiny switch intervals make the interleaving happen at once.
    import sys
    import threading

    verifier = make_verifier(key, clock, cache_size=2)
    tokens = [forge(key, claims={"jti": f"j{i}"}) for i in range(8)]
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(600):
                for token in tokens:
                    verifier.verify(token)
        except BaseException as err:  # any escape is the failure under test
            errors.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_header_cache_overflow_keeps_working(clock: FrozenClock) -> None:
    # The verifier remembers header checks for a bounded number of header segments; beyond that it
    # starts over. Many keys (one header each) must all keep verifying, and a removed key must fail.
    from jwtgate import generate_key

    keys = [generate_key("HS256") for _ in range(80)]
    verifier = Verifier(KeySet(keys), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    tokens = [forge(key) for key in keys]
    for _ in range(2):
        for token in tokens:
            assert verifier.verify(token)["sub"] == "alice"
    verifier.update_keys(KeySet(keys[1:]))
    with pytest.raises(UnknownKey):
        verifier.verify(tokens[0])


def test_issuer_with_several_audiences(key: Any, clock: FrozenClock) -> None:
    token = Issuer(key, issuer=ISSUER, audience=["api", "billing"], clock=clock).issue("alice")
    assert make_verifier(key, clock).verify(token)["aud"] == ["api", "billing"]


@pytest.mark.parametrize(
    "options",
    [
        {"default_ttl": 0},
        {"default_ttl": 100, "max_ttl": 50},
        {"issuer": ""},
        {"audience": []},
        {"client_id": ""},
    ],
)
def test_issuer_configuration_is_validated(options: dict[str, Any], key: Any, clock: FrozenClock) -> None:
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **options}
    with pytest.raises(ConfigError):
        Issuer(key, clock=clock, **settings)


def test_issuer_needs_a_key() -> None:
    with pytest.raises(ConfigError):
        Issuer("secret", issuer=ISSUER, audience=AUDIENCE)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 255, 65537, "8192"])
def test_max_token_size_is_bounded(size: Any, key: Any, clock: FrozenClock) -> None:
    with pytest.raises(ConfigError):
        make_verifier(key, clock, max_token_size=size)


def test_update_keys_needs_a_keyset(key: Any, clock: FrozenClock) -> None:
    verifier = make_verifier(key, clock)
    with pytest.raises(ConfigError):
        verifier.update_keys([key])  # type: ignore[arg-type]
    assert key.kid in verifier.keys


def test_cache_isolates_nested_claims(key: Any, clock: FrozenClock) -> None:
    # The guard shares one cached entry across requests carrying the same token. A handler that edits a
    # list or object inside its claims (roles, aud, cnf) must not change what the next request sees.
    verifier = make_verifier(key, clock, cache_size=8)
    token = forge(key, claims={"aud": ["api"], "roles": ["reader"], "cnf": {"jkt": "x"}, "deep": [[1]]})
    for _ in range(3):  # the first call (miss), then hits
        claims = verifier.verify(token)
        assert claims["roles"] == ["reader"]
        assert claims["aud"] == ["api"]
        assert claims["cnf"] == {"jkt": "x"}
        assert claims["deep"] == [[1]]
        claims["roles"].append("admin")
        claims["aud"].append("evil")
        claims["cnf"]["jkt"] = "y"
        claims["deep"][0].append(2)


def test_cache_admits_a_token_on_its_second_use(clock: FrozenClock) -> None:
    signing = generate_key("HS256")
    public = signing.public_key()
    checks: list[int] = []
    real = public._verify

    def counting(data: bytes, signature: bytes) -> None:
        checks.append(1)
        real(data, signature)

    public._verify = counting
    verifier = Verifier(KeySet([public]), issuer=ISSUER, audience=AUDIENCE, clock=clock, cache_size=4)
    once = forge(signing, claims={"jti": "used-once"})
    assert verifier.verify(once)["jti"] == "used-once"
    assert len(checks) == 1
    token = forge(signing, claims={"jti": "used-often"})
    for _ in range(5):
        assert verifier.verify(token)["jti"] == "used-often"
    assert len(checks) == 3  # verified on its first and second use, then served from the cache
    verifier.update_keys(KeySet([public]))
    verifier.verify(token)
    assert len(checks) == 4  # a key change empties the cache
