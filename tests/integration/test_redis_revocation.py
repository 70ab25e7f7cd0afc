"""End to end over Redis: the real auth server (create_app, SQLite in a temp folder, JWTGATE_REDIS_URL)
and an API behind JWTAuthMiddleware with revocation="redis". A logout at the server reaches the API
through the pub/sub channel, not through the feed (which the guard reads only when it subscribes)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate.protect import Guard, JWTAuthMiddleware
from jwtgate.server import create_app
from jwtgate.settings import load_settings
from storage.conftest import unique_channel

SERVER = "http://127.0.0.1:8000"
API = "http://api.test"
PASSWORD = "correct horse battery"


@dataclass
class Deployment:
    server: httpx.AsyncClient  # to the auth server app (also the guard's HTTP client)
    api: httpx.AsyncClient  # to the protected API
    guard: Guard
    server_app: Any
    server_paths: list[str] = field(default_factory=list)


async def _api_data(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.scope["auth"]["sub"]})


@pytest.fixture
async def deployment(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Deployment]:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    channel = unique_channel()
    settings = load_settings(
        data_dir=tmp_path / "data", redis_url=redis_url, redis_channel=channel, signing_alg="ES256"
    )
    server_app = create_app(settings)
    paths: list[str] = []

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.path)

    server = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server_app),
        base_url=SERVER,
        event_hooks={"request": [record]},
    )
    guard = Guard(
        issuer=settings.issuer_url,
        audience=settings.audience,
        jwks_url=f"{SERVER}/.well-known/jwks.json",
        revocation="redis",
        redis_url=redis_url,
        redis_channel=channel,
        http_client=server,  # the guard reaches the in-process server through the ASGI transport
    )
    api_app = JWTAuthMiddleware(Starlette(routes=[Route("/data", _api_data)]), guard=guard)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url=API)
    async with server_app.router.lifespan_context(server_app):
        await server_app.state.jwtgate.service.add_user("alice", PASSWORD)
        try:
            yield Deployment(server, api, guard, server_app, paths)
        finally:
            await guard.aclose()
            await api.aclose()
            await server.aclose()


async def _login(server: httpx.AsyncClient) -> str:
    response = await server.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def _until_refused(api: httpx.AsyncClient, token: str) -> httpx.Response:
    """Call the API until it refuses the token; a deadline of about 5 s, no fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        response = await api.get("/data", headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200 or loop.time() > deadline:
            return response
        await asyncio.sleep(0.02)


@pytest.mark.redis
async def test_logout_at_the_server_reaches_the_api_over_redis(deployment: Deployment) -> None:
    token = await _login(deployment.server)
    ok = await deployment.api.get("/data", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    feed_reads = deployment.server_paths.count("/api/revocations")
    assert feed_reads == 1  # the backfill at subscription, nothing since

    logout = await deployment.server.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code == 204

    refused = await _until_refused(deployment.api, token)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert refused.json()["error_description"] == "the token has been revoked"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # It came over Redis: the guard did not read the feed again.
    assert deployment.server_paths.count("/api/revocations") == feed_reads

    other = await _login(deployment.server)  # a new session is unaffected
    assert (
        await deployment.api.get("/data", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 200


@pytest.mark.redis
async def test_logout_everywhere_and_token_revocation_reach_the_api(deployment: Deployment) -> None:
    tokens = [await _login(deployment.server) for _ in range(2)]
    for token in tokens:
        assert (
            await deployment.api.get("/data", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
    answer = await deployment.server.post("/api/logout/all", headers={"Authorization": f"Bearer {tokens[0]}"})
    assert answer.json() == {"revoked_sessions": 2}
    for token in tokens:
        assert (await _until_refused(deployment.api, token)).status_code == 401

    # An admin revocation through the service (as `jwtgate sessions revoke` does in-process).
    third = await _login(deployment.server)
    service = deployment.server_app.state.jwtgate.service
    [session] = await service.list_all_sessions("alice")
    await service.revoke_session(session.id)
    assert (await _until_refused(deployment.api, third)).status_code == 401
