"""``/oauth/authorize`` + the authorization_code grant (RFC 6749 4.1, RFC 7636 S256, RFC 9207) on the
real app, with a cookie-keeping client standing in for the browser (Chromium: tests/browser)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from jwtgate.service import AuthService
from jwtgate.service.registration import ClientRegistration

from .conftest import PASSWORD, FrozenClock, assert_error_shape, basic

SITE = "https://auth.example"
CALLBACK = "https://app.example/callback"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"issuer": SITE}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as http:
        yield http


@pytest.fixture
async def alice(service: AuthService) -> Any:
    return await service.add_user("alice", PASSWORD, scopes=("read", "write"))


@pytest.fixture
async def web_app(service: AuthService) -> tuple[str, str | None]:
    info, secret = await service.add_client(
        "web-app",
        ClientRegistration(
            grants=("authorization_code", "refresh_token"),
            scopes=("read", "write"),
            redirect_uris=(CALLBACK,),
        ),
    )
    return info.id, secret


@pytest.fixture
async def spa(service: AuthService) -> str:
    info, _ = await service.add_client(
        "spa",
        ClientRegistration(
            kind="public",
            grants=("authorization_code", "refresh_token"),
            scopes=("read",),
            redirect_uris=("http://127.0.0.1:9000/cb",),
            first_party=True,
        ),
    )
    return info.id


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def request_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "read write",
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


async def sign_in(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/api/cookie/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def consent_form(page: str) -> dict[str, str]:
    """The hidden fields of the consent form, as a browser would post them (entities decoded)."""
    fields = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


async def authorize(browser: httpx.AsyncClient, params: dict[str, str]) -> dict[str, list[str]]:
    """Through consent; returns the query the client receives at its redirect URI."""
    page = await browser.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    assert "web-app" in page.text
    answer = await browser.post("/oauth/authorize", data={**consent_form(page.text), "decision": "allow"})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return parse_qs(urlsplit(location).query)


async def test_code_flow_with_consent_pkce_state_and_iss(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, alice: Any, web_app: tuple[str, str]
) -> None:
    verifier, challenge = pkce()
    unsigned = await browser.get("/oauth/authorize", params=request_params(web_app[0], challenge))
    assert unsigned.status_code == 303
    assert unsigned.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize%3F")
    await sign_in(browser)
    page = await browser.get("/oauth/authorize", params=request_params(web_app[0], challenge))
    assert "form-action 'self' https://app.example" in page.headers["content-security-policy"]
    assert "<li>read</li><li>write</li>" in page.text
    query = await authorize(browser, request_params(web_app[0], challenge))
    assert query["state"] == ["xyz-state"]
    assert query["iss"] == [SITE]
    code = query["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    token = await client.post("/oauth/token", data=form, headers=basic(*web_app))
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["scope"] == "read write"
    assert body["refresh_token"].startswith("jgr_")


async def test_a_replayed_code_revokes_what_it_issued(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    alice: Any,
    web_app: tuple[str, str],
    service: AuthService,
) -> None:
    verifier, challenge = pkce()
    await sign_in(browser)
    code = (await authorize(browser, request_params(web_app[0], challenge)))["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    first = (await client.post("/oauth/token", data=form, headers=basic(*web_app))).json()
    replay = await client.post("/oauth/token", data=form, headers=basic(*web_app))
    assert_error_shape(replay, 400, "invalid_grant")
    refreshed = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic(*web_app),
    )
    assert_error_shape(refreshed, 400, "invalid_grant")
    assert "authorization_code_replay" in [e["kind"] for e in await service.audit_events()]


async def test_codes_expire_after_60_seconds_and_need_the_right_verifier(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    alice: Any,
    web_app: tuple[str, str],
    clock: FrozenClock,
) -> None:
    verifier, challenge = pkce()
    await sign_in(browser)
    code = (await authorize(browser, request_params(web_app[0], challenge)))["code"][0]
    clock.advance(61)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    assert_error_shape(
        await client.post("/oauth/token", data=form, headers=basic(*web_app)), 400, "invalid_grant"
    )
    for wrong in [
        {"code_verifier": pkce()[0]},
        {"code_verifier": ""},
        {"redirect_uri": CALLBACK + "/"},
    ]:
        await sign_in(browser)
        code = (await authorize(browser, request_params(web_app[0], challenge)))["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        }
        response = await client.post("/oauth/token", data={**form, **wrong}, headers=basic(*web_app))
        assert_error_shape(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/callback/",
        "https://app.example/Callback",
        "http://app.example/callback",
        "https://app.example:444/callback",
        "https://APP.example/callback",
        "https://app.example/callback?x=1",
        "https://app.example.evil/callback",
        "https://evil.example/callback",
        "",
    ],
)
async def test_a_redirect_uri_that_differs_in_any_character_is_shown_on_a_page(
    browser: httpx.AsyncClient, alice: Any, web_app: tuple[str, str], redirect_uri: str
) -> None:
    """No open redirector: the error is a page on the server, never a redirect."""
    await sign_in(browser)
    params = request_params(web_app[0], pkce()[1], redirect_uri=redirect_uri)
    response = await browser.get("/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "redirect" in response.text


async def test_unknown_client_and_repeated_parameters_are_shown_on_a_page(
    browser: httpx.AsyncClient, web_app: tuple[str, str]
) -> None:
    unknown = await browser.get("/oauth/authorize", params=request_params("jgc_nope", pkce()[1]))
    assert unknown.status_code == 400
    assert "location" not in unknown.headers
    query = f"client_id={web_app[0]}&client_id={web_app[0]}&response_type=code"
    repeated = await browser.get(f"/oauth/authorize?{query}")
    assert repeated.status_code == 400
    assert "repeated" in repeated.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "bad\\scope"}, "invalid_scope"),
    ],
)
async def test_errors_after_the_redirect_uri_is_trusted_go_back_with_state_and_iss(
    browser: httpx.AsyncClient, web_app: tuple[str, str], change: dict[str, str], error: str
) -> None:
    response = await browser.get("/oauth/authorize", params=request_params(web_app[0], pkce()[1], **change))
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["xyz-state"]
    assert query["iss"] == [SITE]


async def test_missing_pkce_is_refused(browser: httpx.AsyncClient, web_app: tuple[str, str]) -> None:
    params = request_params(web_app[0], "x")
    del params["code_challenge"], params["code_challenge_method"]
    response = await browser.get("/oauth/authorize", params=params)
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]


async def test_deny_and_forged_consent(
    browser: httpx.AsyncClient, alice: Any, web_app: tuple[str, str]
) -> None:
    await sign_in(browser)
    page = await browser.get("/oauth/authorize", params=request_params(web_app[0], pkce()[1]))
    form = consent_form(page.text)
    denied = await browser.post("/oauth/authorize", data={**form, "decision": "deny"})
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    forged = await browser.post(
        "/oauth/authorize", data={**form, "csrf_token": "0" * 64, "decision": "allow"}
    )
    assert_error_shape(forged, 403, "access_denied")
    cross_site = await browser.post(
        "/oauth/authorize", data={**form, "decision": "allow"}, headers={"Origin": "https://evil.example"}
    )
    assert_error_shape(cross_site, 403, "access_denied")


async def test_first_party_public_client_skips_consent_and_authenticates_with_none(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, alice: Any, spa: str
) -> None:
    verifier, challenge = pkce()
    await sign_in(browser)
    params = request_params(spa, challenge, redirect_uri="http://127.0.0.1:9000/cb", scope="read write")
    response = await browser.get("/oauth/authorize", params=params)
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": "http://127.0.0.1:9000/cb",
        "code_verifier": verifier,
        "client_id": spa,
    }
    token = await client.post("/oauth/token", data=form)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read"  # write: the user has it, the client may not get it


async def test_consent_page_escapes_the_request_and_cannot_be_framed(
    browser: httpx.AsyncClient, alice: Any, web_app: tuple[str, str]
) -> None:
    """Regression (XSS / clickjacking on the consent page): request values are escaped, the page
    runs no inline script and refuses to be framed."""
    await sign_in(browser)
    hostile = '"><script>alert(1)</script>'
    page = await browser.get("/oauth/authorize", params=request_params(web_app[0], pkce()[1], state=hostile))
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "&quot;&gt;&lt;script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    answer = await browser.post("/oauth/authorize", data={**consent_form(page.text), "decision": "allow"})
    assert parse_qs(urlsplit(answer.headers["location"]).query)["state"] == [hostile]
