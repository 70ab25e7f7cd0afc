"""WSGI integration: a middleware for any WSGI app and a ``@jwt_required`` decorator for Flask views.

Both use the same :class:`~jwtgate.protect.guard.Guard` (sync path: JWKS fetched inline, revocation
synced by a background thread). On success the verified claims are in ``environ["jwtgate.claims"]``
and the user in ``environ["jwtgate.user"]``; the decorator also sets ``flask.g.jwt_claims`` and
``flask.g.jwt_user``. Refusals follow RFC 6750 (see :mod:`jwtgate.protect.refusals`).

DPoP proofs are checked without an event loop, so the guard's replay cache must answer synchronously:
the in-process default, or :class:`~jwtgate.storage.redis_replay.SyncRedisReplayCache` to share it across
processes and instances (``Guard(dpop_replay=...)``); another cache is a ConfigError at startup.

WSGI servers merge repeated headers into one comma-joined value; such a value is not a valid token and
is refused with 401.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from jwtgate.credentials import parse_credentials
from jwtgate.dpop_binding import DPoPMode, request_url, route_mode
from jwtgate.errors import ConfigError
from jwtgate.protect.guard import AnonymousUser, Guard, TokenUser, check_grants
from jwtgate.protect.paths import OpenPaths
from jwtgate.protect.providers import Provider
from jwtgate.protect.refusals import Rejection, missing_token, rejection

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["JWTAuthWSGIMiddleware", "jwt_required"]

_ANONYMOUS = AnonymousUser()
_STATUS_TEXT = {
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    503: "503 Service Unavailable",
}

View = TypeVar("View", bound=Callable[..., Any])


class _Refused(Exception):
    def __init__(self, answer: Rejection) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _claims_for(
    guard: Guard,
    environ: WSGIEnvironment,
    realm: str,
    scopes: tuple[str, ...],
    roles: tuple[str, ...],
    mode: DPoPMode | None = None,
) -> dict[str, Any]:
    """Verified claims for the request's ``Authorization`` (Bearer, or DPoP with a proof), or raise
    _Refused with the answer to send."""
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None:
        raise _Refused(missing_token(realm))
    try:
        found = parse_credentials(header)
        if found is None:
            raise _Refused(missing_token(realm))
        claims = guard.authenticate_sync(found.token)
        if guard.dpop.needed(found.scheme, claims, mode):
            proof = environ.get("HTTP_DPOP")
            guard.dpop.check_sync(
                found.scheme,
                found.token,
                claims,
                [] if proof is None else [proof],  # servers join repeated headers: refused as malformed
                method=environ.get("REQUEST_METHOD", "GET"),
                url=request_url(
                    environ.get("wsgi.url_scheme", "http"),
                    environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
                    environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                ),
                mode=mode,
            )
        environ["jwtgate.scheme"] = found.scheme
        if scopes or roles:
            guard.check_grants(claims, scopes, roles)
    except _Refused:
        raise
    except Exception as err:
        # Any failure refuses the request with a clean RFC 6750 answer, never a 500.
        raise _Refused(rejection(err, realm, scope=" ".join(scopes))) from None
    return claims


class JWTAuthWSGIMiddleware:
    """``JWTAuthWSGIMiddleware(app, provider=...)`` or ``(app, issuer=..., audience=..., jwks_url=...)``.

    Same options as :class:`~jwtgate.protect.asgi.JWTAuthMiddleware`: ``guard=`` or Guard keywords
    (``provider=``, ``issuers=`` or the plain form),
    ``exclude_paths`` (exact, or prefixes ending in ``*``), ``realm``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        guard: Guard | None = None,
        exclude_paths: Collection[str] = (),
        realm: str = "api",
        **guard_options: Any,
    ) -> None:
        if guard is not None and guard_options:
            raise TypeError("pass either guard= or the Guard options, not both")
        self.app = app
        self.guard = guard if guard is not None else Guard(**guard_options)
        self.guard.dpop.require_sync()  # a replay cache for the event loop fails here, not per request
        self.realm = realm
        self._open_paths = OpenPaths(exclude_paths)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        environ["jwtgate.guard"] = self.guard
        if path in self._open_paths:
            environ["jwtgate.claims"] = None
            environ["jwtgate.user"] = _ANONYMOUS
            return self.app(environ, start_response)
        try:
            claims = _claims_for(
                self.guard,
                environ,
                self.realm,
                self.guard.scopes,
                self.guard.roles,
            )
        except _Refused as refused:
            answer = refused.answer
            start_response(_STATUS_TEXT[answer.status], answer.headers)
            return [answer.body]
        environ["jwtgate.claims"] = claims
        environ["jwtgate.user"] = self.guard.user(claims)
        return self.app(environ, start_response)


def jwt_required(
    scopes: Collection[str] = (),
    roles: Collection[str] = (),
    *,
    guard: Guard | None = None,
    provider: Provider | None = None,
    realm: str = "api",
    dpop: DPoPMode | None = None,
) -> Callable[[View], View]:
    """Flask view decorator: admit requests whose token has every scope and role asked for (and, with
    ``dpop``, this view's DPoP mode: ``off``, ``allowed`` or ``required``).

    Reuses the claims of :class:`JWTAuthWSGIMiddleware` when it ran; otherwise verifies with ``guard=``,
    a guard made for ``provider=`` (one per decorated view: prefer one shared guard in
    ``app.extensions["jwtgate"]``), the middleware's guard, or ``app.extensions["jwtgate"]``.
    """
    if provider is not None:
        if guard is not None:
            raise TypeError("pass either guard= or provider=, not both")
        guard = Guard(provider=provider)
    if guard is not None:
        guard.dpop.require_sync()
    wanted_scopes = tuple(scopes)
    wanted_roles = tuple(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import Response, current_app, g, request

            environ = request.environ
            claims = environ.get("jwtgate.claims")
            user = environ.get("jwtgate.user")
            try:
                if claims is None or type(user) is not TokenUser:
                    active = guard or environ.get("jwtgate.guard")
                    active = active or current_app.extensions.get("jwtgate")
                    if not isinstance(active, Guard):
                        raise ConfigError("jwt_required needs guard=, the middleware or app.extensions")
                    claims = _claims_for(active, environ, realm, (), (), dpop)
                    user = active.user(claims)
                try:
                    if dpop is not None:
                        route_mode(environ.get("jwtgate.scheme"), dpop)
                    check_grants(claims, wanted_scopes, wanted_roles, user.claim_map)
                except Exception as err:
                    raise _Refused(rejection(err, realm, scope=" ".join(wanted_scopes))) from None
            except _Refused as refused:
                answer = refused.answer
                return Response(answer.body, status=answer.status, headers=answer.headers)
            g.jwt_claims = claims
            g.jwt_user = user
            return view(*args, **kwargs)

        return cast("View", wrapper)

    return decorate
