"""Revocation: denylist expiry, the feed poller (paging, garbage, staleness), Redis pub/sub, via the guard."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jwtgate import Issuer, Key, KeySet
from jwtgate.errors import ConfigError, RevokedToken
from jwtgate.protect import (
    Denylist,
    FeedRevocations,
    Guard,
    JWTAuthMiddleware,
    RedisRevocations,
    RevocationUnavailable,
)

from .asgi_driver import call
from .conftest import AUDIENCE, FEED_URL, ISSUER, AuthServer, Clock, make_token


def test_denylist_entries_expire_at_expires_at(clock: Clock) -> None:
    denylist = Denylist(clock=clock)
    denylist.add("sid", "s1", clock.now + 100)
    denylist.add("jti", "j1", clock.now + 200)
    denylist.add("sid", "gone", clock.now - 1)  # already past: not even stored
    assert len(denylist) == 2
    assert denylist.is_revoked({"sid": "s1"})
    assert denylist.is_revoked({"sid": "other", "jti": "j1"})
    assert not denylist.is_revoked({"sid": "other", "jti": "other"})
    assert not denylist.is_revoked({})
    clock.advance(100)
    assert denylist.purge() == 1
    assert not denylist.is_revoked({"sid": "s1"})
    assert denylist.is_revoked({"jti": "j1"})
    clock.advance(100)
    assert denylist.purge() == 1
    assert len(denylist) == 0


def test_denylist_keeps_the_later_expiry(clock: Clock) -> None:
    denylist = Denylist(clock=clock)
    denylist.add("sid", "s1", clock.now + 100)
    denylist.add("sid", "s1", clock.now + 50)
    clock.advance(60)
    denylist.purge()
    assert denylist.is_revoked({"sid": "s1"})


@pytest.mark.parametrize(
    "entry",
    [
        "sid",
        {"type": "user", "value": "u", "expires_at": 2_000_000_000},
        {"type": "sid", "value": "", "expires_at": 2_000_000_000},
        {"type": "sid", "value": 7, "expires_at": 2_000_000_000},
        {"type": "sid", "value": "x" * 600, "expires_at": 2_000_000_000},
        {"type": "sid", "value": "s", "expires_at": "soon"},
        {"type": "sid", "value": "s", "expires_at": True},
        {"type": "sid", "value": "s"},
    ],
)
def test_malformed_entries_are_skipped(clock: Clock, entry: Any) -> None:
    denylist = Denylist(clock=clock)
    assert denylist.apply([entry, {"type": "jti", "value": "ok", "expires_at": clock.now + 5}]) == 1
    assert len(denylist) == 1


def feed(server: AuthServer, clock: Clock, **options: Any) -> FeedRevocations:
    return FeedRevocations(FEED_URL, http_client=server.async_client(), clock=clock, **options)


async def test_feed_pages_until_caught_up(server: AuthServer, clock: Clock) -> None:
    for n in range(5):
        server.revoke("sid", f"s{n}", clock.now + 60)
    source = feed(server, clock)
    assert await source.poll_once() == 5
    assert source.cursor == 5
    assert server.feed_hits == 4  # pages of 2: 2 + 2 + 1, then an empty page
    assert all(source.denylist.is_revoked({"sid": f"s{n}"}) for n in range(5))
    server.revoke("jti", "j9", clock.now + 60)
    assert await source.poll_once() == 1
    assert source.cursor == 6
    await source.aclose()


async def test_feed_requests_carry_the_cursor(server: AuthServer, clock: Clock) -> None:
    seen: list[str | None] = []
    server.feed_answer = lambda request: (
        seen.append(request.url.params.get("after"))
        or httpx.Response(200, json={"revocations": [], "cursor": 41})
    )
    source = feed(server, clock)
    await source.poll_once()
    assert source.cursor == 41
    await source.poll_once()
    assert seen == ["0", "41"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, content=b"[]"),
        httpx.Response(200, json={"revocations": "x", "cursor": 1}),
        httpx.Response(200, json={"revocations": [], "cursor": "1"}),
        httpx.Response(200, json={"revocations": []}),
    ],
    ids=["500", "not json", "array", "bad list", "bad cursor", "no cursor"],
)
async def test_feed_garbage_raises_and_keeps_state(
    server: AuthServer, clock: Clock, answer: httpx.Response
) -> None:
    source = feed(server, clock)
    server.revoke("sid", "s1", clock.now + 60)
    await source.poll_once()
    server.feed_answer = lambda request: answer
    with pytest.raises((httpx.HTTPError, ValueError)):
        await source.poll_once()
    assert source.cursor == 1
    assert source.denylist.is_revoked({"sid": "s1"})


async def test_feed_freshness_fails_closed(server: AuthServer, clock: Clock) -> None:
    source = feed(server, clock, interval=2.0, max_stale=10.0)
    with pytest.raises(RevocationUnavailable):
        source.check_fresh()  # never synced
    await source.poll_once()
    source.check_fresh()
    server.feed_answer = lambda request: httpx.Response(503)
    clock.advance(10)
    await source._poll_logged()  # fails, logged, not raised
    source.check_fresh()  # last success exactly 10 s ago: still fresh
    clock.advance(0.5)
    with pytest.raises(RevocationUnavailable):
        source.check_fresh()


def test_feed_options_are_checked() -> None:
    with pytest.raises(ValueError, match="intervals"):
        FeedRevocations(FEED_URL, interval=0)
    with pytest.raises(ValueError, match="intervals"):
        FeedRevocations(FEED_URL, interval=5, max_stale=1)


@pytest.fixture
async def feed_guard(server: AuthServer, rsa_key: Key, clock: Clock) -> AsyncIterator[Guard]:
    guard = Guard(
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=KeySet([rsa_key.public_key()]),
        revocation_source=feed(server, clock, interval=0.01),
        clock=clock,
    )
    yield guard
    await guard.aclose()


async def test_guard_rejects_revoked_sessions_and_jtis(
    feed_guard: Guard, server: AuthServer, issuer: Issuer, clock: Clock
) -> None:
    minted = issuer.mint("alice", ttl=900, session_id="s1")
    other = issuer.mint("bob", ttl=900, session_id="s2")
    await feed_guard.authenticate(minted.token)
    server.revoke("sid", "s1", minted.claims["exp"])
    server.revoke("jti", other.claims["jti"], other.claims["exp"])
    assert feed_guard.revocations is not None
    await feed_guard.revocations.poll_once()  # type: ignore[attr-defined]
    with pytest.raises(RevokedToken):
        await feed_guard.authenticate(minted.token)  # even though it is in the verified cache
    with pytest.raises(RevokedToken):
        await feed_guard.authenticate(other.token)
    third = issuer.mint("carol", ttl=900, session_id="s3")
    assert (await feed_guard.authenticate(third.token))["sub"] == "carol"


async def test_background_polling_picks_up_revocations(
    feed_guard: Guard, server: AuthServer, issuer: Issuer, clock: Clock
) -> None:
    token = make_token(issuer, session_id="s-bg")
    await feed_guard.authenticate(token)  # starts the poller (interval 0.01 s)
    server.revoke("sid", "s-bg", clock.now + 900)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        try:
            await feed_guard.authenticate(token)
        except RevokedToken:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the revocation was not picked up within 5 s")


async def test_middleware_answers_503_while_the_feed_is_down(
    server: AuthServer, rsa_key: Key, clock: Clock, issuer: Issuer
) -> None:
    server.feed_answer = lambda request: httpx.Response(502)
    app = JWTAuthMiddleware(
        _never,
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=KeySet([rsa_key.public_key()]),
        revocation_source=feed(server, clock),
        clock=clock,
    )
    answer = await call(app, [(b"authorization", f"Bearer {make_token(issuer)}".encode())])
    assert answer.status == 503
    assert json.loads(answer.body)["error"] == "temporarily_unavailable"
    await app.guard.aclose()


async def _never(scope: object, receive: object, send: object) -> None:  # pragma: no cover
    raise AssertionError("request should have been refused")


# -- Redis ---------------------------------------------------------------------------------------------


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    import redis.asyncio
    from redis.exceptions import RedisError

    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("Redis on 127.0.0.1:6379 is required (JWTGATE_REQUIRE_SERVICES=1)")
        pytest.skip("Redis on 127.0.0.1:6379 is not running")
    yield client
    await client.aclose()


@pytest.mark.redis
async def test_redis_subscription_fills_the_denylist(
    redis_client: Any, rsa_key: Key, issuer: Issuer, clock: Clock
) -> None:
    channel = f"jwtgate-test-{uuid.uuid4().hex}:revocations"
    source = RedisRevocations(channel=channel, clock=clock)
    guard = Guard(
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=KeySet([rsa_key.public_key()]),
        revocation_source=source,
        clock=clock,
    )
    try:
        with pytest.raises(RevocationUnavailable):
            source.check_fresh()  # not subscribed yet
        minted = issuer.mint("alice", ttl=900, session_id=f"s-{uuid.uuid4().hex}")
        await guard.authenticate(minted.token)  # starts and subscribes
        source.check_fresh()
        await redis_client.publish(channel, b"not json")
        entry = {
            "cursor": 1,
            "type": "sid",
            "value": minted.claims["sid"],
            "expires_at": minted.claims["exp"],
        }
        await redis_client.publish(channel, json.dumps(entry))
        for _ in range(500):  # a deadline of about 5 s
            if source.denylist.is_revoked(minted.claims):
                break
            await asyncio.sleep(0.01)
        with pytest.raises(RevokedToken):
            await guard.authenticate(minted.token)
    finally:
        await guard.aclose()


@pytest.mark.redis
async def test_redis_down_fails_closed(clock: Clock) -> None:
    source = RedisRevocations(
        "redis://127.0.0.1:1/0", channel="jwtgate:test", reconnect_delay=0.05, clock=clock
    )
    try:
        await source.start(wait=2.0)
        with pytest.raises(RevocationUnavailable):
            source.check_fresh()
    finally:
        await source.aclose()


@pytest.mark.redis
async def test_redis_backfills_from_the_feed_on_subscribe(
    redis_client: Any, server: AuthServer, clock: Clock
) -> None:
    server.revoke("sid", "revoked-before-start", clock.now + 600)
    backfill = feed(server, clock)
    source = RedisRevocations(channel=f"jwtgate-test-{uuid.uuid4().hex}", backfill=backfill, clock=clock)
    try:
        await source.start()
        source.check_fresh()
        assert source.denylist is backfill.denylist
        assert source.denylist.is_revoked({"sid": "revoked-before-start"})
    finally:
        await source.aclose()


@pytest.mark.redis
async def test_redis_stays_out_of_sync_while_the_backfill_fails(
    redis_client: Any, server: AuthServer, clock: Clock
) -> None:
    server.feed_answer = lambda request: httpx.Response(500)
    source = RedisRevocations(
        channel=f"jwtgate-test-{uuid.uuid4().hex}",
        backfill=feed(server, clock),
        reconnect_delay=0.05,
        clock=clock,
    )
    try:
        await source.start(wait=1.0)
        with pytest.raises(RevocationUnavailable):
            source.check_fresh()
        server.feed_answer = None  # the auth server is back: the next attempt syncs
        for _ in range(500):  # a deadline of about 5 s
            if source._subscribed:
                break
            await asyncio.sleep(0.01)
        source.check_fresh()
    finally:
        await source.aclose()


def test_guard_in_redis_mode_backfills_from_the_feed() -> None:
    guard = Guard(
        issuer="https://auth.test",
        audience=AUDIENCE,
        jwks_url="https://auth.test/.well-known/jwks.json",
        revocation="redis",
        redis_channel="custom:channel",
    )
    source = guard.revocations
    assert isinstance(source, RedisRevocations)
    assert source.channel == "custom:channel"
    assert isinstance(source._backfill, FeedRevocations)
    assert source._backfill.url == "https://auth.test/api/revocations"


def test_redis_messages_are_validated(clock: Clock) -> None:
    source = RedisRevocations(clock=clock)
    assert not source.handle_message(b"\xff\xfe")
    assert not source.handle_message(b'{"type": "sid"}')
    assert source.handle_message(json.dumps({"type": "jti", "value": "j", "expires_at": clock.now + 9}))
    assert source.denylist.is_revoked({"jti": "j"})


async def test_redis_mode_without_the_package_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    source = RedisRevocations(clock=clock)
    with pytest.raises(ConfigError, match="redis package"):
        await source.start()
