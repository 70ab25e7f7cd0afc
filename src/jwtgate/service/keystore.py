"""Where the key ring lives: private JWK files in a directory (``FileKeyStore``) or memory (tests).

Layout of a :class:`FileKeyStore` directory (mode 0700)::

    ring.json        states and timestamps: [{"kid", "alg", "state", "created_at", "retire_after"}]
    <kid>.jwk        one private JWK per key, mode 0600, written once and never rewritten

Writes are atomic (temporary file + rename) and serialised across processes with ``flock`` on
``.lock``, so ``jwtgate keys rotate`` and a running server cannot lose each other's changes.
Key material is never logged: only kids appear in errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from jwtgate.errors import ConfigError

__all__ = ["FileKeyStore", "KeyInfo", "KeyState", "KeyStore", "MemoryKeyStore", "StoredKey"]

KeyState = Literal["next", "active", "retired"]
_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STATES = ("next", "active", "retired")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about a ring key. ``retire_after``: when a retired key stops verifying;
    ``activated_at``: when it started signing (None while ``next``)."""

    kid: str
    alg: str
    state: KeyState
    created_at: float
    retire_after: float | None = None
    activated_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    info: KeyInfo
    jwk: dict[str, Any] = field(repr=False)  # private members: never print


class KeyStore(Protocol):
    async def load(self) -> list[StoredKey]: ...

    async def save(self, keys: list[StoredKey]) -> None:
        """Replace the ring with ``keys`` atomically."""

    async def version(self) -> object:
        """A cheap value that changes whenever the ring is saved (by any process)."""

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Exclusive access for a load-modify-save cycle."""


class MemoryKeyStore:
    """A key ring that lives as long as the object (tests, throwaway servers)."""

    def __init__(self) -> None:
        self._keys: list[StoredKey] = []
        self._version = 0
        self._lock = asyncio.Lock()

    async def load(self) -> list[StoredKey]:
        return list(self._keys)

    async def save(self, keys: list[StoredKey]) -> None:
        self._keys = list(keys)
        self._version += 1

    async def version(self) -> object:
        return self._version

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        async with self._lock:
            yield


class FileKeyStore:
    """Keys as private JWK files (0600) in ``directory`` (0700, created when missing)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.directory)!r})"

    async def load(self) -> list[StoredKey]:
        return await asyncio.to_thread(self._load)

    async def save(self, keys: list[StoredKey]) -> None:
        await asyncio.to_thread(self._save, keys)

    async def version(self) -> object:
        try:
            st = await asyncio.to_thread(os.stat, self.directory / "ring.json")
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        async with self._lock:
            handle = await asyncio.to_thread(self._acquire)
            try:
                yield
            finally:
                await asyncio.to_thread(self._release, handle)

    # blocking helpers (run in a thread)
    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.directory, 0o700)  # we created it or own it: tighten, never loosen

    def _acquire(self) -> int:
        self._ensure_directory()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @staticmethod
    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _load(self) -> list[StoredKey]:
        ring = self.directory / "ring.json"
        if not ring.exists():
            return []
        try:
            entries = json.loads(ring.read_text("utf-8"))["keys"]
            infos = [_info(entry) for entry in entries]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"unreadable key ring {ring}") from err
        return [StoredKey(info, self._read_jwk(info.kid)) for info in infos]

    def _read_jwk(self, kid: str) -> dict[str, Any]:
        path = self.directory / f"{kid}.jwk"
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            text = path.read_text("utf-8")
        except OSError as err:
            raise ConfigError(f"unreadable key file {path}") from err
        if mode & 0o077:
            raise ConfigError(f"key file {path} is readable by others: chmod 600 it")
        try:
            jwk = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"key file {path} is not JSON") from err
        if not isinstance(jwk, dict):
            raise ConfigError(f"key file {path} is not a JWK object")
        return jwk

    def _save(self, keys: list[StoredKey]) -> None:
        self._ensure_directory()
        for key in keys:
            _check_kid(key.info.kid)
            path = self.directory / f"{key.info.kid}.jwk"
            if not path.exists():
                _write_private(path, json.dumps(key.jwk))
        ring = {"keys": [_entry(key.info) for key in keys]}
        _write_private(self.directory / "ring.json", json.dumps(ring, indent=2))
        kept = {f"{key.info.kid}.jwk" for key in keys}
        for path in self.directory.glob("*.jwk"):
            if path.name not in kept:
                path.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _check_kid(kid: str) -> str:
    if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
        raise ConfigError("a ring key id must be 1-128 base64url characters")
    return kid


def _entry(info: KeyInfo) -> dict[str, Any]:
    return {
        "kid": info.kid,
        "alg": info.alg,
        "state": info.state,
        "created_at": info.created_at,
        "retire_after": info.retire_after,
        "activated_at": info.activated_at,
    }


def _info(entry: dict[str, Any]) -> KeyInfo:
    state = entry["state"]
    if state not in _STATES:
        raise ValueError("bad key state")
    retire_after = entry.get("retire_after")
    activated_at = entry.get("activated_at")
    return KeyInfo(
        kid=_check_kid(entry["kid"]),
        alg=str(entry["alg"]),
        state=state,
        created_at=float(entry["created_at"]),
        retire_after=None if retire_after is None else float(retire_after),
        activated_at=None if activated_at is None else float(activated_at),
    )
