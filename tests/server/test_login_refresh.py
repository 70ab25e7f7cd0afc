"""Login, the protected route, refresh rotation and reuse detection through the real app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jwtgate.service import AuthService

from .conftest import PASSWORD, FrozenClock, assert_error_shape, bearer, login


async def test_login_returns_a_token_pair_not_cached(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2
    assert body["refresh_token"].startswith("jgr_")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_protected_route_returns_the_user_claims(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.get("/api/protected", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "This is a protected route!"
    assert body["user"]["sub"] == alice.id
    assert body["user"]["iss"] == "http://127.0.0.1:8000"
    assert body["user"]["sid"]


async def test_me_returns_the_user(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.get("/api/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    me = response.json()
    assert (me["id"], me["username"]) == (alice.id, "alice")
    assert "password" not in response.text
    assert "hash" not in response.text


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, alice: Any
) -> None:
    wrong = await client.post("/api/login", json={"username": "alice", "password": "nope-nope"})
    unknown = await client.post("/api/login", json={"username": "mallory", "password": "nope-nope"})
    assert_error_shape(wrong, 401, "invalid_grant")
    assert wrong.json() == unknown.json()
    assert wrong.status_code == unknown.status_code
    assert "nope-nope" not in wrong.text


async def test_disabled_user_cannot_log_in(
    client: httpx.AsyncClient, service: AuthService, alice: Any
) -> None:
    await service.set_user_disabled("alice", True)
    response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert_error_shape(response, 401, "invalid_grant")


async def test_repeated_failures_are_rate_limited_with_retry_after(
    client: httpx.AsyncClient, alice: Any
) -> None:
    statuses = []
    for _ in range(12):
        response = await client.post("/api/login", json={"username": "alice", "password": "bad-guess"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429
    assert_error_shape(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures_account": 2}])
async def test_login_limits_come_from_the_settings(client: httpx.AsyncClient, alice: Any) -> None:
    for _ in range(2):
        wrong = await client.post("/api/login", json={"username": "alice", "password": "bad-guess"})
        assert wrong.status_code == 401
    limited = await client.post("/api/login", json={"username": "alice", "password": "bad-guess"})
    assert_error_shape(limited, 429, "rate_limited")


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, alice: Any) -> None:
    first = await login(client)
    response = await client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert response.headers["cache-control"] == "no-store"
    protected = await client.get("/api/protected", headers=bearer(second["access_token"]))
    assert protected.status_code == 200


async def test_reuse_after_grace_revokes_the_session_at_once(
    client: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    first = await login(client)
    rotated = await client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    second = rotated.json()
    clock.advance(11)  # past the 10 s grace window
    reuse = await client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error_shape(reuse, 401, "invalid_grant")
    # The whole session is gone: its newest access token and refresh token die too.
    protected = await client.get("/api/protected", headers=bearer(second["access_token"]))
    assert_error_shape(protected, 401, "invalid_token")
    assert 'error="invalid_token"' in protected.headers["www-authenticate"]
    again = await client.post("/api/token/refresh", json={"refresh_token": second["refresh_token"]})
    assert_error_shape(again, 401, "invalid_grant")


async def test_reuse_within_grace_gets_a_fresh_pair(
    client: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    first = await login(client)
    await client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    clock.advance(3)
    retry = await client.post("/api/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert retry.status_code == 200
    assert (
        await client.get("/api/protected", headers=bearer(retry.json()["access_token"]))
    ).status_code == 200


async def test_unknown_refresh_token_is_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/token/refresh", json={"refresh_token": "jgr_" + "A" * 43})
    body = assert_error_shape(response, 401, "invalid_grant")
    assert "jgr_" not in body["error_description"]


async def test_expired_access_token_is_rejected(
    client: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    tokens = await login(client)
    clock.advance(900 + 31)  # ttl + leeway
    response = await client.get("/api/protected", headers=bearer(tokens["access_token"]))
    assert_error_shape(response, 401, "invalid_token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert 'error_description="the token has expired"' in challenge
