"""Issue 12, "a 500": non-ASCII CSRF values and the headers of the last-resort 500."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from .conftest import BASE_URL, PASSWORD, assert_error_shape

SECURITY_HEADERS = ("x-content-type-options", "referrer-policy", "x-frame-options")


async def test_non_ascii_csrf_cookie_and_header_on_cookie_refresh_get_403(app: FastAPI, alice: Any) -> None:
    """Regression (issue 12): the same non-ASCII value in the CSRF cookie and X-CSRF-Token passed the
    double-submit check and made ``hmac.compare_digest`` raise TypeError on ``str``: a 500."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        login = await http.post("/api/cookie/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200
        refresh_cookie = login.cookies["__Secure-jwtgate-refresh"]
        value = "é".encode()  # the bytes a browser sends; the server decodes headers as latin-1
        response = await http.post(
            "/api/cookie/refresh",
            headers={
                "Cookie": b"jwtgate-csrf=" + value + b"; __Secure-jwtgate-refresh=" + refresh_cookie.encode(),
                "X-CSRF-Token": value,
            },
        )
    assert_error_shape(response, 403, "access_denied")
    # The refused request did not spend the refresh token: the real page can still refresh.
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        csrf = login.json()["csrf_token"]
        headers = {"Cookie": f"jwtgate-csrf={csrf}; __Secure-jwtgate-refresh={refresh_cookie}"}
        again = await http.post("/api/cookie/refresh", headers={**headers, "X-CSRF-Token": csrf})
    assert again.status_code == 200, again.text


async def test_non_ascii_csrf_header_on_a_cookie_session_gets_403(app: FastAPI, alice: Any) -> None:
    """The session-bound check (every other unsafe cookie request) compares the same way."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    # https: the client sends the Secure access cookie back.
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as http:
        login = await http.post("/api/cookie/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200
        response = await http.post("/api/logout", headers={"X-CSRF-Token": "ü€".encode()})
    assert_error_shape(response, 403)


async def test_an_unhandled_error_is_a_json_500_with_the_security_headers(app: FastAPI) -> None:
    """Regression (issue 12): the error boundary sits outside the security-headers middleware, so its
    500 went out without nosniff, Referrer-Policy and frame denial."""

    async def broken() -> None:
        raise RuntimeError("a bug with a secret s3cr3t in its message")

    app.add_api_route("/broken", broken)  # one faulty route on the real app, behind every middleware
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        response = await http.get("/broken")
    body = assert_error_shape(response, 500, "server_error")
    assert "s3cr3t" not in response.text
    assert body["error_description"] == "internal server error"
    for name in SECURITY_HEADERS:
        assert name in response.headers, name
    assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS


async def test_the_500_over_https_carries_hsts(app: FastAPI) -> None:
    async def broken() -> None:
        raise RuntimeError("bug")

    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example") as http:
        response = await http.get("/broken")
    assert response.status_code == 500
    assert response.headers["strict-transport-security"].startswith("max-age=")
