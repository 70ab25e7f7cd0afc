"""Issue 12 item 4: production mode (JWTGATE_ENVIRONMENT=production), through the real app and settings.

The apps here are opened by their own lifespan from the settings (``jwtgate serve``'s path), so the
session cap, the successful-login limit and the key-ring checks are the ones the settings wire."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtgate.errors import ConfigError
from jwtgate.server import create_app
from jwtgate.server.runtime import open_service
from jwtgate.settings import Settings, load_settings

from .conftest import PASSWORD, FrozenClock, assert_error_shape, bearer, login

SITE = "https://auth.example"
KEK = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)

    def make(**values: Any) -> Settings:
        base: dict[str, Any] = {"data_dir": tmp_path / "data", "issuer": SITE}
        if values.get("environment") == "production":
            base["trusted_proxy"] = "127.0.0.1"
        return load_settings(**{**base, **values})

    return make


@asynccontextmanager
async def running(
    settings: Settings, clock: Callable[[], float] = time.time
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app opened by its lifespan, as `jwtgate serve` does, with a client on it."""
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=SITE) as http,
    ):
        http.app = app  # type: ignore[attr-defined]
        yield http


async def add_user(http: httpx.AsyncClient, name: str, scopes: tuple[str, ...] = ()) -> Any:
    service = http.app.state.jwtgate.service  # type: ignore[attr-defined]
    return await service.add_user(name, PASSWORD, scopes=list(scopes))


async def test_operations_routes_need_a_token_with_their_scope_in_production(
    make_settings: Callable[..., Settings],
) -> None:
    """Regression (issue 12): /metrics and /api/revocations answered anyone on the API port."""
    async with running(make_settings(environment="production")) as http:
        await add_user(http, "alice")
        await add_user(http, "prometheus", ("jwtgate:metrics",))
        await add_user(http, "guard", ("jwtgate:revocations",))
        for path in ("/metrics", "/api/revocations"):
            anonymous = await http.get(path)
            assert_error_shape(anonymous, 401, "unauthorized")
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            forged = await http.get(path, headers=bearer("eyJhbGciOiJub25lIn0.e30."))
            assert_error_shape(forged, 401, "invalid_token")
        plain = (await login(http, "alice"))["access_token"]
        metrics_token = (await login(http, "prometheus"))["access_token"]
        feed_token = (await login(http, "guard"))["access_token"]
        body = assert_error_shape(
            await http.get("/metrics", headers=bearer(plain)), 403, "insufficient_scope"
        )
        assert "jwtgate:metrics" in body["error_description"]
        assert_error_shape(await http.get("/api/revocations", headers=bearer(metrics_token)), 403)
        assert_error_shape(await http.get("/metrics", headers=bearer(feed_token)), 403)
        metrics = await http.get("/metrics", headers=bearer(metrics_token))
        assert metrics.status_code == 200
        assert "jwtgate_" in metrics.text
        feed = await http.get("/api/revocations", headers=bearer(feed_token))
        assert feed.status_code == 200
        assert set(feed.json()) == {"revocations", "cursor"}
        # A revoked token with the right scope is refused like any API token.
        await http.post("/api/logout", headers=bearer(metrics_token))
        assert_error_shape(await http.get("/metrics", headers=bearer(metrics_token)), 401, "invalid_token")
        # Cookies do not authenticate these routes.
        cookie = await http.get("/metrics", headers={"Cookie": f"__Host-jwtgate-access={feed_token}"})
        assert cookie.status_code == 401


async def test_development_keeps_the_operations_routes_open(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings()) as http:
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/api/revocations")).status_code == 200
        assert (await http.get("/docs")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200
    async with running(make_settings(operations_auth="on", docs="off")) as http:  # opt in
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/openapi.json")).status_code == 404


@pytest.mark.parametrize("docs", [None, "on"])
async def test_production_serves_no_api_docs_unless_enabled(
    make_settings: Callable[..., Settings], docs: str | None
) -> None:
    async with running(make_settings(environment="production", docs=docs)) as http:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-init.js"):
            response = await http.get(path)
            assert response.status_code == (200 if docs == "on" else 404), path
            if docs is None:
                assert_error_shape(response, 404)
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert ("service_documentation" in metadata) == (docs == "on")


async def test_sessions_per_user_are_capped_oldest_revoked_first(
    make_settings: Callable[..., Settings],
) -> None:
    """Regression (issue 12): 60 logins made 61 live sessions."""
    clock = FrozenClock(time.time())
    async with running(make_settings(max_sessions_per_user=3), clock=clock) as http:
        await add_user(http, "alice")
        pairs = []
        for _ in range(5):
            pairs.append(await login(http))
            clock.advance(1)
        sessions = (await http.get("/api/sessions", headers=bearer(pairs[-1]["access_token"]))).json()
        assert len(sessions["sessions"]) == 3
        for old in pairs[:2]:  # the two oldest were revoked: their tokens are dead
            refused = await http.post("/api/token/refresh", json={"refresh_token": old["refresh_token"]})
            assert refused.status_code in (400, 401)
            assert (await http.get("/api/protected", headers=bearer(old["access_token"]))).status_code == 401
        for live in pairs[2:]:
            assert (await http.get("/api/protected", headers=bearer(live["access_token"]))).status_code == 200


async def test_production_defaults_cap_sessions_and_limit_successful_logins(
    make_settings: Callable[..., Settings],
) -> None:
    production = make_settings(environment="production")
    assert (production.session_cap, production.login_success_limit) == (50, 30)
    assert not production.docs_enabled
    assert production.operations_protected
    development = make_settings()
    assert (development.session_cap, development.login_success_limit) == (0, 0)
    assert development.docs_enabled
    assert not development.operations_protected
    overridden = make_settings(environment="production", max_sessions_per_user=0, login_max_successes=0)
    assert (overridden.session_cap, overridden.login_success_limit) == (0, 0)
    with pytest.raises(ConfigError, match="JWTGATE_MAX_SESSIONS_PER_USER"):
        make_settings(max_sessions_per_user=-1)


async def test_successful_logins_per_account_are_limited(make_settings: Callable[..., Settings]) -> None:
    clock = FrozenClock(time.time())
    async with running(make_settings(login_max_successes=3), clock=clock) as http:
        await add_user(http, "alice")
        await add_user(http, "bob")
        for _ in range(3):
            await login(http)
        refused = await http.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert_error_shape(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "1"
        await login(http, "bob")  # per account
        clock.advance(1)
        await login(http)  # the wait is over (then it doubles)
        again = await http.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert again.headers["retry-after"] == "2"


async def test_production_refuses_unencrypted_signing_keys_once_a_kek_is_set(
    make_settings: Callable[..., Settings],
) -> None:
    async with running(make_settings()) as http:  # development, no KEK: keys stored in clear
        assert (await http.get("/readyz")).status_code == 200
    production = make_settings(environment="production", key_encryption_key=KEK)
    with pytest.raises(ConfigError, match="jwtgate keys rewrap"):
        async with running(production):
            pass
    # Development with the same KEK keeps the upgrade path open.
    async with running(make_settings(key_encryption_key=KEK)) as http:
        assert (await http.get("/readyz")).status_code == 200
    # What `jwtgate keys rewrap` does; production then starts.
    async with open_service(production, time.time, mode="write") as service:
        assert (await service.rewrap())["keys"] == 2
    async with running(production) as http:
        assert (await http.get("/readyz")).status_code == 200
