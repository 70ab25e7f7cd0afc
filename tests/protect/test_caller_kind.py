"""The guard tells a client acting for itself (client credentials) from a user (issue 8, item 4)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate import Issuer, KeySet, generate_key
from jwtgate.protect import JWTAuthMiddleware, TokenUser

KEY = generate_key("ES256")
ISSUER = Issuer(KEY, issuer="https://auth.test", audience="api")


async def who(request: Request) -> JSONResponse:
    return JSONResponse({"client": request.user.is_client, "user": request.user.is_user})


async def test_a_client_credentials_token_is_a_client_and_a_users_token_a_user() -> None:
    app = JWTAuthMiddleware(
        Starlette(routes=[Route("/who", who)]),
        issuer="https://auth.test",
        audience="api",
        keys=KeySet([KEY.public_key()]),
    )
    machine = ISSUER.issue("jgc_reports", ttl=60, client_id="jgc_reports", session_id="x")
    person = ISSUER.issue("u-123", ttl=60, client_id="jgc_reports", session_id="s1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
        as_machine = await api.get("/who", headers={"Authorization": f"Bearer {machine}"})
        as_person = await api.get("/who", headers={"Authorization": f"Bearer {person}"})
    assert as_machine.json() == {"client": True, "user": False}
    assert as_person.json() == {"client": False, "user": True}
    await app.guard.aclose()


def test_azp_counts_as_the_client_for_other_issuers() -> None:
    assert TokenUser({"sub": "svc", "azp": "svc"}).is_client
    assert not TokenUser({"sub": "alice", "azp": "svc"}).is_client
    assert not TokenUser({"sub": "alice"}).is_client
