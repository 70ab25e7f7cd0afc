"""DPoP (RFC 9449) in the guard: the ASGI middleware, FastAPI require() per route, WSGI/Flask, with a
server nonce of the guard's own, replay refused, bound tokens never accepted as Bearer."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate import Issuer, KeySet, generate_key
from jwtgate.dpop import ProofSigner
from jwtgate.protect import Guard, JWTAuthMiddleware

ISSUER = "https://auth.test"
API = "http://api.test"
SIGNING = generate_key("ES256")


def mint(jkt: str | None = None) -> str:
    claims = {"cnf": {"jkt": jkt}} if jkt else None
    return Issuer(SIGNING, issuer=ISSUER, audience="api").issue(
        "alice", ttl=300, session_id="s1", claims=claims
    )


def guard(**options: Any) -> Guard:
    return Guard(issuer=ISSUER, audience="api", keys=KeySet([SIGNING.public_key()]), **options)


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.scope["auth"]["sub"]})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=API)


def middleware(**options: Any) -> JWTAuthMiddleware:
    return JWTAuthMiddleware(Starlette(routes=[Route("/hello", hello)]), guard=guard(**options))


def dpop_headers(
    signer: ProofSigner, token: str, *, method: str = "GET", path: str = "/hello", nonce: str | None = None
) -> dict[str, str]:
    proof = signer.proof(method, f"{API}{path}", now=time.time(), access_token=token, nonce=nonce)
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


@pytest.fixture
def signer() -> ProofSigner:
    return ProofSigner(generate_key("ES256"))


async def test_a_bound_token_with_its_proof_passes_once(signer: ProofSigner) -> None:
    token = mint(signer.jkt)
    async with client(middleware()) as api:
        headers = dpop_headers(signer, token)
        assert (await api.get("/hello", headers=headers)).json() == {"sub": "alice"}
        replay = await api.get("/hello", headers=headers)
        assert replay.status_code == 401
        assert replay.json()["error"] == "invalid_dpop_proof"
        assert replay.headers["www-authenticate"].startswith("DPoP realm=")
        assert 'algs="' in replay.headers["www-authenticate"]


async def test_a_bound_token_sent_as_bearer_is_refused(signer: ProofSigner) -> None:
    async with client(middleware()) as api:
        response = await api.get("/hello", headers={"Authorization": f"Bearer {mint(signer.jkt)}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("DPoP ")


async def test_a_captured_token_with_another_keys_proof_is_refused(signer: ProofSigner) -> None:
    thief = ProofSigner(generate_key("ES256"))
    async with client(middleware()) as api:
        response = await api.get("/hello", headers=dpop_headers(thief, mint(signer.jkt)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(("method", "path"), [("POST", "/hello"), ("GET", "/other")])
async def test_a_proof_for_another_request_is_refused(signer: ProofSigner, method: str, path: str) -> None:
    token = mint(signer.jkt)
    async with client(middleware()) as api:
        proof = dpop_headers(signer, token, method=method, path=path)
        response = await api.get("/hello", headers=proof)
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_an_unbound_token_on_the_dpop_scheme_is_refused(signer: ProofSigner) -> None:
    async with client(middleware()) as api:
        response = await api.get("/hello", headers=dpop_headers(signer, mint()))
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_required_mode_refuses_bearer_tokens(signer: ProofSigner) -> None:
    async with client(middleware(dpop="required")) as api:
        bearer = await api.get("/hello", headers={"Authorization": f"Bearer {mint()}"})
        assert bearer.status_code == 401
        assert bearer.headers["www-authenticate"].startswith("DPoP ")
        assert (await api.get("/hello", headers=dpop_headers(signer, mint(signer.jkt)))).status_code == 200


async def test_off_mode_refuses_the_dpop_scheme_and_still_never_takes_a_bound_bearer(
    signer: ProofSigner,
) -> None:
    async with client(middleware(dpop="off")) as api:
        assert (await api.get("/hello", headers={"Authorization": f"Bearer {mint()}"})).status_code == 200
        assert (await api.get("/hello", headers=dpop_headers(signer, mint(signer.jkt)))).status_code == 401
        bound = await api.get("/hello", headers={"Authorization": f"Bearer {mint(signer.jkt)}"})
        assert bound.status_code == 401


async def test_the_guard_asks_for_its_own_nonce(signer: ProofSigner) -> None:
    token = mint(signer.jkt)
    async with client(middleware(dpop_nonce_secret=secrets.token_bytes(32))) as api:
        first = await api.get("/hello", headers=dpop_headers(signer, token))
        assert first.status_code == 401
        assert 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
        nonce = first.headers["dpop-nonce"]
        retry = await api.get("/hello", headers=dpop_headers(signer, token, nonce=nonce))
        assert retry.status_code == 200


async def test_fastapi_require_per_route(signer: ProofSigner) -> None:
    from fastapi import Depends, FastAPI

    from jwtgate.protect.fastapi import require

    shared = guard()
    app = FastAPI()

    @app.get("/open-to-both", dependencies=[Depends(require(guard=shared))])
    async def both() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/dpop-only", dependencies=[Depends(require(guard=shared, dpop="required"))])
    async def dpop_only() -> dict[str, bool]:
        return {"ok": True}

    async with client(app) as api:
        bearer = {"Authorization": f"Bearer {mint()}"}
        assert (await api.get("/open-to-both", headers=bearer)).status_code == 200
        refused = await api.get("/dpop-only", headers=bearer)
        assert refused.status_code == 401
        assert set(refused.json()) == {"error", "error_description"}
        token = mint(signer.jkt)
        assert (
            await api.get("/dpop-only", headers=dpop_headers(signer, token, path="/dpop-only"))
        ).status_code == 200
        assert (
            await api.get("/open-to-both", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401
    await shared.aclose()


def test_wsgi_and_flask(signer: ProofSigner) -> None:
    from flask import Flask, g

    from jwtgate.protect.wsgi import JWTAuthWSGIMiddleware, jwt_required

    flask_app = Flask(__name__)

    @flask_app.get("/hello")
    @jwt_required(dpop="required")
    def hello_view() -> dict[str, str]:
        return {"sub": g.jwt_claims["sub"]}

    shared = guard()
    flask_app.wsgi_app = JWTAuthWSGIMiddleware(flask_app.wsgi_app, guard=shared)  # type: ignore[method-assign]
    http = flask_app.test_client()
    token = mint(signer.jkt)
    proof = signer.proof("GET", "http://localhost/hello", now=time.time(), access_token=token)
    ok = http.get("/hello", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json() == {"sub": "alice"}
    again = http.get("/hello", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert again.status_code == 401
    assert again.get_json()["error"] == "invalid_dpop_proof"
    bearer = http.get("/hello", headers={"Authorization": f"Bearer {mint()}"})
    assert bearer.status_code == 401  # this view requires DPoP
    shared.close_sync()
