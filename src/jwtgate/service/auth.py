"""AuthService: the use cases of the auth server, over a store, a key ring, a hasher and a clock.

Contracts (see docs/service-api.md):

- ``login`` answers InvalidCredentials alike, in about the same time, for a wrong password, an unknown
  user (a dummy hash is verified) and a disabled user; RateLimited once the account or IP failed too often.
- ``refresh`` rotates on every use with one conditional UPDATE. A used token presented again within
  ``reuse_grace`` seconds of its use gets a fresh pair, rotated from the session's newest token (so the
  branches never live side by side); later it is a reuse: the session is revoked and audited.
- Revoking a session kills its refresh tokens and denylists its ``sid`` for ``access_ttl + leeway``;
  ``authenticate`` consults an in-process mirror of the denylist, so it costs no database trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from jwtgate.errors import (
    InvalidClient,
    InvalidCredentials,
    InvalidGrant,
    NotFound,
    RateLimited,
    RevokedToken,
    TokenError,
)
from jwtgate.jose.jwks import KeySet
from jwtgate.service import opaque
from jwtgate.service.denylist import Denylist
from jwtgate.service.keyring import KeyInfo, KeyRing, KeyStore
from jwtgate.service.passwords import MAX_PASSWORD_LENGTH, Argon2Hasher, PasswordHasher
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ports import Store
from jwtgate.service.ratelimit import MemoryRateLimiter, RateLimiter
from jwtgate.service.records import (
    ClientRecord,
    RefreshTokenRecord,
    SessionRecord,
    UserRecord,
)
from jwtgate.service.types import ClientInfo, SessionInfo, TokenPair, UserInfo, audit_dict
from jwtgate.service.validation import (
    InvalidRequest,
    check_new_password,
    clean_text,
    normalize_username,
    parse_scope,
)
from jwtgate.tokens import RFC9068_REQUIRED, Issuer, Verifier

__all__ = ["AuthService"]

logger = logging.getLogger("jwtgate.service")

Clock = Callable[[], float]
_GRACE_ATTEMPTS = 3
_VERIFY_CACHE = 4096
_MAX_CURSOR = 2**63 - 1  # a signed 64-bit column


class AuthService:
    """Build with :meth:`open`; call :meth:`close` when done (it closes the store too)."""

    def __init__(
        self,
        *,
        store: Store,
        ring: KeyRing,
        policy: ServicePolicy,
        clock: Clock,
        hasher: PasswordHasher,
        account_limiter: RateLimiter,
        ip_limiter: RateLimiter,
    ) -> None:
        self.store = store
        self.policy = policy
        self._ring = ring
        self._clock = clock
        self._hasher = hasher
        self._account_limiter = account_limiter
        self._ip_limiter = ip_limiter
        self._denylist = Denylist()
        self._synced_at = float("-inf")
        self._keys_checked_at = float("-inf")
        self._sync_lock = asyncio.Lock()
        self._maintenance: asyncio.Task[None] | None = None
        self._issuer: Issuer
        self._verifier: Verifier
        self._keys_valid_until = math.inf
        self._install_keys(clock())

    @classmethod
    async def open(
        cls,
        *,
        store: Store,
        keys: KeyStore,
        policy: ServicePolicy,
        clock: Clock = time.time,
        hasher: PasswordHasher | None = None,
        account_limiter: RateLimiter | None = None,
        ip_limiter: RateLimiter | None = None,
        maintenance_interval: float | None = 300.0,
    ) -> AuthService:
        """Load (or create) the key ring and the denylist. ``maintenance_interval`` seconds between
        background purges of expired rows (None: only when :meth:`purge` is called).

        The service owns ``store`` from here on: :meth:`close` closes it, and so does a failed open."""
        try:
            return await cls._open(
                store, keys, policy, clock, hasher, account_limiter, ip_limiter, maintenance_interval
            )
        except BaseException:
            await store.close()
            raise

    @classmethod
    async def _open(
        cls,
        store: Store,
        keys: KeyStore,
        policy: ServicePolicy,
        clock: Clock,
        hasher: PasswordHasher | None,
        account_limiter: RateLimiter | None,
        ip_limiter: RateLimiter | None,
        maintenance_interval: float | None,
    ) -> AuthService:
        now = clock()
        ring = await KeyRing.open(keys, signing_alg=policy.signing_alg, retire_delay=policy.deny_ttl, now=now)
        if ring.active_key.alg != policy.signing_alg:
            await ring.rotate(now)  # the configured algorithm changed: switch, old key retires
        service = cls(
            store=store,
            ring=ring,
            policy=policy,
            clock=clock,
            hasher=hasher or Argon2Hasher(),
            account_limiter=account_limiter
            or MemoryRateLimiter(
                max_failures=policy.login_max_failures_account,
                window=policy.login_failure_window,
                max_backoff=policy.login_max_backoff,
            ),
            ip_limiter=ip_limiter
            or MemoryRateLimiter(
                max_failures=policy.login_max_failures_ip,
                window=policy.login_failure_window,
                max_backoff=policy.login_max_backoff,
            ),
        )
        await service._sync(now, force=True)
        # Make the dummy hash now, so the first unknown-user login costs what every later one does.
        await service._hasher.verify_dummy("")
        if maintenance_interval is not None:
            service._maintenance = asyncio.create_task(service._maintain(maintenance_interval))
        return service

    async def close(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        await self.store.close()

    # ------------------------------------------------------------------ keys and sync
    def _install_keys(self, now: float) -> None:
        policy = self.policy
        self._issuer = Issuer(
            self._ring.active_key,
            issuer=policy.issuer,
            audience=policy.audience,
            client_id=policy.client_id,
            default_ttl=policy.access_ttl,
            max_ttl=max(policy.access_ttl, 86400),
            clock=self._clock,
        )
        keys = self._ring.verification_keys(now)
        if hasattr(self, "_verifier"):
            self._verifier.update_keys(keys)
        else:
            self._verifier = Verifier(
                keys,
                issuer=policy.issuer,
                audience=policy.audience,
                leeway=policy.leeway,
                clock=self._clock,
                require=(*RFC9068_REQUIRED, "sid"),
                cache_size=_VERIFY_CACHE,
            )
        retiring = [i.retire_after for i in self._ring.infos() if i.retire_after is not None]
        self._keys_valid_until = min((t for t in retiring if t > now), default=math.inf)

    async def _sync(self, now: float, *, force: bool = False) -> None:
        """Pull other processes' revocations and key rotations, at most every interval."""
        policy = self.policy
        due_revocations = force or now - self._synced_at >= policy.revocation_sync_interval
        due_keys = force or now - self._keys_checked_at >= policy.key_check_interval
        if not (due_revocations or due_keys or now >= self._keys_valid_until):
            return
        async with self._sync_lock:
            if due_revocations and (force or now - self._synced_at >= policy.revocation_sync_interval):
                self._synced_at = now
                await self._denylist.sync(self.store, now)
                self._denylist.prune(now)
            changed = False
            if due_keys and (force or now - self._keys_checked_at >= policy.key_check_interval):
                self._keys_checked_at = now
                changed = await self._ring.refresh()
            if changed or now >= self._keys_valid_until:
                self._install_keys(now)

    async def _maintain(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.purge()
            except Exception as err:  # a failed purge is retried next round; the error code is logged
                logger.warning("periodic purge failed: %s", getattr(err, "code", type(err).__name__))

    async def purge(self) -> dict[str, int]:
        """Delete expired denylist entries, dead sessions and tokens, old audit events, expired keys."""
        now = self._clock()
        counts = await self.store.purge(now, audit_before=now - self.policy.audit_retention)
        counts["keys"] = await self._ring.prune(now)
        counts["denylist_mirror"] = self._denylist.prune(now)
        self._install_keys(now)
        return counts

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: next, active and still-verifying retired keys (never symmetric ones)."""
        return self._ring.jwks(self._clock())

    @property
    def verification_keys(self) -> KeySet:
        return self._verifier.keys

    async def list_keys(self) -> list[KeyInfo]:
        await self._sync(self._clock())
        return self._ring.infos()

    async def rotate_keys(self) -> KeyInfo:
        """Promote the published ``next`` key, retire the active one, publish a new ``next``."""
        now = self._clock()
        info = await self._ring.rotate(now)
        self._install_keys(now)
        await self.store.add_audit_event("keys_rotated", now, detail={"active_kid": info.kid})
        return info

    # ------------------------------------------------------------------ login and tokens
    async def login(
        self,
        username: str,
        password: str,
        *,
        user_agent: str | None = None,
        ip: str | None = None,
        scope: str | None = None,
    ) -> TokenPair:
        now = self._clock()
        try:
            name: str | None = normalize_username(username)
        except InvalidRequest:
            name = None
        requested = None if scope is None else parse_scope(scope)
        account_key = f"user:{name or '?'}"
        ip_key = f"ip:{clean_text(ip, 64) or '?'}"
        wait = max(
            await self._account_limiter.retry_after(account_key, now),
            await self._ip_limiter.retry_after(ip_key, now),
        )
        if wait > 0:
            raise RateLimited(retry_after=max(1, math.ceil(wait)))
        user = await self._check_password(name, password)
        if user is None or user.disabled:
            await self._account_limiter.failure(account_key, now)
            await self._ip_limiter.failure(ip_key, now)
            raise InvalidCredentials
        await self._account_limiter.reset(account_key)
        if self._hasher.needs_rehash(user.password_hash):
            # Parameters changed since this hash was made; keep password_changed_at as it was.
            new_hash = await self._hasher.hash(password)
            await self.store.set_password_hash(user.id, new_hash, user.password_changed_at)
        granted = user.scopes if requested is None else tuple(s for s in requested if s in user.scopes)
        return await self._start_session(user, " ".join(granted), user_agent, ip, now)

    async def _check_password(self, name: str | None, password: object) -> UserRecord | None:
        """The user when ``password`` is theirs, else None, always after one argon2 verification."""
        usable = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD_LENGTH
        candidate = password if usable and isinstance(password, str) else ""
        user = await self.store.get_user_by_name(name) if name is not None else None
        if user is None:
            await self._hasher.verify_dummy(candidate)
            return None
        ok = await self._hasher.verify(user.password_hash, candidate)
        return user if ok and usable else None

    async def _start_session(
        self, user: UserRecord, scope: str, user_agent: str | None, ip: str | None, now: float
    ) -> TokenPair:
        policy = self.policy
        expires_at = now + policy.session_absolute_ttl
        session = SessionRecord(
            id=opaque.new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            idle_expires_at=min(now + policy.refresh_idle_ttl, expires_at),
            expires_at=expires_at,
            scope=scope,
            user_agent=clean_text(user_agent, 512),
            ip=clean_text(ip, 64),
        )
        refresh_token = opaque.new_refresh_token()
        record = RefreshTokenRecord(
            opaque.digest(refresh_token), session.id, None, now, session.idle_expires_at
        )
        await self.store.create_session(session, record)
        return self._pair(user, session, refresh_token, now)

    def _pair(self, user: UserRecord, session: SessionRecord, refresh_token: str, now: float) -> TokenPair:
        # The session's scope, narrowed to what the user may still have.
        scope = " ".join(s for s in (session.scope or "").split() if s in user.scopes)
        minted = self._issuer.mint(
            user.id,
            ttl=self.policy.access_ttl,
            scope=scope or None,
            session_id=session.id,
            claims={"username": user.username, "roles": list(user.roles)},
            now=now,
        )
        return TokenPair(
            access_token=minted.token,
            refresh_token=refresh_token,
            expires_in=self.policy.access_ttl,
            session_id=session.id,
            scope=scope or None,
        )

    async def refresh(
        self, refresh_token: str, *, user_agent: str | None = None, ip: str | None = None
    ) -> TokenPair:
        """Rotate ``refresh_token``. InvalidGrant when unknown, expired, revoked or reused."""
        now = self._clock()
        if not opaque.looks_like_refresh_token(refresh_token):
            raise InvalidGrant
        token_digest = opaque.digest(refresh_token)
        # Fast path, one store round trip: the token is live and unused.
        child_token = opaque.new_refresh_token()
        rotated = await self.store.rotate_live_refresh_token(
            token_digest, opaque.digest(child_token), now, self.policy.refresh_idle_ttl
        )
        if rotated is not None:
            return self._pair(rotated.user, rotated.session, child_token, now)
        token, session, user = await self._live_token(token_digest, now)
        if token.used_at is None:
            pair = await self._rotate(user, session, token_digest, now)
            if pair is not None:
                return pair
            # Lost a race: another refresh used it first (or the session died). Look again.
            token, session, user = await self._live_token(token_digest, now)
            if token.used_at is None:
                raise InvalidGrant
        assert token.used_at is not None
        if now - token.used_at <= self.policy.reuse_grace:
            return await self._grace(user, session, now)
        await self._revoke([session.id], now, "refresh_token_reuse", user_id=user.id)
        await self.store.add_audit_event(
            "refresh_token_reuse",
            now,
            user_id=user.id,
            session_id=session.id,
            detail={"used_at": token.used_at, "ip": clean_text(ip, 64)},
        )
        raise InvalidGrant("refresh token reuse detected: the session is revoked")

    async def _live_token(
        self, token_digest: str, now: float
    ) -> tuple[RefreshTokenRecord, SessionRecord, UserRecord]:
        found = await self.store.find_refresh_token(token_digest)
        if found is None:
            raise InvalidGrant
        token, session, user = found
        if not session.is_active(now) or now >= token.expires_at or user.disabled:
            raise InvalidGrant
        return token, session, user

    async def _rotate(
        self, user: UserRecord, session: SessionRecord, parent_digest: str, now: float
    ) -> TokenPair | None:
        child_token = opaque.new_refresh_token()
        idle_expires_at = min(now + self.policy.refresh_idle_ttl, session.expires_at)
        child = RefreshTokenRecord(
            opaque.digest(child_token), session.id, parent_digest, now, idle_expires_at
        )
        if not await self.store.rotate_refresh_token(parent_digest, child, now, idle_expires_at):
            return None
        return self._pair(user, session, child_token, now)

    async def _grace(self, user: UserRecord, session: SessionRecord, now: float) -> TokenPair:
        """Within the grace window: rotate from the newest token of the session."""
        for _ in range(_GRACE_ATTEMPTS):
            current = await self.store.current_refresh_token(session.id)
            if current is None or now >= current.expires_at:
                break
            pair = await self._rotate(user, session, current.digest, now)
            if pair is not None:
                return pair
        raise InvalidGrant

    async def authenticate(self, access_token: str) -> dict[str, Any]:
        """The claims of a valid, unrevoked access token; a TokenError otherwise."""
        now = self._clock()
        await self._sync(now)
        claims = self._verifier.verify(access_token, now=now)
        if self._denylist.is_revoked(claims.get("sid"), claims.get("jti"), now):
            raise RevokedToken
        return claims

    # ------------------------------------------------------------------ sessions
    async def _revoke(
        self, session_ids: Sequence[str], now: float, reason: str, *, user_id: str | None
    ) -> int:
        entries = await self.store.revoke_sessions(session_ids, now, now + self.policy.deny_ttl)
        for entry in entries:
            self._denylist.add(entry)
        if entries:
            await self.store.add_audit_event(
                "sessions_revoked",
                now,
                user_id=user_id,
                session_id=entries[0].value if len(entries) == 1 else None,
                detail={"reason": reason, "count": len(entries)},
            )
        return len(entries)

    async def logout(self, session_id: str) -> None:
        """Revoke this session (idempotent)."""
        if isinstance(session_id, str) and len(session_id) <= 64:
            await self._revoke([session_id], self._clock(), "logout", user_id=None)

    async def logout_all(self, user_id: str) -> int:
        """Revoke every session of the user; returns how many were still live."""
        return await self._revoke_user(user_id, "logout_all")

    async def _revoke_user(self, user_id: str, reason: str, *, keep: str | None = None) -> int:
        # A None user id would select every session of every user: refuse anything but an id.
        _check_user_id(user_id)
        now = self._clock()
        sessions = await self.store.list_sessions(user_id=user_id)
        ids = [s.id for s in sessions if s.revoked_at is None and s.id != keep]
        return await self._revoke(ids, now, reason, user_id=user_id)

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """Active sessions of ``user_id``, newest first."""
        _check_user_id(user_id)
        now = self._clock()
        return [SessionInfo.of(s) for s in await self.store.list_sessions(user_id=user_id, active_at=now)]

    async def revoke_session(self, session_id: str, user_id: str | None = None) -> None:
        """Revoke one session; NotFound when it does not exist or is not ``user_id``'s."""
        if not isinstance(session_id, str) or len(session_id) > 64:
            raise NotFound("no such session")
        session = await self.store.get_session(session_id)
        if session is None or (user_id is not None and session.user_id != user_id):
            raise NotFound("no such session")
        await self._revoke([session_id], self._clock(), "revoked", user_id=session.user_id)

    async def list_all_sessions(self, username: str | None = None) -> list[SessionInfo]:
        """Active sessions of everyone, or of ``username`` (NotFound if unknown)."""
        user_id = None if username is None else (await self._user_by_name(username)).id
        now = self._clock()
        sessions = await self.store.list_sessions(user_id=user_id, active_at=now)
        return [SessionInfo.of(s) for s in sessions]

    # ------------------------------------------------------------------ users
    async def add_user(
        self,
        username: str,
        password: str,
        *,
        roles: Sequence[str] = (),
        scopes: Sequence[str] = ("read",),
    ) -> UserInfo:
        """Create a user. InvalidRequest on a bad name/password/role/scope, Conflict if taken."""
        name = normalize_username(username)
        check_new_password(password)
        # A plain string is a space-separated list, never a sequence of letters.
        role_list = parse_scope(roles if isinstance(roles, str) else list(roles))
        scope_list = parse_scope(scopes if isinstance(scopes, str) else list(scopes))
        now = self._clock()
        user = UserRecord(
            id=opaque.new_id(),
            username=name,
            password_hash=await self._hasher.hash(password),
            disabled=False,
            roles=role_list,
            scopes=scope_list,
            created_at=now,
            password_changed_at=now,
        )
        await self.store.create_user(user)
        await self.store.add_audit_event("user_added", now, user_id=user.id)
        return UserInfo.of(user)

    async def register(self, username: str, password: str) -> UserInfo:
        """Self-service sign-up with the default scopes (the server decides whether it is open)."""
        return await self.add_user(username, password)

    async def get_user(self, user_id: str) -> UserInfo:
        user = await self.store.get_user(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise NotFound("no such user")
        return UserInfo.of(user)

    async def _user_by_name(self, username: str) -> UserRecord:
        try:
            name = normalize_username(username)
        except InvalidRequest as err:
            raise NotFound("no such user") from err
        user = await self.store.get_user_by_name(name)
        if user is None:
            raise NotFound("no such user")
        return user

    async def list_users(self) -> list[UserInfo]:
        return [UserInfo.of(u) for u in await self.store.list_users()]

    async def count_users(self) -> int:
        return await self.store.count_users()

    async def set_user_disabled(self, username: str, disabled: bool) -> UserInfo:
        """Disable (revoking every session) or enable a user."""
        if type(disabled) is not bool:
            raise InvalidRequest("disabled must be true or false")
        user = await self._user_by_name(username)
        await self.store.set_disabled(user.id, disabled)
        now = self._clock()
        await self.store.add_audit_event(
            "user_disabled" if disabled else "user_enabled", now, user_id=user.id
        )
        if disabled:
            await self._revoke_user(user.id, "user_disabled")
        return await self.get_user(user.id)

    async def set_password(self, username: str, password: str) -> None:
        """Admin reset: new password, every session revoked."""
        user = await self._user_by_name(username)
        check_new_password(password)
        await self._store_password(user, password, "password_reset")
        await self._revoke_user(user.id, "password_reset")

    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        keep_session_id: str | None = None,
    ) -> None:
        """The user's own change: InvalidCredentials if ``current_password`` is wrong (rate limited
        like a login); every other session is revoked."""
        now = self._clock()
        record = await self.store.get_user(user_id) if isinstance(user_id, str) else None
        if record is None:
            raise NotFound("no such user")
        key = f"user:{record.username}"
        wait = await self._account_limiter.retry_after(key, now)
        if wait > 0:
            raise RateLimited(retry_after=max(1, math.ceil(wait)))
        check_new_password(new_password)
        if await self._check_password(record.username, current_password) is None:
            await self._account_limiter.failure(key, now)
            raise InvalidCredentials
        await self._store_password(record, new_password, "password_changed")
        await self._revoke_user(record.id, "password_changed", keep=keep_session_id)

    async def _store_password(self, user: UserRecord, password: str, kind: str) -> None:
        now = self._clock()
        await self.store.set_password_hash(user.id, await self._hasher.hash(password), now)
        await self.store.add_audit_event(kind, now, user_id=user.id)

    # ------------------------------------------------------------------ clients and audit
    async def add_client(self, name: str) -> tuple[ClientInfo, str]:
        """Register a confidential client. The secret is returned once; only its digest is kept."""
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 128:
            raise InvalidRequest("a client name is 1-128 characters")
        if clean_text(name, 128) != name.strip():
            raise InvalidRequest("a client name cannot contain control characters")
        secret = opaque.new_client_secret()
        now = self._clock()
        client = ClientRecord(opaque.new_id("jgc_"), name.strip(), opaque.digest(secret), now)
        await self.store.create_client(client)
        await self.store.add_audit_event("client_added", now, detail={"client_id": client.id})
        return ClientInfo.of(client), secret

    async def list_clients(self) -> list[ClientInfo]:
        return [ClientInfo.of(c) for c in await self.store.list_clients()]

    async def authenticate_client(self, client_id: str, secret: str) -> ClientInfo:
        """The client when ``secret`` is its secret; InvalidClient otherwise (constant-time)."""
        client = None
        if isinstance(client_id, str) and len(client_id) <= 64:
            client = await self.store.get_client(client_id)
        presented = opaque.digest(secret) if isinstance(secret, str) and len(secret) <= 256 else ""
        # Compare even when the client is unknown, so timing does not tell which part was wrong.
        expected = client.secret_hash if client is not None else "0" * 64
        if not opaque.digests_equal(presented or "x" * 64, expected) or client is None:
            raise InvalidClient
        return ClientInfo.of(client)

    async def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        if type(limit) is not int or not 0 <= limit <= 10_000:
            raise InvalidRequest("limit must be an integer from 0 to 10000")
        return [audit_dict(e) for e in await self.store.audit_events(limit=limit)]

    # ------------------------------------------------------------------ OAuth helpers
    async def revoke_token(self, token: str, token_type_hint: str | None = None) -> None:
        """RFC 7009. A refresh token revokes its session; an access token is denylisted by ``jti``
        until it expires. Unknown, invalid or already expired tokens are silently accepted."""
        del token_type_hint  # both kinds are recognised by shape; the hint only orders lookups
        now = self._clock()
        if opaque.looks_like_refresh_token(token):
            found = await self.store.find_refresh_token(opaque.digest(token))
            if found is not None:
                session = found.session
                await self._revoke([session.id], now, "token_revoked", user_id=session.user_id)
            return
        try:
            claims = await self.authenticate(token)
        except TokenError:
            return
        entry = await self.store.add_revocation(
            "jti", claims["jti"], float(claims["exp"]) + self.policy.leeway
        )
        self._denylist.add(entry)

    async def introspect(self, token: str, token_type_hint: str | None = None) -> dict[str, Any]:
        """RFC 7662: ``{"active": False}`` for anything not currently valid."""
        del token_type_hint
        now = self._clock()
        if opaque.looks_like_refresh_token(token):
            return await self._introspect_refresh(token, now)
        try:
            claims = await self.authenticate(token)
        except TokenError:
            return {"active": False}
        body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        for name in ("scope", "client_id", "username", "exp", "iat", "nbf", "sub", "aud", "iss"):
            if name in claims:
                body[name] = claims[name]
        body["jti"] = claims["jti"]
        body["sid"] = claims["sid"]
        return body

    async def _introspect_refresh(self, token: str, now: float) -> dict[str, Any]:
        try:
            record, session, user = await self._live_token(opaque.digest(token), now)
        except InvalidGrant:
            return {"active": False}
        if record.used_at is not None:
            return {"active": False}
        body: dict[str, Any] = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": self.policy.client_id,
            "username": user.username,
            "sub": user.id,
            "iss": self.policy.issuer,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
            "sid": session.id,
        }
        if session.scope:
            body["scope"] = session.scope
        return body

    async def revocations(self, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """A page of the live denylist for guards: entries with ``cursor > after``, oldest first.
        ``cursor`` in the answer is what to pass as ``after`` next time."""
        if type(after) is not int or not 0 <= after <= _MAX_CURSOR:
            raise InvalidRequest("after must be an integer from 0 to 2**63-1")
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be an integer from 1 to 1000")
        page = await self.store.revocations(after=after, limit=limit, now=self._clock())
        return {
            "revocations": [
                {
                    "cursor": r.cursor,
                    "type": r.kind,
                    "value": r.value,
                    "expires_at": math.ceil(r.expires_at),
                }
                for r in page
            ],
            "cursor": page[-1].cursor if page else after,
        }


def _check_user_id(user_id: object) -> None:
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64:
        raise InvalidRequest("a user id is required")
