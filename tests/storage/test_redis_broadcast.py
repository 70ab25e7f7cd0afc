"""RedisBroadcaster: each denylist entry is PUBLISHed as the feed's JSON entry, in order, one round trip
per batch; failures raise StorageError without repeating the URL."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jwtgate.errors import ConfigError, StorageError
from jwtgate.service.records import Revocation
from jwtgate.storage.redis import DEFAULT_CHANNEL, RedisBroadcaster

from .conftest import next_messages, unique_channel


@pytest.fixture
async def listener(redis_url: str) -> AsyncIterator[tuple[str, Any]]:
    import redis.asyncio

    channel = unique_channel()
    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    yield channel, pubsub
    await pubsub.aclose()
    await client.aclose()


@pytest.mark.redis
async def test_publishes_each_entry_as_feed_json(redis_url: str, listener: tuple[str, Any]) -> None:
    channel, pubsub = listener
    broadcaster = RedisBroadcaster.from_url(redis_url, channel=channel)
    entries = [
        Revocation(cursor=7, kind="sid", value="s-1", expires_at=1_800_000_930.2),
        Revocation(cursor=8, kind="jti", value="j-1", expires_at=1_800_000_930.0),
    ]
    try:
        await broadcaster.publish(entries)
        await broadcaster.publish([])  # nothing to send: no message
    finally:
        await broadcaster.close()
    messages = await next_messages(pubsub, 2)
    assert [json.loads(m) for m in messages] == [
        {"cursor": 7, "type": "sid", "value": "s-1", "expires_at": 1_800_000_931},
        {"cursor": 8, "type": "jti", "value": "j-1", "expires_at": 1_800_000_930},
    ]
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None


async def test_unreachable_redis_raises_storage_error_without_the_url() -> None:
    broadcaster = RedisBroadcaster.from_url(
        "redis://:s3cret-pw@127.0.0.1:1/0", channel=DEFAULT_CHANNEL, timeout=1.0
    )
    entry = Revocation(cursor=1, kind="sid", value="s", expires_at=2e9)
    try:
        with pytest.raises(StorageError) as raised:
            await asyncio.wait_for(broadcaster.publish([entry]), 10)
        assert "s3cret" not in str(raised.value)
        assert "s3cret" not in repr(broadcaster)
    finally:
        await broadcaster.close()


def test_bad_url_and_channel_are_config_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        RedisBroadcaster.from_url("http://user:s3cret@host/")
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError):
        RedisBroadcaster(object(), channel="")


def test_without_the_redis_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigError, match="redis package"):
        RedisBroadcaster.from_url("redis://127.0.0.1:6379/0")
