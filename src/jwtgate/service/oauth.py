"""The OAuth use cases of :class:`~jwtgate.service.auth.AuthService`: client management, the grants of
``/oauth/token``, the steps of ``/oauth/authorize``, and RFC 7009 revocation / RFC 7662 introspection.

A part of the one facade (``AuthService`` inherits it), kept in its own module because it is a concern of
its own; the work is done by :class:`~.clients.ClientRegistry`, :class:`~.grants.TokenGrants`,
:class:`~.authorization.AuthorizationCodes` and :class:`~.token_operations.TokenOperations`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jwtgate.service.accounts import Accounts
from jwtgate.service.authorization import AuthorizationCodes, AuthorizationRequest
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.grants import TokenGrants
from jwtgate.service.ports import Store
from jwtgate.service.records import ClientRecord
from jwtgate.service.registration import ClientRegistration
from jwtgate.service.sessions import Sessions
from jwtgate.service.token_operations import TokenOperations
from jwtgate.service.types import AccessGrant, ClientInfo, TokenPair

__all__ = ["OAuthUseCases"]


class OAuthUseCases:
    """Mixed into ``AuthService``, which builds the parts these methods use."""

    store: Store
    _clock: Callable[[], float]
    _accounts: Accounts
    _clients: ClientRegistry
    _sessions: Sessions
    _grants: TokenGrants
    _codes: AuthorizationCodes
    _operations: TokenOperations

    # ------------------------------------------------------------------ clients
    async def add_client(
        self, name: str, registration: ClientRegistration | None = None
    ) -> tuple[ClientInfo, str | None]:
        """Register a client (default: a confidential resource server that may introspect and
        revoke). The secret is returned once (None for public and private_key_jwt clients)."""
        return await self._clients.add(name, registration or ClientRegistration())

    async def list_clients(self) -> list[ClientInfo]:
        return await self._clients.list_all()

    async def show_client(self, name: str) -> ClientInfo:
        """The client named ``name`` (or with this id); NotFound otherwise."""
        return ClientInfo.of(await self._clients.by_name(name))

    async def remove_client(self, name: str) -> int:
        """Remove a client and revoke its sessions; returns how many were live."""
        client = await self._clients.by_name(name)
        await self._clients.remove(client)
        session_ids = await self.store.client_session_ids(client.id)
        return await self._sessions.revoke(session_ids, self._clock(), "client_removed", user_id=None)

    async def rotate_client_secret(self, name: str) -> str:
        """A new secret for a confidential client (shown once); the old one stops working at once."""
        return await self._clients.rotate_secret(await self._clients.by_name(name))

    async def authenticate_client(self, client_id: str, secret: str) -> ClientInfo:
        """The client when ``secret`` is its secret; InvalidClient otherwise (constant-time)."""
        return ClientInfo.of(await self._clients.by_secret(client_id, secret))

    @property
    def clients(self) -> ClientRegistry:
        """Client lookup and authentication (``public``, ``by_secret``, ``by_assertion``)."""
        return self._clients

    # ------------------------------------------------------------------ OAuth grants
    async def token_password(
        self,
        client: ClientRecord,
        username: str,
        password: str,
        *,
        scope: str | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        """The password grant for ``client`` (first-party clients registered with it); ``dpop_jkt``
        binds the session to a DPoP key."""
        return await self._grants.password(client, username, password, scope, user_agent, ip, dpop_jkt)

    async def token_refresh(
        self,
        client: ClientRecord,
        refresh_token: str,
        *,
        ip: str | None = None,
        dpop_jkt: str | None = None,
        scope: str | None = None,
    ) -> TokenPair:
        """The refresh grant: only for tokens issued to ``client`` (and, for a DPoP-bound session, only
        with a proof by its key). ``scope`` narrows the new access token within the session's original
        grant; InvalidScope (nothing spent) when nothing it asks for is in that grant."""
        return await self._grants.refresh(client, refresh_token, ip, dpop_jkt, scope)

    async def token_client_credentials(self, client: ClientRecord, scope: str | None = None) -> AccessGrant:
        """The client credentials grant: a token for the client itself, no refresh token."""
        return await self._grants.client_credentials(client, scope)

    async def token_authorization_code(
        self,
        client: ClientRecord,
        code: str,
        *,
        redirect_uri: str | None,
        code_verifier: str | None,
        user_agent: str | None = None,
        ip: str | None = None,
    ) -> TokenPair:
        """Exchange an authorization code (PKCE checked); a replayed code revokes what it issued."""
        return await self._codes.exchange(client, code, redirect_uri, code_verifier, user_agent, ip)

    async def authorization_client(self, client_id: object, redirect_uri: object) -> tuple[ClientRecord, str]:
        """Step one of ``/oauth/authorize``: the client and its exact redirect URI (errors for a page)."""
        return await self._codes.trusted_client(client_id, redirect_uri)

    def authorization_request(
        self, client: ClientRecord, redirect_uri: str, params: dict[str, str]
    ) -> AuthorizationRequest:
        """Step two: the rest of the request (AuthorizationRefused goes back to the client)."""
        return self._codes.check_request(client, redirect_uri, params)

    async def authorization_scope(self, request: AuthorizationRequest, user_id: str) -> str:
        """The scopes the user would grant (for the consent page)."""
        user = await self._accounts.get(user_id)
        return " ".join(s for s in request.scope.split() if s in user.scopes)

    async def issue_authorization_code(self, request: AuthorizationRequest, user_id: str) -> str:
        return await self._codes.issue(request, user_id)

    # ------------------------------------------------------------------ OAuth helpers
    async def revoke_token(
        self, token: str, token_type_hint: str | None = None, *, client: ClientRecord | None = None
    ) -> None:
        """RFC 7009, for ``client`` (default: the built-in one); see :meth:`TokenOperations.revoke`."""
        del token_type_hint  # both kinds are recognised by shape; the hint only orders lookups
        await self._operations.revoke(token, client or self._clients.builtin)

    async def introspect(
        self, token: str, token_type_hint: str | None = None, *, client: ClientRecord | None = None
    ) -> dict[str, Any]:
        """RFC 7662; see :meth:`TokenOperations.introspect`."""
        del token_type_hint
        return await self._operations.introspect(token, client)
