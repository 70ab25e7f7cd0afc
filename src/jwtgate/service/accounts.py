"""Accounts: users, their passwords and the checks around them (rate limits, dummy hash, rehash).

:meth:`Accounts.check_login` answers InvalidCredentials alike, after one argon2 verification, for a wrong
password, an unknown user (a dummy hash is verified) and a disabled user; RateLimited once the account or
the client IP failed too often; ServiceBusy when the hashing pool is full (not counted as a failure).
Revoking sessions on disable or password change is the caller's part.

Passwords are NFKC-normalised before hashing and before verifying (see :mod:`.password_policy`). A hash
made before normalisation existed from a non-NFKC password still verifies: the raw text is tried when
the normalised one fails, and a match re-hashes the normalised form.

Lockout (see :mod:`.devices`): failures count per client network, and per (account, client network)
plus a per-account budget shared by every client without a device token; a client presenting a valid
device token for the account is counted on its own instead. Successful logins per account may be
limited too.

Audit: ``login`` on success (user id, client address, whether a device token was presented),
``login_throttled`` when failures make an account or address wait (the user's id when the account
exists, never the typed username).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jwtgate.errors import (
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceBusy,
    StorageError,
)
from jwtgate.service import opaque
from jwtgate.service.devices import DeviceTokens
from jwtgate.service.password_policy import PasswordPolicy, normalize_password
from jwtgate.service.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from jwtgate.service.ports import Store
from jwtgate.service.ratelimit import RateLimiter
from jwtgate.service.records import UserRecord
from jwtgate.service.types import UserInfo
from jwtgate.service.validation import clean_text, normalize_username, parse_scope

__all__ = ["Accounts"]


def client_network(address: str) -> str:
    """The rate-limit identity of a client address: IPv6 clients by their /64 (one host commonly holds
    a whole /64, so per-address counting would give it 2**64 budgets), IPv4 by address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class _PasswordCheck:
    user: UserRecord | None  # the account, when the name exists (whatever the password)
    matched: bool  # the password is the account's
    legacy: bool  # it matched the raw text of a hash made before NFKC normalisation


