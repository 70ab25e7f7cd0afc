"""``/oauth/authorize``: the authorization code flow's front channel (RFC 6749 section 4.1, RFC 7636,
RFC 9207, RFC 9700 section 4).

1. Client and redirect URI first: until the redirect URI equals a registered one, errors are shown
   on a page (never redirected: no open redirector).
2. The rest of the request; its errors go back to the client with ``state`` and ``iss``.
3. The user: the cookie-mode session of this browser, or the ``/login`` page, which comes back here.
4. Consent: a page for clients not registered as first-party (a form posted back here with the
   session's CSRF token); first-party clients skip it.
5. A code (60 s, single use) goes to the redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import hmac
import re
from html import escape
from importlib.resources import files
from string import Template
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from jwtgate import errors
from jwtgate.server.bodies import read_form
from jwtgate.server.cookies import ACCESS_COOKIE, check_origin
from jwtgate.server.problems import ApiError
from jwtgate.server.routes_pages import PAGE_CSP
from jwtgate.server.state import app_state, csrf_signer, service_of
from jwtgate.service import AuthService
from jwtgate.service.authorization import AuthorizationRequest

__all__ = ["build_authorize_router"]

_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_FORM_FIELDS = frozenset({*_PARAMETERS, "csrf_token", "decision"})
_MAX_QUERY = 8192
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|[a-z][a-z0-9+.-]*:")
# same-origin, not no-referrer: with no-referrer Chromium posts the consent form with "Origin: null",
# which the Origin check refuses; the client's site still never sees this page's URL.
_PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def _template(name: str) -> Template:
    return Template(files("jwtgate.server").joinpath("static", name).read_text("utf-8"))


def _error_page(status: int, message: str) -> Response:
    body = _template("authorize_error.html").substitute(message=escape(message))
    headers = {"Content-Security-Policy": PAGE_CSP, **_PAGE_HEADERS}
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=headers)


def _query(request: Request) -> dict[str, str]:
    raw = request.url.query
    if len(raw) > _MAX_QUERY:
        raise errors.InvalidRequest("the request is too long")
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in params:
            # RFC 6749 section 3.1: parameters must not be included more than once.
            raise errors.InvalidRequest(f"parameter {key[:40]!r} repeated")
        if key in _PARAMETERS:
            params[key] = value
    return params


def _redirect(request: Request, redirect_uri: str, values: dict[str, str | None]) -> Response:
    # RFC 9207: iss in every authorization response, so a client can tell which server answered.
    values = {**values, "iss": app_state(request).settings.issuer_url}
    query = urlencode({k: v for k, v in values.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + separator + query, status_code=303, headers=_PAGE_HEADERS)


async def _user_and_session(request: Request, service: AuthService) -> tuple[str, str] | None:
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    try:
        claims = await service.authenticate(token)
    except errors.TokenError:
        return None
    return str(claims["sub"]), str(claims["sid"])


def _consent_page(
    request: Request, checked: AuthorizationRequest, scope: str, params: dict[str, str], session_id: str
) -> Response:
    # The form carries the cookie session's CSRF token: another site cannot post a consent.
    csrf = csrf_signer(request).token_for(session_id)
    hidden = "\n".join(
        f'      <input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in [*params.items(), ("csrf_token", csrf)]
    )
    scopes = "".join(f"<li>{escape(s)}</li>" for s in scope.split()) or "<li>(no scopes)</li>"
    body = _template("authorize.html").substitute(
        client=escape(checked.client.name),
        redirect_host=escape(urlsplit(checked.redirect_uri).netloc or checked.redirect_uri),
        scopes=scopes,
        hidden=hidden,
    )
    # Chromium applies form-action to the redirect that answers the form: allow the client's origin.
    origin = _origin(checked.redirect_uri)
    csp = PAGE_CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin}" if origin else "form-action 'self'"
    )
    headers = {"Content-Security-Policy": csp, **_PAGE_HEADERS}
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    return origin if _ORIGIN.fullmatch(origin) else None


def build_authorize_router() -> APIRouter:
    router = APIRouter(prefix="/oauth", include_in_schema=False)

    async def handle(request: Request, params: dict[str, str], decision: str | None) -> Response:
        service = service_of(request)
        try:
            client, redirect_uri = await service.authorization_client(
                params.get("client_id"), params.get("redirect_uri")
            )
        except (errors.InvalidRequest, errors.NotFound) as exc:
            return _error_page(400, exc.description)
        state = params.get("state")
        try:
            checked = service.authorization_request(client, redirect_uri, params)
        except errors.AuthorizationRefused as exc:
            values = {"error": exc.oauth_error, "error_description": exc.description, "state": state}
            return _redirect(request, redirect_uri, values)
        found = await _user_and_session(request, service)
        if found is None:
            if decision is not None:
                return _error_page(401, "your session has ended: sign in and authorize again")
            target = "/oauth/authorize?" + urlencode(params)
            return RedirectResponse(
                "/login?next=" + quote(target, safe=""), status_code=303, headers=_PAGE_HEADERS
            )
        user_id, session_id = found
        if not client.first_party and decision is None:
            scope = await service.authorization_scope(checked, user_id)
            return _consent_page(request, checked, scope, params, session_id)
        if decision is not None and decision != "allow":
            values = {"error": "access_denied", "error_description": "the user refused", "state": state}
            return _redirect(request, redirect_uri, values)
        code = await service.issue_authorization_code(checked, user_id)
        return _redirect(request, redirect_uri, {"code": code, "state": state})

    @router.get("/authorize")
    async def authorize(request: Request) -> Response:
        try:
            params = _query(request)
        except errors.InvalidRequest as exc:
            return _error_page(400, exc.description)
        return await handle(request, params, None)

    @router.post("/authorize")
    async def consent(request: Request) -> Response:
        check_origin(request, app_state(request).settings)
        form = await read_form(request, _FORM_FIELDS)
        service = service_of(request)
        found = await _user_and_session(request, service)
        if found is None:
            return _error_page(401, "your session has ended: sign in and authorize again")
        expected = csrf_signer(request).token_for(found[1])
        if not hmac.compare_digest(form.get("csrf_token", "").encode(), expected.encode()):
            raise ApiError(403, "access_denied", "missing or wrong CSRF token")
        params = {k: v for k, v in form.items() if k in _PARAMETERS}
        return await handle(request, params, form.get("decision", "deny"))

    return router
