"""JWKSClient: caching, Cache-Control, rate-limited refetch, fail closed on garbage and timeouts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jwtgate import Key
from jwtgate.protect import JWKSClient, JWKSUnavailable

from .conftest import JWKS_URL, AuthServer, Clock


def client_for(server: AuthServer, clock: Clock, **options: float) -> JWKSClient:
    options.setdefault("min_refetch_interval", 10.0)
    return JWKSClient(
        JWKS_URL,
        http_client=server.async_client(),
        sync_http_client=server.sync_client(),
        clock=clock,
        **options,
    )


async def test_first_fetch_then_cached_until_max_age(server: AuthServer, clock: Clock) -> None:
    jwks = client_for(server, clock)
    keys = await jwks.refresh()
    assert "k1" in keys
    assert server.jwks_hits == 1
    clock.advance(299)
    assert not jwks.is_stale()
    assert await jwks.refresh() is keys
    assert server.jwks_hits == 1
    clock.advance(1)
    assert jwks.is_stale()
    await jwks.refresh()
    assert server.jwks_hits == 2


@pytest.mark.parametrize(
    ("cache_control", "age"),
    [
        ("max-age=60", 60),
        ("public, max-age=120", 120),
        ("max-age=1", 10),  # bounded below by min_refetch_interval
        ("max-age=99999999", 3600),  # bounded above by max_cache_age
        ("no-store", 10),
        ("max-age=abc", 300),  # unparseable: the default
        (None, 300),
    ],
)
async def test_cache_control_is_honoured_within_bounds(
    server: AuthServer, clock: Clock, cache_control: str | None, age: float
) -> None:
    server.cache_control = cache_control
    jwks = client_for(server, clock, max_cache_age=3600)
    await jwks.refresh()
    assert jwks.refresh_at == clock.now + age


async def test_unknown_kid_refetches_at_most_once_per_interval(
    server: AuthServer, clock: Clock, other_key: Key
) -> None:
    jwks = client_for(server, clock)
    await jwks.refresh()
    clock.advance(10)
    for n in range(50):
        keys = await jwks.refresh(kid=f"random-{n}")
        assert "k1" in keys
    assert server.jwks_hits == 2  # first fetch + one refetch for the first random kid
    server.keys.append(other_key.public_key())
    keys = await jwks.refresh(kid="k2")
    assert "k2" not in keys  # still inside the quiet window
    clock.advance(10)
    keys = await jwks.refresh(kid="k2")
    assert "k2" in keys
    assert server.jwks_hits == 3


async def test_known_kid_does_not_refetch(server: AuthServer, clock: Clock) -> None:
    jwks = client_for(server, clock)
    await jwks.refresh()
    clock.advance(60)
    await jwks.refresh(kid="k1")
    assert server.jwks_hits == 1


async def test_concurrent_refreshes_share_one_fetch(server: AuthServer, clock: Clock) -> None:
    jwks = client_for(server, clock)
    results = await asyncio.gather(*(jwks.refresh() for _ in range(20)))
    assert server.jwks_hits == 1
    assert all(keys is results[0] for keys in results)


GARBAGE = {
    "not json": lambda: httpx.Response(200, content=b"<html>oops</html>"),
    "json array": lambda: httpx.Response(200, content=b"[1, 2]"),
    "keys not a list": lambda: httpx.Response(200, json={"keys": "k1"}),
    "no keys member": lambda: httpx.Response(200, json={"kid": "k1"}),
    "unusable keys": lambda: httpx.Response(200, json={"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB"}, 7]}),
    "only a symmetric key": lambda: httpx.Response(
        200, json={"keys": [{"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0" * 8}]}
    ),
    "empty key list": lambda: httpx.Response(200, json={"keys": []}),
    "server error": lambda: httpx.Response(500, content=b"{}"),
    "redirect": lambda: httpx.Response(302, headers={"location": "https://evil.test/jwks"}),
    "binary": lambda: httpx.Response(200, content=bytes(range(256))),
    "huge": lambda: httpx.Response(200, content=b'{"keys": [' + b" " * 300_000 + b"]}"),
}


def _raise(exc: Exception) -> httpx.Response:
    raise exc


FAILURES = {
    **GARBAGE,
    "timeout": lambda: _raise(httpx.ReadTimeout("slow")),
    "connection refused": lambda: _raise(httpx.ConnectError("refused")),
}


@pytest.mark.parametrize("answer", FAILURES.values(), ids=FAILURES.keys())
async def test_without_cached_keys_a_bad_answer_is_unavailable(
    server: AuthServer, clock: Clock, answer: object
) -> None:
    server.jwks_answer = answer  # type: ignore[assignment]
    jwks = client_for(server, clock)
    with pytest.raises(JWKSUnavailable) as caught:
        await jwks.refresh()
    assert caught.value.retry_after == 10
    assert jwks.keys is None
    with pytest.raises(JWKSUnavailable):
        jwks.refresh_sync()
    assert server.jwks_hits == 1  # the failed attempt also opens the quiet window


@pytest.mark.parametrize("answer", FAILURES.values(), ids=FAILURES.keys())
async def test_with_cached_keys_a_bad_answer_keeps_them(
    server: AuthServer, clock: Clock, answer: object
) -> None:
    jwks = client_for(server, clock)
    good = await jwks.refresh()
    server.jwks_answer = answer  # type: ignore[assignment]
    clock.advance(300)
    assert await jwks.refresh() is good
    assert await jwks.refresh(kid="other") is good
    assert server.jwks_hits == 2
    # The server comes back: the next allowed attempt picks up new keys.
    server.jwks_answer = None
    clock.advance(10)
    assert jwks.is_stale()
    assert await jwks.refresh() is not good
    assert server.jwks_hits == 3


def test_sync_path_shares_the_cache_and_the_policy(server: AuthServer, clock: Clock) -> None:
    jwks = client_for(server, clock)
    keys = jwks.refresh_sync()
    assert "k1" in keys
    assert jwks.refresh_sync(kid="nope") is keys  # fetched < 10 s ago: no refetch
    assert server.jwks_hits == 1
    clock.advance(300)
    assert jwks.refresh_sync() is not keys
    assert server.jwks_hits == 2
    jwks.close_sync()


def test_duplicate_kids_are_refused(server: AuthServer, clock: Clock, rsa_key: Key) -> None:
    jwk = rsa_key.public_key().to_jwk()
    server.jwks_answer = lambda: httpx.Response(200, json={"keys": [jwk, jwk]})
    with pytest.raises(JWKSUnavailable):
        client_for(server, clock).refresh_sync()


def test_private_members_are_dropped(server: AuthServer, clock: Clock, rsa_key: Key) -> None:
    server.jwks_answer = lambda: httpx.Response(200, json={"keys": [rsa_key.to_jwk(private=True)]})
    keys = client_for(server, clock).refresh_sync()
    assert not keys.get("k1").is_private


def test_info_and_repr_show_no_key_material(server: AuthServer, clock: Clock) -> None:
    jwks = client_for(server, clock)
    jwks.refresh_sync()
    assert jwks.info() == {"url": JWKS_URL, "keys": 1, "kids": ["k1"]}
    assert repr(jwks) == f"JWKSClient(url={JWKS_URL!r}, keys=1)"


def test_invalid_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="intervals"):
        JWKSClient(JWKS_URL, timeout=0)
    with pytest.raises(ValueError, match="intervals"):
        JWKSClient(JWKS_URL, min_refetch_interval=100, max_cache_age=10)


def test_unusable_entries_do_not_hide_the_good_key(server: AuthServer, clock: Clock, rsa_key: Key) -> None:
    good = rsa_key.public_key().to_jwk()
    entries = [
        {**good, "kid": "enc", "use": "enc"},
        {key: value for key, value in good.items() if key != "kid"},
        {"kty": "EC", "kid": "weird", "crv": "P-999", "x": "AA", "y": "AA", "alg": "ES256"},
        "not an object",
        good,
    ]
    server.jwks_answer = lambda: httpx.Response(200, json={"keys": entries})
    keys = client_for(server, clock).refresh_sync()
    assert [key.kid for key in keys] == ["k1"]
