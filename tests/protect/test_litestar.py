"""JWTAuthMiddleware is pure ASGI: it protects a Litestar app as it protects Starlette/FastAPI, and
Litestar's ``request.user`` / ``request.auth`` read what it leaves in the scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import litestar
import pytest

from jwtgate import Issuer, Key, KeySet
from jwtgate.protect import Guard, JWTAuthMiddleware, TokenUser

from .conftest import AUDIENCE, ISSUER, Clock, make_token


@pytest.fixture
async def guard(rsa_key: Key, clock: Clock) -> AsyncIterator[Guard]:
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]), clock=clock)
    yield guard
    await guard.aclose()


def build(guard: Guard) -> Any:
    @litestar.get("/me")
    async def me(request: litestar.Request[Any, Any, Any]) -> dict[str, Any]:
        user = request.user
        assert isinstance(user, TokenUser)
        return {"sub": user.identity, "scope": request.auth["scope"]}

    @litestar.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return JWTAuthMiddleware(litestar.Litestar([me, health]), guard=guard, exclude_paths=["/health"])


async def test_litestar_app_behind_the_middleware(guard: Guard, issuer: Issuer) -> None:
    transport = httpx.ASGITransport(app=build(guard))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {make_token(issuer)}"})
        assert response.status_code == 200
        assert response.json() == {"sub": "alice", "scope": "read"}
        refused = await client.get("/me", headers={"Authorization": "Bearer not.a.token"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert (await client.get("/me")).status_code == 401
        assert (await client.get("/health")).json() == {"status": "ok"}
