"""``provider=`` on every surface: Guard, JWTAuthMiddleware, JWTAuthWSGIMiddleware, @jwt_required,
FastAPI require() (Django: tests/protect/test_django.py), with scopes and roles read the provider's way."""

# No ``from __future__ import annotations``: FastAPI reads the route annotations at run time.

import time
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask, g

from jwtgate import Key, KeySet, generate_key
from jwtgate.protect import JWTAuthWSGIMiddleware, TokenUser, jwt_required
from jwtgate.protect.fastapi import require
from jwtgate.protect.providers import Okta, Provider

from .idp import sign
from .test_providers import _okta


@pytest.fixture(scope="module")
def okta_key() -> Key:
    return generate_key("RS256", kid="okta-1")


@pytest.fixture
def provider(okta_key: Key) -> Provider:
    return Okta("https://acme.okta.test/oauth2/default", audience="api://default", keys=KeySet([okta_key]))


def token(key: Key, **changes: Any) -> str:
    # Real time: @jwt_required(provider=) and require(provider=) build their guard with the real clock.
    return sign(key, {}, {**_okta(time.time()), **changes})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_wsgi_middleware_and_flask_decorator(provider: Provider, okta_key: Key) -> None:
    app = Flask(__name__)

    @app.get("/read")
    @jwt_required(scopes=["notes.read"], provider=provider)
    def read() -> dict[str, Any]:
        return {"user": g.jwt_user.identity, "roles": sorted(g.jwt_user.roles)}

    @app.get("/edit")
    @jwt_required(roles=["editors"], provider=provider)
    def edit() -> dict[str, Any]:
        return {"ok": True}

    client = app.test_client()
    response = client.get("/read", headers=bearer(token(okta_key)))
    assert response.status_code == 200, response.text
    assert response.json == {"user": "alice@acme.test", "roles": ["Everyone", "editors"]}
    assert client.get("/edit", headers=bearer(token(okta_key))).status_code == 200
    assert client.get("/edit", headers=bearer(token(okta_key, groups=["Everyone"]))).status_code == 403
    assert client.get("/read", headers=bearer(token(okta_key, scp=["openid"]))).status_code == 403
    refused = client.get("/read")
    assert refused.status_code == 401
    assert refused.json == {"error": "unauthorized", "error_description": "a bearer token is required"}

    wrapped = JWTAuthWSGIMiddleware(app.wsgi_app, provider=provider)
    app.wsgi_app = wrapped  # type: ignore[method-assign]
    assert app.test_client().get("/read", headers=bearer(token(okta_key))).status_code == 200
    assert app.test_client().get("/read", headers=bearer(token(okta_key, aud="other"))).status_code == 401
    wrapped.guard.close_sync()
    with pytest.raises(TypeError):
        jwt_required(provider=provider, guard=wrapped.guard)


async def test_fastapi_require_with_a_provider(provider: Provider, okta_key: Key) -> None:
    app = FastAPI()
    dependency = require(scopes=["notes.read"], roles=["editors"], provider=provider)

    @app.get("/notes")
    async def notes(user: Annotated[TokenUser, Depends(dependency)]) -> dict[str, Any]:
        return {"scopes": sorted(user.scopes)}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/notes", headers=bearer(token(okta_key)))
        assert response.status_code == 200, response.text
        assert response.json() == {"scopes": ["notes.read", "openid"]}
        # RFC 6750 bodies with no add_error_handler: 403 and 401 alike.
        denied = await client.get("/notes", headers=bearer(token(okta_key, scp=["openid"])))
        assert denied.status_code == 403
        assert denied.json()["error"] == "insufficient_scope"
        assert set(denied.json()) == {"error", "error_description"}
        assert 'scope="notes.read"' in denied.headers["www-authenticate"]
        bad = await client.get("/notes", headers=bearer(token(okta_key)[:-4] + "AAAA"))
        assert bad.status_code == 401
        assert set(bad.json()) == {"error", "error_description"}
    with pytest.raises(TypeError):
        require(provider=provider, guard=object())  # type: ignore[arg-type]
