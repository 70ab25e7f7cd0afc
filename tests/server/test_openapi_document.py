"""The OpenAPI document declares every error answer in the one error shape, and every credential a route
reads (cookies, X-CSRF-Token, DPoP, client Basic). The schemathesis suite (tests/integration/
test_openapi_fuzz.py, slow) checks the real answers against it; these checks run in every local run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import assert_error_shape

pytestmark = pytest.mark.parametrize("settings_overrides", [{"registration": "open"}])

ERROR_REF = "#/components/schemas/ErrorBody"


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items()]


def _parameters(operation: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}


async def test_every_error_answer_has_the_one_error_shape(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    assert "HTTPValidationError" not in str(document)  # FastAPI's {"detail": [...]} is never sent
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error", "error_description"]
    for method, path, operation in _operations(document):
        statuses = {int(code) for code in operation["responses"]}
        if path not in ("/healthz", "/.well-known/jwks.json"):
            assert statuses & {400, 401, 404, 422, 503}, f"{method} {path} declares no error"
        for code, answer in operation["responses"].items():
            if int(code) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{method} {path} {code}"


async def test_body_routes_declare_their_refusals(client: httpx.AsyncClient) -> None:
    for method, path, operation in _operations(await _document(client)):
        content = operation.get("requestBody", {}).get("content", {})
        declared = set(operation["responses"])
        if "application/json" in content:
            assert {"400", "413", "415", "422"} <= declared, f"{method} {path}"
        if "application/x-www-form-urlencoded" in content:
            assert {"400", "413", "415"} <= declared, f"{method} {path}"
            schema = content["application/x-www-form-urlencoded"]["schema"]
            assert schema["additionalProperties"] == {"type": "string"}  # ignored, never repeated


async def test_every_way_of_sending_an_access_token_is_declared(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["accessCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "__Host-jwtgate-access",
        "description": schemes["accessCookie"]["description"],
    }
    authenticated = [(m, p, op) for m, p, op in _operations(document) if op.get("security")]
    assert {p for _, p, _ in authenticated} >= {"/api/me", "/api/logout", "/api/sessions/{sid}"}
    for method, path, operation in authenticated:
        if path.startswith("/oauth/"):
            assert {"clientSecretBasic": []} in operation["security"]
            assert {} in operation["security"]  # or credentials in the form, or a public client
            continue
        assert {"accessCookie": []} in operation["security"], path
        assert ("header", "dpop") in _parameters(operation), path
        assert {"400", "401", "403"} <= set(operation["responses"]), path
        if method != "GET":
            assert ("header", "x-csrf-token") in _parameters(operation), path


async def test_cookie_and_dpop_parameters_are_declared(client: httpx.AsyncClient) -> None:
    paths = (await _document(client))["paths"]
    refresh = _parameters(paths["/api/cookie/refresh"]["post"])
    assert refresh == {
        ("cookie", "__secure-jwtgate-refresh"),
        ("cookie", "jwtgate-csrf"),
        ("header", "x-csrf-token"),
    }
    assert ("cookie", "__secure-jwtgate-device") in _parameters(paths["/api/cookie/login"]["post"])
    assert ("header", "x-device-token") in _parameters(paths["/api/login"]["post"])
    for path in ("/api/login", "/api/token/refresh", "/oauth/token"):
        assert ("header", "dpop") in _parameters(paths[path]["post"]), path


async def test_a_documented_refusal_is_what_is_sent(client: httpx.AsyncClient) -> None:
    # FastAPI would answer a bad path parameter 422 {"detail": [...]}: here it is the documented shape.
    document = await _document(client)
    revocations = document["paths"]["/api/revocations"]["get"]["responses"]
    assert revocations["422"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert_error_shape(await client.get("/api/revocations?limit=0"), 422, "invalid_request")
    assert "415" in document["paths"]["/api/login"]["post"]["responses"]
    assert_error_shape(await client.post("/api/login", content=b"x"), 415, "invalid_request")
