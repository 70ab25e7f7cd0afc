"""Upgrade from releases before 0.2, which kept the key ring and the CSRF secret as files in the data
folder (``keys/ring.json`` + ``keys/<kid>.jwk``, ``csrf.key``). They are imported into the database once:
only into a database that has no key ring (resp. no CSRF secret) yet, so the first instance to start
after the upgrade decides; the files are then renamed (``keys.imported``, ``csrf.key.imported``) so that
nothing reads them again and an operator can delete them."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

from jwtgate.errors import ConfigError
from jwtgate.service.keyring import import_keys
from jwtgate.service.keystore import KEY_STATES, KeyInfo
from jwtgate.service.ports import ServerStateStore
from jwtgate.service.sealing import Sealer

__all__ = ["import_legacy_data_dir", "read_legacy_ring"]

_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")


async def import_legacy_data_dir(
    store: ServerStateStore, sealer: Sealer, data_dir: Path, now: float
) -> list[str]:
    """Import a pre-0.2 data folder's keys and CSRF secret; returns what was done, one line each."""
    notes: list[str] = []
    keys_dir = data_dir / "keys"
    legacy = read_legacy_ring(keys_dir) if (keys_dir / "ring.json").exists() else None
    if legacy:
        stored, _ = await store.update_keys(lambda ring: import_keys(ring, legacy, sealer))
        if {s.info.kid for s in stored} == {info.kid for info, _ in legacy}:
            keys_dir.rename(keys_dir.with_name("keys.imported"))
            notes.append(
                f"imported {len(legacy)} signing keys from {keys_dir} into the database "
                f"(the folder is now {keys_dir.name}.imported: delete it once every instance is upgraded)"
            )
        else:
            notes.append(f"ignored {keys_dir}: the database already holds a key ring")
    csrf_file = data_dir / "csrf.key"
    if csrf_file.exists():
        from jwtgate.service.server_secrets import ServerSecrets

        value = csrf_file.read_bytes()
        if len(value) >= 32:
            secrets = ServerSecrets(store, sealer, {})
            if await secrets.import_legacy("csrf", value, now):
                csrf_file.rename(csrf_file.with_name("csrf.key.imported"))
                notes.append("imported the CSRF secret from csrf.key into the database")
    return notes


def read_legacy_ring(directory: Path) -> list[tuple[KeyInfo, dict[str, Any]]]:
    """The key ring of a pre-0.2 key folder: states from ``ring.json``, private JWKs from the files."""
    ring = directory / "ring.json"
    try:
        entries = json.loads(ring.read_text("utf-8"))["keys"]
        infos = [_info(entry) for entry in entries]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"unreadable key ring {ring}") from err
    return [(info, _read_jwk(directory / f"{info.kid}.jwk")) for info in infos]


def _read_jwk(path: Path) -> dict[str, Any]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        jwk = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"unreadable key file {path}") from err
    if mode & 0o077:
        raise ConfigError(f"key file {path} is readable by others: chmod 600 it")
    if not isinstance(jwk, dict):
        raise ConfigError(f"key file {path} is not a JWK object")
    return jwk


def _info(entry: dict[str, Any]) -> KeyInfo:
    state = entry["state"]
    if state not in KEY_STATES or not isinstance(entry["kid"], str) or not _KID.fullmatch(entry["kid"]):
        raise ValueError("bad key entry")

    def optional(name: str) -> float | None:
        value = entry.get(name)
        return None if value is None else float(value)

    return KeyInfo(
        kid=entry["kid"],
        alg=str(entry["alg"]),
        state=state,
        created_at=float(entry["created_at"]),
        retire_after=optional("retire_after"),
        activated_at=optional("activated_at"),
    )
