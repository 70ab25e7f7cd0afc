"""The example APIs end to end against a real ``jwtgate serve``: login, call, refuse, revoke, reject."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from types import ModuleType
from typing import Any

import httpx
import pytest

from .conftest import ROOT, AuthServer

pytestmark = pytest.mark.slow


def _load(name: str) -> ModuleType:
    # By file path: the examples folder is not an installed package (and "examples" is this test folder).
    spec = importlib.util.spec_from_file_location(f"jwtgate_example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


create_fastapi_app = _load("fastapi_app").create_app
create_flask_app = _load("flask_app").create_app

FEED_INTERVAL = 0.2


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_fastapi_example(auth_server: AuthServer) -> None:
    app = create_fastapi_app(auth_server.url, revocation_interval=FEED_INTERVAL)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            assert (await api.get("/health")).json() == {"status": "ok"}
            response = await api.get("/notes")
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer realm="api"'

            alice = auth_server.login("alice")
            response = await api.post("/notes", json={"text": "buy milk"}, headers=bearer(alice))
            assert response.status_code == 201, response.text
            response = await api.get("/notes", headers=bearer(alice))
            assert response.status_code == 200
            assert response.json() == {"user": "alice", "notes": ["buy milk"]}

            bob = auth_server.login("bob")
            assert (await api.get("/notes", headers=bearer(bob))).json()["notes"] == []
            response = await api.post("/notes", json={"text": "x"}, headers=bearer(bob))
            assert response.status_code == 403
            assert response.json()["error"] == "insufficient_scope"
            assert (await api.delete("/notes", headers=bearer(bob))).status_code == 403
            assert (await api.delete("/notes", headers=bearer(alice))).json() == {"removed": 1}

            bad = await api.get("/notes", headers=bearer(alice[:-3] + "AAA"))
            assert bad.status_code == 401
            assert 'error="invalid_token"' in bad.headers["www-authenticate"]

            auth_server.logout(alice)
            response = await _until_refused(api, alice)
            assert response.status_code == 401
            assert response.json()["error_description"] == "the token has been revoked"
            # Other sessions are unaffected.
            assert (await api.get("/notes", headers=bearer(bob))).status_code == 200

            spec = (await api.get("/openapi.json")).json()
            flow = spec["components"]["securitySchemes"]["jwtgate"]["flows"]["password"]
            assert flow["tokenUrl"] == f"{auth_server.url}/oauth/token"
    finally:
        await app.guard.aclose()


async def _until_refused(api: httpx.AsyncClient, token: str) -> httpx.Response:
    # A deadline of 5 s: the feed is polled every 0.2 s.
    for _ in range(100):
        response = await api.get("/notes", headers=bearer(token))
        if response.status_code != 200:
            return response
        await asyncio.sleep(0.05)
    return response


def test_flask_example(auth_server: AuthServer) -> None:
    app = create_flask_app(auth_server.url, revocation_interval=FEED_INTERVAL)
    guard = app.extensions["jwtgate"]
    client = app.test_client()
    try:
        assert client.get("/health").json == {"status": "ok"}
        response = client.get("/notes")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'

        alice = auth_server.login("alice")
        response = client.post("/notes", json={"text": "call mum"}, headers=bearer(alice))
        assert response.status_code == 201, response.text
        assert client.get("/notes", headers=bearer(alice)).json == {"user": "alice", "notes": ["call mum"]}

        bob = auth_server.login("bob")
        assert client.post("/notes", json={"text": "x"}, headers=bearer(bob)).status_code == 403
        assert client.post("/notes", json={"nope": 1}, headers=bearer(alice)).status_code == 400

        auth_server.logout(alice)
        response: Any = None
        for _ in range(100):  # a deadline of 5 s; the feed is polled every 0.2 s
            response = client.get("/notes", headers=bearer(alice))
            if response.status_code != 200:
                break
            time.sleep(0.05)
        assert response.status_code == 401
        assert response.json["error_description"] == "the token has been revoked"
        assert client.get("/notes", headers=bearer(bob)).status_code == 200
    finally:
        guard.close_sync()
