"""The API docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served from this server alone.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN (floating versions, no integrity) and
start Swagger UI with an inline script: blank pages offline, and no Content-Security-Policy can be
strict. Here the assets come from the pinned ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2
bundles, a favicon), Swagger UI is started by ``/docs/assets/swagger-init.js`` reading its settings
from a ``data-config`` attribute, and both pages carry a CSP that allows this origin only.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from jwtgate.server.problems import ApiError

__all__ = ["DOCS_CSP", "REDOC_CSP", "build_docs_router"]

_ASSETS = "/docs/assets"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"  # FastAPI's path, kept
_COMMON_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI's stylesheet draws its icons as data: images.
DOCS_CSP = f"{_COMMON_CSP}; style-src 'self'; img-src 'self' data:"
# ReDoc styles itself through styled-components, which inserts <style> elements at run time: it
# cannot run without 'unsafe-inline' styles (inline script stays forbidden). It also builds its
# search index in a Web Worker made from a blob: URL.
REDOC_CSP = f"{_COMMON_CSP}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src blob:"

# name -> (package holding it, media type); an allow-list: no path is ever built from input.
_FILES = {
    "swagger-ui-bundle.js": ("fastapi_offline", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("fastapi_offline", "text/css; charset=utf-8"),
    "redoc.standalone.js": ("fastapi_offline", "text/javascript; charset=utf-8"),
    "favicon.png": ("fastapi_offline", "image/png"),
    "swagger-init.js": ("jwtgate.server", "text/javascript; charset=utf-8"),
    "oauth2-redirect.js": ("jwtgate.server", "text/javascript; charset=utf-8"),
}


def _read_asset(name: str) -> bytes:
    package, _ = _FILES[name]
    return files(package).joinpath("static", name).read_bytes()


def _page(body: str, title: str, csp: str, root: str) -> Response:
    text = (
        '<!doctype html>\n<html lang="en">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="icon" type="image/png" href="{root}{_ASSETS}/favicon.png">\n'
        f"{body}</html>\n"
    )
    return Response(
        text,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )


def build_docs_router(
    *,
    title: str,
    openapi_url: str,
    init_oauth: Mapping[str, Any] | None = None,
    swagger_ui_parameters: Mapping[str, Any] | None = None,
) -> APIRouter:
    """``/docs``, ``/redoc``, ``/docs/oauth2-redirect`` and their assets under ``/docs/assets/``.

    ``init_oauth`` goes to Swagger UI's ``initOAuth`` and ``swagger_ui_parameters`` over its
    defaults, as FastAPI's ``swagger_ui_init_oauth`` / ``swagger_ui_parameters`` would.
    """
    router = APIRouter(include_in_schema=False)
    # About 2.8 MB in all, read on first use and kept by this router: installed files do not change
    # while the server runs.
    assets: dict[str, bytes] = {}

    @router.get("/docs")
    async def swagger_ui(request: Request) -> Response:
        prefix = request.scope.get("root_path", "")
        root = html.escape(prefix)
        config = {
            "openapiUrl": prefix + openapi_url,
            "oauth2RedirectUrl": prefix + _OAUTH2_REDIRECT,
            "initOAuth": dict(init_oauth or {}),
            "parameters": dict(swagger_ui_parameters or {}),
        }
        body = (
            f'<link rel="stylesheet" href="{root}{_ASSETS}/swagger-ui.css">\n</head>\n<body>\n'
            f'<div id="swagger-ui" data-config="{html.escape(json.dumps(config))}"></div>\n'
            f'<script src="{root}{_ASSETS}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{root}{_ASSETS}/swagger-init.js"></script>\n</body>\n'
        )
        return _page(body, f"{title} - Swagger UI", DOCS_CSP, root)

    @router.get(_OAUTH2_REDIRECT)
    async def swagger_ui_oauth2_redirect(request: Request) -> Response:
        # Where an authorization server sends the browser back in Swagger UI's code/implicit flows.
        root = html.escape(request.scope.get("root_path", ""))
        body = f'</head>\n<body>\n<script src="{root}{_ASSETS}/oauth2-redirect.js"></script>\n</body>\n'
        return _page(body, "Swagger UI: OAuth2 Redirect", DOCS_CSP, root)

    @router.get("/redoc")
    async def redoc(request: Request) -> Response:
        prefix = request.scope.get("root_path", "")
        root = html.escape(prefix)
        body = (
            "</head>\n<body>\n"
            f'<redoc spec-url="{html.escape(prefix + openapi_url)}"></redoc>\n'
            f'<script src="{root}{_ASSETS}/redoc.standalone.js"></script>\n</body>\n'
        )
        return _page(body, f"{title} - ReDoc", REDOC_CSP, root)

    @router.get(_ASSETS + "/{name}")
    async def asset(name: str) -> Response:
        found = _FILES.get(name)
        if found is None:
            raise ApiError(404, "not_found", "not found")
        if name not in assets:
            assets[name] = _read_asset(name)
        return Response(assets[name], media_type=found[1], headers={"Cache-Control": "public, max-age=3600"})

    return router
