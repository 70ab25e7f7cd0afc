"""Where the key ring lives: the database (the :class:`KeyStore` port, implemented by every Store).

A ring key is stored as :class:`StoredKey`: public facts (:class:`KeyInfo`) and ``material``, the private
JWK as JSON, sealed with the key-encryption key when one is configured (:mod:`.sealing`; ``kek_id`` names
it). Every change is one atomic :meth:`KeyStore.update_keys` (a locked transaction on SQL backends), so
instances, the CLI and background tasks can never lose each other's changes; each change gives the ring a
new ``version``, which instances poll to notice changes made elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["KeyChange", "KeyInfo", "KeyState", "KeyStore", "StoredKey"]

KeyState = Literal["next", "active", "retired"]
KEY_STATES: tuple[KeyState, ...] = ("next", "active", "retired")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about a ring key. ``retire_after``: when a retired key stops verifying;
    ``activated_at``: when it started signing (None while ``next``); ``activate_at``: when a ``next``
    key is scheduled to start signing (a rotation waiting for the key's publication delay)."""

    kid: str
    alg: str
    state: KeyState
    created_at: float
    retire_after: float | None = None
    activated_at: float | None = None
    activate_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A ring key as stored: ``material`` is the private JWK (JSON), sealed when ``kek_id`` is set."""

    info: KeyInfo
    material: str = field(repr=False)  # private key material: never print
    kek_id: str | None = None


#: A pure function from the stored ring to the new ring, or None for "no change".
KeyChange = Callable[[list[StoredKey]], list[StoredKey] | None]


class KeyStore(Protocol):
    async def load_keys(self) -> list[StoredKey]:
        """The ring as stored (empty before the first key)."""

    async def keys_version(self) -> str | None:
        """A cheap value that changes whenever the ring changes (by any process); None before any."""

    async def update_keys(self, change: KeyChange) -> tuple[list[StoredKey], str | None]:
        """Atomically load the ring, apply ``change`` and, when it returns a list, replace the ring with
        it under a new version. Concurrent updates (other processes too) are serialised. Returns the ring
        and its version as they are afterwards."""
