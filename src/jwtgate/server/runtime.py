"""Open the service described by the settings: data folder, store (migrated), keys, policy, and the
Redis broadcaster when ``JWTGATE_REDIS_URL`` is set.

Shared by the app's lifespan and the CLI so both run exactly the same start-up (a revocation made with
``jwtgate sessions revoke`` is broadcast like one made over HTTP).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from jwtgate.service import AuthService, FileKeyStore, ServicePolicy
from jwtgate.service.password_policy import PasswordPolicy
from jwtgate.service.passwords import Argon2Hasher, HashingPool
from jwtgate.settings import Settings
from jwtgate.storage import open_store

if TYPE_CHECKING:
    from prometheus_client import Counter

    from jwtgate.service.ports import RevocationBroadcaster
    from jwtgate.service.records import Revocation

__all__ = ["ensure_data_dir", "hashing_pool", "open_service", "service_policy"]


def service_policy(settings: Settings) -> ServicePolicy:
    return ServicePolicy(
        issuer=settings.issuer_url,
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
    )


def hashing_pool(settings: Settings) -> HashingPool:
    """The bounded pool password hashing runs in (``password_hash_workers`` 0: sized to the machine)."""
    return HashingPool(settings.password_hash_workers or None, settings.password_hash_queue)


def ensure_data_dir(settings: Settings) -> None:
    """Create the data folder owner-only (0700); an existing one is left as it is."""
    path = settings.data_dir
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings,
    clock: Callable[[], float],
    *,
    migrate: bool = True,
    maintenance_interval: float | None = None,
    broadcast_failures: Counter | None = None,
) -> AsyncIterator[AuthService]:
    """Yield a ready :class:`AuthService`; closes it (its store and broadcaster) on exit.

    ``maintenance_interval``: seconds between background purges and automatic key rotations (a running
    server sets it; a CLI command leaves it None). ``broadcast_failures`` counts failed Redis publishes.
    """
    ensure_data_dir(settings)
    broadcaster = _broadcaster(settings, broadcast_failures)
    store = await open_store(settings.database_url_value)
    try:
        if migrate:
            await store.migrate()
    except BaseException:
        await store.close()
        if broadcaster is not None:
            await broadcaster.close()
        raise
    service = await AuthService.open(  # owns the store and broadcaster from here on, also when it fails
        store=store,
        keys=FileKeyStore(settings.keys_dir),
        policy=service_policy(settings),
        clock=clock,
        maintenance_interval=maintenance_interval,
        broadcaster=broadcaster,
        hasher=Argon2Hasher(pool=hashing_pool(settings)),
        password_policy=PasswordPolicy(min_length=settings.password_min_length),
    )
    try:
        yield service
    finally:
        await service.close()


def _broadcaster(settings: Settings, failures: Counter | None) -> RevocationBroadcaster | None:
    url = settings.redis_url_value
    if url is None:
        return None
    # Imported here: the redis package is needed only when a Redis URL is configured.
    from jwtgate.storage.redis import RedisBroadcaster

    redis = RedisBroadcaster.from_url(url, channel=settings.redis_channel)
    return redis if failures is None else _CountingBroadcaster(redis, failures)


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

    async def close(self) -> None:
        await self._inner.close()
