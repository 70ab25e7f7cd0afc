"""RFC 6750 section 3 answers of protected routes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jwtgate import Issuer, generate_key
from jwtgate.jose.b64 import b64url_decode, b64url_encode

from .conftest import assert_error_shape, bearer, login

PROTECTED = ("/api/protected", "/api/me", "/api/sessions")


@pytest.mark.parametrize("path", PROTECTED)
async def test_missing_token_gets_a_bare_challenge(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_error_shape(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="jwtgate"'


async def test_other_scheme_is_treated_as_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/protected", headers={"Authorization": "Basic YTpi"})
    assert_error_shape(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="jwtgate"'


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer not a token", "Bearer abc.def.ghi", "Bearer \u00e9\u00e9.x.y"],
)
async def test_garbage_tokens_are_invalid_token(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/api/protected", headers={"Authorization": value.encode("utf-8")})
    assert_error_shape(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_two_authorization_headers_are_a_bad_request(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    headers = [("Authorization", f"Bearer {tokens['access_token']}")] * 2
    response = await client.get("/api/protected", headers=headers)
    assert_error_shape(response, 400, "invalid_request")
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_lowercase_scheme_is_accepted(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.get(
        "/api/protected", headers={"Authorization": f"bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200


async def test_forged_token_is_rejected(client: httpx.AsyncClient, alice: Any) -> None:
    forger = Issuer(generate_key("RS256"), issuer="http://127.0.0.1:8000", audience="jwtgate")
    token = forger.issue(subject=alice.id, ttl=900, session_id="s1")
    response = await client.get("/api/protected", headers=bearer(token))
    body = assert_error_shape(response, 401, "invalid_token")
    assert token not in response.text
    assert body["error_description"]


async def test_tampered_token_is_rejected(client: httpx.AsyncClient, alice: Any) -> None:
    token = (await login(client))["access_token"]
    head, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[-1] ^= 0x01
    flipped = b64url_encode(bytes(raw))
    response = await client.get("/api/protected", headers=bearer(f"{head}.{payload}.{flipped}"))
    assert_error_shape(response, 401, "invalid_token")


async def test_alg_none_token_is_rejected(client: httpx.AsyncClient, alice: Any) -> None:
    token = (await login(client))["access_token"]
    _, payload, _ = token.split(".")
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0"  # {"alg":"none","typ":"at+jwt"}
    response = await client.get("/api/protected", headers=bearer(f"{none_header}.{payload}."))
    assert_error_shape(response, 401, "invalid_token")


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient, alice: Any) -> None:
    tokens = await login(client)
    response = await client.get("/api/protected", headers=bearer(tokens["refresh_token"]))
    assert_error_shape(response, 401, "invalid_token")
