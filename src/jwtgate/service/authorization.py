"""Authorization code with PKCE (RFC 6749 section 4.1, RFC 7636 with S256 only, RFC 9700 section 2.1.1).

- :meth:`AuthorizationCodes.trusted_client` checks what must hold before anything is sent to the
  redirect URI: a known client with the grant, and a redirect URI equal, character for character, to
  a registered one. Its errors are shown to the user, never redirected (no open redirector).
- :meth:`AuthorizationCodes.check_request` checks the rest; its errors go back to the client.
- A code is ``jga_`` + 256 random bits, stored by digest, valid :data:`CODE_TTL` seconds, spent once.
  A code presented again revokes the session its first exchange created (RFC 6749 section 4.1.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jwtgate.errors import AuthorizationRefused, InvalidGrant, InvalidRequest, NotFound
from jwtgate.service import opaque
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.grants import narrow_scope, require_grant
from jwtgate.service.ports import Store
from jwtgate.service.records import AuthorizationCodeRecord, ClientRecord, UserRecord
from jwtgate.service.sessions import Sessions
from jwtgate.service.types import TokenPair
from jwtgate.service.validation import clean_text

__all__ = ["CODE_TTL", "AuthorizationCodes", "AuthorizationRequest"]

CODE_TTL = 60
_CODE = re.compile(r"jga_[A-Za-z0-9_-]{43}")
# RFC 7636 section 4.1 / 4.2: 43-128 unreserved characters; an S256 challenge is 43 base64url characters.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_MAX_STATE = 1024
_KEEP_SPENT_CODES = 600  # seconds a spent code is kept after expiry, so that a replay is recognised


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request: what the consent page shows and the code will carry."""

    client: ClientRecord
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str


class AuthorizationCodes:
    def __init__(
        self,
        store: Store,
        clients: ClientRegistry,
        sessions: Sessions,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._clients = clients
        self._sessions = sessions
        self._clock = clock

    async def trusted_client(self, client_id: object, redirect_uri: object) -> tuple[ClientRecord, str]:
        """The client and the redirect URI to answer to. InvalidRequest / NotFound otherwise: show
        those on a page, never at the redirect URI."""
        if not isinstance(client_id, str) or not client_id:
            raise InvalidRequest("the client_id parameter is required")
        client = await self._clients.get(client_id)
        if client is None or client.id == self._clients.builtin.id:
            raise NotFound("no such client")
        if redirect_uri is None:
            # RFC 6749 section 3.1.2.3: may be left out when exactly one is registered.
            if len(client.redirect_uris) != 1:
                raise InvalidRequest("the redirect_uri parameter is required")
            return client, client.redirect_uris[0]
        if not isinstance(redirect_uri, str) or redirect_uri not in client.redirect_uris:
            raise InvalidRequest("the redirect_uri is not registered for this client")
        return client, redirect_uri

    def check_request(
        self, client: ClientRecord, redirect_uri: str, params: Mapping[str, str]
    ) -> AuthorizationRequest:
        """The rest of the request (AuthorizationRefused, to send to the redirect URI)."""
        state = params.get("state")
        if state is not None and not (0 < len(state) <= _MAX_STATE and state.isprintable()):
            raise AuthorizationRefused("invalid_request", "state is 1-1024 printable characters")
        if params.get("response_type") != "code":
            raise AuthorizationRefused("unsupported_response_type", "only response_type=code is supported")
        if "authorization_code" not in client.grants:
            raise AuthorizationRefused("unauthorized_client", "this client may not use authorization codes")
        challenge = params.get("code_challenge")
        if challenge is None:
            raise AuthorizationRefused("invalid_request", "PKCE is required: send code_challenge (S256)")
        if params.get("code_challenge_method") != "S256":
            raise AuthorizationRefused("invalid_request", "code_challenge_method must be S256")
        if _CHALLENGE.fullmatch(challenge) is None:
            raise AuthorizationRefused("invalid_request", "code_challenge is 43 base64url characters")
        try:
            scope = narrow_scope(params.get("scope"), client.scopes)
        except InvalidRequest:
            raise AuthorizationRefused("invalid_scope", "the scope is malformed") from None
        return AuthorizationRequest(client, redirect_uri, scope, state, challenge)

    def scope_for(self, request: AuthorizationRequest, user: UserRecord) -> str:
        """What the user will actually grant: the request's scopes that the user holds."""
        return narrow_scope(request.scope, user.scopes)

    async def issue(self, request: AuthorizationRequest, user_id: str) -> str:
        """A new code for ``user_id`` (who has authenticated and, unless first-party, consented)."""
        now = self._clock()
        user = await self._store.get_user(user_id)
        if user is None or user.disabled:
            raise NotFound("no such user")
        code = "jga_" + secrets.token_urlsafe(32)
        await self._store.create_authorization_code(
            AuthorizationCodeRecord(
                digest=opaque.digest(code),
                client_id=request.client.id,
                user_id=user.id,
                redirect_uri=request.redirect_uri,
                scope=self.scope_for(request, user),
                code_challenge=request.code_challenge,
                created_at=now,
                expires_at=now + CODE_TTL,
            )
        )
        await self._store.add_audit_event(
            "authorization_code_issued", now, user_id=user.id, detail={"client_id": request.client.id}
        )
        return code

    async def exchange(
        self,
        client: ClientRecord,
        code: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        user_agent: str | None,
        ip: str | None,
    ) -> TokenPair:
        """RFC 6749 section 4.1.3 + RFC 7636 section 4.6. InvalidGrant for every refusal; the code is
        spent by the first attempt whatever its outcome (a wrong verifier cannot be retried)."""
        require_grant(client, "authorization_code")
        if not isinstance(code, str) or _CODE.fullmatch(code) is None:
            raise InvalidGrant("the authorization code is invalid")
        now = self._clock()
        session_id = opaque.new_id()
        record = await self._store.use_authorization_code(opaque.digest(code), now, session_id)
        if record is None:
            raise InvalidGrant("the authorization code is invalid")
        if record.used_at is not None:
            await self._replayed(record, ip, now)
        if record.client_id != client.id or now >= record.expires_at:
            raise InvalidGrant("the authorization code is invalid or expired")
        if redirect_uri is None and len(client.redirect_uris) != 1:
            raise InvalidGrant("the redirect_uri parameter is required")
        if redirect_uri is not None and not hmac.compare_digest(redirect_uri, record.redirect_uri):
            raise InvalidGrant("redirect_uri differs from the authorization request's")
        if not isinstance(code_verifier, str) or _VERIFIER.fullmatch(code_verifier) is None:
            raise InvalidGrant("a code_verifier of 43-128 characters is required (PKCE)")
        if not hmac.compare_digest(_s256(code_verifier), record.code_challenge):
            raise InvalidGrant("the code_verifier does not match the code_challenge")
        user = await self._store.get_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidGrant
        return await self._sessions.start(
            user, record.scope, user_agent, ip, now, client=client, session_id=session_id
        )

    async def _replayed(self, record: AuthorizationCodeRecord, ip: str | None, now: float) -> None:
        if record.session_id is not None:
            await self._sessions.revoke(
                [record.session_id], now, "authorization_code_replay", user_id=record.user_id
            )
        await self._store.add_audit_event(
            "authorization_code_replay",
            now,
            user_id=record.user_id,
            session_id=record.session_id,
            detail={"client_id": record.client_id, "ip": clean_text(ip, 64)},
        )
        raise InvalidGrant("the authorization code was already used: what it issued is revoked")

    async def purge(self, now: float) -> dict[str, int]:
        return await self._store.purge_oauth(now - _KEEP_SPENT_CODES)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
