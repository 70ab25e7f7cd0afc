"""JWTAuthMiddleware through a real Starlette app: success, every bad-input class, scopes, roles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate import Issuer, Key, KeySet, generate_key
from jwtgate.jose.b64 import b64url_encode
from jwtgate.protect import Guard, JWTAuthMiddleware

from .asgi_driver import call
from .conftest import AUDIENCE, ISSUER, Clock, make_token


async def hello(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "sub": user.identity if user.is_authenticated else None,
            "auth": request.auth,
            "authenticated": user.is_authenticated,
        }
    )


def starlette_app() -> Starlette:
    return Starlette(
        routes=[Route("/hello", hello), Route("/public", hello), Route("/docs/{rest:path}", hello)]
    )


def middleware(rsa_key: Key, clock: Clock, **options: Any) -> JWTAuthMiddleware:
    options.setdefault("exclude_paths", ["/public", "/docs/*"])
    return JWTAuthMiddleware(
        starlette_app(),
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=KeySet([rsa_key.public_key()]),
        clock=clock,
        **options,
    )


@pytest.fixture
def app(rsa_key: Key, clock: Clock) -> JWTAuthMiddleware:
    return middleware(rsa_key, clock)


@pytest.fixture
async def client(app: JWTAuthMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_reaches_the_app_with_claims_and_user(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    response = await client.get("/hello", headers=bearer(make_token(issuer)))
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == "alice"
    assert body["authenticated"] is True
    assert body["auth"]["iss"] == ISSUER
    assert body["auth"]["scope"] == "read"


async def test_lowercase_scheme_is_accepted(client: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await client.get("/hello", headers={"Authorization": f"bearer {make_token(issuer)}"})
    assert response.status_code == 200


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/hello")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error": "unauthorized", "error_description": "a bearer token is required"}


async def test_open_paths_pass_as_anonymous(client: httpx.AsyncClient) -> None:
    for path in ("/public", "/docs/anything/below"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"sub": None, "auth": None, "authenticated": False}
    assert (await client.get("/publicity")).status_code == 401  # exact match, not a prefix


def _forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"sig") -> str:
    return ".".join(
        b64url_encode(part) for part in (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
    )


def bad_tokens(issuer: Issuer, clock: Clock) -> dict[str, str]:
    good = make_token(issuer)
    head, payload, signature = good.split(".")
    stranger = Issuer(generate_key("RS256", kid="k1"), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    claims = {"iss": ISSUER, "sub": "a", "aud": AUDIENCE, "exp": clock.now + 60, "iat": clock.now, "jti": "j"}
    return {
        "garbage": "not-a-token",
        "three dots": "a.b.c",
        "empty segments": "..",
        "alg none": _forged({"alg": "none", "typ": "at+jwt"}, claims, b""),
        "alg HS256 with the RSA kid": _forged({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, claims),
        "tampered payload": f"{head}.{b64url_encode(json.dumps(claims).encode())}.{signature}",
        "tampered signature": f"{head}.{payload}.{signature[:-4]}AAAA",
        "signed by another key with the same kid": make_token(stranger),
        "unknown kid": _forged({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}, claims),
        "expired": make_token(issuer, ttl=60, now=clock.now - 3600),
        "wrong audience": make_token(issuer, audience="other"),
        "wrong issuer": make_token(
            Issuer(issuer.key, issuer="https://evil.test", audience=AUDIENCE, clock=clock)
        ),
        "huge": "a" * 100_000,
        "json bomb header": _forged(
            {"alg": "RS256", "typ": "at+jwt", "kid": "k1", "x": ["y"] * 5000}, claims
        ),
        "unicode": "ⓑⓔⓐⓡⓔⓡ.ⓧ.ⓨ",
    }


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "three dots",
        "empty segments",
        "alg none",
        "alg HS256 with the RSA kid",
        "tampered payload",
        "tampered signature",
        "signed by another key with the same kid",
        "unknown kid",
        "expired",
        "wrong audience",
        "wrong issuer",
        "huge",
        "json bomb header",
        "unicode",
    ],
)
async def test_bad_tokens_are_401_invalid_token(
    app: JWTAuthMiddleware, issuer: Issuer, clock: Clock, case: str
) -> None:
    token = bad_tokens(issuer, clock)[case]
    answer = await call(app, [(b"authorization", b"Bearer " + token.encode())])
    assert answer.status == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    body = json.loads(answer.body)
    assert body["error"] == "invalid_token"
    assert token[:20] not in answer.body.decode()


@pytest.mark.parametrize(
    ("header", "status", "has_error_code"),
    [
        (b"", 401, False),
        (b"Bearer", 401, True),
        (b"Bearer ", 401, True),
        (b"Basic dXNlcjpwYXNz", 401, False),
        (b"Token abc", 401, False),
        (b"Bearer \x00\x01\x02\xff\xfe", 401, True),
        (b"\xff\xfe\xfd", 401, False),
        (b"Bearer a b c", 401, True),
        (b"Bearer " + b"\xe2\x98\x83" * 10, 401, True),
    ],
)
async def test_bad_authorization_headers(
    app: JWTAuthMiddleware, header: bytes, status: int, has_error_code: bool
) -> None:
    answer = await call(app, [(b"authorization", header)])
    assert answer.status == status
    assert ("error=" in answer.headers["www-authenticate"]) is has_error_code


async def test_two_authorization_headers_are_400(app: JWTAuthMiddleware, issuer: Issuer) -> None:
    token = make_token(issuer).encode()
    answer = await call(app, [(b"authorization", b"Bearer " + token), (b"authorization", b"Bearer " + token)])
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == "invalid_request"


@settings(max_examples=200, deadline=None)
@given(value=st.binary(max_size=300))
def test_no_header_value_can_cause_a_500_or_a_pass(value: bytes) -> None:
    key = generate_key("HS256", kid="h")
    app = JWTAuthMiddleware(starlette_app(), issuer=ISSUER, audience=AUDIENCE, keys=KeySet([key]))
    for header in (value, b"Bearer " + value):
        answer = asyncio.run(call(app, [(b"authorization", header)]))
        assert answer.status in (400, 401)


async def test_required_scope_missing_is_403(rsa_key: Key, clock: Clock, issuer: Issuer) -> None:
    app = middleware(rsa_key, clock, scopes=["read", "write"])
    answer = await call(app, [(b"authorization", f"Bearer {make_token(issuer)}".encode())])
    assert answer.status == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="read write"' in challenge
    ok = make_token(issuer, scope="write read extra")
    assert (await call(app, [(b"authorization", f"Bearer {ok}".encode())])).status == 200


async def test_required_role(rsa_key: Key, clock: Clock, issuer: Issuer) -> None:
    app = middleware(rsa_key, clock, roles=["admin"])
    plain = make_token(issuer)
    assert (await call(app, [(b"authorization", f"Bearer {plain}".encode())])).status == 403
    admin = make_token(issuer, claims={"roles": ["admin", "ops"]})
    assert (await call(app, [(b"authorization", f"Bearer {admin}".encode())])).status == 200
    not_a_list = make_token(issuer, claims={"roles": "admin"})
    assert (await call(app, [(b"authorization", f"Bearer {not_a_list}".encode())])).status == 403


async def test_cached_token_is_still_checked_for_expiry(
    app: JWTAuthMiddleware, issuer: Issuer, clock: Clock
) -> None:
    token = make_token(issuer, ttl=120)
    header = [(b"authorization", f"Bearer {token}".encode())]
    assert (await call(app, header)).status == 200
    assert (await call(app, header)).status == 200  # served from the verified-token cache
    clock.advance(120 + 30)  # ttl + default leeway
    answer = await call(app, header)
    assert answer.status == 401
    assert json.loads(answer.body)["error_description"] == "the token has expired"


async def test_websocket_without_token_is_closed(app: JWTAuthMiddleware) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/hello", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_lifespan_starts_and_stops_the_guard(rsa_key: Key, clock: Clock) -> None:
    events: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.shutdown":
                return

    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]), clock=clock)
    app = JWTAuthMiddleware(inner, guard=guard)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        message = next(messages)
        if message["type"] == "lifespan.shutdown":
            assert guard._started  # started on startup
        return message

    async def send(message: dict[str, Any]) -> None:
        pass

    await app({"type": "lifespan"}, receive, send)
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert not guard._started


def test_guard_and_guard_options_are_exclusive(rsa_key: Key) -> None:
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]))
    with pytest.raises(TypeError):
        JWTAuthMiddleware(starlette_app(), guard=guard, issuer=ISSUER)
