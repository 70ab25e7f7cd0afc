"""Open the service described by the settings: data folder, store (migrated), keys, policy.

Shared by the app's lifespan and the CLI so both run exactly the same start-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable

from jwtgate.service import AuthService, FileKeyStore, ServicePolicy
from jwtgate.settings import Settings
from jwtgate.storage import open_store

__all__ = ["ensure_data_dir", "open_service", "service_policy"]


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
    )


def ensure_data_dir(settings: Settings) -> None:
    """Create the data folder owner-only (0700); an existing one is left as it is."""
    path = settings.data_dir
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings, clock: Callable[[], float], *, migrate: bool = True
) -> AsyncIterator[AuthService]:
    """Yield a ready :class:`AuthService`; closes it (and its store) on exit."""
    ensure_data_dir(settings)
    store = await open_store(settings.database_url_value)
    try:
        if migrate:
            await store.migrate()
        service = await AuthService.open(
            store=store,
            keys=FileKeyStore(settings.keys_dir),
            policy=service_policy(settings),
            clock=clock,
        )
    except BaseException:
        await store.close()  # the service owns the store only once it exists
        raise
    try:
        yield service
    finally:
        await service.close()
