"""Issue 12 item 4: the guard's feed mode sends credentials to a server in production mode.

The feed polls the real jwtgate app (production settings, opened by its lifespan) over
httpx.ASGITransport; its token is an access token with scope ``jwtgate:revocations``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtgate.errors import ConfigError
from jwtgate.protect import FeedRevocations
from jwtgate.protect.errors import RevocationUnavailable
from jwtgate.server import create_app
from jwtgate.settings import load_settings

SITE = "https://auth.example"
FEED = f"{SITE}/api/revocations"
PASSWORD = "correct horse battery"


class Server:
    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    def feed_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))

    async def login(self, name: str) -> dict[str, Any]:
        response = await self.http.post("/api/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    settings = load_settings(
        data_dir=tmp_path / "data", issuer=SITE, environment="production", trusted_proxy="127.0.0.1"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=SITE) as http,
    ):
        service = app.state.jwtgate.service
        await service.add_user("alice", PASSWORD)
        await service.add_user("guard", PASSWORD, scopes=["jwtgate:revocations"])
        yield Server(app, http)


async def revoked_session(server: Server) -> str:
    """Alice logs in and out: her session id is in the feed."""
    tokens = await server.login("alice")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    sid: str = (await server.http.get("/api/protected", headers=headers)).json()["user"]["sid"]
    assert (await server.http.post("/api/logout", headers=headers)).status_code == 204
    return sid


async def test_feed_without_credentials_is_refused_and_fails_closed(server: Server) -> None:
    await revoked_session(server)
    feed = FeedRevocations(FEED, http_client=server.feed_client())
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await feed.poll_once()
    assert caught.value.response.status_code == 401
    with pytest.raises(RevocationUnavailable):
        feed.check_fresh()  # the guard answers 503 rather than trust an empty list
    await feed.aclose()


async def test_feed_with_a_token_string_syncs(server: Server) -> None:
    sid = await revoked_session(server)
    token = (await server.login("guard"))["access_token"]
    feed = FeedRevocations(FEED, http_client=server.feed_client(), token=token)
    assert await feed.poll_once() >= 1
    assert feed.denylist.is_revoked({"sid": sid})
    feed.check_fresh()
    await feed.aclose()


async def test_feed_with_a_token_without_the_scope_is_refused(server: Server) -> None:
    token = (await server.login("alice"))["access_token"]
    feed = FeedRevocations(FEED, http_client=server.feed_client(), token=token)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await feed.poll_once()
    assert caught.value.response.status_code == 403
    await feed.aclose()


async def test_feed_asks_a_callable_for_a_fresh_token_on_every_poll(server: Server) -> None:
    sid = await revoked_session(server)
    handed_out: list[str] = []

    async def current_token() -> str:
        handed_out.append((await server.login("guard"))["access_token"])
        return handed_out[-1]

    feed = FeedRevocations(FEED, http_client=server.feed_client(), token=current_token)
    await feed.poll_once()
    await feed.poll_once()
    assert len(handed_out) == 2
    assert feed.denylist.is_revoked({"sid": sid})
    sync_feed = FeedRevocations(FEED, http_client=server.feed_client(), token=lambda: handed_out[-1])
    await sync_feed.poll_once()
    assert sync_feed.denylist.is_revoked({"sid": sid})
    await feed.aclose()
    await sync_feed.aclose()


@pytest.mark.parametrize("bad", ["", "abc\r\nX-Injected: 1", "tok en"])
def test_a_bad_token_string_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        FeedRevocations(FEED, token=bad)


async def test_a_bad_token_from_a_callable_fails_the_poll_and_is_never_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-token\nX-Injected: 1"
    feed = FeedRevocations(FEED, http_client=server.feed_client(), token=lambda: secret)
    with pytest.raises(ValueError, match="not a bearer token"):
        await feed.poll_once()
    await feed._poll_logged()  # what the background task does: logged by type only
    assert "revocation feed poll failed" in caplog.text
    assert "s3cret" not in caplog.text
    await feed.aclose()


async def test_the_guard_sends_its_revocation_token(server: Server) -> None:
    """``Guard(revocation="feed", revocation_token=...)`` reaches the protected feed of production."""
    from jwtgate.protect import Guard

    sid = await revoked_session(server)
    token = (await server.login("guard"))["access_token"]
    keys = (await server.http.get("/.well-known/jwks.json")).json()
    from jwtgate import KeySet

    guard = Guard(
        issuer=SITE,
        audience="jwtgate",
        keys=KeySet.from_jwks(keys),
        revocation="feed",
        revocation_url=FEED,
        revocation_token=token,
        http_client=server.feed_client(),
    )
    await guard.start()
    assert guard.revocations is not None
    guard.revocations.check_fresh()
    assert guard.revocations.denylist.is_revoked({"sid": sid})
    await guard.aclose()
