"""The browser pages (``/login``, ``/account``) and their static files (``/static/jwtgate.js``, ...).

Plain HTML with no inline script or style, so the strict Content-Security-Policy below holds: the
pages can only load their own scripts and talk to this origin.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

from jwtgate.server.problems import ApiError

__all__ = ["PAGE_CSP", "build_pages_router"]

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_STATIC_TYPES = {
    "jwtgate.js": "text/javascript; charset=utf-8",
    "login.js": "text/javascript; charset=utf-8",
    "account.js": "text/javascript; charset=utf-8",
    "sessions.js": "text/javascript; charset=utf-8",
    "jwtgate.css": "text/css; charset=utf-8",
}


def _read(name: str) -> bytes:
    return files("jwtgate.server").joinpath("static", name).read_bytes()


def _page(name: str) -> Response:
    return Response(
        _read(name),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


def build_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login")
    async def login_page() -> Response:
        return _page("login.html")

    @router.get("/account")
    async def account_page() -> Response:
        return _page("account.html")

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        # Browsers ask on every visit; an empty answer keeps the log and the console clean.
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        media_type = _STATIC_TYPES.get(name)  # an allow-list: no path is ever built from input
        if media_type is None:
            raise ApiError(404, "not_found", "not found")
        return Response(_read(name), media_type=media_type, headers={"Cache-Control": "public, max-age=300"})

    return router
