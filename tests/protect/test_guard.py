"""Guard with a JWKS URL: key fetch, rotation, cache clearing, fail-closed when keys are unavailable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from jwtgate import Issuer, Key, KeySet
from jwtgate.errors import ConfigError, ExpiredToken, InsufficientScope, UnknownKey
from jwtgate.jose.b64 import b64url_encode
from jwtgate.protect import Guard, JWKSClient, JWKSUnavailable, JWTAuthMiddleware, check_grants

from .asgi_driver import call
from .conftest import AUDIENCE, ISSUER, JWKS_URL, AuthServer, Clock, make_token


@pytest.fixture
async def guard(server: AuthServer, clock: Clock) -> AsyncIterator[Guard]:
    jwks = JWKSClient(JWKS_URL, http_client=server.async_client(), min_refetch_interval=10, clock=clock)
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=clock)
    yield guard
    await guard.aclose()


async def test_keys_are_fetched_on_first_use(guard: Guard, server: AuthServer, issuer: Issuer) -> None:
    claims = await guard.authenticate(make_token(issuer))
    assert claims["sub"] == "alice"
    await guard.authenticate(make_token(issuer))
    assert server.jwks_hits == 1


async def test_rotation_new_kid_is_fetched_and_old_cached_tokens_are_dropped(
    guard: Guard, server: AuthServer, issuer: Issuer, other_key: Key, clock: Clock
) -> None:
    old_token = make_token(issuer)
    await guard.authenticate(old_token)  # now in the verified-token cache
    clock.advance(10)
    # The server rotated: k1 is gone, k2 signs.
    server.keys = [other_key.public_key()]
    new_token = make_token(Issuer(other_key, issuer=ISSUER, audience=AUDIENCE, clock=clock))
    assert (await guard.authenticate(new_token))["sub"] == "alice"
    assert server.jwks_hits == 2
    # The key change cleared the cache: the old token is not served from it.
    with pytest.raises(UnknownKey):
        await guard.authenticate(old_token)


async def test_random_kids_cannot_hammer_the_jwks_server(
    guard: Guard, server: AuthServer, issuer: Issuer, clock: Clock
) -> None:
    await guard.authenticate(make_token(issuer))
    head = {"alg": "RS256", "typ": "at+jwt"}
    good = make_token(issuer).split(".")
    for n in range(100):
        forged = b64url_encode(json.dumps({**head, "kid": f"r{n}"}).encode()) + "." + good[1] + "." + good[2]
        with pytest.raises(UnknownKey):
            await guard.authenticate(forged)
        clock.advance(0.25)
    # 100 random kids over 25 s with a 10 s quiet window: two refetches (at 10 s and 20 s).
    assert server.jwks_hits == 3


async def test_cached_token_expiry_is_checked_with_the_injected_clock(
    guard: Guard, issuer: Issuer, clock: Clock
) -> None:
    token = make_token(issuer, ttl=60)
    await guard.authenticate(token)
    clock.advance(89)
    await guard.authenticate(token)  # within the 30 s leeway
    clock.advance(1)
    with pytest.raises(ExpiredToken):
        await guard.authenticate(token)


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(200, content=b"garbage"),
        lambda: httpx.Response(503),
        lambda: (_ for _ in ()).throw(httpx.ReadTimeout("slow")),
    ],
    ids=["garbage", "503", "timeout"],
)
async def test_no_keys_means_503_never_a_pass(
    server: AuthServer, clock: Clock, issuer: Issuer, answer: object
) -> None:
    server.jwks_answer = answer  # type: ignore[assignment]
    jwks = JWKSClient(JWKS_URL, http_client=server.async_client(), clock=clock)
    app = JWTAuthMiddleware(_ok_app, issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=clock)
    try:
        for _ in range(3):
            result = await call(app, [(b"authorization", f"Bearer {make_token(issuer)}".encode())])
            assert result.status == 503
            assert result.headers["retry-after"] == "10"
            assert json.loads(result.body)["error"] == "temporarily_unavailable"
        assert server.jwks_hits == 1
    finally:
        await app.guard.aclose()


async def _ok_app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
    raise AssertionError("an unverified request reached the app")


async def test_a_guard_with_no_keys_and_a_down_server_raises_unavailable(
    server: AuthServer, clock: Clock, issuer: Issuer
) -> None:
    server.jwks_answer = lambda: httpx.Response(500)
    jwks = JWKSClient(JWKS_URL, http_client=server.async_client(), clock=clock)
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=clock)
    with pytest.raises(JWKSUnavailable):
        await guard.authenticate(make_token(issuer))
    await guard.aclose()


def test_sync_path_fetches_keys_and_verifies(server: AuthServer, clock: Clock, issuer: Issuer) -> None:
    jwks = JWKSClient(JWKS_URL, sync_http_client=server.sync_client(), clock=clock)
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=clock)
    assert guard.authenticate_sync(make_token(issuer))["sub"] == "alice"
    assert server.jwks_hits == 1
    guard.close_sync()


def test_exactly_one_key_source(rsa_key: Key) -> None:
    keys = KeySet([rsa_key.public_key()])
    with pytest.raises(ConfigError):
        Guard(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ConfigError):
        Guard(issuer=ISSUER, audience=AUDIENCE, keys=keys, jwks_url=JWKS_URL)
    with pytest.raises(ConfigError):
        Guard(issuer=ISSUER, audience=AUDIENCE, keys=keys, revocation="maybe")  # type: ignore[arg-type]


def test_feed_url_defaults_to_the_jwks_host() -> None:
    guard = Guard(
        issuer="https://issuer.test/realm",
        audience=AUDIENCE,
        jwks_url="https://keys.test/.well-known/jwks.json",
        revocation="feed",
    )
    assert guard.revocations is not None
    assert guard.revocations.url == "https://keys.test/api/revocations"  # type: ignore[attr-defined]
    assert guard.token_url == "https://issuer.test/realm/oauth/token"


def test_check_grants() -> None:
    claims = {"scope": "read write", "roles": ["admin"]}
    check_grants(claims, ["read"], ["admin"])
    check_grants(claims)
    with pytest.raises(InsufficientScope):
        check_grants(claims, ["delete"])
    with pytest.raises(InsufficientScope):
        check_grants({"scope": ["read"]}, ["read"])  # scope must be a string
    with pytest.raises(InsufficientScope):
        check_grants(claims, roles=["root"])


async def test_stale_keys_are_refreshed_in_the_background_without_blocking_requests(
    server: AuthServer, clock: Clock, issuer: Issuer
) -> None:
    release = asyncio.Event()
    fetches = 0

    async def slow_jwks(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        if fetches > 1:
            await release.wait()  # the JWKS server hangs on the refresh
        return server.handle(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow_jwks))
    jwks = JWKSClient(JWKS_URL, http_client=client, min_refetch_interval=10, clock=clock)
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=clock)
    try:
        token = make_token(issuer)
        await guard.authenticate(token)
        clock.advance(300)  # past max-age
        for _ in range(5):  # served with the cached keys while the refresh hangs
            assert (await guard.authenticate(token))["sub"] == "alice"
        tasks = list(guard._refresh_tasks.values())
        assert len(tasks) == 1
        task = tasks[0]
        for _ in range(20):  # let the background task reach the hanging server
            await asyncio.sleep(0)
        assert fetches == 2  # one background refresh, not one per request
        assert not task.done()
        assert (await guard.authenticate(token))["sub"] == "alice"
        release.set()
        await task
        assert not jwks.is_stale()
    finally:
        await guard.aclose()
        await client.aclose()
