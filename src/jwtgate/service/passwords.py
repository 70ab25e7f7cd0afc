"""Password hashing: argon2id with the OWASP parameters (m=19 MiB, t=2, p=1), run off the event loop.

:class:`Argon2Hasher` is the only implementation; tests inject one with cheaper parameters. ``verify``
returns a bool rather than raising because the caller must take the same path (and time) for a wrong
password, an unknown user (checked against a dummy hash) and a disabled user.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Protocol

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from jwtgate.errors import ConfigError

__all__ = ["MAX_PASSWORD_LENGTH", "Argon2Hasher", "PasswordHasher"]

#: Longer inputs are refused before hashing: argon2 cost grows with input and nobody types 1 KiB.
MAX_PASSWORD_LENGTH = 1024


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (for unknown users)."""

    def needs_rehash(self, password_hash: str) -> bool: ...


class Argon2Hasher:
    """argon2id. The defaults are the production parameters; never lower them outside tests."""

    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1) -> None:
        # argon2-cffi only notices bad parameters at the first hash; refuse them here instead.
        if not all(type(v) is int for v in (time_cost, memory_cost, parallelism)) or not (
            time_cost >= 1 and parallelism >= 1 and memory_cost >= 8 * parallelism
        ):
            raise ConfigError("invalid argon2 parameters")
        try:
            self._hasher = argon2.PasswordHasher(
                time_cost=time_cost,
                memory_cost=memory_cost,
                parallelism=parallelism,
                type=argon2.Type.ID,
            )
        except (ValueError, TypeError, argon2.exceptions.UnsupportedParametersError) as err:
            raise ConfigError("invalid argon2 parameters") from err
        self.time_cost = time_cost
        self.memory_cost = memory_cost
        self.parallelism = parallelism
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return (
            f"Argon2Hasher(time_cost={self.time_cost}, memory_cost={self.memory_cost}, "
            f"parallelism={self.parallelism})"
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        if self._dummy is None:
            # Hashed with these same parameters, so it costs what a real verification costs.
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except (InvalidHashError, ValueError):
            return True

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
            return False
