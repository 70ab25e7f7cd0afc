"""Password hashing: argon2id with the OWASP parameters (m=19 MiB, t=2, p=1), run off the event loop.

:class:`Argon2Hasher` is the only implementation; tests inject one with cheaper parameters. ``verify``
returns a bool rather than raising because the caller must take the same path (and time) for a wrong
password, an unknown user (checked against a dummy hash) and a disabled user.

Every hash and verification (the dummy one included) goes through a :class:`HashingPool`: at most
``workers`` run at once on dedicated threads (by default one fewer than the CPUs this process may use,
so a login storm leaves a core to the event loop), at a lower CPU priority (so that token-authenticated
requests are served first when they compete for a core), at most ``queue`` more wait, and beyond that
:class:`~jwtgate.errors.ServiceBusy` is raised at once (HTTP 503 with ``Retry-After``) instead of
queueing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from jwtgate.errors import ConfigError, ServiceBusy

__all__ = ["MAX_PASSWORD_LENGTH", "Argon2Hasher", "HashingPool", "PasswordHasher", "default_hash_workers"]

T = TypeVar("T")
_DEFAULT_QUEUE = 32
_WORKER_NICENESS = 10

#: Longer inputs are refused before hashing: argon2 cost grows with input and nobody types 1 KiB.
MAX_PASSWORD_LENGTH = 1024


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (for unknown users)."""

    def needs_rehash(self, password_hash: str) -> bool: ...


def default_hash_workers() -> int:
    """One fewer than the CPUs this process may run on, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


def _lower_thread_priority() -> None:
    """Run this worker thread at a lower CPU priority (Linux: a thread is a task with its own nice
    value): when hashes and the event loop compete for a core, requests are served first."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WORKER_NICENESS)


class HashingPool:
    """Runs blocking calls on ``workers`` dedicated threads (at a lower CPU priority), with at most
    ``queue`` calls waiting for one; beyond that :class:`ServiceBusy` at once.

    Used from one event loop (the counter needs no lock there). The threads start on first use and
    end when the pool is garbage collected or the interpreter exits.
    """

    def __init__(self, workers: int | None = None, queue: int = _DEFAULT_QUEUE) -> None:
        workers = default_hash_workers() if workers is None else workers
        if type(workers) is not int or type(queue) is not int or not (1 <= workers <= 256 and queue >= 0):
            raise ConfigError("a hashing pool has 1 to 256 workers and a queue of 0 or more")
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="jwtgate-hash", initializer=_lower_thread_priority
        )
        self._pending = 0
        self.refused = 0  # how many calls were refused because the queue was full

    def __repr__(self) -> str:
        return f"HashingPool(workers={self.workers}, queue={self.queue})"

    @property
    def pending(self) -> int:
        """Calls running or waiting now."""
        return self._pending

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` on a worker thread; ServiceBusy at once when workers and queue are full."""
        if self._pending >= self.workers + self.queue:
            self.refused += 1
            raise ServiceBusy(retry_after=1)
        self._pending += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(function, *args))

        def settle(_: object) -> None:
            self._pending -= 1

        future.add_done_callback(settle)
        # Shielded: a caller that stops waiting (cancelled login) does not free the slot early; it is
        # freed when the thread is done, so no more than workers + queue calls are ever admitted.
        return await asyncio.shield(future)


class Argon2Hasher:
    """argon2id. The defaults are the production parameters; never lower them outside tests.

    ``pool``: where hashing runs (a :class:`HashingPool` sized to the machine by default).
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost: int = 19456,
        parallelism: int = 1,
        pool: HashingPool | None = None,
    ) -> None:
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
        self.pool = pool or HashingPool()
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return (
            f"Argon2Hasher(time_cost={self.time_cost}, memory_cost={self.memory_cost}, "
            f"parallelism={self.parallelism})"
        )

    async def hash(self, password: str) -> str:
        return await self.pool.run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self.pool.run(self._verify_sync, password_hash, password)

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
