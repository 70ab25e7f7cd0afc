"""RFC 6749 section 6 at ``/oauth/token``: a refresh with ``scope`` narrows the new access token within
the session's original grant; scopes outside it are left out (clients resend the scope they were built
with), nothing inside it is 400 ``invalid_scope`` and spends nothing; without ``scope`` the original grant
comes back (not the last narrowed one). Through the real app, with Authlib's
client and plain httpx, on memory, SQLite and PostgreSQL (when it runs)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from fastapi import FastAPI

from jwtgate import generate_key
from jwtgate.dpop import ProofSigner
from jwtgate.service import AuthService
from jwtgate.service.registration import ClientRegistration

# The backends (and the PostgreSQL database of this run) of the storage suite.
from storage.conftest import BACKENDS, _backend_url, postgres_url  # noqa: F401

from .conftest import BASE_URL, PASSWORD, FrozenClock, assert_error_shape, basic, bearer, login
from .test_dpop import claims_of, dpop_login, nonce_of

with warnings.catch_warnings():
    # As in test_oauth_clients: Authlib's deprecate module installs an "always" filter when imported.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

TOKEN_URL = f"{BASE_URL}/oauth/token"


@pytest.fixture
def clock() -> FrozenClock:
    # Real time: Authlib stamps token expiry with time.time().
    return FrozenClock(float(int(time.time())))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend for the server's service (conftest's ``service`` opens it)."""
    return _backend_url(request, tmp_path)


@pytest.fixture
async def alice(service: AuthService) -> Any:
    return await service.add_user("alice", PASSWORD, scopes=("read", "write", "admin"))


@pytest.fixture
async def mobile(service: AuthService) -> tuple[str, str]:
    """A first-party confidential app that may have read, write and admin."""
    info, secret = await service.add_client(
        "mobile",
        ClientRegistration(
            grants=("password", "refresh_token"), scopes=("read", "write", "admin"), first_party=True
        ),
    )
    assert secret is not None
    return info.id, secret


def oauth_client(app: FastAPI, client_id: str, secret: str) -> AsyncOAuth2Client:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4444))
    return AsyncOAuth2Client(client_id, secret, transport=transport, base_url=BASE_URL)


async def token_scope(client: httpx.AsyncClient, access_token: str) -> str | None:
    """The ``scope`` claim of an access token, as the server's own protected route reads it."""
    response = await client.get("/api/protected", headers=bearer(access_token))
    assert response.status_code == 200, response.text
    scope: str | None = response.json()["user"].get("scope")
    return scope


async def refresh(
    client: httpx.AsyncClient, refresh_token: str, who: tuple[str, str] | None = None, **form: str
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    return await client.post("/oauth/token", data=data, headers=basic(*who) if who else None)


async def test_authlib_refresh_narrows_then_the_original_grant_comes_back(
    app: FastAPI, client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str]
) -> None:
    async with oauth_client(app, *mobile) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, username="alice", password=PASSWORD, scope="read write")
        assert token["scope"] == "read write"

        narrowed = await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"], scope="read")
        assert narrowed["scope"] == "read"
        assert await token_scope(client, narrowed["access_token"]) == "read"

        # Omitted: the original grant (RFC 6749 section 6), not the last narrowed one.
        again = await oauth.refresh_token(TOKEN_URL, refresh_token=narrowed["refresh_token"])
        assert again["scope"] == "read write"
        assert await token_scope(client, again["access_token"]) == "read write"

        # The user and the client may have admin, but this session was never granted it.
        with pytest.raises(OAuthError, match="invalid_scope"):
            await oauth.refresh_token(TOKEN_URL, refresh_token=again["refresh_token"], scope="admin")
        # Nothing was spent: the same refresh token still rotates.
        after = await oauth.refresh_token(TOKEN_URL, refresh_token=again["refresh_token"], scope="write")
        assert after["scope"] == "write"
        assert after["refresh_token"] != again["refresh_token"]
        # Asking for more than the grant gets the granted part, as the first token request did.
        wider = await oauth.refresh_token(TOKEN_URL, refresh_token=after["refresh_token"], scope="read admin")
        assert wider["scope"] == "read"
        assert await token_scope(client, wider["access_token"]) == "read"


