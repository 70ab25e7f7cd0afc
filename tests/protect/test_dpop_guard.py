"""DPoP (RFC 9449) in the guard: the ASGI middleware, FastAPI require() per route, WSGI/Flask, with a
server nonce of the guard's own, replay refused (also across instances sharing Redis, WSGI ones
included), bound tokens never accepted as Bearer."""

from __future__ import annotations

import json
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
from jwtgate.errors import ConfigError
from jwtgate.protect import Guard, JWTAuthMiddleware
from jwtgate.storage.redis_replay import RedisReplayCache, SyncRedisReplayCache

ISSUER = "https://auth.test"
API = "http://api.test"
REDIS_URL = "redis://127.0.0.1:6379/0"
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


# -- WSGI instances sharing the replay cache in Redis ----------------------------------------------

UNREACHABLE_REDIS = "redis://:hunter2@127.0.0.1:1/0"


def wsgi_app(replay: Any) -> Any:
    """A plain WSGI app behind the WSGI middleware, with its own guard (one "instance")."""
    from jwtgate.protect.wsgi import JWTAuthWSGIMiddleware

    def hello_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "application/json")])
        return [json.dumps({"sub": environ["jwtgate.claims"]["sub"]}).encode()]

    return JWTAuthWSGIMiddleware(hello_app, guard=guard(dpop_replay=replay))


def flask_app(replay: Any) -> Any:
    """A Flask app whose view is decorated with its own guard (another "instance")."""
    from flask import Flask, g

    from jwtgate.protect.wsgi import jwt_required

    app = Flask(__name__)

    @app.get("/hello")
    @jwt_required(dpop="required", guard=guard(dpop_replay=replay))
    def hello_view() -> dict[str, str]:
        return {"sub": g.jwt_claims["sub"]}

    return app


def wsgi_get(app: Any, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=API) as http:
        return http.get("/hello", headers=headers)


@pytest.mark.redis
def test_wsgi_instances_sharing_redis_accept_a_proof_once(signer: ProofSigner, redis_prefix: str) -> None:
    first_cache = SyncRedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    second_cache = SyncRedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        first, second = wsgi_app(first_cache), flask_app(second_cache)
        token = mint(signer.jkt)
        headers = dpop_headers(signer, token)
        accepted = wsgi_get(first, headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"sub": "alice"}
        replayed = wsgi_get(second, headers)  # the same proof at another instance
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "invalid_dpop_proof"
        assert replayed.headers["www-authenticate"].startswith("DPoP ")
        assert wsgi_get(second, dpop_headers(signer, token)).status_code == 200  # a new proof is fine
        assert wsgi_get(first, headers).status_code == 401
    finally:
        first_cache.close()
        second_cache.close()


@pytest.mark.redis
async def test_asgi_and_wsgi_instances_share_one_replay_cache(signer: ProofSigner, redis_prefix: str) -> None:
    """Same keys, same SET NX PX: a proof the ASGI guard accepted is a replay for the WSGI guard."""
    async_cache = RedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    sync_cache = SyncRedisReplayCache.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        token = mint(signer.jkt)
        headers = dpop_headers(signer, token)
        async with client(middleware(dpop_replay=async_cache)) as api:
            assert (await api.get("/hello", headers=headers)).status_code == 200
            # And the other way round: what the WSGI guard accepted, the ASGI guard refuses.
            other = dpop_headers(signer, token)
            assert wsgi_get(wsgi_app(sync_cache), other).status_code == 200
            assert (await api.get("/hello", headers=other)).json()["error"] == "invalid_dpop_proof"
        assert wsgi_get(wsgi_app(sync_cache), headers).json()["error"] == "invalid_dpop_proof"
    finally:
        await async_cache.close()
        sync_cache.close()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "1"
    assert "hunter2" not in response.text
    assert "hunter2" not in str(response.headers)


def test_wsgi_refuses_with_503_when_redis_fails(signer: ProofSigner) -> None:
    """Fail closed: a proof that cannot be checked is refused, with a clear 503, never accepted."""
    cache = SyncRedisReplayCache.from_url(UNREACHABLE_REDIS, timeout=0.5)
    try:
        token = mint(signer.jkt)
        assert_unavailable(wsgi_get(wsgi_app(cache), dpop_headers(signer, token)))
        assert_unavailable(wsgi_get(flask_app(cache), dpop_headers(signer, token)))
        # Requests that need no proof do not depend on the replay cache.
        assert wsgi_get(wsgi_app(cache), {"Authorization": f"Bearer {mint()}"}).status_code == 200
    finally:
        cache.close()


async def test_asgi_refuses_with_503_when_redis_fails(signer: ProofSigner) -> None:
    cache = RedisReplayCache.from_url(UNREACHABLE_REDIS, timeout=0.5)
    try:
        async with client(middleware(dpop_replay=cache)) as api:
            assert_unavailable(await api.get("/hello", headers=dpop_headers(signer, mint(signer.jkt))))
    finally:
        await cache.close()


def test_a_wsgi_guard_with_the_asyncio_redis_cache_is_refused_at_startup() -> None:
    from jwtgate.protect.wsgi import JWTAuthWSGIMiddleware, jwt_required

    asyncio_cache = RedisReplayCache(object())
    with pytest.raises(ConfigError, match="SyncRedisReplayCache"):
        JWTAuthWSGIMiddleware(lambda environ, start_response: [], guard=guard(dpop_replay=asyncio_cache))
    with pytest.raises(ConfigError, match="SyncRedisReplayCache"):
        jwt_required(guard=guard(dpop_replay=asyncio_cache))
