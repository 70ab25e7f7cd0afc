"""`jwtgate user ...`: add, list, show, grant, ungrant, disable, enable, set-password."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jwtgate.cli.common import (
    DatabaseUrl,
    DataDir,
    PasswordStdin,
    fail,
    handles_errors,
    read_password,
    run_with_service,
    settings_for,
    table,
    when,
)
from jwtgate.service import AuthService


@handles_errors
def user_add(
    name: Annotated[str, typer.Argument(help="The username.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
    role: Annotated[
        list[str] | None, typer.Option(metavar="ROLE", help="A role (repeatable).", show_default="none")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option(metavar="SCOPE", help="A scope (repeatable).", show_default="read")
    ] = None,
) -> None:
    """Create a user; the password comes from stdin or a hidden prompt."""
    settings = settings_for(data_dir, database_url)
    password = read_password(password_stdin)

    async def add(service: AuthService) -> Any:
        return await service.add_user(
            name, password, roles=tuple(role or ()), scopes=tuple(scope or ("read",))
        )

    user = run_with_service(settings, add)
    typer.echo(f"created user {user.username} (id {user.id})")


@handles_errors
def user_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List users. Writes nothing."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_users()

    users = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    rows = [
        [u.username, u.id, "disabled" if u.disabled else "active", ",".join(u.roles), " ".join(u.scopes)]
        for u in users
    ]
    for line in table(["USERNAME", "ID", "STATE", "ROLES", "SCOPES"], rows):
        typer.echo(line)


def _set_disabled(name: str, data_dir: Path | None, database_url: str | None, disabled: bool) -> None:
    async def change(service: AuthService) -> Any:
        return await service.set_user_disabled(name, disabled)

    run_with_service(settings_for(data_dir, database_url), change)
    state = "disabled (all sessions revoked)" if disabled else "enabled"
    typer.echo(f"user {name} {state}")


@handles_errors
def user_disable(name: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Disable a user and revoke all their sessions."""
    _set_disabled(name, data_dir, database_url, True)


@handles_errors
def user_enable(name: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Enable a disabled user."""
    _set_disabled(name, data_dir, database_url, False)


@handles_errors
def user_set_password(
    name: str,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password and revoke all their sessions."""
    settings = settings_for(data_dir, database_url)
    password = read_password(password_stdin)

    async def change(service: AuthService) -> None:
        await service.set_password(name, password)

    run_with_service(settings, change)
    typer.echo(f"password of {name} changed; all sessions revoked")


@handles_errors
def user_show(name: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Show a user: id, state, roles, scopes and live sessions. Writes nothing."""

    async def fetch(service: AuthService) -> Any:
        return await service.show_user(name), await service.list_all_sessions(username=name)

    user, sessions = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    typer.echo(f"username: {user.username}")
    typer.echo(f"id:       {user.id}")
    typer.echo(f"state:    {'disabled' if user.disabled else 'active'}")
    typer.echo(f"roles:    {' '.join(user.roles) or '-'}")
    typer.echo(f"scopes:   {' '.join(user.scopes) or '-'}")
    typer.echo(f"created:  {when(user.created_at)}")
    typer.echo(f"sessions: {len(sessions)} active")


_Scopes = Annotated[list[str] | None, typer.Option("--scope", help="A scope (repeatable).")]
_Roles = Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")]


def _change_grants(
    name: str,
    data_dir: Path | None,
    database_url: str | None,
    scope: list[str] | None,
    role: list[str] | None,
    add: bool,
) -> None:
    if not scope and not role:
        fail("give at least one --scope or --role", code=2)

    async def change(service: AuthService) -> Any:
        return await service.change_user_grants(
            name, scopes=tuple(scope or ()), roles=tuple(role or ()), add=add
        )

    user = run_with_service(settings_for(data_dir, database_url), change)
    typer.echo(
        f"user {user.username}: roles {' '.join(user.roles) or '-'}; scopes {' '.join(user.scopes) or '-'}"
    )


@handles_errors
def user_grant(
    name: str,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    scope: _Scopes = None,
    role: _Roles = None,
) -> None:
    """Give a user scopes and/or roles (their next token carries them)."""
    _change_grants(name, data_dir, database_url, scope, role, add=True)


@handles_errors
def user_ungrant(
    name: str,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    scope: _Scopes = None,
    role: _Roles = None,
) -> None:
    """Take scopes and/or roles from a user; their sessions are revoked so no token keeps them."""
    _change_grants(name, data_dir, database_url, scope, role, add=False)
