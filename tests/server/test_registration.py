"""POST /api/register exists only with JWTGATE_REGISTRATION=open."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import assert_error_shape, login


async def test_registration_closed_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/register", json={"username": "eve", "password": "long enough pw"})
    assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])
async def test_registration_open(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/register", json={"username": "eve", "password": "long enough pw"})
    assert response.status_code == 201
    assert response.json()["username"] == "eve"
    assert "long enough pw" not in response.text
    await login(client, "eve", "long enough pw")
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["jwtgate_registration_endpoint"].endswith("/api/register")


@pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])
async def test_registration_conflict_and_validation(client: httpx.AsyncClient, alice: Any) -> None:
    taken = await client.post("/api/register", json={"username": "alice", "password": "long enough pw"})
    assert_error_shape(taken, 409, "conflict")
    short = await client.post("/api/register", json={"username": "eve", "password": "short"})
    assert_error_shape(short, 422, "invalid_request")
    bad_name = await client.post(
        "/api/register", json={"username": "eve smith", "password": "long enough pw"}
    )
    assert_error_shape(bad_name, 422, "invalid_request")


@pytest.mark.parametrize("settings_overrides", [{"registration": "open", "login_max_failures_ip": 3}])
async def test_a_burst_of_sign_ups_from_one_client_is_throttled(client: httpx.AsyncClient) -> None:
    """Regression (security review): each sign-up costs an argon2 hash, and nothing limited them."""
    for n in range(3):
        body = {"username": f"bot{n}", "password": "long enough pw"}
        assert (await client.post("/api/register", json=body)).status_code == 201
    refused = await client.post("/api/register", json={"username": "bot9", "password": "long enough pw"})
    assert_error_shape(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
