"""`jwtgate serve` with JWTGATE_REDIS_URL: revocations are published on the channel; a failing Redis
is counted in /metrics and never fails the logout; without the URL the redis package is not needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtgate.server import create_app
from jwtgate.settings import Settings, load_settings

from .conftest import BASE_URL, PASSWORD


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    return load_settings(data_dir=tmp_path / "data", signing_alg="ES256", **values)


async def _login_logout(app: Any) -> tuple[httpx.Response, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        await app.state.jwtgate.service.add_user("alice", PASSWORD)
        login = await http.post("/api/login", json={"username": "alice", "password": PASSWORD})
        token = login.json()["access_token"]
        logout = await http.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
        feed = (await http.get("/api/revocations")).json()
        metrics = (await http.get("/metrics")).text
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    return logout, {"feed": feed, "metrics": metrics}


async def test_unreachable_redis_is_counted_and_logout_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, monkeypatch, redis_url="redis://:pw-s3cret@127.0.0.1:1/0")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        logout, seen = await _login_logout(app)
    assert logout.status_code == 204
    assert len(seen["feed"]["revocations"]) == 1  # the feed is the source of truth
    assert "jwtgate_revocation_broadcast_failures_total 1.0" in seen["metrics"]
    assert "revocation broadcast failed" in caplog.text
    assert "s3cret" not in caplog.text


async def test_no_redis_url_no_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # the package is not even importable
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    app = create_app(_settings(tmp_path, monkeypatch))
    async with app.router.lifespan_context(app):
        logout, seen = await _login_logout(app)
    assert logout.status_code == 204
    assert "jwtgate_revocation_broadcast" not in seen["metrics"]


def test_importing_the_server_does_not_import_redis() -> None:
    code = (
        "import sys\n"
        "import jwtgate.server, jwtgate.server.app, jwtgate.cli, jwtgate.storage\n"
        "assert 'redis' not in sys.modules, 'redis was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


@pytest.mark.redis
async def test_the_server_publishes_on_the_configured_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    import redis.asyncio

    from storage.conftest import next_messages, unique_channel

    channel = unique_channel()
    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    try:
        app = create_app(_settings(tmp_path, monkeypatch, redis_url=redis_url, redis_channel=channel))
        async with app.router.lifespan_context(app):
            logout, seen = await _login_logout(app)
        assert logout.status_code == 204
        [message] = await next_messages(pubsub, 1)
        assert json.loads(message) == seen["feed"]["revocations"][0]
        assert "jwtgate_revocation_broadcast_failures_total 0.0" in seen["metrics"]
    finally:
        await pubsub.aclose()
        await client.aclose()
