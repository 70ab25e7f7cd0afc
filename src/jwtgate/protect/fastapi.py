"""FastAPI integration: ``Depends(require(scopes=[...], roles=[...]))``.

The dependency declares a security scheme, so ``/docs`` shows the "Authorize" button: OAuth2 password
flow with ``tokenUrl`` at the jwtgate server's ``/oauth/token`` when it knows the token URL (from
``token_url=`` or the guard's issuer), plain HTTP bearer otherwise. It returns the
:class:`~jwtgate.protect.guard.TokenUser`.

It works behind :class:`~jwtgate.protect.asgi.JWTAuthMiddleware` (the claims it verified are reused,
only scopes and roles are checked here) or alone; the guard is then ``guard=``, the one the middleware
left on an open path, ``app.state.jwtgate_guard``, or one made for ``provider=``. Refusals raise
:class:`BearerHTTPException` (an ``HTTPException`` with RFC 6750 headers) and are answered with the
plain ``{"error", "error_description"}`` body, not FastAPI's ``{"detail": ...}``, with no set-up:
the dependency registers its handler for the running app before raising (see
:func:`_install_handler`). :func:`add_error_handler` still registers it up front.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency's annotations at run time and
# they refer to closure variables.
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from starlette.responses import Response

from jwtgate.credentials import parse_credentials
from jwtgate.dpop_binding import DPoPMode, route_mode
from jwtgate.errors import ConfigError, InvalidRequest
from jwtgate.protect.guard import Guard, TokenUser, check_grants
from jwtgate.protect.providers import Provider
from jwtgate.protect.refusals import Rejection, missing_token, rejection

__all__ = ["BearerHTTPException", "add_error_handler", "require"]


class BearerHTTPException(HTTPException):
    """A refusal with its RFC 6750 status, headers and ``{"error", "error_description"}`` detail."""

    def __init__(self, answer: Rejection) -> None:
        headers = {name: value for name, value in answer.headers if name.startswith(("www-", "retry-"))}
        super().__init__(answer.status, detail=json.loads(answer.body), headers=headers or None)
        self.answer = answer


def add_error_handler(app: FastAPI) -> None:
    """Answer :class:`BearerHTTPException` with the plain RFC 6750 body (no ``detail`` wrapper).

    Optional since ``require()`` installs the same handler itself; kept for apps that call it."""
    app.add_exception_handler(BearerHTTPException, _handle)


async def _handle(request: Request, exc: Exception) -> Response:
    answer = exc.answer if isinstance(exc, BearerHTTPException) else None
    if answer is None:  # pragma: no cover - only registered for BearerHTTPException
        raise exc
    headers = {name: value for name, value in answer.headers if name != "content-length"}
    return Response(answer.body, status_code=answer.status, headers=headers)


def _install_handler(request: Request) -> None:
    """Make the running app answer BearerHTTPException with the RFC 6750 body.

    Starlette resolves exception handlers per request from the mapping its ExceptionMiddleware puts in
    the scope (the app's handlers, copied when the middleware stack was built): adding ours there is
    seen by this request's handling and every later one. Looked up by class, ours (a subclass of
    HTTPException) wins over the generic one. Without that mapping (another framework), nothing
    changes: the refusal still has the right status and headers.
    """
    found = request.scope.get("starlette.exception_handlers")
    if isinstance(found, tuple) and found and isinstance(found[0], dict):
        found[0].setdefault(BearerHTTPException, _handle)


def require(
    scopes: Collection[str] = (),
    roles: Collection[str] = (),
    *,
    guard: Guard | None = None,
    provider: Provider | None = None,
    token_url: str | None = None,
    realm: str = "api",
    scheme_name: str = "jwtgate",
    dpop: DPoPMode | None = None,
) -> Callable[..., Awaitable[TokenUser]]:
    """A dependency that admits requests whose token has every scope in ``scopes`` and role in ``roles``.

    ``provider=`` makes a guard for this dependency alone; share one (``guard=``, the middleware or
    ``app.state.jwtgate_guard``) when several routes are protected. ``dpop`` sets this route's DPoP
    mode (``off``, ``allowed``, ``required``; default: the guard's): a DPoP-bound token always needs
    ``Authorization: DPoP`` and a proof for the request."""
    if provider is not None:
        if guard is not None:
            raise TypeError("pass either guard= or provider=, not both")
        guard = Guard(provider=provider)
    wanted_scopes = tuple(scopes)
    wanted_roles = tuple(roles)
    scope_text = " ".join(wanted_scopes)
    url = token_url or (guard.token_url if guard is not None else None)
    scheme: OAuth2PasswordBearer | HTTPBearer
    if url is not None:
        scheme = OAuth2PasswordBearer(
            tokenUrl=url,
            scheme_name=scheme_name,
            scopes={name: name for name in wanted_scopes},
            auto_error=False,
        )
    else:
        scheme = HTTPBearer(scheme_name=scheme_name, bearerFormat="JWT", auto_error=False)

    async def dependency(
        request: Request,
        _declared: Annotated[Any, Security(scheme, scopes=list(wanted_scopes))],
    ) -> TokenUser:
        # Only JWTAuthMiddleware puts a TokenUser in the scope, and only after verifying the token.
        user = request.scope.get("user")
        verified = user.claims if type(user) is TokenUser else None
        claim_map = user.claim_map if type(user) is TokenUser else None
        active: Guard | None = None
        if verified is None:
            found = guard or request.scope.get("jwtgate.guard")
            found = found or getattr(request.app.state, "jwtgate_guard", None)
            if not isinstance(found, Guard):
                raise ConfigError("require() needs guard=, JWTAuthMiddleware or app.state.jwtgate_guard")
            active = found
        try:
            claims = verified
            if active is not None:
                claims = await _authenticate(active, request, realm, dpop)
                claim_map = active.claim_map(claims)
            elif dpop is not None:
                route_mode(request.scope.get("jwtgate.scheme"), dpop)
            if claims is None or claim_map is None:  # pragma: no cover - one of the two is always set
                raise InvalidRequest
            check_grants(claims, wanted_scopes, wanted_roles, claim_map)
        except BearerHTTPException:
            _install_handler(request)
            raise
        except Exception as err:
            # Any failure refuses the request with a clean RFC 6750 answer, never a 500.
            _install_handler(request)
            raise BearerHTTPException(rejection(err, realm, scope=scope_text)) from None
        return TokenUser(claims, claim_map)

    return dependency


async def _authenticate(guard: Guard, request: Request, realm: str, mode: DPoPMode | None) -> dict[str, Any]:
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header")
    found = parse_credentials(values[0]) if values else None
    if found is None:
        raise BearerHTTPException(missing_token(realm))
    claims = await guard.authenticate(found.token)
    if guard.dpop.needed(found.scheme, claims, mode):
        url = request.url
        await guard.dpop.check(
            found.scheme,
            found.token,
            claims,
            request.headers.getlist("dpop"),
            method=request.method,
            url=f"{url.scheme}://{url.netloc}{url.path}",
            mode=mode,
        )
    return claims
