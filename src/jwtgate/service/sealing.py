"""Secrets at rest: private signing keys and server secrets sealed with a key-encryption key (KEK).

AES-256-GCM (``cryptography``), a fresh 96-bit nonce per seal, and the record's name (a key's kid, a
secret's name) as associated data, so a sealed blob copied onto another record does not open. Each
sealed record stores the id of the KEK that sealed it (a short hash of the KEK, never the KEK): a
:class:`Sealer` holds the current KEK (used to seal) and optionally previous ones (still accepted to
open), which is how ``jwtgate keys rewrap`` moves every record to a new KEK. Without a KEK, records are
stored as plain text (``kek_id`` None); a configured KEK still opens those (the upgrade path).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jwtgate.errors import ConfigError

__all__ = ["KEK_BYTES", "Sealer", "kek_id_of", "parse_kek"]

KEK_BYTES = 32
_PREFIX = "jgk1."  # format marker of a sealed record: nonce (12 bytes) || ciphertext+tag, base64url


def kek_id_of(kek: bytes) -> str:
    """A public name for a KEK: the first 12 bytes of SHA-256 over a label and the key, hex."""
    return hashlib.sha256(b"jwtgate key-encryption key id\x00" + kek).hexdigest()[:24]


def parse_kek(text: str, *, source: str) -> bytes:
    """A KEK from its base64url text (32 bytes); ConfigError naming ``source``, never the value."""
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: not base64url") from None
    if len(raw) != KEK_BYTES:
        raise ConfigError(f"{source}: a key-encryption key is {KEK_BYTES} bytes (base64url, 43 characters)")
    return raw


class Sealer:
    """Seals with the current KEK (or stores plain text without one); opens with any KEK it holds."""

    __slots__ = ("_current", "_keys")

    def __init__(self, current: bytes | None = None, previous: Iterable[bytes] = ()) -> None:
        keys: dict[str, bytes] = {}
        for kek in (*previous, *(() if current is None else (current,))):
            if len(kek) != KEK_BYTES:
                raise ConfigError(f"a key-encryption key is {KEK_BYTES} bytes")
            keys[kek_id_of(kek)] = kek
        self._keys = keys
        self._current = None if current is None else kek_id_of(current)

    def __repr__(self) -> str:
        return f"Sealer(kek_id={self._current!r}, accepted={len(self._keys)})"

    @property
    def kek_id(self) -> str | None:
        """The id of the KEK that seals new records; None: records are stored as plain text."""
        return self._current

    def seal(self, name: str, plaintext: bytes) -> tuple[str, str | None]:
        """``(material, kek_id)`` to store for record ``name``."""
        if self._current is None:
            return plaintext.decode("utf-8"), None
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, plaintext, name.encode("utf-8"))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("="), self._current

    def open(self, name: str, material: str, kek_id: str | None, *, what: str) -> bytes:
        """The plaintext of a stored record; ConfigError saying why it cannot be opened (``what`` names
        the kind of record, e.g. "the signing keys"). Never includes key material."""
        if kek_id is None:
            return material.encode("utf-8")
        kek = self._keys.get(kek_id)
        if kek is None:
            if not self._keys:
                raise ConfigError(
                    f"cannot decrypt {what}: they are encrypted and no key-encryption key is configured "
                    "(set JWTGATE_KEY_ENCRYPTION_KEY or JWTGATE_KEY_ENCRYPTION_KEY_FILE)"
                )
            raise ConfigError(f"cannot decrypt {what}: wrong key-encryption key")
        if not material.startswith(_PREFIX):
            raise ConfigError(f"cannot decrypt {what}: a sealed record is damaged")
        encoded = material[len(_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            return AESGCM(kek).decrypt(blob[:12], blob[12:], name.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError):
            raise ConfigError(f"cannot decrypt {what}: wrong key-encryption key") from None

    def is_current(self, kek_id: str | None) -> bool:
        """True when a record sealed under ``kek_id`` needs no rewrap."""
        return kek_id == self._current
