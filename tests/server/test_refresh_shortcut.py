"""``POST /api/token/refresh`` is served past the router (jwtgate.server.shortcut): the same answers as
through the router, byte for byte where nothing is random, the same metrics, and still one route of the
OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, cast

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from jwtgate.server import create_app
from jwtgate.server.middleware import ErrorBoundaryMiddleware
from jwtgate.server.problems import ApiError, install_error_handlers
from jwtgate.server.runtime import service_policy
from jwtgate.server.shortcut import RouteShortcutMiddleware, find_endpoints
from jwtgate.service import AuthService
from jwtgate.settings import Settings, load_settings
from jwtgate.storage import open_store

from .conftest import BASE_URL, PASSWORD, FrozenClock, cheap_hasher_for_tests

ORIGIN = "https://app.example"
# Headers whose values are per answer (new tokens, nonces, lengths of new tokens): compared by name only.
RANDOM_HEADERS = {"dpop-nonce", "content-length"}
RANDOM_MEMBERS = {"access_token", "refresh_token"}


def _is_shortcut(middleware: Middleware) -> bool:
    return cast(object, middleware.cls) is RouteShortcutMiddleware


async def _running(tmp_path: Path, name: str, clock: FrozenClock, *, shortcut: bool) -> tuple[FastAPI, Any]:
    settings: Settings = load_settings(
        data_dir=tmp_path / name, max_body_size=4096, cors_origins=(ORIGIN,), issuer="https://auth.test"
    )
    settings.data_dir.mkdir(mode=0o700)
    store = await open_store(f"sqlite+aiosqlite:///{settings.data_dir / 'test.db'}")
    await store.migrate()
    service = await AuthService.open(
        store=store, policy=service_policy(settings), clock=clock, hasher=cheap_hasher_for_tests()
    )
    await service.add_user("alice", PASSWORD)
    app = create_app(settings, service=service, clock=clock)
    if not shortcut:
        app.user_middleware = [m for m in app.user_middleware if not _is_shortcut(m)]
    return app, service


@pytest.fixture
async def twins(
    tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The same app twice on the same clock: with the shortcut, and with the refresh served by the router."""
    fast, fast_service = await _running(tmp_path, "fast", clock, shortcut=True)
    slow, slow_service = await _running(tmp_path, "slow", clock, shortcut=False)
    assert any(_is_shortcut(m) for m in fast.user_middleware)
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url=BASE_URL) as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url=BASE_URL) as b,
        ):
            yield a, b
    finally:
        await fast_service.close()
        await slow_service.close()


def _comparable(response: httpx.Response) -> tuple[Any, ...]:
    headers = sorted(
        (name, "*" if name in RANDOM_HEADERS else value) for name, value in response.headers.multi_items()
    )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: "*" if k in RANDOM_MEMBERS else v for k, v in body.items()}
    return response.status_code, headers, body


Send = Callable[[httpx.AsyncClient, dict[str, str]], Any]


async def test_every_kind_of_refresh_answer_is_the_same_as_through_the_router(
    twins: tuple[httpx.AsyncClient, httpx.AsyncClient], clock: FrozenClock
) -> None:
    tokens: dict[httpx.AsyncClient, dict[str, str]] = {}
    for http in twins:
        login = await http.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200
        tokens[http] = {"first": login.json()["refresh_token"]}

    def refresh(name: str, **extra: Any) -> Send:
        def send(http: httpx.AsyncClient, mine: dict[str, str]) -> Any:
            return http.post("/api/token/refresh", json={"refresh_token": mine[name]}, **extra)

        return send

    def raw(content: bytes, content_type: str = "application/json", **headers: str) -> Send:
        def send(http: httpx.AsyncClient, mine: dict[str, str]) -> Any:
            head = {"content-type": content_type, **headers}
            return http.post("/api/token/refresh", content=content, headers=head)

        return send

    steps: list[tuple[str, Send]] = [
        ("rotation", refresh("first")),
        ("within the grace window", refresh("first")),
        ("from an allowed origin", refresh("first", headers={"Origin": ORIGIN})),
        ("from another origin", refresh("first", headers={"Origin": "https://evil.example"})),
        ("not JSON", raw(b"{nope")),
        ("not an object", raw(b"[1]")),
        ("duplicate member", raw(b'{"refresh_token": "a", "refresh_token": "b"}')),
        ("unknown member", raw(b'{"refresh_token": "jgr_x", "extra": 1}')),
        ("missing member", raw(b"{}")),
        ("wrong type", raw(b'{"refresh_token": 7}')),
        ("too long", raw(b'{"refresh_token": "' + b"a" * 600 + b'"}')),
        ("form body", raw(b"refresh_token=x", "application/x-www-form-urlencoded")),
        ("not UTF-8", raw(b'{"refresh_token": "\xff"}')),
        ("body over the limit", raw(b'{"refresh_token": "' + b"a" * 5000 + b'"}')),
        ("bad Content-Length", raw(b"{}", **{"content-length": "x"})),
        ("unknown token", raw(b'{"refresh_token": "jgr_unknown"}')),
        ("a junk DPoP proof", refresh("first", headers={"DPoP": "not.a.proof"})),
    ]
    for what, send in steps:
        fast, slow = [await send(http, tokens[http]) for http in twins]
        assert _comparable(fast) == _comparable(slow), what
        if what == "rotation":
            for http, response in zip(twins, (fast, slow), strict=True):
                tokens[http]["second"] = response.json()["refresh_token"]
    clock.advance(60)  # past the grace window: presenting the first token again is a reuse
    fast, slow = [await refresh("first")(http, tokens[http]) for http in twins]
    assert fast.status_code == 401
    assert _comparable(fast) == _comparable(slow)
    fast, slow = [await refresh("second")(http, tokens[http]) for http in twins]  # its session is revoked
    assert _comparable(fast) == _comparable(slow)


