"""Open the service described by the settings, the same way for ``jwtgate serve``, the app's lifespan
and every CLI command. What an open may do depends on its ``mode``:

- ``serve`` / ``init``: create the data folder (its last component only) and the database, migrate (under
  a lock: instances starting together take turns), import a pre-0.2 data folder once, create the key ring
  and the server secrets when missing (atomically), record the issuer;
- ``write``: the data must exist and be at the current schema; changes go through the service;
- ``read``: the same checks, and nothing is ever written (``keys list``, ``user list``, ``token verify``).

Commands other than ``serve`` and ``init`` never create anything: without data they stop with
"no jwtgate data at X: run `jwtgate init` or `jwtgate serve` first". With ``JWTGATE_REDIS_URL`` a
server also pushes revocations and key-ring changes to the others and listens to theirs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from jwtgate.errors import ConfigError
from jwtgate.service import AuthService, ServicePolicy
from jwtgate.service.devices import LockoutPolicy
from jwtgate.service.legacy import import_legacy_data_dir
from jwtgate.service.password_policy import PasswordPolicy
from jwtgate.service.passwords import Argon2Hasher, HashingPool
from jwtgate.service.ports import NotInitialised, Store
from jwtgate.service.ratelimit import FallbackRateLimiter, MemoryRateLimiter, RateLimiter
from jwtgate.service.sealing import Sealer
from jwtgate.settings import Settings
from jwtgate.storage import open_store
from jwtgate.storage.redis import RedisBroadcaster, RedisSubscriber, redis_client
from jwtgate.storage.redis_limits import RedisRateLimiter

if TYPE_CHECKING:
    from prometheus_client import Counter

    from jwtgate.service.ports import RevocationBroadcaster
    from jwtgate.service.records import Revocation

__all__ = [
    "OpenMode",
    "ensure_data_dir",
    "hashing_pool",
    "lockout_policy",
    "migrate_store",
    "open_service",
    "resolve_issuer",
    "sealer_for",
    "service_policy",
]

logger = logging.getLogger("jwtgate.server")

OpenMode = Literal["serve", "init", "write", "read"]
_CREATING = ("serve", "init")


def service_policy(settings: Settings, issuer: str | None = None) -> ServicePolicy:
    return ServicePolicy(
        issuer=issuer or settings.issuer_url,
        audience=settings.audience,
        access_ttl=settings.access_token_ttl,
        refresh_idle_ttl=settings.refresh_idle_ttl,
        session_absolute_ttl=settings.session_absolute_ttl,
        reuse_grace=settings.refresh_reuse_grace,
        signing_alg=settings.signing_alg,
        leeway=settings.leeway,
        client_id=settings.client_id,
        registration_open=settings.registration == "open",
        login_max_failures_account=settings.login_max_failures_account,
        login_max_failures_ip=settings.login_max_failures_ip,
        login_failure_window=settings.login_failure_window,
        key_rotation_interval=settings.key_rotation_seconds,
        revocation_sync_interval=settings.sync_interval,
        key_check_interval=settings.sync_interval,
        key_publication_delay=settings.key_publication_delay,
    )


def sealer_for(settings: Settings) -> Sealer:
    current, previous = settings.key_encryption_keys()
    return Sealer(current, previous)


def hashing_pool(settings: Settings) -> HashingPool:
    """The bounded pool password hashing runs in (``password_hash_workers`` 0: sized to the machine)."""
    return HashingPool(settings.password_hash_workers or None, settings.password_hash_queue)


def ensure_data_dir(settings: Settings) -> None:
    """Create the data folder owner-only (0700); an existing one is left as it is. Only the last
    component is created: a mistyped path fails instead of growing a tree of folders."""
    path = settings.data_dir
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"the data folder {path} is a file, not a folder")
        return
    fix = "choose a writable place with --data-dir or JWTGATE_DATA_DIR"
    if not path.parent.exists():
        raise ConfigError(
            f"cannot create the data folder {path}: {path.parent} does not exist (only the last folder is "
            f"created, so that a typo fails); create {path.parent} first, or {fix}"
        )
    try:
        path.mkdir(mode=0o700)
    except OSError as err:
        raise ConfigError(
            f"cannot create the data folder {path} ({err.strerror}: {path.parent} does not accept new "
            f"folders from this user); {fix}"
        ) from err
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _missing(settings: Settings) -> NotInitialised:
    return NotInitialised(
        f"no jwtgate data at {settings.database_location}: run `jwtgate init` or `jwtgate serve` first"
    )


async def resolve_issuer(store: Store, settings: Settings, mode: OpenMode, notes: list[str]) -> str:
    """The issuer: ``JWTGATE_ISSUER`` when set, else the one recorded by the first ``serve`` (so it does
    not move with the port). ``init`` records only an explicit issuer: it does not know the URL yet."""
    stored = await store.get_meta("issuer")
    if settings.issuer is not None:
        if mode in _CREATING and stored != settings.issuer:
            await store.set_meta("issuer", settings.issuer)
            if stored is not None:
                notes.append(
                    f"the issuer changed from {stored} to {settings.issuer}: tokens issued before no "
                    "longer verify"
                )
        return settings.issuer
    if stored is not None:
        return stored
    if mode == "serve":
        return await store.ensure_meta("issuer", settings.base_url)
    return settings.base_url


async def migrate_store(settings: Settings, now: float | None = None) -> list[str]:
    """``jwtgate migrate``: upgrade the schema of existing data (under the migration lock) and import a
    pre-0.2 data folder once; refuses a database without jwtgate data (that is `jwtgate init`)."""
    import time

    sqlite_path = settings.sqlite_path
    if sqlite_path is not None and not sqlite_path.exists():
        raise _missing(settings)
    store = await open_store(settings.database_url_value)
    try:
        try:
            await store.check_schema()
        except NotInitialised:
            raise _missing(settings) from None
        except ConfigError:
            pass  # behind: that is what we are here for (migrate() itself refuses a newer schema)
        await store.migrate()
        return await import_legacy_data_dir(
            store, sealer_for(settings), settings.data_dir, time.time() if now is None else now
        )
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings,
    clock: Callable[[], float],
    *,
    mode: OpenMode = "write",
    migrate: bool = True,
    maintenance_interval: float | None = None,
    sync: bool = False,
    broadcast_failures: Counter | None = None,
    limiter_fallbacks: Counter | None = None,
    notes: list[str] | None = None,
) -> AsyncIterator[AuthService]:
    """Yield a ready :class:`AuthService` opened in ``mode``; closes it (store, Redis) on exit.

    ``migrate=False`` skips the migrations of a creating open (the app's lifespan after ``jwtgate serve``
    already ran them). ``maintenance_interval``: seconds between purges and automatic rotations;
    ``sync``: keep in step with other instances in the background (and over Redis). Human-readable notes
    about what happened (an import, a changed issuer) are appended to ``notes``.
    """
    notes = [] if notes is None else notes
    creating = mode in _CREATING
    sqlite_path = settings.sqlite_path
    if creating and sqlite_path is not None and sqlite_path.parent == settings.data_dir:
        ensure_data_dir(settings)
    elif not creating and sqlite_path is not None and not sqlite_path.exists():
        raise _missing(settings)
    sealer = sealer_for(settings)
    redis = (
        None if settings.redis_url_value is None or mode == "read" else redis_client(settings.redis_url_value)
    )
    store = await open_store(settings.database_url_value)
    broadcaster: RevocationBroadcaster | None = None
    try:
        if creating and migrate:
            await store.migrate()
            notes.extend(await import_legacy_data_dir(store, sealer, settings.data_dir, clock()))
        else:
            try:
                await store.check_schema()
            except NotInitialised:
                raise _missing(settings) from None
        issuer = await resolve_issuer(store, settings, mode, notes)
        if redis is not None:
            channel = settings.redis_channel
            shared = RedisBroadcaster(redis, channel=channel)  # closes the client with the service
            broadcaster = (
                shared if broadcast_failures is None else _CountingBroadcaster(shared, broadcast_failures)
            )
        limiters = _limiters(settings, redis, limiter_fallbacks) if mode == "serve" else {}
    except BaseException:
        await store.close()
        if redis is not None:
            await redis.aclose()
        raise
    try:
        service = await AuthService.open(  # owns the store and broadcaster from here on, also when it fails
            store=store,
            sealer=sealer,
            policy=service_policy(settings, issuer),
            clock=clock,
            maintenance_interval=maintenance_interval,
            sync_interval=settings.sync_interval if sync else None,
            broadcaster=broadcaster,
            create=creating,
            account_limiter=limiters.get("account_limiter"),
            ip_limiter=limiters.get("ip_limiter"),
            hasher=Argon2Hasher(pool=hashing_pool(settings)),
            password_policy=PasswordPolicy(min_length=settings.password_min_length),
            untrusted_limiter=limiters.get("untrusted_limiter"),
            success_limiter=limiters.get("success_limiter"),
            lockout=lockout_policy(settings),
            max_sessions_per_user=settings.session_cap,
        )
    except NotInitialised:
        raise _missing(settings) from None
    if mode == "serve" and settings.environment == "production":
        try:
            service.refuse_plaintext_keys()  # production serves only sealed keys once a KEK is set
        except BaseException:
            await service.close()
            raise
    subscriber = None
    try:
        if sync and redis is not None:
            subscriber = _subscriber(settings, redis, service)
            await subscriber.start()
        yield service
    finally:
        try:
            if subscriber is not None:
                await subscriber.close()
        finally:
            await service.close()


def lockout_policy(settings: Settings) -> LockoutPolicy:
    return LockoutPolicy(
        device_ttl=settings.device_token_ttl,
        untrusted_max_failures=settings.login_max_failures_untrusted,
        success_max=settings.login_success_limit,
    )


def _limiters(settings: Settings, client: Any, fallbacks: Counter | None) -> dict[str, RateLimiter]:
    """Login limits: in Redis (shared by every instance) when configured, else in process. The
    untrusted clients' budget and the successful-login limit count per hour, waits up to an hour."""
    window = settings.login_failure_window
    lockout = lockout_policy(settings)
    # name: (max failures, window, longest wait)
    shapes = {
        "account_limiter": (settings.login_max_failures_account, window, 900),
        "ip_limiter": (settings.login_max_failures_ip, window, 900),
        "untrusted_limiter": (
            lockout.untrusted_max_failures,
            lockout.untrusted_window,
            lockout.untrusted_window,
        ),
    }
    if lockout.success_max:
        shapes["success_limiter"] = (lockout.success_max, lockout.success_window, lockout.success_window)
    local: dict[str, RateLimiter] = {
        name: MemoryRateLimiter(max_failures=count, window=span, max_backoff=wait)
        for name, (count, span, wait) in shapes.items()
    }
    if client is None:
        return dict(local)
    prefix = f"{settings.redis_channel}:limits"
    # The first two keep their historic prefixes ("account", "ip").
    prefixes = {"account_limiter": "account", "ip_limiter": "ip", "untrusted_limiter": "untrusted"}
    prefixes["success_limiter"] = "success"
    shared = {
        name: RedisRateLimiter(
            client, prefix=f"{prefix}:{prefixes[name]}", max_failures=count, window=span, max_backoff=wait
        )
        for name, (count, span, wait) in shapes.items()
    }
    on_fallback = fallbacks.inc if fallbacks is not None else None
    return {name: FallbackRateLimiter(shared[name], local[name], on_fallback=on_fallback) for name in shared}


def _subscriber(settings: Settings, client: Any, service: AuthService) -> RedisSubscriber:
    async def resync() -> None:
        await service.sync(force=True)

    return RedisSubscriber(
        client,
        channel=settings.redis_channel,
        on_revocation=service.apply_pushed_revocation,
        on_keys_changed=service.keys_changed_elsewhere,
        on_resubscribed=resync,
    )


class _CountingBroadcaster:
    """Counts failed publishes in the app's metrics, then lets the service log and go on."""

    def __init__(self, inner: RevocationBroadcaster, failures: Counter) -> None:
        self._inner = inner
        self._failures = failures

    async def publish(self, entries: Sequence[Revocation]) -> None:
        try:
            await self._inner.publish(entries)
        except Exception:
            self._failures.inc()
            raise

    async def publish_key_change(self) -> None:
        try:
            await self._inner.publish_key_change()
        except Exception:
            self._failures.inc()
            raise

    async def close(self) -> None:
        await self._inner.close()