async def test_a_client_that_resends_its_wider_scope_keeps_refreshing(
    app: FastAPI, client: httpx.AsyncClient, service: AuthService, mobile: tuple[str, str]
) -> None:
    """Authlib (like requests-oauthlib) sends the scope it was built with on every refresh; the user
    holds only part of it: every refresh works and gets that part, never more."""
    await service.add_user("bob", PASSWORD, scopes=("read",))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4444))
    async with AsyncOAuth2Client(
        *mobile, scope="read write", transport=transport, base_url=BASE_URL
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, username="bob", password=PASSWORD)
        assert token["scope"] == "read"
        for _ in range(3):
            token = await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])
            assert token["scope"] == "read"
            assert await token_scope(client, token["access_token"]) == "read"


@pytest.mark.parametrize("scope", ["admin", "admin other", "read\tadmin", 'read "x"'])
async def test_a_scope_outside_the_grant_is_invalid_scope_and_spends_nothing(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str], service: AuthService, scope: str
) -> None:
    issued = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "read"},
        headers=basic(*mobile),
    )
    refresh_token = issued.json()["refresh_token"]
    refused = await refresh(client, refresh_token, mobile, scope=scope)
    body = assert_error_shape(refused, 400, "invalid_scope")
    assert refresh_token not in refused.text
    assert "admin" not in body["error_description"]
    assert refused.headers["cache-control"] == "no-store"
    events = [event["kind"] for event in await service.audit_events()]
    assert "refresh_token_reuse" not in events
    assert "sessions_revoked" not in events
    ok = await refresh(client, refresh_token, mobile)
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "read"


async def test_an_empty_scope_is_a_token_without_scopes(client: httpx.AsyncClient, alice: Any) -> None:
    """Like the password grant: asking for nothing gets nothing (the refresh token keeps the grant)."""
    tokens = await login(client)
    assert tokens["scope"] == "read write admin"
    empty = await refresh(client, tokens["refresh_token"], scope=" ")
    assert empty.status_code == 200, empty.text
    assert empty.json()["scope"] == ""
    assert await token_scope(client, empty.json()["access_token"]) is None
    full = await refresh(client, empty.json()["refresh_token"])
    assert full.json()["scope"] == "read write admin"


async def test_the_first_party_refresh_route_keeps_the_original_grant(
    client: httpx.AsyncClient, alice: Any
) -> None:
    """/api/login and /oauth/token share the built-in client: a narrowed OAuth refresh does not narrow
    what /api/token/refresh (which has no scope parameter) gives next."""
    tokens = await login(client)
    narrowed = await refresh(client, tokens["refresh_token"], scope="write")
    assert narrowed.json()["scope"] == "write"
    following = await client.post(
        "/api/token/refresh", json={"refresh_token": narrowed.json()["refresh_token"]}
    )
    assert following.status_code == 200, following.text
    assert following.json()["scope"] == "read write admin"
    assert await token_scope(client, following.json()["access_token"]) == "read write admin"


async def test_the_refresh_token_keeps_the_original_grant_when_introspected(
    client: httpx.AsyncClient, alice: Any, service: AuthService
) -> None:
    info, secret = await service.add_client("orders-api", ClientRegistration(introspect=True))
    assert secret is not None
    tokens = await login(client)
    narrowed = (await refresh(client, tokens["refresh_token"], scope="read")).json()
    seen = await client.post(
        "/oauth/introspect", data={"token": narrowed["refresh_token"]}, headers=basic(info.id, secret)
    )
    assert seen.json()["active"] is True
    assert seen.json()["scope"] == "read write admin"
    access = await client.post(
        "/oauth/introspect", data={"token": narrowed["access_token"]}, headers=basic(info.id, secret)
    )
    assert access.json()["scope"] == "read"


