"""Server secrets shared by every instance (the CSRF key, the DPoP nonce key, ...), kept in the
database, sealed with the key-encryption key like the signing keys. Each is 32 random bytes, created by
the first instance that needs it (instances racing agree on one: the store keeps the first)."""

from __future__ import annotations

import base64
import secrets

from jwtgate.errors import ConfigError
from jwtgate.service.ports import SealedSecret, ServerStateStore
from jwtgate.service.sealing import Sealer

__all__ = ["SERVER_SECRET_NAMES", "ServerSecrets"]

#: The secrets a server creates at start-up.
SERVER_SECRET_NAMES = ("csrf", "dpop_nonce", "device")
_WHAT = "the server secrets"


class ServerSecrets:
    """The opened secrets of this process. Build with :meth:`open`."""

    __slots__ = ("_sealer", "_store", "_values")

    def __init__(self, store: ServerStateStore, sealer: Sealer, values: dict[str, bytes]) -> None:
        self._store = store
        self._sealer = sealer
        self._values = values

    def __repr__(self) -> str:
        return f"ServerSecrets(names={sorted(self._values)!r})"

    @classmethod
    async def open(
        cls, store: ServerStateStore, sealer: Sealer, *, now: float, create: bool, names: tuple[str, ...]
    ) -> ServerSecrets:
        """Load ``names`` (creating the missing ones when ``create``; read-only opens skip missing ones)."""
        values: dict[str, bytes] = {}
        for name in names:
            stored = await store.get_secret(name)
            if stored is None and create:
                material, kek_id = sealer.seal(name, _encode(secrets.token_bytes(32)))
                stored = await store.ensure_secret(name, material, kek_id, now)
            if stored is not None:
                values[name] = _decode(sealer.open(name, stored[0], stored[1], what=_WHAT))
        return cls(store, sealer, values)

    def get(self, name: str) -> bytes:
        """The secret ``name`` (ConfigError when this process did not load it)."""
        value = self._values.get(name)
        if value is None:
            raise ConfigError(f"the server secret {name!r} is not available here")
        return value

    async def import_legacy(self, name: str, value: bytes, now: float) -> bool:
        """Store a secret found in an old data folder unless the database has one; True when stored."""
        if await self._store.get_secret(name) is not None:
            return False
        material, kek_id = self._sealer.seal(name, _encode(value))
        stored = await self._store.ensure_secret(name, material, kek_id, now)
        self._values[name] = _decode(self._sealer.open(name, stored[0], stored[1], what=_WHAT))
        return stored == (material, kek_id)

    async def rewrap(self) -> int:
        """Reseal every secret with the current key-encryption key; returns how many changed."""
        count = [0]

        def change(stored: dict[str, SealedSecret]) -> dict[str, SealedSecret] | None:
            resealed: dict[str, SealedSecret] = {}
            for name, (material, kek_id) in stored.items():
                if self._sealer.is_current(kek_id):
                    continue
                plaintext = self._sealer.open(name, material, kek_id, what=_WHAT)
                resealed[name] = self._sealer.seal(name, plaintext)
            count[0] = len(resealed)
            return resealed or None

        await self._store.update_secrets(change)
        return count[0]


def _encode(value: bytes) -> bytes:
    # Sealed or not, the stored text is base64url: secrets are bytes, the column is text.
    return base64.urlsafe_b64encode(value)


def _decode(value: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(value)
    except ValueError as err:
        raise ConfigError("a stored server secret is damaged") from err
