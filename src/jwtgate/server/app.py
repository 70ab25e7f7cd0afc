"""The auth server application factory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import Counter
from starlette.middleware.cors import CORSMiddleware

from jwtgate.server.metrics import MetricsMiddleware
from jwtgate.server.middleware import (
    BodySizeLimitMiddleware,
    ErrorBoundaryMiddleware,
    SecurityHeadersMiddleware,
)
from jwtgate.server.openapi import install as install_openapi
from jwtgate.server.problems import install_error_handlers
from jwtgate.server.routes_account import build_account_router
from jwtgate.server.routes_authorize import build_authorize_router
from jwtgate.server.routes_cookie import build_cookie_router
from jwtgate.server.routes_docs import build_docs_router
from jwtgate.server.routes_meta import build_meta_router
from jwtgate.server.routes_oauth import build_oauth_router
from jwtgate.server.routes_pages import build_pages_router
from jwtgate.server.runtime import open_service
from jwtgate.server.shortcut import RouteShortcutMiddleware, find_endpoints
from jwtgate.settings import Settings

if TYPE_CHECKING:
    from jwtgate.service import AuthService

__all__ = ["create_app"]

_MAINTENANCE_INTERVAL = 300.0  # seconds between purges / rotation checks; rotation is >= 1 h apart

# The refresh rotation is the request a fleet serves most: its endpoint is called past the router.
_SHORTCUT_ROUTES = (("POST", "/api/token/refresh"),)

_DESCRIPTION = (
    "jwtgate auth server: log in for a short-lived signed JWT access token and a rotating refresh "
    "token; verify tokens anywhere with the public JWKS. Use **Authorize** with a username and "
    "password to try the protected routes."
)


def create_app(
    settings: Settings,
    *,
    service: AuthService | None = None,
    clock: Callable[[], float] = time.time,
    bootstrapped: bool = False,
) -> FastAPI:
    """Build the app. Without ``service`` the lifespan opens one from ``settings`` (creating the
    data folder, migrating the database, generating keys on first start; ``bootstrapped=True`` when
    ``jwtgate serve`` did that already, so migrations run once per process), keeps it in step with the
    other instances in the background, and closes it at shutdown; an injected ``service`` is used as is
    and left open (its owner closes it).
    """
    from jwtgate.server.state import AppState

    state = AppState(settings=settings, clock=clock, service=service)
    broadcast_failures = limiter_fallbacks = None
    if settings.redis_url is not None:
        broadcast_failures = Counter(
            "jwtgate_revocation_broadcast_failures",
            "Revocations and key-ring changes whose Redis broadcast failed (others poll the database)",
            registry=state.metrics.registry,
        )
        limiter_fallbacks = Counter(
            "jwtgate_login_limit_fallbacks",
            "Login-limit checks served per process because Redis failed",
            registry=state.metrics.registry,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            yield
            return
        async with open_service(
            settings,
            clock,
            mode="serve",
            migrate=not bootstrapped,
            maintenance_interval=_MAINTENANCE_INTERVAL,
            sync=True,
            broadcast_failures=broadcast_failures,
            limiter_fallbacks=limiter_fallbacks,
        ) as opened:
            state.service = opened
            redis = None
            if settings.redis_url_value is not None:
                from jwtgate.server.dpop import DPoPGate
                from jwtgate.storage.redis import redis_client

                # DPoP proofs are remembered in Redis: a proof used on one instance is refused by all.
                redis = redis_client(settings.redis_url_value)
                state.dpop = DPoPGate.open(
                    settings.dpop, opened, redis=redis, channel=settings.redis_channel, clock=clock
                )
            try:
                yield
            finally:
                state.service = None
                state.dpop = None
                if redis is not None:
                    await redis.aclose()

    app = FastAPI(
        title="jwtgate",
        summary="JWT auth server",
        description=_DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        swagger_ui_init_oauth={"usePkceWithAuthorizationCodeGrant": False},
        # FastAPI's docs pages load their scripts from a CDN; build_docs_router serves them from here.
        docs_url=None,
        redoc_url=None,
        # No trailing-slash redirects: they build Location from the Host header (open redirect
        # behind a proxy that passes any Host).
        redirect_slashes=False,
        # Production serves no API documentation unless JWTGATE_DOCS=on (it maps the attack surface).
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.jwtgate = state
    install_error_handlers(app)
    install_openapi(app)
    account_router = build_account_router(registration_open=settings.registration == "open")
    app.include_router(account_router)
    app.include_router(build_cookie_router())
    app.include_router(build_oauth_router())
    app.include_router(build_authorize_router())
    app.include_router(build_meta_router())
    app.include_router(build_pages_router())
    if settings.docs_enabled:
        app.include_router(
            build_docs_router(
                title=app.title,
                openapi_url=app.openapi_url or "/openapi.json",
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    # Added innermost first: the request passes ErrorBoundary -> SecurityHeaders -> Metrics ->
    # CORS -> BodySizeLimit -> RouteShortcut (the refresh endpoint) -> the router. The shortcut calls
    # the endpoint as declared: include the account router without include-level dependencies.
    app.add_middleware(RouteShortcutMiddleware, routes=find_endpoints(account_router, _SHORTCUT_ROUTES))
    app.add_middleware(BodySizeLimitMiddleware, max_body_size=settings.max_body_size)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "DPoP", "X-CSRF-Token"],
            # jwtgate.js in DPoP mode reads the server's nonce and the resource challenges.
            expose_headers=["DPoP-Nonce", "WWW-Authenticate"],
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ErrorBoundaryMiddleware)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jwtgate")
    except PackageNotFoundError:
        return "0.0.0+source"
