"""Sessions and refresh-token rotation, and the cap of live sessions per user.

- :meth:`Sessions.refresh` rotates on every use. Its fast path is one store call (lookup, conditional
  UPDATE ``used_at IS NULL``, child INSERT, session touch: one transaction). A used token presented again
  within ``reuse_grace`` seconds of its use gets a fresh pair, rotated from the session's current token
  (so two branches never live side by side); later it is a reuse: the session is revoked and audited.
  A requested ``scope`` narrows the new access token within the session's original grant (RFC 6749
  section 6); the session and its refresh tokens keep that grant, so a later refresh without ``scope``
  gets all of it again. Requested scopes outside the grant are left out, as at the first token request
  (the answer's ``scope`` says what was granted): clients that resend the ``scope`` they were built with
  keep working. A request with nothing in the grant is InvalidScope, checked before the token is spent.
- :meth:`Sessions.revoke` kills the sessions' refresh tokens and denylists their ``sid`` for
  ``access_ttl + leeway`` (the life of the newest access token they may have), in the store and at once
  in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jwtgate.errors import InvalidDPoPProof, InvalidGrant, InvalidRequest, InvalidScope
from jwtgate.service import opaque
from jwtgate.service.authority import TokenAuthority
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ports import Store
from jwtgate.service.records import ClientRecord, RefreshTokenRecord, SessionRecord, UserRecord
from jwtgate.service.types import TokenPair
from jwtgate.service.validation import clean_text

__all__ = ["Sessions"]

_GRACE_ATTEMPTS = 3


class Sessions:
    def __init__(
        self,
        store: Store,
        policy: ServicePolicy,
        authority: TokenAuthority,
        clock: Callable[[], float],
        clients: ClientRegistry,
        *,
        max_sessions_per_user: int = 0,
    ) -> None:
        self._max_sessions = max_sessions_per_user
        self._store = store
        self._policy = policy
        self._authority = authority
        self._clock = clock
        self._clients = clients

    async def start(
        self,
        user: UserRecord,
        scope: str,
        user_agent: object,
        ip: object,
        now: float,
        dpop_jkt: str | None = None,
        *,
        client: ClientRecord | None = None,
        session_id: str | None = None,
    ) -> TokenPair:
        """A new session of ``client`` (default: the built-in one) with its first refresh token, and
        the first pair. ``session_id``: an id chosen beforehand (an authorization code records it).
        With ``dpop_jkt`` (the thumbprint of a DPoP proof's key) the session and its tokens are bound to
        that key."""
        policy = self._policy
        client = client or self._clients.builtin
        expires_at = now + policy.session_absolute_ttl
        session = SessionRecord(
            id=session_id or opaque.new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            idle_expires_at=min(now + policy.refresh_idle_ttl, expires_at),
            expires_at=expires_at,
            scope=scope,
            user_agent=clean_text(user_agent, 512),
            ip=clean_text(ip, 64),
            dpop_jkt=dpop_jkt,
            client_id=None if client.id == self._clients.builtin.id else client.id,
        )
        refresh_token = opaque.new_refresh_token()
        record = RefreshTokenRecord(
            opaque.digest(refresh_token), session.id, None, now, session.idle_expires_at
        )
        await self._store.create_session(session, record)
        if self._max_sessions:
            await self._cap(user.id, session.id, now)
        return self._pair(user, session, refresh_token, now, client)

    async def _cap(self, user_id: str, newest: str, now: float) -> None:
        """Revoke the user's oldest live sessions beyond the cap: logins in a loop cannot pile up
        sessions (rows, refresh tokens) without bound, and the newest session always survives."""
        sessions = await self._store.list_sessions(user_id=user_id)
        live = [s for s in sessions if s.is_active(now) and s.id != newest]
        live.sort(key=lambda s: (s.created_at, s.id))
        excess = live[: max(0, len(live) + 1 - self._max_sessions)]
        if excess:
            await self.revoke([s.id for s in excess], now, "session_cap", user_id=user_id)

    def _pair(
        self,
        user: UserRecord,
        session: SessionRecord,
        refresh_token: str,
        now: float,
        client: ClientRecord,
        requested: tuple[str, ...] | None = None,
    ) -> TokenPair:
        # The session's grant (or the requested part of it), narrowed to what the user and the client
        # may still have.
        allowed = self._clients.allowed_scopes(client)
        granted = (session.scope or "").split()
        wanted = granted if requested is None else [s for s in requested if s in granted]
        scope = " ".join(s for s in wanted if s in user.scopes and (allowed is None or s in allowed))
        builtin = client.id == self._clients.builtin.id
        claims: dict[str, object] = {"username": user.username, "roles": list(user.roles)}
        if session.dpop_jkt is not None:
            claims["cnf"] = {"jkt": session.dpop_jkt}  # RFC 9449 section 6: bound to the proof's key
        minted = self._authority.issuer.mint(
            user.id,
            ttl=self._policy.access_ttl,
            scope=scope or None,
            session_id=session.id,
            audience=None if builtin else self._clients.audience_of(client),
            client_id=None if builtin else client.id,
            claims=claims,
            now=now,
        )
        return TokenPair(
            access_token=minted.token,
            refresh_token=refresh_token,
            expires_in=self._policy.access_ttl,
            session_id=session.id,
            scope=scope,
            token_type="DPoP" if session.dpop_jkt is not None else "Bearer",
        )

    async def refresh(
        self,
        refresh_token: object,
        ip: object,
        now: float,
        client: ClientRecord | None = None,
        dpop_jkt: str | None = None,
        scope: tuple[str, ...] | None = None,
    ) -> TokenPair:
        """Rotate ``refresh_token`` of ``client`` (default: the built-in one). InvalidGrant when
        unknown, expired, revoked, reused, or issued to another client (checked before spending it);
        InvalidDPoPProof when its session is bound to a DPoP key and ``dpop_jkt`` is not that key (the
        token is then left unspent: a thief without the key cannot burn it). ``scope`` (parsed scope
        tokens; None: the original grant) narrows the new access token; InvalidScope, with the token
        left unspent, when it asks for a scope the session was not granted."""
        if not isinstance(refresh_token, str) or not opaque.looks_like_refresh_token(refresh_token):
            raise InvalidGrant
        client = client or self._clients.builtin
        builtin = client.id == self._clients.builtin.id
        token_digest = opaque.digest(refresh_token)
        if scope is not None:
            await self._check_scope(token_digest, scope, None if builtin else client.id, dpop_jkt, now)
        child_token = opaque.new_refresh_token()
        # One transaction checks the client too: a token presented by another client is not spent.
        rotated = await self._store.rotate_client_refresh_token(
            token_digest,
            opaque.digest(child_token),
            now,
            self._policy.refresh_idle_ttl,
            None if builtin else client.id,
            dpop_jkt,
        )
        if rotated is not None:
            return self._pair(rotated.user, rotated.session, child_token, now, client, scope)
        found = await self._store.find_refresh_token(token_digest)
        if found is not None and (found.session.client_id or self._clients.builtin.id) != client.id:
            detail = {"client_id": client.id, "ip": clean_text(ip, 64)}
            await self._store.add_audit_event(
                "refresh_token_wrong_client",
                now,
                user_id=found.user.id,
                session_id=found.session.id,
                detail=detail,
            )
            raise InvalidGrant("the refresh token was issued to another client")
        # Refused: expired, revoked, disabled (live_token says so), another DPoP key, or already used.
        token, session, user = await self.live_token(token_digest, now)
        if session.dpop_jkt != dpop_jkt:
            if session.dpop_jkt is None:
                raise InvalidDPoPProof("this refresh token is not DPoP-bound: send it without a proof")
            raise InvalidDPoPProof("this refresh token is bound to a DPoP key: send a proof signed by it")
        if token.used_at is None:
            # Live and unused, yet refused: the session changed under us (e.g. revoked). Fail closed.
            raise InvalidGrant
        if now - token.used_at <= self._policy.reuse_grace:
            if scope is not None:
                _within_grant(session, scope)  # before the grace pair spends the current token
            return await self._grace(user, session, ip, now, client, scope)
        await self.revoke([session.id], now, "refresh_token_reuse", user_id=user.id)
        await self._store.add_audit_event(
            "refresh_token_reuse",
            now,
            user_id=user.id,
            session_id=session.id,
            detail={"used_at": token.used_at, "ip": clean_text(ip, 64)},
        )
        raise InvalidGrant("refresh token reuse detected: the session is revoked")

    async def _check_scope(
        self,
        token_digest: str,
        scope: tuple[str, ...],
        client_id: str | None,
        dpop_jkt: str | None,
        now: float,
    ) -> None:
        """InvalidScope before anything is spent, for a token that would rotate now. Any other token is
        left to the refusals of :meth:`refresh`: a wrong client or DPoP key learns nothing of the grant,
        and a spent token still meets the grace window or reuse detection."""
        found = await self._store.find_refresh_token(token_digest)
        if found is None:
            return
        token, session, user = found
        if (
            token.used_at is None
            and session.client_id == client_id
            and session.dpop_jkt == dpop_jkt
            and session.is_active(now)
            and now < token.expires_at
            and not user.disabled
        ):
            _within_grant(session, scope)

    async def live_token(
        self, token_digest: str, now: float
    ) -> tuple[RefreshTokenRecord, SessionRecord, UserRecord]:
        """The token, its session and user, when the session is active and the token unexpired."""
        found = await self._store.find_refresh_token(token_digest)
        if found is None:
            raise InvalidGrant
        token, session, user = found
        if not session.is_active(now) or now >= token.expires_at or user.disabled:
            raise InvalidGrant
        return token, session, user

    async def _rotate(
        self,
        user: UserRecord,
        session: SessionRecord,
        parent_digest: str,
        now: float,
        client: ClientRecord,
        scope: tuple[str, ...] | None,
    ) -> TokenPair | None:
        child_token = opaque.new_refresh_token()
        idle_expires_at = min(now + self._policy.refresh_idle_ttl, session.expires_at)
        child = RefreshTokenRecord(
            opaque.digest(child_token), session.id, parent_digest, now, idle_expires_at
        )
        if not await self._store.rotate_refresh_token(parent_digest, child, now, idle_expires_at):
            return None
        return self._pair(user, session, child_token, now, client, scope)

    async def _grace(
        self,
        user: UserRecord,
        session: SessionRecord,
        ip: object,
        now: float,
        client: ClientRecord,
        scope: tuple[str, ...] | None,
    ) -> TokenPair:
        """Within the grace window: rotate from the session's current token, and audit it. Each grace
        pair spends the token the previous answer carried, so however many arrive, one branch stays
        live; a replay by a thief is recorded, and the victim's next use of a spent token after the
        window revokes the session."""
        for _ in range(_GRACE_ATTEMPTS):
            current = await self._store.current_refresh_token(session.id)
            if current is None or now >= current.expires_at:
                break
            pair = await self._rotate(user, session, current.digest, now, client, scope)
            if pair is not None:
                detail = {"ip": clean_text(ip, 64)}
                await self._store.add_audit_event(
                    "refresh_grace", now, user_id=user.id, session_id=session.id, detail=detail
                )
                return pair
        raise InvalidGrant

    async def revoke(
        self, session_ids: Sequence[str], now: float, reason: str, *, user_id: str | None
    ) -> int:
        """Revoke the live ones among ``session_ids``; returns how many; audited with ``reason``."""
        entries = await self._store.revoke_sessions(session_ids, now, now + self._policy.deny_ttl)
        await self._authority.revoked(entries)  # after the commit: deny here, then broadcast
        if entries:
            await self._store.add_audit_event(
                "sessions_revoked",
                now,
                user_id=user_id,
                session_id=entries[0].value if len(entries) == 1 else None,
                detail={"reason": reason, "count": len(entries)},
            )
        return len(entries)

    async def revoke_user(self, user_id: object, reason: str, *, keep: object = None) -> int:
        """Revoke every session of ``user_id`` except ``keep``."""
        checked = check_user_id(user_id)
        sessions = await self._store.list_sessions(user_id=checked)
        ids = [s.id for s in sessions if s.revoked_at is None and s.id != keep]
        return await self.revoke(ids, self._clock(), reason, user_id=checked)


def _within_grant(session: SessionRecord, scope: tuple[str, ...]) -> None:
    # RFC 6749 section 6: never a scope the resource owner did not grant to this session. Asking for
    # some scopes outside it gets the rest (like a first token request); asking for none inside it is
    # an error, not a token with no scope the client did not ask for.
    granted = (session.scope or "").split()
    if scope and not any(s in granted for s in scope):
        raise InvalidScope("none of the requested scopes was granted to this session")


def check_user_id(user_id: object) -> str:
    # A None user id would select every session of every user: refuse anything but an id.
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64:
        raise InvalidRequest("a user id is required")
    return user_id
