"""AuthService: the use cases of the auth server, one facade over its parts.

- :class:`~.accounts.Accounts`: users, passwords, login checks and rate limits;
- :class:`~.sessions.Sessions`: sessions, refresh rotation with grace and reuse detection, revocation;
- :class:`~.authority.TokenAuthority`: key ring, signing, verification and the in-process denylist;
- :class:`~.clients.ClientRegistry`: OAuth clients and their authentication;
- :class:`~.grants.TokenGrants` and :class:`~.authorization.AuthorizationCodes`: the OAuth grants,
  offered with client management and the RFC 7009 / 7662 helpers by :class:`~.oauth.OAuthUseCases`;
- here: opening and closing, maintenance, keys, logins, sessions, users, audit and the revocation feed.

Every method takes its time from the injected clock. The contract is in docs/service-api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from jwtgate.errors import ConfigError, InvalidGrant, InvalidRequest, NotFound, StorageError
from jwtgate.jose.jwks import KeySet
from jwtgate.service import opaque
from jwtgate.service.accounts import Accounts
from jwtgate.service.authority import TokenAuthority
from jwtgate.service.authorization import AuthorizationCodes
from jwtgate.service.clients import ClientRegistry
from jwtgate.service.devices import DeviceTokens, LockoutPolicy
from jwtgate.service.grants import TokenGrants
from jwtgate.service.keyring import KeyInfo, KeyRing, KeyStore, Rotation
from jwtgate.service.oauth import OAuthUseCases
from jwtgate.service.password_policy import PasswordPolicy
from jwtgate.service.passwords import Argon2Hasher, PasswordHasher
from jwtgate.service.policy import SIGNING_ALGORITHMS, ServicePolicy
from jwtgate.service.ports import RevocationBroadcaster, Store
from jwtgate.service.ratelimit import MemoryRateLimiter, RateLimiter
from jwtgate.service.records import Revocation
from jwtgate.service.sealing import Sealer
from jwtgate.service.server_secrets import SERVER_SECRET_NAMES, ServerSecrets
from jwtgate.service.sessions import Sessions, check_user_id
from jwtgate.service.token_operations import TokenOperations
from jwtgate.service.types import SessionInfo, TokenPair, UserInfo, audit_dict
from jwtgate.service.validation import parse_scope

__all__ = ["AuthService"]

logger = logging.getLogger("jwtgate.service")

Clock = Callable[[], float]
_MAX_CURSOR = 2**63 - 1  # a signed 64-bit column


class AuthService(OAuthUseCases):
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
        broadcaster: RevocationBroadcaster | None = None,
        secrets: ServerSecrets | None = None,
        writable: bool = True,
        password_policy: PasswordPolicy | None = None,
        untrusted_limiter: RateLimiter | None = None,
        success_limiter: RateLimiter | None = None,
        lockout: LockoutPolicy | None = None,
        max_sessions_per_user: int = 0,
    ) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock
        self.secrets = secrets
        self._authority = TokenAuthority(ring, policy, store, clock, broadcaster, writable=writable)
        self._clients = ClientRegistry(store, policy, clock)
        self._sessions = Sessions(
            store,
            policy,
            self._authority,
            clock,
            self._clients,
            max_sessions_per_user=max_sessions_per_user,
        )
        lockout = lockout or LockoutPolicy()
        self._accounts = Accounts(
            store,
            hasher,
            clock,
            account_limiter=account_limiter,
            ip_limiter=ip_limiter,
            password_policy=password_policy,
            untrusted_limiter=untrusted_limiter or _untrusted_limiter(lockout),
            success_limiter=success_limiter or _success_limiter(lockout),
            devices=_device_tokens(secrets, lockout),
        )
        self._grants = TokenGrants(
            policy, self._authority, self._sessions, self._accounts, self._clients, clock
        )
        self._codes = AuthorizationCodes(store, self._clients, self._sessions, clock)
        self._operations = TokenOperations(
            store, policy, self._authority, self._sessions, self._clients, clock
        )
        self._maintenance: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        *,
        store: Store,
        policy: ServicePolicy,
        keys: KeyStore | None = None,
        sealer: Sealer | None = None,
        clock: Clock = time.time,
        hasher: PasswordHasher | None = None,
        account_limiter: RateLimiter | None = None,
        ip_limiter: RateLimiter | None = None,
        maintenance_interval: float | None = 300.0,
        sync_interval: float | None = None,
        broadcaster: RevocationBroadcaster | None = None,
        create: bool = True,
        secret_names: tuple[str, ...] = SERVER_SECRET_NAMES,
        password_policy: PasswordPolicy | None = None,
        untrusted_limiter: RateLimiter | None = None,
        success_limiter: RateLimiter | None = None,
        lockout: LockoutPolicy | None = None,
        max_sessions_per_user: int = 0,
    ) -> AuthService:
        """Load the key ring (from ``keys``, by default the store itself), the server secrets and the
        denylist. With ``create`` (a server, ``jwtgate init``), a missing ring and missing secrets are
        created, atomically; without it (read-only commands) nothing is ever written and a missing ring
        is :class:`~jwtgate.service.ports.NotInitialised`. ``sealer`` holds the key-encryption key(s).

        ``maintenance_interval`` seconds between background purges (None: only when :meth:`purge` is
        called); ``sync_interval`` seconds between background syncs with the other instances (None: a
        sync happens lazily on requests, as the CLI needs). ``broadcaster``: where revocations and key
        ring changes are pushed after each commit (best effort).
        ``password_policy``: what new passwords must satisfy (the NIST-style default when None).
        ``lockout``: device tokens, the untrusted clients' failure budget per account and the limit of
        successful logins (their limiters default to in-process ones); ``max_sessions_per_user``: live
        sessions a user may hold, the oldest revoked beyond it (0: no cap).

        The service owns ``store`` and ``broadcaster`` from here on: :meth:`close` closes them, and
        so does a failed open."""
        sealer = sealer or Sealer()
        try:
            now = clock()
            ring = await KeyRing.open(
                keys or store,
                sealer=sealer,
                signing_alg=policy.signing_alg,
                retire_delay=policy.deny_ttl,
                publication_delay=policy.key_publication_delay,
                now=now,
                create=create,
            )
            secrets = await ServerSecrets.open(store, sealer, now=now, create=create, names=secret_names)
            service = cls(
                store=store,
                ring=ring,
                policy=policy,
                clock=clock,
                hasher=hasher or Argon2Hasher(),
                account_limiter=account_limiter or _limiter(policy, policy.login_max_failures_account),
                ip_limiter=ip_limiter or _limiter(policy, policy.login_max_failures_ip),
                broadcaster=broadcaster,
                secrets=secrets,
                writable=create,
                password_policy=password_policy,
                untrusted_limiter=untrusted_limiter,
                success_limiter=success_limiter,
                lockout=lockout,
                max_sessions_per_user=max_sessions_per_user,
            )
            await service._authority.sync(now, force=True)
            if create:
                await service._accounts.warm_up()
        except BaseException:
            await store.close()
            await _close_broadcaster(broadcaster)
            raise
        if maintenance_interval is not None:
            service._maintenance = asyncio.create_task(service._maintain(maintenance_interval))
        if sync_interval is not None:
            service._sync_task = asyncio.create_task(service._sync_forever(sync_interval))
        return service

    async def close(self) -> None:
        for task in (self._maintenance, self._sync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._maintenance = self._sync_task = None
        try:
            await _close_broadcaster(self._authority.broadcaster)
        finally:
            await self.store.close()

    async def ping(self) -> None:
        """One cheap round trip to the store (readiness checks); StorageError when it does not answer."""
        await self.store.ping()

    async def _maintain(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.maintain()
            except Exception as err:  # retried next round; the error code is logged
                logger.warning("maintenance failed: %s", getattr(err, "code", type(err).__name__))

    async def _sync_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._authority.sync(self._clock())
            except StorageError:
                pass  # the authority logs when an outage starts and ends, not on every tick
            except Exception as err:  # the next tick retries; requests keep the last good state
                logger.warning("sync with the store failed: %s", getattr(err, "code", type(err).__name__))

    async def sync(self, *, force: bool = False) -> None:
        """Pull what other instances changed (revocations, key ring) now."""
        await self._authority.sync(self._clock(), force=force)

    def apply_pushed_revocation(self, entry: Revocation) -> None:
        """A revocation pushed by another instance (Redis): deny it at once."""
        self._authority.apply_pushed(entry)

    async def keys_changed_elsewhere(self) -> None:
        """Another instance changed the key ring: reload it now."""
        await self._authority.keys_changed_elsewhere()

    def server_secret(self, name: str) -> bytes:
        """A server secret shared by every instance (e.g. ``"csrf"``); ConfigError if not loaded."""
        if self.secrets is None:
            raise ConfigError("the server secrets are not loaded")
        return self.secrets.get(name)

    async def maintain(self) -> dict[str, int]:
        """One maintenance round (the background task runs it every ``maintenance_interval``):
        rotate the signing key when ``policy.key_rotation_interval`` says so, then :meth:`purge`."""
        rotated = 0
        interval = self.policy.key_rotation_interval
        if interval is not None:
            now = self._clock()
            rotation = await self._authority.rotate(now, older_than=interval)
            if rotation is not None and rotation.scheduled is None:
                rotated = 1
                detail = {"active_kid": rotation.active.kid, "automatic": True}
                await self.store.add_audit_event("keys_rotated", now, detail=detail)
        return {**await self.purge(), "keys_rotated": rotated}

    async def purge(self) -> dict[str, int]:
        """Delete expired denylist entries, dead sessions and tokens, old audit events, expired keys."""
        now = self._clock()
        counts = await self.store.purge(now, audit_before=now - self.policy.audit_retention)
        counts.update(await self._authority.prune(now))
        counts.update(await self._codes.purge(now))
        return counts

    # ------------------------------------------------------------------ keys
    def jwks(self) -> dict[str, Any]:
        """The public JWKS: next, active and still-verifying retired keys (never symmetric ones)."""
        return self._authority.jwks(self._clock())

    @property
    def verification_keys(self) -> KeySet:
        return self._authority.verification_keys

    async def list_keys(self) -> list[KeyInfo]:
        await self._authority.sync(self._clock())
        return self._authority.key_infos()

    async def rotate_keys(self, *, alg: str | None = None, at_once: bool = False) -> Rotation:
        """Rotate the signing key (see :class:`~jwtgate.service.keyring.KeyRing`): the published ``next``
        key signs at once when it has been published for the publication delay (or ``at_once``), else
        the rotation is scheduled; ``alg`` switches algorithm through a newly published ``next`` key."""
        if alg is not None and alg not in SIGNING_ALGORITHMS:
            raise InvalidRequest(f"alg must be one of {', '.join(sorted(SIGNING_ALGORITHMS))}")
        now = self._clock()
        rotation = await self._authority.rotate(now, alg=alg, at_once=at_once)
        if rotation is None:  # pragma: no cover - an unconditional rotation always has an outcome
            raise ConfigError("the key ring did not rotate")
        detail: dict[str, Any] = {"active_kid": rotation.active.kid}
        if rotation.scheduled is not None:
            detail.update(scheduled_kid=rotation.scheduled.kid, activate_at=rotation.scheduled.activate_at)
        await self.store.add_audit_event("keys_rotated", now, detail=detail)
        return rotation

    async def rewrap(self) -> dict[str, int]:
        """Reseal every signing key and server secret with the current key-encryption key."""
        keys = await self._authority.rewrap()
        secrets = await self.secrets.rewrap() if self.secrets is not None else 0
        if keys or secrets:
            detail = {"keys": keys, "secrets": secrets}
            await self.store.add_audit_event("keys_rewrapped", self._clock(), detail=detail)
        return {"keys": keys, "secrets": secrets}

    @property
    def ring_alg(self) -> str:
        """The algorithm the ring signs with now."""
        return self._authority.ring.alg

    def refuse_plaintext_keys(self) -> None:
        """ConfigError when a key-encryption key is set and a signing key is still unencrypted."""
        self._authority.ring.refuse_plaintext()

    def unsealed_keys(self) -> int:
        """Ring keys not sealed with the current key-encryption key."""
        return self._authority.ring.unsealed_count()

    # ------------------------------------------------------------------ tokens
    async def login(
        self,
        username: str,
        password: str,
        *,
        user_agent: str | None = None,
        ip: str | None = None,
        scope: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        """A new session for valid credentials. InvalidCredentials alike for every failure,
        RateLimited after repeated failures, InvalidRequest for a malformed ``scope``. ``dpop_jkt``
        (a verified DPoP proof's key thumbprint) binds the session and its tokens to that key."""
        pair, _ = await self.login_with_device(
            username, password, user_agent=user_agent, ip=ip, scope=scope, dpop_jkt=dpop_jkt
        )
        return pair

    async def login_with_device(
        self,
        username: str,
        password: str,
        *,
        device_token: object = None,
        user_agent: str | None = None,
        ip: str | None = None,
        scope: str | None = None,
        dpop_jkt: str | None = None,
    ) -> tuple[TokenPair, str | None]:
        """:meth:`login`, with the device token the client presented (None: an untrusted client) and
        a new one for it in the answer (None when the server secret ``device`` is not loaded). A valid
        device token for the account keeps failures made by others from blocking this client."""
        now = self._clock()
        requested = None if scope is None else parse_scope(scope)
        user = await self._accounts.check_login(username, password, ip, now, device_token)
        granted = user.scopes if requested is None else tuple(s for s in requested if s in user.scopes)
        pair = await self._sessions.start(user, " ".join(granted), user_agent, ip, now, dpop_jkt)
        return pair, self._accounts.issue_device_token(user.id, now)

    async def refresh(
        self,
        refresh_token: str,
        *,
        user_agent: str | None = None,
        ip: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenPair:
        """Rotate ``refresh_token``. InvalidGrant when unknown, expired, revoked or reused;
        InvalidDPoPProof when its session is DPoP-bound to another key than ``dpop_jkt``."""
        del user_agent  # the session keeps the login's; reuse events record the IP
        return await self._sessions.refresh(refresh_token, ip, self._clock(), dpop_jkt=dpop_jkt)

    async def refresh_token_session(self, refresh_token: object) -> str:
        """The session a refresh token belongs to, without using the token (checks that must pass
        before a rotation, e.g. cookie mode's CSRF token). InvalidGrant when it is not usable."""
        if not isinstance(refresh_token, str) or not opaque.looks_like_refresh_token(refresh_token):
            raise InvalidGrant
        found = await self.store.find_refresh_token(opaque.digest(refresh_token))
        if found is None:
            raise InvalidGrant
        return found[1].id

    async def authenticate(self, access_token: str) -> dict[str, Any]:
        """The claims of a valid, unrevoked access token; a TokenError otherwise."""
        return await self._authority.authenticate(access_token, self._clock())

    # ------------------------------------------------------------------ sessions
    async def logout(self, session_id: str) -> None:
        """Revoke this session (idempotent); the audit event names its user."""
        if isinstance(session_id, str) and len(session_id) <= 64:
            session = await self.store.get_session(session_id)
            user_id = None if session is None else session.user_id
            await self._sessions.revoke([session_id], self._clock(), "logout", user_id=user_id)

    async def logout_all(self, user_id: str) -> int:
        """Revoke every session of the user; returns how many were still live."""
        return await self._sessions.revoke_user(user_id, "logout_all")

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """Active sessions of ``user_id``, newest first."""
        checked = check_user_id(user_id)
        sessions = await self.store.list_sessions(user_id=checked, active_at=self._clock())
        return [SessionInfo.of(s) for s in sessions]

    async def revoke_session(self, session_id: str, user_id: str | None = None) -> None:
        """Revoke one session; NotFound when it does not exist or is not ``user_id``'s."""
        if not isinstance(session_id, str) or len(session_id) > 64:
            raise NotFound("no such session")
        session = await self.store.get_session(session_id)
        if session is None or (user_id is not None and session.user_id != user_id):
            raise NotFound("no such session")
        await self._sessions.revoke([session_id], self._clock(), "revoked", user_id=session.user_id)

    async def list_all_sessions(self, username: str | None = None) -> list[SessionInfo]:
        """Active sessions of everyone, or of ``username`` (NotFound if unknown)."""
        user_id = None if username is None else (await self._accounts.by_name(username)).id
        sessions = await self.store.list_sessions(user_id=user_id, active_at=self._clock())
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
        return await self._accounts.create(username, password, roles=roles, scopes=scopes)

    async def register(self, username: str, password: str, *, ip: str | None = None) -> UserInfo:
        """Self-service sign-up with the default scopes (the server decides whether it is open).
        Each sign-up from a client network counts like a failed login from it (RateLimited)."""
        await self._accounts.count_signup(ip, self._clock())
        return await self.add_user(username, password)

    async def get_user(self, user_id: str) -> UserInfo:
        return await self._accounts.get(user_id)

    async def list_users(self) -> list[UserInfo]:
        return await self._accounts.list()

    async def count_users(self) -> int:
        return await self._accounts.count()

    async def set_user_disabled(self, username: str, disabled: bool) -> UserInfo:
        """Disable (revoking every session) or enable a user."""
        if type(disabled) is not bool:
            raise InvalidRequest("disabled must be true or false")
        user = await self._accounts.by_name(username)
        await self._accounts.set_disabled(user, disabled)
        if disabled:
            await self._sessions.revoke_user(user.id, "user_disabled")
        return await self._accounts.get(user.id)

    async def show_user(self, username: str) -> UserInfo:
        """The user named ``username``; NotFound otherwise."""
        return UserInfo.of(await self._accounts.by_name(username))

    async def change_user_grants(
        self, username: str, *, scopes: Sequence[str] = (), roles: Sequence[str] = (), add: bool
    ) -> UserInfo:
        """Add (``add=True``) or take away scopes and roles. Taking any away revokes the user's
        sessions: no live token keeps what was taken."""
        user = await self._accounts.by_name(username)
        scope_list, role_list = parse_scope(list(scopes)), parse_scope(list(roles))
        if add:
            new_scopes = tuple(dict.fromkeys((*user.scopes, *scope_list)))
            new_roles = tuple(dict.fromkeys((*user.roles, *role_list)))
        else:
            new_scopes = tuple(s for s in user.scopes if s not in scope_list)
            new_roles = tuple(r for r in user.roles if r not in role_list)
        now = self._clock()
        await self.store.set_user_grants(user.id, new_roles, new_scopes)
        detail = {"scopes": list(scope_list), "roles": list(role_list)}
        await self.store.add_audit_event(
            "user_granted" if add else "user_ungranted", now, user_id=user.id, detail=detail
        )
        if not add and (new_scopes != user.scopes or new_roles != user.roles):
            await self._sessions.revoke_user(user.id, "user_ungranted")
        return await self._accounts.get(user.id)

    async def set_password(self, username: str, password: str) -> None:
        """Admin reset: new password, every session revoked."""
        user = await self._accounts.by_name(username)
        await self._accounts.set_password(user, password, "password_reset")
        await self._sessions.revoke_user(user.id, "password_reset")

    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        keep_session_id: str | None = None,
    ) -> None:
        """The user's own change: InvalidCredentials if ``current_password`` is wrong (rate limited
        like a login), InvalidRequest for an unacceptable new one; every other session is revoked."""
        user = await self._accounts.check_current_password(user_id, current_password, self._clock())
        await self._accounts.set_password(user, new_password, "password_changed")
        await self._sessions.revoke_user(user.id, "password_changed", keep=keep_session_id)

    # ------------------------------------------------------------------ audit
    async def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        if type(limit) is not int or not 0 <= limit <= 10_000:
            raise InvalidRequest("limit must be an integer from 0 to 10000")
        return [audit_dict(e) for e in await self.store.audit_events(limit=limit)]

    # ------------------------------------------------------------------ the revocation feed
    async def revocations(self, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """A page of the live denylist for guards: entries with ``cursor > after``, oldest first.
        ``cursor`` in the answer is what to pass as ``after`` next time."""
        if type(after) is not int or not 0 <= after <= _MAX_CURSOR:
            raise InvalidRequest("after must be an integer from 0 to 2**63-1")
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be an integer from 1 to 1000")
        page = await self.store.revocations(after=after, limit=limit, now=self._clock())
        return {
            "revocations": [r.feed_entry() for r in page],
            "cursor": page[-1].cursor if page else after,
        }


async def _close_broadcaster(broadcaster: RevocationBroadcaster | None) -> None:
    if broadcaster is None:
        return
    try:
        await broadcaster.close()
    except Exception as err:  # shutting down: a failed close of a best-effort channel changes nothing
        logger.warning("closing the revocation broadcaster failed (%s)", type(err).__name__)


def _limiter(policy: ServicePolicy, max_failures: int) -> MemoryRateLimiter:
    return MemoryRateLimiter(
        max_failures=max_failures,
        window=policy.login_failure_window,
        max_backoff=policy.login_max_backoff,
    )


def _untrusted_limiter(lockout: LockoutPolicy) -> MemoryRateLimiter:
    window = lockout.untrusted_window
    return MemoryRateLimiter(max_failures=lockout.untrusted_max_failures, window=window, max_backoff=window)


def _success_limiter(lockout: LockoutPolicy) -> MemoryRateLimiter | None:
    if lockout.success_max == 0:
        return None
    window = lockout.success_window
    return MemoryRateLimiter(max_failures=lockout.success_max, window=window, max_backoff=window)


def _device_tokens(secrets: ServerSecrets | None, lockout: LockoutPolicy) -> DeviceTokens | None:
    """Device tokens under the server secret ``device``; None when it is not loaded (read-only opens)."""
    if secrets is None:
        return None
    try:
        key = secrets.get("device")
    except ConfigError:
        return None
    return DeviceTokens(key, ttl=lockout.device_ttl)
