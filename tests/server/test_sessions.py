"""Logout, logout everywhere, sessions list/delete, password change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from .conftest import PASSWORD, assert_error_shape, bearer, login


async def test_logout_ends_this_session_only(client: httpx.AsyncClient, alice: Any) -> None:
    one, two = await login(client), await login(client)
    response = await client.post("/api/logout", headers=bearer(one["access_token"]))
    assert response.status_code == 204
    assert_error_shape(
        await client.get("/api/protected", headers=bearer(one["access_token"])), 401, "invalid_token"
    )
    refreshed = await client.post("/api/token/refresh", json={"refresh_token": one["refresh_token"]})
    assert_error_shape(refreshed, 401, "invalid_grant")
    assert (await client.get("/api/protected", headers=bearer(two["access_token"]))).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/logout")
    assert_error_shape(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="jwtgate"'


async def test_logout_all_ends_every_session_of_the_user(
    client: httpx.AsyncClient, alice: Any, bob: Any
) -> None:
    one, two = await login(client), await login(client)
    bobs = await login(client, "bob")
    response = await client.post("/api/logout/all", headers=bearer(one["access_token"]))
    assert response.status_code == 200
    assert response.json() == {"revoked_sessions": 2}
    for tokens in (one, two):
        rejected = await client.get("/api/protected", headers=bearer(tokens["access_token"]))
        assert_error_shape(rejected, 401, "invalid_token")
    assert (await client.get("/api/protected", headers=bearer(bobs["access_token"]))).status_code == 200


async def test_sessions_list_marks_the_current_one(client: httpx.AsyncClient, alice: Any, bob: Any) -> None:
    one = await login(client)
    await login(client)
    await login(client, "bob")
    response = await client.get(
        "/api/sessions", headers={**bearer(one["access_token"]), "User-Agent": "pytest-agent"}
    )
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert len(sessions) == 2
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    assert all(s["ip"] == "203.0.113.7" for s in sessions)
    assert "refresh" not in response.text


async def test_delete_own_session(client: httpx.AsyncClient, alice: Any) -> None:
    one, two = await login(client), await login(client)
    sessions = (await client.get("/api/sessions", headers=bearer(one["access_token"]))).json()["sessions"]
    other = next(s["id"] for s in sessions if not s["current"])
    response = await client.delete(f"/api/sessions/{other}", headers=bearer(one["access_token"]))
    assert response.status_code == 204
    rejected = await client.get("/api/protected", headers=bearer(two["access_token"]))
    assert_error_shape(rejected, 401, "invalid_token")
    assert (await client.get("/api/protected", headers=bearer(one["access_token"]))).status_code == 200


async def test_delete_another_users_session_is_not_found(
    client: httpx.AsyncClient, alice: Any, bob: Any
) -> None:
    alices = await login(client)
    bobs = await login(client, "bob")
    bob_sid = (await client.get("/api/protected", headers=bearer(bobs["access_token"]))).json()["user"]["sid"]
    response = await client.delete(f"/api/sessions/{bob_sid}", headers=bearer(alices["access_token"]))
    assert_error_shape(response, 404, "not_found")
    assert (await client.get("/api/protected", headers=bearer(bobs["access_token"]))).status_code == 200
    missing = await client.delete("/api/sessions/no-such-session", headers=bearer(alices["access_token"]))
    assert_error_shape(missing, 404, "not_found")


async def test_password_change_revokes_the_other_sessions(client: httpx.AsyncClient, alice: Any) -> None:
    one, two = await login(client), await login(client)
    response = await client.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(one["access_token"]),
    )
    assert response.status_code == 204
    assert (await client.get("/api/protected", headers=bearer(one["access_token"]))).status_code == 200
    rejected = await client.get("/api/protected", headers=bearer(two["access_token"]))
    assert_error_shape(rejected, 401, "invalid_token")
    old = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert_error_shape(old, 401, "invalid_grant")
    await login(client, password="a brand new passphrase")


async def test_password_change_with_wrong_current_password(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.post(
        "/api/password",
        json={"current_password": "not-it-at-all", "new_password": "a brand new passphrase"},
        headers=bearer(tokens["access_token"]),
    )
    assert_error_shape(response, 403, "invalid_grant")
    assert "not-it-at-all" not in response.text
    assert "brand new" not in response.text


async def test_password_change_rejects_a_short_new_password(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(tokens["access_token"]),
    )
    body = assert_error_shape(response, 422, "invalid_request")
    assert "new_password" in body["error_description"]


async def test_dates_are_rfc3339_utc_strings(client: httpx.AsyncClient, alice: Any, clock: Any) -> None:
    # alice was created at the frozen clock's start, 1_800_000_000 (2027-01-15T08:00:00Z).
    clock.advance(90.75)  # fractions of a second are dropped, never rounded up into the future
    tokens = await login(client)
    me = (await client.get("/api/me", headers=bearer(tokens["access_token"]))).json()
    assert me["created_at"] == "2027-01-15T08:00:00Z"

    sessions = (await client.get("/api/sessions", headers=bearer(tokens["access_token"]))).json()["sessions"]
    (session,) = sessions
    assert session["created_at"] == "2027-01-15T08:01:30Z"
    assert session["last_used_at"] == "2027-01-15T08:01:30Z"
    assert session["expires_at"] == "2027-02-14T08:01:30Z"  # the 30-day absolute lifetime
    assert session["idle_expires_at"] == "2027-01-22T08:01:30Z"  # the 7-day idle window
    for name in ("created_at", "last_used_at", "expires_at", "idle_expires_at"):
        parsed = datetime.fromisoformat(session[name])
        assert parsed.utcoffset() == timedelta(0)
