"""JWKS, RFC 8414 metadata, revocation feed, health, readiness, metrics, OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx

from jwtgate import KeySet, Verifier

from .conftest import FrozenClock, bearer, login


async def test_jwks_verifies_issued_tokens(client: httpx.AsyncClient, clock: FrozenClock, alice: Any) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    document = response.json()
    assert document["keys"]
    for key in document["keys"]:
        assert "d" not in key  # public members only
        assert key["kid"]
    keys = KeySet.from_jwks(document)
    verifier = Verifier(keys, issuer="http://127.0.0.1:8000", audience="jwtgate", clock=clock)
    claims = verifier.verify((await login(client))["access_token"])
    assert claims["sub"] == alice.id


async def test_authorization_server_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == "http://127.0.0.1:8000"
    assert metadata["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert metadata["jwks_uri"] == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert metadata["revocation_endpoint"].endswith("/oauth/revoke")
    assert metadata["introspection_endpoint"].endswith("/oauth/introspect")
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    }
    assert "response_types_supported" in metadata
    assert "client_secret_basic" in metadata["introspection_endpoint_auth_methods_supported"]


async def test_revocation_feed_lists_revoked_sessions(client: httpx.AsyncClient, alice: Any) -> None:
    empty = (await client.get("/api/revocations", params={"after": 0})).json()
    tokens = await login(client)
    sid = (await client.get("/api/protected", headers=bearer(tokens["access_token"]))).json()["user"]["sid"]
    await client.post("/api/logout", headers=bearer(tokens["access_token"]))
    page = (await client.get("/api/revocations", params={"after": empty["cursor"]})).json()
    entries = page["revocations"]
    assert {"type": "sid", "value": sid} in [{"type": e["type"], "value": e["value"]} for e in entries]
    assert page["cursor"] > empty["cursor"]
    later = (await client.get("/api/revocations", params={"after": page["cursor"]})).json()
    assert later["revocations"] == []


async def test_revocation_feed_rejects_a_bad_cursor(client: httpx.AsyncClient) -> None:
    for value in ("-1", "abc", "1e3"):
        response = await client.get("/api/revocations", params={"after": value})
        assert response.status_code == 422
        assert set(response.json()) == {"error", "error_description"}
        assert value not in response.json()["error_description"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, alice: Any) -> None:
    await login(client)
    await client.delete("/api/sessions/abc")
    text = (await client.get("/metrics")).text
    assert 'jwtgate_http_requests_total{method="POST",route="/api/login",status="200"} 1.0' in text
    assert 'route="/api/sessions/{sid}",status="401"' in text
    assert 'jwtgate_auth_events_total{event="login",result="ok"} 1.0' in text


async def test_openapi_declares_the_password_flow(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    flows = next(iter(schemes.values()))["flows"]
    assert flows["password"]["tokenUrl"] == "/oauth/token"
    assert "/api/login" in schema["paths"]
    assert "/api/register" not in schema["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
