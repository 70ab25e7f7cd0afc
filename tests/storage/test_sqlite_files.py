"""The SQLite database holds password hashes and token digests: its files are owner-only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jwtgate.storage import open_store


async def test_database_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "jwtgate.db"
    previous = os.umask(0o022)
    try:
        store = await open_store(f"sqlite+aiosqlite:///{path}")
        try:
            await store.migrate()
            await store.ping()
        finally:
            await store.close()
    finally:
        os.umask(previous)
    for name in ("jwtgate.db", "jwtgate.db-wal", "jwtgate.db-shm"):
        file = tmp_path / name
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
