"""Pure ASGI middleware: every HTTP and WebSocket request must carry a valid bearer token.

Shaped like Starlette's ``AuthenticationMiddleware``: on success ``scope["auth"]`` holds the verified
claims and ``scope["user"]`` a :class:`~jwtgate.protect.guard.TokenUser`; on paths left open they hold
``None`` and an anonymous user. Refusals follow RFC 6750 (see :mod:`jwtgate.protect.refusals`); WebSocket
handshakes are refused with close code 1008. It imports no web framework, so it works with Starlette,
FastAPI, Litestar, Quart or any ASGI app.

The hot path reads the header list once, and a token seen before costs one cache lookup in the Verifier
plus the expiry and revocation checks.

Authentication schemes: the ``Authorization`` value is read by :func:`jwtgate.credentials.parse_credentials`
(``Bearer`` or ``DPoP``) and the token checked by :meth:`Guard.authenticate`; a DPoP-bound token (or any
token on the DPoP scheme, or every token with ``dpop="required"``) then needs a ``DPoP`` proof for this
method and URL (:mod:`jwtgate.dpop_binding`). The common Bearer path pays one dict lookup for that.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from jwtgate.credentials import BEARER, parse_credentials
from jwtgate.dpop_binding import request_url
from jwtgate.errors import InvalidRequest, JwtgateError
from jwtgate.protect.guard import AnonymousUser, Guard, TokenUser
from jwtgate.protect.paths import OpenPaths
from jwtgate.protect.refusals import Rejection, missing_token, rejection

__all__ = ["JWTAuthMiddleware"]

log = logging.getLogger("jwtgate.protect")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ANONYMOUS = AnonymousUser()


class JWTAuthMiddleware:
    """``JWTAuthMiddleware(app, provider=Keycloak(...))`` or ``(app, issuer=, audience=, jwks_url=)``.

    Either pass a ready ``guard=`` or the :class:`Guard` options as keywords (``provider=``,
    ``issuers=``, or the plain ``issuer=``/``audience=`` form). ``exclude_paths`` are left
    open: exact paths, or prefixes written with a trailing ``*`` (``"/public/*"``). ``realm`` goes into
    ``WWW-Authenticate``. The guard starts on ASGI lifespan startup (or the first request) and stops on
    lifespan shutdown.
    """

    def __init__(
        self,
        app: ASGIApp,
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
        self.realm = realm
        self._open_paths = OpenPaths(exclude_paths)
        self._has_open_paths = bool(exclude_paths)
        self._scopes = self.guard.scopes
        self._roles = self.guard.roles
        self._scope_text = " ".join(self._scopes)
        self._claim_map = self.guard.fixed_claim_map
        self._missing = missing_token(realm)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                await self.app(scope, self._lifespan_receive(receive), send)
            else:
                await self.app(scope, receive, send)
            return
        if self._has_open_paths and scope["path"] in self._open_paths:
            scope["auth"] = None
            scope["user"] = _ANONYMOUS
            scope["jwtgate.guard"] = self.guard
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if header is not None:
                    await self._refuse(scope, send, rejection(InvalidRequest(), self.realm))
                    return
                header = value
        if header is None:
            await self._refuse(scope, send, self._missing)
            return
        guard = self.guard
        try:
            # The common spelling, read without decoding the whole header first; anything else
            # (other case, the DPoP scheme, empty) goes through parse_credentials, which decides.
            scheme = BEARER
            token = header[7:].decode("latin-1").strip(" \t") if header[:7] == b"Bearer " else None
            if not token:
                found = parse_credentials(header.decode("latin-1"))
                if found is None:
                    await self._refuse(scope, send, self._missing)
                    return
                scheme, token = found
            # Without I/O to wait for (keys known and fresh), no coroutine is needed.
            claims = guard.authenticate_now(token)
            if claims is None:
                claims = await guard.authenticate(token)
            dpop = guard.dpop
            if dpop.needed(scheme, claims):
                await dpop.check(
                    scheme, token, claims, _proofs(scope), method=scope.get("method", "GET"), url=_url(scope)
                )
            scope["jwtgate.scheme"] = scheme
            if self._scopes or self._roles:
                guard.check_grants(claims, self._scopes, self._roles)
        except Exception as err:
            # Any failure (bad token, 403, 503, even a bug) refuses the request: never a 500 or a pass.
            await self._refuse(scope, send, rejection(err, self.realm, scope=self._scope_text))
            return
        scope["auth"] = claims
        claim_map = self._claim_map
        scope["user"] = guard.user(claims) if claim_map is None else TokenUser(claims, claim_map)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, answer: Rejection) -> None:
        if scope["type"] == "websocket":
            # Before accept, closing makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.guard.start()
                except JwtgateError as err:  # the app still starts: requests get 503 until it works
                    log.warning("guard start failed: %s", err.code)
            elif message["type"] == "lifespan.shutdown":
                await self.guard.aclose()
            return message

        return wrapped


def _proofs(scope: Scope) -> list[str]:
    return [value.decode("latin-1") for name, value in scope["headers"] if name == b"dpop"]


def _url(scope: Scope) -> str:
    """The URL the client addressed, for a DPoP proof's ``htu`` (scheme as a trusted proxy set it)."""
    host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), None)
    if host is None and scope.get("server"):
        server_host, port = scope["server"]
        host = f"{server_host}:{port}"
    received = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(received, received)
    return request_url(scheme, host, scope.get("root_path", "") + scope["path"])
