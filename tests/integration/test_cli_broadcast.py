"""Revocations made with the CLI reach guards in Redis mode too: `jwtgate` commands open the service
through the same start-up as `jwtgate serve`, broadcaster included."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
import redis.asyncio
from typer.testing import CliRunner

from jwtgate.cli import app
from jwtgate.server.runtime import open_service
from jwtgate.settings import load_settings
from storage.conftest import next_messages, unique_channel

PASSWORD = "a long enough password"


async def test_sessions_revoke_on_the_command_line_is_broadcast(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    channel = unique_channel()
    monkeypatch.setenv("JWTGATE_REDIS_URL", redis_url)
    monkeypatch.setenv("JWTGATE_REDIS_CHANNEL", channel)
    data_dir = tmp_path / "data"
    async with open_service(
        load_settings(data_dir=data_dir, signing_alg="ES256"), time.time, mode="init"
    ) as service:
        await service.add_user("alice", PASSWORD)
        pair = await service.login("alice", PASSWORD)

    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["sessions", "revoke", pair.session_id, "--data-dir", str(data_dir)],
            env={"JWTGATE_SIGNING_ALG": "ES256"},
        )
        assert result.exit_code == 0, result.output
        (message,) = await next_messages(pubsub, 1)
        entry = json.loads(message)
        assert (entry["type"], entry["value"]) == ("sid", pair.session_id)
    finally:
        await pubsub.aclose()
        await client.aclose()