async def test_the_refresh_is_counted_under_its_route_template(
    twins: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    counted = []
    for http in twins:
        login = await http.post("/api/login", json={"username": "alice", "password": PASSWORD})
        token = login.json()["refresh_token"]
        assert (await http.post("/api/token/refresh", json={"refresh_token": token})).status_code == 200
        await http.post("/api/token/refresh", json={"refresh_token": token + "x"})
        app = http._transport.app  # type: ignore[attr-defined]
        text = app.state.jwtgate.metrics.render().decode()
        counted.append(
            sorted(
                line.rsplit(" ", 1)[0]
                for line in text.splitlines()
                if "/api/token/refresh" in line and "_created" not in line and "_bucket" not in line
            )
            + sorted(line for line in text.splitlines() if line.startswith("jwtgate_auth_events_total"))
        )
    assert counted[0] == counted[1]
    assert any('route="/api/token/refresh",status="200"' in line for line in counted[0])
    assert any('route="/api/token/refresh",status="401"' in line for line in counted[0])


async def test_the_route_keeps_its_openapi_operation(tmp_path: Path, clock: FrozenClock) -> None:
    fast, fast_service = await _running(tmp_path, "fast", clock, shortcut=True)
    slow, slow_service = await _running(tmp_path, "slow", clock, shortcut=False)
    try:
        assert "post" in fast.openapi()["paths"]["/api/token/refresh"]
        assert fast.openapi() == slow.openapi()
    finally:
        await fast_service.close()
        await slow_service.close()


# -- the middleware on its own ---------------------------------------------------------------------
def _hot_router() -> APIRouter:
    router = APIRouter()

    @router.post("/hot")
    async def hot(request: Request) -> Response:
        if request.headers.get("x-fail") == "api":
            raise ApiError(409, "conflict", "refused on purpose")
        if request.headers.get("x-fail") == "bug":
            raise RuntimeError("a bug")
        return JSONResponse({"route": request.scope["route"].path, "body": (await request.body()).decode()})

    return router


async def test_the_shortcut_calls_the_endpoint_without_the_router() -> None:
    """The app below has no route at all: only the shortcut can answer /hot. Its errors go through the
    app's exception handlers (the one error shape), and a bug still reaches the error boundary."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RouteShortcutMiddleware, routes=find_endpoints(_hot_router(), [("POST", "/hot")]))
    app.add_middleware(ErrorBoundaryMiddleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        served = await http.post("/hot", content=b"payload")
        assert served.status_code == 200
        assert served.json() == {"route": "/hot", "body": "payload"}
        refused = await http.post("/hot", headers={"x-fail": "api"})
        assert refused.status_code == 409
        assert refused.json() == {"error": "conflict", "error_description": "refused on purpose"}
        assert refused.headers["cache-control"] == "no-store"
        broken = await http.post("/hot", headers={"x-fail": "bug"})
        assert broken.status_code == 500
        assert broken.json()["error"] == "server_error"
        assert "a bug" not in broken.text
        # Another method, or the path under a root path: not the shortcut's (the router has nothing).
        assert (await http.get("/hot")).status_code == 404
        assert (await http.post("/hot/")).status_code == 404


def test_a_missing_route_or_an_endpoint_with_parameters_cannot_be_shortcut() -> None:
    router = _hot_router()
    with pytest.raises(LookupError):
        find_endpoints(router, [("POST", "/cold")])

    @router.post("/with-query")
    async def with_query(q: str) -> dict[str, str]:
        return {"q": q}

    @router.post("/with-header")
    async def with_header(request: Request, x_thing: Annotated[str | None, Header()] = None) -> Response:
        return Response(x_thing)

    @router.post("/with-dependency", dependencies=[Depends(lambda: None)])
    async def with_dependency(request: Request) -> Response:
        return Response()

    for path in ("/with-query", "/with-header", "/with-dependency"):
        with pytest.raises(TypeError, match="only endpoints that take just the request"):
            RouteShortcutMiddleware(FastAPI(), find_endpoints(router, [("POST", path)]))
