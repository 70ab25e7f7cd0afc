"""`jwtgate client ...`: add, list, show, remove, rotate-secret."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jwtgate.cli.common import (
    DatabaseUrl,
    DataDir,
    fail,
    handles_errors,
    run_with_service,
    settings_for,
    table,
    when,
)
from jwtgate.errors import InvalidRequest
from jwtgate.service import AuthService
from jwtgate.service.registration import GRANT_TYPES, ClientRegistration
from jwtgate.service.types import ClientInfo

__all__ = ["client_add", "client_list", "client_remove", "client_rotate_secret", "client_show"]

_MAX_JWKS_FILE = 16_384


def _jwks_text(path: Path) -> str:
    try:
        data = path.read_bytes()[: _MAX_JWKS_FILE + 1]
    except OSError as err:
        fail(f"cannot read the JWKS file: {err.strerror or type(err).__name__}")
    if len(data) > _MAX_JWKS_FILE:
        fail("the JWKS file is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail("the JWKS file is not UTF-8")


@handles_errors
def client_add(
    name: Annotated[str, typer.Argument(help="The client's name: 1-64 of A-Z a-z 0-9 . _ -")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    public: Annotated[
        bool, typer.Option("--public", help="A browser or native app: no secret, PKCE only.")
    ] = False,
    grant: Annotated[
        list[str] | None,
        typer.Option(help=f"A grant it may use (repeatable): {', '.join(GRANT_TYPES)}."),
    ] = None,
    scope: Annotated[list[str] | None, typer.Option(help="A scope it may obtain (repeatable).")] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="A redirect URI, matched exactly (repeatable).")
    ] = None,
    first_party: Annotated[
        bool, typer.Option("--first-party", help="Yours: no consent page; may use the password grant.")
    ] = False,
    audience: Annotated[
        list[str] | None, typer.Option(help="An audience of its access tokens (repeatable).")
    ] = None,
    introspect: Annotated[
        bool | None,
        typer.Option(
            "--introspect/--no-introspect",
            help="May introspect tokens (a resource server). Default: only when it has no grant.",
            show_default=False,
        ),
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option(help="private_key_jwt: where its public keys are published.")
    ] = None,
    jwks_file: Annotated[
        Path | None, typer.Option(help="private_key_jwt: a file holding its public JWKS.")
    ] = None,
) -> None:
    """Register an OAuth client; prints its id, and its secret once (confidential clients)."""
    if jwks_url is not None and jwks_file is not None:
        fail("give --jwks-url or --jwks-file, not both", code=2)
    grants = tuple(grant or ())
    if not grants and redirect_uri:
        grants = ("authorization_code", "refresh_token")
    try:
        registration = ClientRegistration(
            kind="public" if public else "confidential",
            grants=grants,
            scopes=tuple(scope or ()),
            redirect_uris=tuple(redirect_uri or ()),
            first_party=first_party,
            audiences=tuple(audience or ()),
            introspect=introspect,
            jwks_url=jwks_url,
            jwks=None if jwks_file is None else _jwks_text(jwks_file),
        )
    except InvalidRequest as err:
        fail(err.description)

    async def add(service: AuthService) -> Any:
        return await service.add_client(name, registration)

    info, secret = run_with_service(settings_for(data_dir, database_url), add)
    typer.echo(f"client_id:     {info.id}")
    if secret is not None:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(the secret is shown once; only its hash is stored)")
    for line in _describe(info):
        typer.echo(line)


def _describe(info: ClientInfo) -> list[str]:
    return [
        f"name:          {info.name}",
        f"kind:          {info.kind}",
        f"auth methods:  {' '.join(info.auth_methods)}",
        f"grants:        {' '.join(info.grants) or '-'}",
        f"scopes:        {' '.join(info.scopes) or '-'}",
        f"redirect URIs: {' '.join(info.redirect_uris) or '-'}",
        f"audiences:     {' '.join(info.audiences) or '(the server default)'}",
        f"first party:   {'yes' if info.first_party else 'no'}",
        f"introspect:    {'yes' if info.introspect else 'no'}",
        f"keys:          {info.jwks_url or ('inline JWKS' if info.has_jwks else '-')}",
    ]


@handles_errors
def client_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List registered clients (the built-in client of the pages is not listed)."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_clients()

    clients = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    rows = [
        [
            c.name,
            c.id,
            c.kind,
            " ".join(c.grants) or "-",
            " ".join(c.scopes) or "-",
            "yes" if c.introspect else "no",
            when(c.created_at),
        ]
        for c in clients
    ]
    for line in table(["NAME", "CLIENT ID", "KIND", "GRANTS", "SCOPES", "INTROSPECT", "CREATED"], rows):
        typer.echo(line)


@handles_errors
def client_show(
    name: Annotated[str, typer.Argument(help="Name or client id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a client's registration (never its secret)."""

    async def fetch(service: AuthService) -> Any:
        return await service.show_client(name)

    info = run_with_service(settings_for(data_dir, database_url), fetch, mode="read")
    typer.echo(f"client_id:     {info.id}")
    for line in _describe(info):
        typer.echo(line)
    typer.echo(f"created:       {when(info.created_at)}")


@handles_errors
def client_remove(
    name: Annotated[str, typer.Argument(help="Name or client id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a client: its secret stops working and its sessions are revoked."""

    async def remove(service: AuthService) -> Any:
        return await service.remove_client(name)

    revoked = run_with_service(settings_for(data_dir, database_url), remove)
    typer.echo(f"client {name} removed; {revoked} session(s) revoked")


@handles_errors
def client_rotate_secret(
    name: Annotated[str, typer.Argument(help="Name or client id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give a confidential client a new secret (shown once); the old one stops working at once."""

    async def rotate(service: AuthService) -> Any:
        return await service.rotate_client_secret(name)

    secret = run_with_service(settings_for(data_dir, database_url), rotate)
    typer.echo(f"client_secret: {secret}")
    typer.echo("(the secret is shown once; the previous one no longer works)")
