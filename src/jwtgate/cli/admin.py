"""`jwtgate keys ...`, `jwtgate sessions ...` (the client commands are in :mod:`.clients`)."""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any

import typer

from jwtgate.cli.common import (
    DatabaseUrl,
    DataDir,
    handles_errors,
    run_with_service,
    settings_for,
    table,
    when,
)
from jwtgate.server.runtime import sealer_for
from jwtgate.service import AuthService
from jwtgate.service.sealing import KEK_BYTES


@handles_errors
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List signing keys and their states (next, active, retired). Writes nothing."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_keys(), service.unsealed_keys()

    keys, unsealed = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    rows = [
        [k.kid, k.alg, k.state, when(k.created_at), when(k.activate_at), when(k.retire_after)] for k in keys
    ]
    for line in table(["KID", "ALG", "STATE", "CREATED", "SIGNS FROM", "RETIRE AFTER"], rows):
        typer.echo(line)
    if unsealed:
        typer.echo(
            f"({unsealed} keys are not sealed with the current key-encryption key: run `jwtgate keys rewrap`)"
        )


@handles_errors
def keys_rotate(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    alg: Annotated[
        str | None,
        typer.Option(
            help="Switch to this algorithm (RS256, PS256, ES256, ES384, EdDSA, HS256).", show_default=False
        ),
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Promote the next key at once, without its publication delay.")
    ] = False,
) -> None:
    """Rotate: the published next key signs, the old one keeps verifying until its tokens expire.

    A next key signs only once it has been in the JWKS for the publication delay
    (JWTGATE_KEY_PUBLICATION_DELAY), so that every cache knows it: before that the rotation is
    scheduled. --alg publishes a next key of another algorithm, which signs after that delay."""

    async def rotate(service: AuthService) -> Any:
        return await service.rotate_keys(alg=alg, at_once=now)

    settings = settings_for(data_dir, database_url)
    rotation = run_with_service(settings, rotate)
    if rotation.scheduled is not None:
        key = rotation.scheduled
        typer.echo(f"published: {key.kid} ({key.alg}) is the next key; it signs from {when(key.activate_at)}")
        typer.echo(f"until then {rotation.active.kid} ({rotation.active.alg}) keeps signing")
        return
    key = rotation.active
    push = " (at once over Redis)" if settings.redis_url is not None else ""
    typer.echo(f"rotated: {key.kid} ({key.alg}) signs now")
    typer.echo(f"running servers switch to it within {settings.sync_interval:g} s{push}")


@handles_errors
def keys_rewrap(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Reseal every private key and server secret with the current key-encryption key
    (JWTGATE_KEY_ENCRYPTION_KEY[_FILE]); keys sealed with an older one need it in
    JWTGATE_KEY_ENCRYPTION_KEY_PREVIOUS meanwhile."""

    async def rewrap(service: AuthService) -> Any:
        return await service.rewrap()

    settings = settings_for(data_dir, database_url)
    counts = run_with_service(settings, rewrap)
    current = sealer_for(settings).kek_id
    target = f"key-encryption key {current}" if current else "NO key-encryption key (plain text)"
    typer.echo(f"resealed {counts['keys']} signing keys and {counts['secrets']} server secrets with {target}")


def keys_new_kek() -> None:
    """Print a new random key-encryption key (base64url, 32 bytes) for JWTGATE_KEY_ENCRYPTION_KEY."""
    typer.echo(base64.urlsafe_b64encode(secrets.token_bytes(KEK_BYTES)).decode().rstrip("="))


@handles_errors
def sessions_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    user: Annotated[str | None, typer.Option(help="Only this user's sessions.")] = None,
) -> None:
    """List active sessions."""

    async def fetch(service: AuthService) -> tuple[Any, Any]:
        return await service.list_all_sessions(username=user), await service.list_users()

    sessions, users = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    names = {u.id: u.username for u in users}
    rows = [
        [
            s.id,
            names.get(s.user_id, s.user_id),
            when(s.created_at),
            when(s.last_used_at),
            when(s.expires_at),
            s.ip or "-",
            (s.user_agent or "-")[:40],
        ]
        for s in sessions
    ]
    for line in table(["SID", "USER", "CREATED", "LAST USED", "EXPIRES", "IP", "USER AGENT"], rows):
        typer.echo(line)


@handles_errors
def sessions_revoke(sid: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke one session: its refresh tokens die and its access tokens are denylisted."""

    async def revoke(service: AuthService) -> None:
        await service.revoke_session(sid)

    run_with_service(settings_for(data_dir, database_url), revoke)
    typer.echo(f"session {sid} revoked")
