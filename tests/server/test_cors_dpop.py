"""CORS for jwtgate.js in DPoP mode on another origin: the ``DPoP`` request header is allowed and the
``DPoP-Nonce`` and ``WWW-Authenticate`` response headers are readable by scripts of allowed origins only."""

from __future__ import annotations

import httpx
import pytest

from .conftest import PASSWORD

APP = "https://app.example"
pytestmark = pytest.mark.parametrize("settings_overrides", [{"cors_origins": APP}])


async def test_preflight_allows_the_dpop_header(client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, dpop",
    }
    allowed = await client.options("/api/me", headers={"Origin": APP, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "dpop" in allowed.headers["access-control-allow-headers"].lower()
    denied = await client.options("/api/me", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers


async def test_nonce_and_challenge_are_exposed_to_allowed_origins(
    client: httpx.AsyncClient, alice: object
) -> None:
    login = await client.post(
        "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"Origin": APP}
    )
    assert login.status_code == 200
    assert login.headers["DPoP-Nonce"]
    exposed = {name.strip().lower() for name in login.headers["access-control-expose-headers"].split(",")}
    assert {"dpop-nonce", "www-authenticate"} <= exposed
    refused = await client.get("/api/me", headers={"Origin": APP, "Authorization": "DPoP not.a.token"})
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
    elsewhere = await client.post(
        "/api/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    # Starlette sends its expose list on every response; without Access-Control-Allow-Origin the
    # browser shows the other origin's script nothing of the response, those headers included.
    assert "access-control-allow-origin" not in elsewhere.headers
