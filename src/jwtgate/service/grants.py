"""The token endpoint's grants for an authenticated client (RFC 6749 sections 4.3, 4.4, 6).

A client gets only the grants it was registered with (otherwise ``unsupported_grant_type``) and only
scopes in the intersection of what it asked for, what the user holds and what the client may have
(asking for nothing asks for everything allowed). A refresh narrows within the session's original
grant. A malformed ``scope`` is ``invalid_scope`` (RFC 6749 section 5.2) in every grant. The
authorization code grant is in :mod:`.authorization`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from jwtgate.errors import InvalidRequest, InvalidScope, UnsupportedGrantType
from jwtgate.service.accounts import Accounts
from jwtgate.service.authority import TokenAuthority
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.records import ClientRecord
from jwtgate.service.sessions import Sessions
from jwtgate.service.types import AccessGrant, TokenPair
from jwtgate.service.validation import parse_scope

__all__ = ["TokenGrants", "narrow_scope", "requested_scope", "require_grant"]


def require_grant(client: ClientRecord, grant: str) -> None:
    if grant not in client.grants:
        raise UnsupportedGrantType(f"this client may not use the {grant} grant")


def narrow_scope(requested: str | None, *bounds: Iterable[str] | None) -> str:
    """The requested scopes (all of the first bound when None) that every bound allows, in order."""
    sets = [None if b is None else tuple(b) for b in bounds]
    if requested is not None:
        wanted: tuple[str, ...] = parse_scope(requested)
    else:
        wanted = next((b for b in sets if b is not None), ())
    return " ".join(s for s in wanted if all(b is None or s in b for b in sets))


def requested_scope(scope: str | None) -> tuple[str, ...] | None:
    """The scope tokens of a token request's ``scope`` (None when absent); InvalidScope if malformed."""
    if scope is None:
        return None
    try:
        return parse_scope(scope)
    except InvalidRequest:
        raise InvalidScope("the scope is malformed") from None


class TokenGrants:
    def __init__(
        self,
        policy: ServicePolicy,
        authority: TokenAuthority,
        sessions: Sessions,
        accounts: Accounts,
        clients: ClientRegistry,
        clock: Callable[[], float],
    ) -> None:
        self._policy = policy
        self._authority = authority
        self._sessions = sessions
        self._accounts = accounts
        self._clients = clients
        self._clock = clock

    async def password(
        self,
        client: ClientRecord,
        username: str,
        password: str,
        scope: str | None,
        user_agent: str | None,
        ip: str | None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        """RFC 6749 section 4.3, for first-party clients registered with the grant."""
        require_grant(client, "password")
        now = self._clock()
        requested_scope(scope)  # malformed: refused before the password is checked
        user = await self._accounts.check_login(username, password, ip, now)
        granted = narrow_scope(scope, user.scopes, self._clients.allowed_scopes(client))
        return await self._sessions.start(user, granted, user_agent, ip, now, dpop_jkt, client=client)

    async def refresh(
        self,
        client: ClientRecord,
        refresh_token: str,
        ip: str | None,
        dpop_jkt: str | None = None,
        scope: str | None = None,
    ) -> TokenPair:
        """RFC 6749 section 6: rotate a refresh token issued to ``client``; ``scope`` narrows the new
        access token within the session's original grant (InvalidScope beyond it, or malformed)."""
        require_grant(client, "refresh_token")
        wanted = requested_scope(scope)
        return await self._sessions.refresh(
            refresh_token, ip, self._clock(), client, dpop_jkt=dpop_jkt, scope=wanted
        )

    async def client_credentials(self, client: ClientRecord, scope: str | None) -> AccessGrant:
        """RFC 6749 section 4.4: a token for the client itself (``sub`` = its id), no refresh token."""
        require_grant(client, "client_credentials")
        requested_scope(scope)
        granted = narrow_scope(scope, client.scopes)
        ttl = self._policy.access_ttl
        minted = self._authority.issuer.mint(
            client.id,
            ttl=ttl,
            scope=granted or None,
            audience=self._clients.audience_of(client),
            client_id=client.id,
            now=self._clock(),
        )
        return AccessGrant(access_token=minted.token, expires_in=ttl, scope=granted)
