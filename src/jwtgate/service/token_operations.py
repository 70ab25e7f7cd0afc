"""RFC 7009 revocation and RFC 7662 introspection, on behalf of an authenticated client.

- A client revokes only what was issued to it: a refresh token ends its session, an access token is
  denylisted by ``jti`` until it expires. Another client's, unknown or invalid tokens change nothing
  (RFC 7009 section 2.2 answers 200 all the same); a refusal is audited.
- Introspection is for clients registered to introspect (resource servers); every call is audited
  without the token. Anything not currently valid is ``{"active": false}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jwtgate.errors import AuthError, InvalidGrant, TokenError
from jwtgate.service import opaque
from jwtgate.service.authority import TokenAuthority
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ports import Store
from jwtgate.service.records import ClientRecord
from jwtgate.service.sessions import Sessions

__all__ = ["TokenOperations"]

_ACCESS_MEMBERS = ("scope", "client_id", "username", "exp", "iat", "nbf", "sub", "aud", "iss", "jti", "sid")


class TokenOperations:
    def __init__(
        self,
        store: Store,
        policy: ServicePolicy,
        authority: TokenAuthority,
        sessions: Sessions,
        clients: ClientRegistry,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._policy = policy
        self._authority = authority
        self._sessions = sessions
        self._clients = clients
        self._clock = clock

    async def revoke(self, token: str, owner: ClientRecord) -> None:
        """Revoke ``token`` if it was issued to ``owner``; otherwise do nothing (audited)."""
        now = self._clock()
        if opaque.looks_like_refresh_token(token):
            found = await self._store.find_refresh_token(opaque.digest(token))
            if found is None:
                return
            session = found.session
            if (session.client_id or self._clients.builtin.id) != owner.id:
                await self._refused(owner, now, session.user_id)
                return
            await self._sessions.revoke([session.id], now, "token_revoked", user_id=session.user_id)
            return
        try:
            claims = await self._authority.inspect(token, now)
        except TokenError:
            return
        if claims.get("client_id") != owner.id:
            await self._refused(owner, now, None)
            return
        expires_at = float(claims["exp"]) + self._policy.leeway
        entry = await self._store.add_revocation("jti", claims["jti"], expires_at)
        await self._authority.revoked([entry])
        detail = {"client_id": owner.id, "token_type": "access_token"}
        await self._store.add_audit_event("token_revoked", now, detail=detail)

    async def _refused(self, client: ClientRecord, now: float, user_id: str | None) -> None:
        detail = {"client_id": client.id}
        await self._store.add_audit_event("token_revocation_refused", now, user_id=user_id, detail=detail)

    async def introspect(self, token: str, client: ClientRecord | None) -> dict[str, Any]:
        """The RFC 7662 answer. ``client`` (None: a trusted in-process caller) must be registered to
        introspect, AuthError otherwise."""
        now = self._clock()
        if client is not None and not client.introspect:
            raise AuthError("this client is not registered to introspect tokens")
        if opaque.looks_like_refresh_token(token):
            body = await self._refresh(token, now)
        else:
            body = await self._access(token, now)
        if client is not None:
            detail = {"client_id": client.id, "active": body["active"]}
            await self._store.add_audit_event("token_introspected", now, detail=detail)
        return body

    async def _access(self, token: str, now: float) -> dict[str, Any]:
        try:
            claims = await self._authority.inspect(token, now)
        except TokenError:
            return {"active": False}
        body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        body.update((name, claims[name]) for name in _ACCESS_MEMBERS if name in claims)
        return body

    async def _refresh(self, token: str, now: float) -> dict[str, Any]:
        try:
            record, session, user = await self._sessions.live_token(opaque.digest(token), now)
        except InvalidGrant:
            return {"active": False}
        if record.used_at is not None:
            return {"active": False}
        body: dict[str, Any] = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": session.client_id or self._policy.client_id,
            "username": user.username,
            "sub": user.id,
            "iss": self._policy.issuer,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
            "sid": session.id,
        }
        if session.scope:
            body["scope"] = session.scope
        return body
