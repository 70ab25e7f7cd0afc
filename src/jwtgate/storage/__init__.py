"""Storage adapters behind :mod:`jwtgate.service.ports`. :func:`open_store` picks one from a URL."""

from __future__ import annotations

from jwtgate.errors import ConfigError
from jwtgate.service.ports import Store

__all__ = ["open_store"]


async def open_store(url: str) -> Store:
    """Open the backend for ``url``: ``memory://``, ``sqlite+aiosqlite:///path`` or
    ``postgresql+asyncpg://user@host/db``. Does not migrate: call ``await store.migrate()``."""
    if not isinstance(url, str) or not url:
        raise ConfigError("a database URL is required")
    if url == "memory://":
        from jwtgate.storage.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
        from jwtgate.storage.sql import SqlStore

        return SqlStore.from_url(url)
    raise ConfigError(
        "unsupported database URL: use memory://, sqlite+aiosqlite:///PATH or postgresql+asyncpg://..."
    )
