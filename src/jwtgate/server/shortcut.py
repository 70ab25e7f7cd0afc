"""A shortcut past the framework's router for the hottest route (``POST /api/token/refresh``).

The route stays an ordinary FastAPI route: declared with its decorator, in the OpenAPI document, and
served by the router for anything the shortcut does not take. The shortcut sits innermost among the
app's own middleware (so body limits, CORS, metrics, security headers and the error boundary all apply
as to every route) and, for a request with exactly that method and path, calls the same endpoint
function with a Starlette ``Request`` and turns its exceptions into answers with the app's own
exception handlers, through Starlette's ``ExceptionMiddleware`` as the router path does.

What it skips is what this endpoint does not use: route matching over every route, FastAPI's
dependency solving (the endpoint takes only the request and reads its body itself) and its exit-stack
and telemetry wrappers. Measured in process with the service answering a fixed pair, they took about
half of the app's own CPU per refresh (78 us before, 41 us after; bench/refresh_parts.py). One thing
differs where FastAPI's optional OpenTelemetry support is configured (jwtgate does not use it): this
route's requests get no FastAPI endpoint span and no route name on the server span.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RouteShortcutMiddleware", "find_endpoints"]

Endpoint = Callable[[Request], Awaitable[Response]]


def find_endpoints(router: APIRouter, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], APIRoute]:
    """The routes of ``router`` for each ``(method, path)`` in ``wanted``; a missing one is an error
    (a renamed route must not silently lose its shortcut, nor keep a stale one)."""
    found: dict[tuple[str, str], APIRoute] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            for method in route.methods or ():
                found[(method, route.path)] = route
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LookupError(f"no route for {missing}")
    return {key: found[key] for key in wanted}


class RouteShortcutMiddleware:
    """Serve ``routes`` (``(method, path) -> APIRoute``) by calling their endpoints directly.

    Only endpoints whose one parameter is the ``Request`` qualify (checked here): nothing else of
    FastAPI's request handling applies to them.
    """

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], APIRoute]) -> None:
        self.app = app
        for (_, path), route in routes.items():
            # Exactly one parameter, the request, and no dependencies (the route's or its router's):
            # anything more would need FastAPI's request handling, which the shortcut skips.
            dependant = route.dependant
            parameters = inspect.signature(route.endpoint).parameters
            if len(parameters) != 1 or dependant.request_param_name is None or dependant.dependencies:
                raise TypeError(f"{path}: only endpoints that take just the request can be shortcut")
        self._routes = {key: (route, _endpoint_app(route.endpoint)) for key, route in routes.items()}
        self._handled: dict[int, ExceptionMiddleware] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = (
            self._routes.get((scope["method"], scope["path"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if target is None:
            await self.app(scope, receive, send)
            return
        route, endpoint_app = target
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        await self._with_handlers(scope["app"], endpoint_app)(scope, receive, send)

    def _with_handlers(self, app: Any, endpoint_app: ASGIApp) -> ExceptionMiddleware:
        # The app's exception handlers as its router path gets them (FastAPI hands every one but the
        # 500/Exception handler to ExceptionMiddleware), read once: they are set before the first request.
        key = id(endpoint_app)
        handled = self._handled.get(key)
        if handled is None:
            handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
            handled = self._handled[key] = ExceptionMiddleware(endpoint_app, handlers=handlers)
        return handled


def _endpoint_app(endpoint: Any) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app
