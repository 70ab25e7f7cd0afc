"""`jwtgate keys ...`, `jwtgate sessions ...` (the client commands are in :mod:`.clients`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jwtgate.cli.common import (
    DataDir,
    handles_errors,
    run_with_service,
    settings_for,
    table,
    when,
)
from jwtgate.service import AuthService


@handles_errors
def keys_list(data_dir: DataDir = None) -> None:
    """List signing keys and their states (next, active, retired)."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_keys()

    keys = run_with_service(settings_for(data_dir), fetch)
    rows = [[k.kid, k.alg, k.state, when(k.created_at), when(k.retire_after)] for k in keys]
    for line in table(["KID", "ALG", "STATE", "CREATED", "RETIRE AFTER"], rows):
        typer.echo(line)


@handles_errors
def keys_rotate(data_dir: DataDir = None) -> None:
    """Rotate: the next key signs from now on; the old one keeps verifying until its tokens expire."""

    async def rotate(service: AuthService) -> Any:
        return await service.rotate_keys()

    key = run_with_service(settings_for(data_dir), rotate)
    typer.echo(f"rotated: {key.kid} ({key.alg}) is now {key.state}")
    typer.echo("running servers switch to it at their next key check (within seconds)")


@handles_errors
def sessions_list(
    data_dir: DataDir = None,
    user: Annotated[str | None, typer.Option(help="Only this user's sessions.")] = None,
) -> None:
    """List active sessions."""

    async def fetch(service: AuthService) -> tuple[Any, Any]:
        return await service.list_all_sessions(username=user), await service.list_users()

    sessions, users = run_with_service(settings_for(data_dir), fetch)
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
def sessions_revoke(sid: str, data_dir: DataDir = None) -> None:
    """Revoke one session: its refresh tokens die and its access tokens are denylisted."""

    async def revoke(service: AuthService) -> None:
        await service.revoke_session(sid)

    run_with_service(settings_for(data_dir), revoke)
    typer.echo(f"session {sid} revoked")
