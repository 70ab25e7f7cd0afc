"""/oauth/token (RFC 6749), /oauth/revoke (RFC 7009), /oauth/introspect (RFC 7662) with client auth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jwtgate.service import AuthService

from .conftest import PASSWORD, assert_error_shape, basic, bearer, login


@pytest.fixture
async def resource_client(service: AuthService) -> tuple[str, str]:
    info, secret = await service.add_client("orders-api")
    return info.id, secret


async def test_password_grant(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post(
        "/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert (await client.get("/api/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_refresh_token_grant(client: httpx.AsyncClient, alice: Any) -> None:
    first = await login(client)
    response = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] != first["refresh_token"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "username": "alice", "password": "wrong-pw"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "jgr_nope"}, 400, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "alice"}, 400, "invalid_request"),
        ({"username": "alice", "password": PASSWORD}, 400, "invalid_request"),
        ({"grant_type": "password", "colour": "blue"}, 400, "invalid_request"),
    ],
)
async def test_token_endpoint_errors(
    client: httpx.AsyncClient, alice: Any, form: dict[str, str], status: int, error: str
) -> None:
    response = await client.post("/oauth/token", data=form)
    assert_error_shape(response, status, error)
    assert "wrong-pw" not in response.text


async def test_repeated_parameter_is_refused(client: httpx.AsyncClient, alice: Any) -> None:
    body = f"grant_type=password&username=alice&password={PASSWORD}&password=x"
    response = await client.post(
        "/oauth/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error_shape(response, 400, "invalid_request")


async def test_token_endpoint_wants_a_form(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post("/oauth/token", json={"grant_type": "password"})
    assert_error_shape(response, 415, "invalid_request")


async def test_introspect_active_and_inactive(
    client: httpx.AsyncClient, alice: Any, resource_client: tuple[str, str]
) -> None:
    tokens = await login(client)
    active = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(*resource_client)
    )
    assert active.status_code == 200
    assert active.json()["active"] is True
    assert active.json()["sub"] == alice.id
    assert active.headers["cache-control"] == "no-store"
    inactive = await client.post(
        "/oauth/introspect", data={"token": "garbage"}, headers=basic(*resource_client)
    )
    assert inactive.json() == {"active": False}


async def test_introspect_with_client_secret_post(
    client: httpx.AsyncClient, alice: Any, resource_client: tuple[str, str]
) -> None:
    tokens = await login(client)
    client_id, secret = resource_client
    response = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": client_id, "client_secret": secret},
    )
    assert response.json()["active"] is True


async def test_introspect_requires_client_authentication(
    client: httpx.AsyncClient, alice: Any, resource_client: tuple[str, str]
) -> None:
    tokens = await login(client)
    client_id, secret = resource_client
    anonymous = await client.post("/oauth/introspect", data={"token": tokens["access_token"]})
    assert_error_shape(anonymous, 401, "invalid_client")
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    wrong = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(client_id, "wrong")
    )
    assert_error_shape(wrong, 401, "invalid_client")
    assert "active" not in wrong.text
    with_a_user_token = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=bearer(tokens["access_token"])
    )
    assert_error_shape(with_a_user_token, 401, "invalid_client")
    both = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    assert_error_shape(both, 401, "invalid_client")  # mixed methods (issue 8)


async def test_revoke_refresh_token_ends_the_session(
    client: httpx.AsyncClient, alice: Any, resource_client: tuple[str, str]
) -> None:
    tokens = await login(client)
    # Issue 8: only the client a token was issued to revokes it; /api/login's is the built-in one.
    response = await client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": "jwtgate"},
    )
    assert response.status_code == 200
    refreshed = await client.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_error_shape(refreshed, 401, "invalid_grant")


async def test_revoke_access_token_is_rejected_at_once(
    client: httpx.AsyncClient, alice: Any, resource_client: tuple[str, str]
) -> None:
    tokens = await login(client)
    response = await client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "unknown-hint", "client_id": "jwtgate"},
    )
    assert response.status_code == 200
    rejected = await client.get("/api/protected", headers=bearer(tokens["access_token"]))
    assert_error_shape(rejected, 401, "invalid_token")
    introspected = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(*resource_client)
    )
    assert introspected.json() == {"active": False}


async def test_revoke_unknown_token_is_still_200(
    client: httpx.AsyncClient, resource_client: tuple[str, str]
) -> None:
    response = await client.post(
        "/oauth/revoke", data={"token": "nothing-like-a-token"}, headers=basic(*resource_client)
    )
    assert response.status_code == 200


async def test_revoke_requires_client_authentication(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.post("/oauth/revoke", data={"token": tokens["refresh_token"]})
    assert_error_shape(response, 401, "invalid_client")
    still = await client.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert still.status_code == 200


async def test_revoke_without_token_parameter(
    client: httpx.AsyncClient, resource_client: tuple[str, str]
) -> None:
    response = await client.post(
        "/oauth/revoke", data={"token_type_hint": "access_token"}, headers=basic(*resource_client)
    )
    assert_error_shape(response, 400, "invalid_request")