async def test_another_clients_token_is_invalid_grant_whatever_the_scope(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str]
) -> None:
    """The client check comes first: a stranger learns nothing of the grant, and spends nothing."""
    tokens = await login(client)  # the built-in client's session
    stolen = await refresh(client, tokens["refresh_token"], mobile, scope="nothing-granted")
    assert_error_shape(stolen, 400, "invalid_grant")
    assert (await refresh(client, tokens["refresh_token"], scope="read")).status_code == 200


async def test_within_the_grace_window_a_wider_scope_spends_nothing(
    client: httpx.AsyncClient, alice: Any, clock: FrozenClock
) -> None:
    """A spent token presented again within the grace window gets a pair only within the grant; a
    wider scope is refused before the session's current token is rotated."""
    tokens = await login(client)
    assert (await refresh(client, tokens["refresh_token"], scope="read")).status_code == 200
    clock.advance(1)
    refused = await refresh(client, tokens["refresh_token"], scope="other")
    assert_error_shape(refused, 400, "invalid_scope")
    grace = await refresh(client, tokens["refresh_token"], scope="write")
    assert grace.status_code == 200, grace.text
    assert grace.json()["scope"] == "write"
    assert (await refresh(client, grace.json()["refresh_token"])).json()["scope"] == "read write admin"


async def test_reuse_after_the_grace_window_still_revokes_the_session_whatever_the_scope(
    client: httpx.AsyncClient, alice: Any, clock: FrozenClock, service: AuthService
) -> None:
    tokens = await login(client)
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    clock.advance(60)
    replay = await refresh(client, tokens["refresh_token"], scope="never-granted")
    assert_error_shape(replay, 400, "invalid_grant")
    assert "refresh_token_reuse" in [event["kind"] for event in await service.audit_events()]
    assert_error_shape(await refresh(client, rotated["refresh_token"]), 400, "invalid_grant")


async def test_a_dpop_bound_session_narrows_only_with_a_proof_by_its_key(
    client: httpx.AsyncClient, alice: Any, clock: FrozenClock
) -> None:
    """Without the key's proof the refusal is invalid_dpop_proof whatever the scope (a thief learns
    nothing of the grant); with it, the scope narrows the bound token as for any other."""
    signer = ProofSigner(generate_key("ES256"))
    tokens = await dpop_login(client, signer, clock)
    no_proof = await refresh(client, tokens["refresh_token"], scope="never-granted")
    assert_error_shape(no_proof, 400, "invalid_dpop_proof")

    nonce = await nonce_of(client, signer, clock)

    def proof() -> dict[str, str]:
        return {"DPoP": signer.proof("POST", TOKEN_URL, now=clock.now, nonce=nonce)}

    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    outside = await client.post("/oauth/token", data={**form, "scope": "never-granted"}, headers=proof())
    assert_error_shape(outside, 400, "invalid_scope")
    narrowed = await client.post("/oauth/token", data={**form, "scope": "read"}, headers=proof())
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["token_type"] == "DPoP"
    assert narrowed.json()["scope"] == "read"
    assert claims_of(narrowed.json()["access_token"])["cnf"] == {"jkt": signer.jkt}


async def test_a_scope_given_to_the_user_after_login_needs_a_new_grant(
    client: httpx.AsyncClient, alice: Any, service: AuthService
) -> None:
    """The session's grant is what the user had at login: a scope added since is not in it."""
    tokens = await login(client)
    await service.change_user_grants("alice", scopes=["reports"], add=True)
    refused = await refresh(client, tokens["refresh_token"], scope="reports")
    assert_error_shape(refused, 400, "invalid_scope")
    assert (await refresh(client, tokens["refresh_token"], scope="read reports")).json()["scope"] == "read"
    same = await refresh(client, tokens["refresh_token"])
    assert same.json()["scope"] == "read write admin"
    assert (await login(client))["scope"] == "read write admin reports"  # a new login grants it
