"""Security headers, HSTS, CORS, the 500 boundary, and the app's own lifespan on a fresh data folder."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jwtgate.server import create_app
from jwtgate.settings import Settings

from .conftest import BASE_URL, PASSWORD, FrozenClock, assert_error_shape, bearer, login


async def test_security_headers_on_every_answer(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/healthz"), await client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers


async def test_hsts_when_served_over_tls(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as tls_client:
        response = await tls_client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": "https://app.example"}])
async def test_cors_allows_only_listed_origins(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = await client.options("/api/login", headers={"Origin": "https://app.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    denied = await client.options("/api/login", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers
    simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_unhandled_error_is_a_bare_500_and_logs_no_secret(
    settings: Settings, service: Any, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, service=service, clock=clock)

    leaked = "hunter" + "2"  # built at run time: the log may show source lines, not values

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"password={leaked} leaked into a message")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        response = await http.get("/boom")
    body = assert_error_shape(response, 500, "server_error")
    assert "hunter2" not in response.text
    assert "Traceback" not in body["error_description"]
    assert "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


async def test_storage_failure_is_503(
    client: httpx.AsyncClient, service: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwtgate.errors import StorageError

    async def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("database is locked: SELECT secret FROM users")

    monkeypatch.setattr(service, "login_with_device", broken)
    response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    body = assert_error_shape(response, 503, "temporarily_unavailable")
    assert "SELECT" not in body["error_description"]


async def test_tokens_and_passwords_never_reach_the_log(
    client: httpx.AsyncClient, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = await login(client)
    await client.post("/api/login", json={"username": "alice", "password": "wrong-password-xyz"})
    await client.get("/api/protected", headers=bearer(tokens["access_token"] + "x"))
    await client.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    for secret in (PASSWORD, "wrong-password-xyz", tokens["access_token"], tokens["refresh_token"]):
        assert secret not in caplog.text
    assert "bad_signature" in caplog.text or "malformed" in caplog.text  # the precise code is logged


async def test_lifespan_opens_a_fresh_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    from jwtgate.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "fresh")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http,
    ):
        assert (await http.get("/readyz")).json() == {"status": "ready"}
        service = app.state.jwtgate.service
        await service.add_user("carol", PASSWORD)
        tokens = await login(http, "carol")
        assert (await http.get("/api/protected", headers=bearer(tokens["access_token"]))).status_code == 200
        assert len(await service.store.load_keys()) == 2  # the key ring lives in the database
    data_dir = tmp_path / "fresh"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "jwtgate.db").stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith("jwtgate.db")) == []
    assert app.state.jwtgate.service is None


async def test_routes_answer_503_outside_the_lifespan(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        response = await http.post("/api/login", json={"username": "a", "password": "b"})
        assert_error_shape(response, 503, "temporarily_unavailable")
        assert_error_shape(await http.get("/readyz"), 503, "temporarily_unavailable")


async def test_readiness_fails_when_the_database_does_not_answer(
    client: httpx.AsyncClient, service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwtgate.errors import StorageError

    async def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("connection refused")

    monkeypatch.setattr(service.store, "ping", broken)
    response = await client.get("/readyz")
    assert_error_shape(response, 503, "temporarily_unavailable")
    assert (await client.get("/healthz")).status_code == 200


async def test_readiness_pings_the_store(client: httpx.AsyncClient, service: Any) -> None:
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await service.store.close()  # the database is gone for real: the ping fails
    assert_error_shape(await client.get("/readyz"), 503, "temporarily_unavailable")


async def test_no_trailing_slash_redirect_built_from_the_host_header(client: httpx.AsyncClient) -> None:
    """Regression (security review): /login/ answered 307 to https://<Host header>/login."""
    response = await client.get("/login/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
