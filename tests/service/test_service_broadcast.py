"""Revocation broadcast: every new denylist entry is published after the store commit, as the feed's
entry; a failing broadcaster never fails the revocation (the store and the feed stay the truth)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from jwtgate.errors import RevokedToken, StorageError
from jwtgate.service import AuthService
from jwtgate.service.records import Revocation
from jwtgate.storage.redis import RedisBroadcaster
from storage.conftest import next_messages, unique_channel

from ._support import OpenService


class Recorder:
    """A broadcaster that records what it is given (and can be told to fail)."""

    def __init__(self, service_ref: list[AuthService], *, fail: BaseException | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.feed_at_publish: list[list[dict[str, Any]]] = []
        self.closed = 0
        self.fail = fail
        self._service_ref = service_ref

    async def publish(self, entries: Sequence[Revocation]) -> None:
        # What the feed already shows when the message goes out: the commit came first.
        self.feed_at_publish.append((await self._service_ref[0].revocations())["revocations"])
        self.batches.append([e.feed_entry() for e in entries])
        if self.fail is not None:
            raise self.fail

    async def close(self) -> None:
        self.closed += 1


async def _open(open_service: OpenService, recorder_fail: BaseException | None = None) -> Any:
    ref: list[AuthService] = []
    recorder = Recorder(ref, fail=recorder_fail)
    service = await open_service(broadcaster=recorder)
    ref.append(service)
    await service.add_user("alice", "correct horse", scopes=["read"])
    return service, recorder


async def test_every_revocation_is_published_after_the_commit(open_service: OpenService) -> None:
    service, recorder = await _open(open_service)
    first = await service.login("alice", "correct horse")
    await service.logout(first.session_id)
    await service.logout(first.session_id)  # already revoked: nothing new, nothing published
    two = [await service.login("alice", "correct horse") for _ in range(2)]
    assert await service.logout_all((await service.authenticate(two[0].access_token))["sub"]) == 2
    third = await service.login("alice", "correct horse")
    await service.revoke_token(third.access_token)  # jti entry
    await service.revoke_token(third.refresh_token)  # its session

    feed = (await service.revocations())["revocations"]
    assert [entry for batch in recorder.batches for entry in batch] == feed
    assert [len(batch) for batch in recorder.batches] == [1, 2, 1, 1]
    assert [entry["type"] for entry in feed] == ["sid", "sid", "sid", "jti", "sid"]
    for batch, seen in zip(recorder.batches, recorder.feed_at_publish, strict=True):
        assert all(entry in seen for entry in batch)  # committed before it was published


@pytest.mark.parametrize("failure", [StorageError("down"), RuntimeError("boom"), OSError("reset")])
async def test_a_failing_broadcaster_never_fails_the_revocation(
    open_service: OpenService, failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    service, recorder = await _open(open_service, failure)
    pair = await service.login("alice", "correct horse")
    with caplog.at_level(logging.WARNING, logger="jwtgate.service"):
        await service.logout(pair.session_id)
    assert recorder.batches  # it was tried
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    assert (await service.revocations())["revocations"][0]["value"] == pair.session_id
    assert "revocation broadcast failed" in caplog.text
    assert pair.access_token not in caplog.text
    assert pair.session_id not in caplog.text


async def test_close_closes_the_broadcaster(open_service: OpenService) -> None:
    service, recorder = await _open(open_service)
    await service.close()
    assert recorder.closed == 1


async def test_a_broken_redis_url_does_not_break_logout(
    open_service: OpenService, caplog: pytest.LogCaptureFixture
) -> None:
    broadcaster = RedisBroadcaster.from_url("redis://:pw-s3cret@127.0.0.1:1/0", timeout=1.0)
    service = await open_service(broadcaster=broadcaster)
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    with caplog.at_level(logging.WARNING, logger="jwtgate.service"):
        await service.logout(pair.session_id)
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    assert [e["value"] for e in (await service.revocations())["revocations"]] == [pair.session_id]
    assert "storage_error" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.redis
async def test_logout_reaches_redis_subscribers(open_service: OpenService, redis_url: str) -> None:
    import redis.asyncio

    channel = unique_channel()
    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    try:
        service = await open_service(broadcaster=RedisBroadcaster.from_url(redis_url, channel=channel))
        await service.add_user("alice", "correct horse")
        pair = await service.login("alice", "correct horse")
        await service.logout(pair.session_id)
        [message] = await next_messages(pubsub, 1)
        assert json.loads(message) == (await service.revocations())["revocations"][0]
    finally:
        await pubsub.aclose()
        await client.aclose()