class Accounts:
    def __init__(
        self,
        store: Store,
        hasher: PasswordHasher,
        clock: Callable[[], float],
        *,
        account_limiter: RateLimiter,
        ip_limiter: RateLimiter,
        password_policy: PasswordPolicy | None = None,
        untrusted_limiter: RateLimiter,
        success_limiter: RateLimiter | None = None,
        devices: DeviceTokens | None = None,
    ) -> None:
        self._untrusted_limiter = untrusted_limiter
        self._success_limiter = success_limiter
        self._devices = devices
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._account_limiter = account_limiter
        self._ip_limiter = ip_limiter
        self._password_policy = password_policy or PasswordPolicy()

    async def warm_up(self) -> None:
        """Make the dummy hash now, so the first unknown-user login costs what every later one does."""
        await self._hasher.verify_dummy("")

    async def check_login(
        self, username: object, password: object, ip: object, now: float, device_token: object = None
    ) -> UserRecord:
        """The user these credentials belong to; InvalidCredentials or RateLimited otherwise.

        Failures count per client network, and per (account, client network) plus the account's
        budget for untrusted clients; a valid ``device_token`` for the account replaces the last two
        by its own count (see :mod:`.devices`), so others' failures never block its holder."""
        try:
            name: str | None = normalize_username(username)
        except InvalidRequest:
            name = None
        # Without a client address there is no per-IP limit: one shared bucket would let a single
        # client lock everybody out.
        client = clean_text(ip, 64)
        network = None if client is None else client_network(client)
        user = await self._store.get_user_by_name(name) if name is not None else None
        device = None
        if user is not None and device_token is not None and self._devices is not None:
            device = self._devices.device_id(device_token, user.id, now)
        account = f"{name or '?'}"
        if device is not None:
            own: list[tuple[RateLimiter, str]] = [(self._account_limiter, f"device:{device}")]
        else:
            own = [
                (self._account_limiter, f"user:{account}@{network or '?'}"),
                (self._untrusted_limiter, f"untrusted:{account}"),
            ]
        keys = own + ([] if network is None else [(self._ip_limiter, f"ip:{network}")])
        reserved: list[tuple[RateLimiter, str]] = []
        try:
            for limiter, key in keys:
                await self._reserve(limiter, key, now)
                reserved.append((limiter, key))
        except RateLimited:
            for limiter, key in reserved:
                await limiter.release(key, now, failed=False)
            raise
        failed = True
        try:
            checked = await self._check_password(user, password)
            failed = user is None or user.disabled or not checked.matched
        except (ServiceBusy, StorageError):
            # Refused before any password check (hashing pool full, database out of reach): not the
            # client's failure. Counted, an outage would lock out everyone who retried during it.
            failed = False
            raise
        finally:
            # Settled even when the check itself fails (cancelled, storage error): never a leaked slot.
            for limiter, key in keys:
                await limiter.release(key, self._clock(), failed=failed)
        if failed or user is None:
            user_id = None if user is None else user.id
            await self._audit_if_throttled(user_id, client, own, keys, now)
            raise InvalidCredentials
        await self._account_limiter.reset(own[0][1])
        await self._count_success(user.id, now)
        assert isinstance(password, str)  # _check_password accepted it
        if checked.legacy or self._hasher.needs_rehash(user.password_hash):
            # Parameters changed since this hash was made, or it is a legacy hash of the raw,
            # non-NFKC text: store the normalised form; keep password_changed_at as it was.
            new_hash = await self._hasher.hash(normalize_password(password))
            await self._store.set_password_hash(user.id, new_hash, user.password_changed_at)
        detail = {"ip": client, "device": device is not None}
        await self._store.add_audit_event("login", now, user_id=user.id, detail=detail)
        return user

    async def _count_success(self, user_id: str, now: float) -> None:
        """Successful logins per account are limited too (each one is a session and an argon2 hash):
        beyond the limit the right password waits like a wrong one would."""
        if self._success_limiter is None:
            return
        key = f"success:{user_id}"
        wait = await self._success_limiter.blocked_for(key, now)
        if wait > 0:
            raise RateLimited(retry_after=max(1, math.ceil(wait)))
        await self._reserve(self._success_limiter, key, now)
        await self._success_limiter.release(key, now, failed=True)

    def issue_device_token(self, user_id: str, now: float) -> str | None:
        """A device token for a client that just logged in as ``user_id`` (None when not configured)."""
        return None if self._devices is None else self._devices.issue(user_id, now)

    async def count_signup(self, ip: object, now: float) -> None:
        """A self-service sign-up costs an argon2 hash like a login does: throttle bursts from one
        client network with the per-IP limits (every sign-up counts, as a failure would)."""
        client = clean_text(ip, 64)
        if client is None:
            return
        key = f"signup:{client_network(client)}"
        await self._reserve(self._ip_limiter, key, now)
        await self._ip_limiter.release(key, now, failed=True)

    @staticmethod
    async def _reserve(limiter: RateLimiter, key: str, now: float) -> None:
        wait = await limiter.acquire(key, now)
        if wait > 0:
            raise RateLimited(retry_after=max(1, math.ceil(wait)))

    @staticmethod
    async def _longest_wait(keys: Sequence[tuple[RateLimiter, str]], now: float) -> float:
        waits = [await limiter.blocked_for(key, now) for limiter, key in keys]
        return max(waits, default=0.0)

    async def _audit_if_throttled(
        self,
        user_id: str | None,
        client: str | None,
        own: Sequence[tuple[RateLimiter, str]],
        keys: Sequence[tuple[RateLimiter, str]],
        now: float,
    ) -> None:
        """One audit event each time a failure makes the account or the IP wait (not per attempt:
        attempts while blocked are refused before they count). The typed username is never stored:
        it may be a password typed into the wrong field; the user's id is, when the account exists."""
        account_wait = await self._longest_wait(own, now)
        wait = await self._longest_wait(keys, now)
        if wait > 0:
            detail = {"ip": client, "retry_after": math.ceil(wait), "account_blocked": account_wait > 0}
            await self._store.add_audit_event("login_throttled", now, user_id=user_id, detail=detail)

    async def check_current_password(self, user_id: object, password: object, now: float) -> UserRecord:
        """For a password change: the user when ``password`` is theirs (rate limited like a login)."""
        record = await self._store.get_user(user_id) if isinstance(user_id, str) else None
        if record is None:
            raise NotFound("no such user")
        key = f"user:{record.username}"
        await self._reserve(self._account_limiter, key, now)
        failed = True
        try:
            failed = not (await self._check_password(record, password)).matched
        except ServiceBusy:
            failed = False
            raise
        finally:
            await self._account_limiter.release(key, self._clock(), failed=failed)
        if failed:
            raise InvalidCredentials
        return record

    async def _check_password(self, user: UserRecord | None, password: object) -> _PasswordCheck:
        """Check ``password`` against ``user`` (looked up by the caller): always one argon2
        verification of the NFKC form, and a second of the raw text when that differs (legacy hashes).
        The unknown user's dummy path does the same, so the cost depends on the input, never on
        whether the account exists."""
        usable = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD_LENGTH
        raw = password if usable and isinstance(password, str) else ""
        candidates = list(dict.fromkeys((normalize_password(raw), raw)))
        if user is None:
            for candidate in candidates:
                await self._hasher.verify_dummy(candidate)
            return _PasswordCheck(None, matched=False, legacy=False)
        for candidate in candidates:
            if await self._hasher.verify(user.password_hash, candidate):
                return _PasswordCheck(user, matched=usable, legacy=candidate is not candidates[0])
        return _PasswordCheck(user, matched=False, legacy=False)

    async def create(
        self, username: str, password: str, *, roles: Sequence[str], scopes: Sequence[str]
    ) -> UserInfo:
        """InvalidRequest on a bad name/password/role/scope, Conflict if the name is taken."""
        name = normalize_username(username)
        normalized = self._password_policy.check(password, username=name)
        # A plain string is a space-separated list, never a sequence of letters.
        role_list = parse_scope(roles if isinstance(roles, str) else list(roles))
        scope_list = parse_scope(scopes if isinstance(scopes, str) else list(scopes))
        now = self._clock()
        user = UserRecord(
            id=opaque.new_id(),
            username=name,
            password_hash=await self._hasher.hash(normalized),
            disabled=False,
            roles=role_list,
            scopes=scope_list,
            created_at=now,
            password_changed_at=now,
        )
        await self._store.create_user(user)
        await self._store.add_audit_event("user_added", now, user_id=user.id)
        return UserInfo.of(user)

    async def get(self, user_id: object) -> UserInfo:
        user = await self._store.get_user(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise NotFound("no such user")
        return UserInfo.of(user)

    async def by_name(self, username: object) -> UserRecord:
        try:
            name = normalize_username(username)
        except InvalidRequest as err:
            raise NotFound("no such user") from err
        user = await self._store.get_user_by_name(name)
        if user is None:
            raise NotFound("no such user")
        return user

    async def list(self) -> list[UserInfo]:
        return [UserInfo.of(u) for u in await self._store.list_users()]

    async def count(self) -> int:
        return await self._store.count_users()

    async def set_disabled(self, user: UserRecord, disabled: object) -> None:
        if type(disabled) is not bool:
            raise InvalidRequest("disabled must be true or false")
        await self._store.set_disabled(user.id, disabled)
        kind = "user_disabled" if disabled else "user_enabled"
        await self._store.add_audit_event(kind, self._clock(), user_id=user.id)

    async def set_password(self, user: UserRecord, password: object, kind: str) -> None:
        """Hash and store a new password (InvalidRequest if unacceptable); audited as ``kind``."""
        new_password = self._password_policy.check(password, username=user.username)
        now = self._clock()
        await self._store.set_password_hash(user.id, await self._hasher.hash(new_password), now)
        await self._store.add_audit_event(kind, now, user_id=user.id)
