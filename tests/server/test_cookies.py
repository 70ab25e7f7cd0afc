"""Cookie mode: HttpOnly token cookies, CSRF double submit bound to the session, Origin checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from .conftest import PASSWORD, FrozenClock, assert_error_shape, login

SITE = "https://auth.example"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"issuer": SITE, "cors_origins": "https://app.example"}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on https (Secure cookies are only sent over https)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as http:
        yield http


async def cookie_login(browser: httpx.AsyncClient, username: str = "alice") -> str:
    response = await browser.post("/api/cookie/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


async def test_login_sets_hardened_cookies_and_no_token_in_the_body(
    browser: httpx.AsyncClient, alice: Any
) -> None:
    response = await browser.post("/api/cookie/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == {"expires_in", "csrf_token"}
    assert response.headers["cache-control"] == "no-store"
    cookies = {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}
    access, refresh, csrf = (
        cookies["__Host-jwtgate-access"],
        cookies["__Secure-jwtgate-refresh"],
        cookies["jwtgate-csrf"],
    )
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute in access
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/cookie/refresh"):
        assert attribute in refresh
    assert "HttpOnly" not in csrf
    assert "Secure" in csrf


async def test_cookie_authenticates_safe_requests(browser: httpx.AsyncClient, alice: Any) -> None:
    await cookie_login(browser)
    response = await browser.get("/api/protected")
    assert response.status_code == 200
    assert response.json()["user"]["sub"] == alice.id


async def test_unsafe_request_needs_the_session_csrf_token(browser: httpx.AsyncClient, alice: Any) -> None:
    csrf = await cookie_login(browser)
    assert_error_shape(await browser.post("/api/logout"), 403, "access_denied")
    wrong = await browser.post("/api/logout", headers={"X-CSRF-Token": "0" * 64})
    assert_error_shape(wrong, 403, "access_denied")
    assert (await browser.get("/api/protected")).status_code == 200  # nothing happened
    done = await browser.post("/api/logout", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 204
    assert any(
        "__Host-jwtgate-access=" in c and "Max-Age=0" in c for c in done.headers.get_list("set-cookie")
    )
    assert_error_shape(await browser.get("/api/protected"), 401)


async def test_csrf_token_is_bound_to_its_session(
    app: FastAPI, browser: httpx.AsyncClient, alice: Any
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as other_browser:
        other_csrf = await cookie_login(other_browser)
    await cookie_login(browser)
    response = await browser.post("/api/logout", headers={"X-CSRF-Token": other_csrf})
    assert_error_shape(response, 403, "access_denied")


async def test_cross_origin_requests_are_refused(browser: httpx.AsyncClient, alice: Any) -> None:
    evil = {"Origin": "https://evil.example"}
    login_attempt = await browser.post(
        "/api/cookie/login", json={"username": "alice", "password": PASSWORD}, headers=evil
    )
    assert_error_shape(login_attempt, 403, "access_denied")
    csrf = await cookie_login(browser)
    forged = await browser.post("/api/logout/all", headers={**evil, "X-CSRF-Token": csrf})
    assert_error_shape(forged, 403, "access_denied")
    allowed = await browser.post(
        "/api/logout/all", headers={"Origin": "https://app.example", "X-CSRF-Token": csrf}
    )
    assert allowed.status_code == 200


async def test_refresh_rotates_the_cookies(
    browser: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    csrf = await cookie_login(browser)
    first_access = browser.cookies["__Host-jwtgate-access"]
    assert_error_shape(await browser.post("/api/cookie/refresh"), 403, "access_denied")
    clock.advance(60)
    response = await browser.post("/api/cookie/refresh", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.json()["csrf_token"] == csrf  # same session, same CSRF token
    assert browser.cookies["__Host-jwtgate-access"] != first_access
    assert (await browser.get("/api/protected")).status_code == 200


async def test_refresh_without_a_live_refresh_cookie(browser: httpx.AsyncClient, alice: Any) -> None:
    csrf = await cookie_login(browser)
    await browser.post("/api/logout", headers={"X-CSRF-Token": csrf})
    browser.cookies.set("jwtgate-csrf", csrf, domain="auth.example")
    browser.cookies.set("__Secure-jwtgate-refresh", "jgr_" + "A" * 43, domain="auth.example")
    response = await browser.post("/api/cookie/refresh", headers={"X-CSRF-Token": csrf})
    assert_error_shape(response, 401, "invalid_grant")


async def test_bearer_clients_need_no_csrf(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.post("/api/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 204
    assert "set-cookie" not in response.headers


async def test_csrf_key_is_a_shared_server_secret(
    browser: httpx.AsyncClient, alice: Any, app: FastAPI
) -> None:
    """The CSRF key lives in the database (every instance signs alike), not in a data-folder file."""
    csrf = await cookie_login(browser)
    service = app.state.jwtgate.service
    assert len(service.server_secret("csrf")) == 32
    assert await service.store.get_secret("csrf") is not None
    assert not (app.state.jwtgate.settings.data_dir / "csrf.key").exists()
    sessions = (await browser.get("/api/sessions")).json()["sessions"]
    (own,) = [item["id"] for item in sessions if item["current"]]
    from jwtgate.server.cookies import CsrfSigner

    assert CsrfSigner(service.server_secret("csrf")).token_for(own) == csrf


async def test_revoking_this_browsers_own_session_clears_its_cookies(
    browser: httpx.AsyncClient, alice: Any
) -> None:
    csrf = await cookie_login(browser)
    sessions = (await browser.get("/api/sessions")).json()["sessions"]
    (own,) = [item["id"] for item in sessions if item["current"]]
    response = await browser.delete(f"/api/sessions/{own}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    cleared = response.headers.get_list("set-cookie")
    assert any(line.startswith("__Host-jwtgate-access=") and "Max-Age=0" in line for line in cleared)
    assert (await browser.get("/api/me")).status_code == 401


async def test_forged_refresh_does_not_spend_the_refresh_token(
    browser: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    """Regression (security review): a refresh whose CSRF cookie and header merely agree with each other
    (a planted cookie) was refused only after the rotation, so the real refresh then looked like a
    reuse and revoked the session. The session-bound token is now checked first."""
    csrf = await cookie_login(browser)
    browser.cookies.set("jwtgate-csrf", "x", domain="auth.example", path="/")
    forged = await browser.post("/api/cookie/refresh", headers={"X-CSRF-Token": "x"})
    assert_error_shape(forged, 403, "access_denied")
    browser.cookies.set("jwtgate-csrf", csrf, domain="auth.example", path="/")
    clock.advance(60)  # past the reuse grace window: a spent token would now revoke the session
    response = await browser.post("/api/cookie/refresh", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert (await browser.get("/api/protected")).status_code == 200
