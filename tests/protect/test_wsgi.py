"""WSGI middleware and the Flask decorator, on the sync path of the same Guard."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from flask import Flask, g
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate import Issuer, Key, KeySet, generate_key
from jwtgate.protect import Guard, JWKSClient, JWTAuthWSGIMiddleware, jwt_required

from .conftest import AUDIENCE, ISSUER, JWKS_URL, AuthServer, Clock, make_token


@pytest.fixture
def guard(rsa_key: Key, clock: Clock) -> Iterator[Guard]:
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]), clock=clock)
    yield guard
    guard.close_sync()


def flask_app(guard: Guard | None) -> Flask:
    app = Flask(__name__)

    @app.get("/items")
    @jwt_required(scopes=["read"], guard=guard)
    def items() -> dict[str, Any]:
        return {"sub": g.jwt_user.identity, "scope": g.jwt_claims["scope"]}

    @app.post("/items")
    @jwt_required(scopes=["write"], guard=guard)
    def create() -> dict[str, Any]:
        return {"created_by": g.jwt_user.identity}

    @app.get("/admin")
    @jwt_required(roles=["admin"], guard=guard)
    def admin() -> dict[str, Any]:
        return {"roles": sorted(g.jwt_user.roles)}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_flask_decorator(guard: Guard, issuer: Issuer) -> None:
    client = flask_app(guard).test_client()
    reader = {"Authorization": f"Bearer {make_token(issuer)}"}
    response = client.get("/items", headers=reader)
    assert response.status_code == 200
    assert response.json == {"sub": "alice", "scope": "read"}
    response = client.post("/items", headers=reader)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.json is not None
    assert response.json["error"] == "insufficient_scope"
    admin = {"Authorization": f"Bearer {make_token(issuer, claims={'roles': ['admin']})}"}
    assert client.get("/admin", headers=admin).json == {"roles": ["admin"]}
    response = client.get("/items")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    response = client.get("/items", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401
    assert response.json == {"error": "invalid_token", "error_description": "the token is malformed"}
    assert client.get("/items", headers={"Authorization": "Basic eDp5"}).status_code == 401
    lower = {"Authorization": f"bearer {make_token(issuer)}"}
    assert client.get("/items", headers=lower).status_code == 200
    assert client.get("/health").status_code == 200


def test_flask_decorator_with_guard_from_extensions(guard: Guard, issuer: Issuer) -> None:
    app = flask_app(None)
    app.extensions["jwtgate"] = guard
    client = app.test_client()
    assert client.get("/items", headers={"Authorization": f"Bearer {make_token(issuer)}"}).status_code == 200


def test_flask_behind_the_wsgi_middleware(guard: Guard, issuer: Issuer) -> None:
    app = flask_app(None)
    app.wsgi_app = JWTAuthWSGIMiddleware(app.wsgi_app, guard=guard, exclude_paths=["/health"])  # type: ignore[method-assign]
    client = app.test_client()
    assert client.get("/items", headers={"Authorization": f"Bearer {make_token(issuer)}"}).status_code == 200
    assert client.get("/items").status_code == 401
    assert client.get("/health").status_code == 200


def plain_wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    user = environ["jwtgate.user"]
    body = json.dumps({"sub": user.identity, "authenticated": user.is_authenticated}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def run(app: Any, path: str = "/x", authorization: str | None = None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [
        (None, "401 Unauthorized", "unauthorized"),
        ("", "401 Unauthorized", "unauthorized"),
        ("Bearer", "401 Unauthorized", "invalid_token"),
        ("Bearer \x00\xff", "401 Unauthorized", "invalid_token"),
        ("Bearer " + "a" * 100_000, "401 Unauthorized", "invalid_token"),
        ("Bearer a.b.c, Bearer a.b.c", "401 Unauthorized", "invalid_token"),  # joined repeated headers
        ("Digest x", "401 Unauthorized", "unauthorized"),  # no bearer credentials at all
    ],
)
def test_wsgi_middleware_bad_input(guard: Guard, authorization: str | None, status: str, error: str) -> None:
    app = JWTAuthWSGIMiddleware(plain_wsgi_app, guard=guard)
    answer_status, headers, body = run(app, authorization=authorization)
    assert answer_status == status
    assert headers["www-authenticate"].startswith('Bearer realm="api"')
    assert json.loads(body)["error"] == error


def test_wsgi_middleware_success_scopes_and_open_paths(rsa_key: Key, clock: Clock, issuer: Issuer) -> None:
    app = JWTAuthWSGIMiddleware(
        plain_wsgi_app,
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=KeySet([rsa_key.public_key()]),
        clock=clock,
        scopes=["read"],
        exclude_paths=["/open/*"],
    )
    status, _, body = run(app, authorization=f"Bearer {make_token(issuer)}")
    assert status == "200 OK"
    assert json.loads(body) == {"sub": "alice", "authenticated": True}
    status, headers, _ = run(app, authorization=f"Bearer {make_token(issuer, scope='other')}")
    assert status == "403 Forbidden"
    assert 'scope="read"' in headers["www-authenticate"]
    status, _, body = run(app, path="/open/page")
    assert json.loads(body) == {"sub": "", "authenticated": False}


def test_wsgi_with_jwks_and_feed_revocation_in_a_thread(server: AuthServer, issuer: Issuer) -> None:
    # Real clock here: the feed thread runs in real time; the deadline loop below bounds the wait.
    from jwtgate.protect import FeedRevocations

    jwks = JWKSClient(JWKS_URL, sync_http_client=server.sync_client())
    feed = FeedRevocations(
        "https://auth.test/api/revocations", interval=0.02, http_client=server.async_client()
    )
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, revocation_source=feed)
    app = JWTAuthWSGIMiddleware(plain_wsgi_app, guard=guard)
    try:
        minted = issuer.mint("alice", ttl=900, session_id="s-wsgi", now=time.time())
        assert run(app, authorization=f"Bearer {minted.token}")[0] == "200 OK"
        server.revoke("sid", "s-wsgi", minted.claims["exp"])
        for _ in range(500):  # a deadline of about 5 s
            status, _, body = run(app, authorization=f"Bearer {minted.token}")
            if status != "200 OK":
                break
            time.sleep(0.01)
        assert status == "401 Unauthorized"
        assert json.loads(body)["error_description"] == "the token has been revoked"
    finally:
        guard.close_sync()


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=st.characters(max_codepoint=255), max_size=300))
def test_no_header_value_can_cause_a_500_or_a_pass_wsgi(value: str) -> None:
    key = generate_key("HS256", kid="h")
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([key]))
    app = JWTAuthWSGIMiddleware(plain_wsgi_app, guard=guard)
    for header in (value, "Bearer " + value):
        status, _, _ = run(app, authorization=header)
        assert status in ("400 Bad Request", "401 Unauthorized")
