"""FastAPI: require() alone and behind the middleware, OpenAPI security scheme, error bodies."""

# No ``from __future__ import annotations``: FastAPI must see the route annotations, which refer to
# dependencies built in local scope.
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from jwtgate import Issuer, Key, KeySet
from jwtgate.protect import Guard, JWTAuthMiddleware, TokenUser
from jwtgate.protect.fastapi import add_error_handler, require

from .conftest import AUDIENCE, ISSUER, Clock, make_token


def build_app(guard: Guard, *, token_url: str | None = None, with_middleware: bool = False) -> Any:
    app = FastAPI()
    add_error_handler(app)
    reader = require(scopes=["read"], guard=guard, token_url=token_url)
    writer = require(scopes=["write"], guard=guard, token_url=token_url)
    admin = require(roles=["admin"], guard=guard, token_url=token_url)

    @app.get("/items")
    async def items(user: Annotated[TokenUser, Depends(reader)]) -> dict[str, Any]:
        return {"sub": user.identity, "scopes": sorted(user.scopes)}

    @app.post("/items")
    async def create(user: Annotated[TokenUser, Depends(writer)]) -> dict[str, Any]:
        return {"created_by": user.identity}

    @app.get("/admin")
    async def administer(user: Annotated[TokenUser, Depends(admin)]) -> dict[str, Any]:
        return {"roles": sorted(user.roles)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if with_middleware:
        return JWTAuthMiddleware(app, guard=guard, exclude_paths=["/health", "/openapi.json"])
    return app


@pytest.fixture
async def guard(rsa_key: Key, clock: Clock) -> AsyncIterator[Guard]:
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]), clock=clock)
    yield guard
    await guard.aclose()


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize("with_middleware", [False, True], ids=["dependency only", "behind middleware"])
async def test_scopes_and_roles(guard: Guard, issuer: Issuer, with_middleware: bool) -> None:
    async with client_for(build_app(guard, with_middleware=with_middleware)) as client:
        reader = {"Authorization": f"Bearer {make_token(issuer, scope='read')}"}
        response = await client.get("/items", headers=reader)
        assert response.status_code == 200
        assert response.json() == {"sub": "alice", "scopes": ["read"]}

        response = await client.post("/items", headers=reader)
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert 'scope="write"' in response.headers["www-authenticate"]
        assert response.json()["error"] == "insufficient_scope"

        admin = make_token(issuer, claims={"roles": ["admin"]})
        response = await client.get("/admin", headers={"Authorization": f"Bearer {admin}"})
        assert response.json() == {"roles": ["admin"]}
        assert (await client.get("/admin", headers=reader)).status_code == 403

        response = await client.get("/items")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
        assert response.json() == {
            "error": "unauthorized",
            "error_description": "a bearer token is required",
        }

        response = await client.get("/items", headers={"Authorization": "Bearer x.y.z"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert (await client.get("/health")).status_code == 200


async def test_dependency_refuses_two_headers_and_other_schemes(guard: Guard, issuer: Issuer) -> None:
    token = make_token(issuer)
    async with client_for(build_app(guard)) as client:
        two = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        assert (await client.get("/items", headers=two)).status_code == 400
        basic = {"Authorization": "Basic dXNlcjpwYXNz"}
        assert (await client.get("/items", headers=basic)).status_code == 401
        lower = {"Authorization": f"bearer {token}"}
        assert (await client.get("/items", headers=lower)).status_code == 200


async def test_openapi_declares_http_bearer_without_a_token_url(guard: Guard) -> None:
    app = FastAPI()
    app.state.jwtgate_guard = guard

    @app.get("/items")
    async def items(user: Annotated[TokenUser, Depends(require(scopes=["read"]))]) -> dict[str, str]:
        return {"sub": user.identity}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async with client_for(app) as client:
        spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["jwtgate"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert spec["paths"]["/items"]["get"]["security"] == [{"jwtgate": ["read"]}]
    assert "security" not in spec["paths"]["/health"]["get"]


async def test_openapi_declares_oauth2_password_flow_for_the_authorize_button(guard: Guard) -> None:
    app = build_app(guard)  # the token URL comes from the guard's issuer
    async with client_for(app) as client:
        spec = (await client.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["jwtgate"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "https://auth.test/oauth/token"
    assert spec["paths"]["/items"]["post"]["security"] == [{"jwtgate": ["write"]}]


async def test_guard_from_app_state(guard: Guard, issuer: Issuer) -> None:
    app = FastAPI()
    app.state.jwtgate_guard = guard

    @app.get("/me")
    async def me(user: Annotated[TokenUser, Depends(require())]) -> dict[str, str]:
        return {"sub": user.identity}

    async with client_for(app) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {make_token(issuer)}"})
        assert response.json() == {"sub": "alice"}
        # Without add_error_handler the body is still the RFC 6750 one, never {"detail": ...}.
        response = await client.get("/me")
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "error_description": "a bearer token is required"}
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_middleware_claims_are_reused_on_open_paths_only_when_verified(
    guard: Guard, issuer: Issuer
) -> None:
    # On an open path the dependency must verify by itself, with the middleware's guard.
    app = FastAPI()
    add_error_handler(app)

    @app.get("/open")
    async def open_route(user: Annotated[TokenUser, Depends(require())]) -> dict[str, str]:
        return {"sub": user.identity}

    wrapped = JWTAuthMiddleware(app, guard=guard, exclude_paths=["/open"])
    async with client_for(wrapped) as client:
        assert (await client.get("/open")).status_code == 401
        headers = {"Authorization": f"Bearer {make_token(issuer)}"}
        assert (await client.get("/open", headers=headers)).json() == {"sub": "alice"}


async def test_no_guard_anywhere_is_a_configuration_error(issuer: Issuer) -> None:
    app = FastAPI()

    @app.get("/me")
    async def me(user: Annotated[TokenUser, Depends(require())]) -> dict[str, str]:
        return {"sub": user.identity}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {make_token(issuer)}"})
    assert response.status_code == 500
    assert "Traceback" not in response.text
