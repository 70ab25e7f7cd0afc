"""`jwtgate serve`, `dev-cert`, `migrate`, `check`: running and operating the server."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

import typer

from jwtgate import errors
from jwtgate.cli.common import (
    DatabaseUrl,
    DataDir,
    PasswordStdin,
    fail,
    handles_errors,
    read_password,
    run_with_service,
    settings_for,
)
from jwtgate.server.runtime import OpenMode, ensure_data_dir
from jwtgate.service import AuthService
from jwtgate.settings import ISSUER_REQUIRED, Settings, insecure_findings

DEMO_USER = "demo"


async def first_user(
    service: AuthService,
    name: str = DEMO_USER,
    password: str | None = None,
    *,
    scopes: tuple[str, ...] = ("read",),
    roles: tuple[str, ...] = (),
) -> str | None:
    """Create the first user when there is no user at all; return its password when it was generated
    here (shown once), None when users exist. Idempotent across instances starting together: the name
    is unique, so at most one of them creates it."""
    if await service.count_users():
        return None
    generated = password is None
    chosen = secrets.token_urlsafe(12) if password is None else password
    try:
        await service.add_user(name, chosen, scopes=scopes, roles=roles)
    except errors.Conflict:
        return None  # another instance created it a moment ago
    return chosen if generated else ""


def _bootstrap(
    settings: Settings,
    *,
    user: str = DEMO_USER,
    password: str | None = None,
    scopes: tuple[str, ...] = ("read",),
    roles: tuple[str, ...] = (),
    mode: OpenMode = "init",
) -> tuple[str | None, str, list[str]]:
    """Create (or upgrade) the data, keys, secrets and first user; returns (generated password or None,
    the issuer, notes)."""
    notes: list[str] = []

    async def go(service: AuthService) -> tuple[str | None, str, str]:
        created = await first_user(service, user, password, scopes=scopes, roles=roles)
        return created, service.policy.issuer, service.ring_alg

    created, issuer, alg = run_with_service(settings, go, mode=mode, notes=notes)
    if alg != settings.signing_alg and "signing_alg" in settings.model_fields_set:
        notes.append(
            f"the keys sign with {alg}; JWTGATE_SIGNING_ALG only chooses the algorithm of the first key: "
            f"switch with `jwtgate keys rotate --alg {settings.signing_alg}`"
        )
    return created, issuer, notes


def _announce(
    settings: Settings, issuer: str | None, notes: list[str], user: str, password: str | None
) -> None:
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if password:
        # To the terminal only (stdout), never to the log: it is the one time it is shown.
        typer.echo(
            f"Created user '{user}' with password: {password}\n"
            f"  (shown once; change it with `jwtgate user set-password {user}`)"
        )
    if settings.issuer is None and issuer is not None:
        typer.echo(
            f"issuer: {issuer} (recorded at the first start, so tokens survive a restart on another "
            "port; pin it with JWTGATE_ISSUER=URL)"
        )
    elif settings.issuer is None:
        typer.echo(
            "issuer: recorded by the first `jwtgate serve` (its URL), or pin it with JWTGATE_ISSUER=URL"
        )


@handles_errors
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind. [default: 8000]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the auth server (one process). A fresh data folder gets keys, a database and a demo user."""
    from jwtgate.server import create_app
    from jwtgate.server.listener import configure_logging, run_server

    settings = settings_for(data_dir, database_url, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    if settings.issuer_must_be_set:
        fail(ISSUER_REQUIRED)
    # jwtgate's own log lines (refusals with their precise codes) next to uvicorn's, on stderr.
    configure_logging(settings)
    for finding in insecure_findings(settings):
        typer.echo(f"warning: {finding}", err=True)
    password, issuer, notes = _bootstrap(settings, mode="serve")
    _announce(settings, issuer, notes, DEMO_USER, password)
    typer.echo(f"jwtgate serving on {settings.base_url} (issuer {issuer})")
    run_server(create_app(settings, bootstrapped=True), settings)


@handles_errors
def dev_cert(
    data_dir: DataDir = None,
    name: Annotated[list[str] | None, typer.Option(help="Host name or IP (repeatable).")] = None,
    days: Annotated[int, typer.Option(min=1, max=825, help="Validity in days.")] = 30,
) -> None:
    """Create a self-signed TLS certificate for local development (DATA_DIR/tls, key 0600)."""
    from jwtgate.server.devcert import write_dev_certificate

    settings = settings_for(data_dir)
    ensure_data_dir(settings)
    names = tuple(name or ("localhost", "127.0.0.1", "::1"))
    cert, key = write_dev_certificate(settings.data_dir / "tls", names, days=days)
    typer.echo(f"certificate: {cert}\nprivate key: {key}")
    typer.echo("self-signed, for development only; clients must trust it explicitly")
    typer.echo(f"serve with: jwtgate serve --data-dir {settings.data_dir} --tls-cert {cert} --tls-key {key}")


@handles_errors
def init(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    user: Annotated[str, typer.Option(help="Name of the first user.")] = DEMO_USER,
    password_stdin: PasswordStdin = False,
    scope: Annotated[
        list[str] | None, typer.Option(help="A scope of the first user (repeatable). [default: read]")
    ] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role of the first user (repeatable).")] = None,
) -> None:
    """Create the data folder or database, the keys, the server secrets and the first user (once;
    its password comes from stdin with --password-stdin, else it is generated and shown once)."""
    settings = settings_for(data_dir, database_url)
    if settings.issuer_must_be_set:
        fail(ISSUER_REQUIRED)
    password = read_password(True) if password_stdin else None
    created, _, notes = _bootstrap(
        settings, user=user, password=password, scopes=tuple(scope or ("read",)), roles=tuple(role or ())
    )
    _announce(settings, settings.issuer, notes, user, created)
    if created is None:
        typer.echo(f"jwtgate data at {settings.database_location} is ready (it already had users)")
    else:
        typer.echo(f"jwtgate data created at {settings.database_location}; start it with `jwtgate serve`")


@handles_errors
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Upgrade the database schema (and import a pre-0.2 data folder's keys); safe to run on several
    machines at once. A database without jwtgate data is created by `jwtgate init`."""
    from jwtgate.server.runtime import migrate_store

    settings = settings_for(data_dir, database_url)
    notes = asyncio.run(migrate_store(settings))
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo("database schema is up to date")


def check(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Validate the configuration and report insecure settings; exit 1 if there is anything.
    Reads the settings only: it opens no database and writes nothing."""
    try:
        settings = settings_for(data_dir, database_url)
    except errors.ConfigError as exc:
        fail(exc.description)
    findings = insecure_findings(settings)
    for finding in findings:
        typer.echo(f"insecure: {finding}")
    if findings:
        raise typer.Exit(1)
    issuer = settings.issuer or "recorded by the first start"
    typer.echo(f"ok: configuration valid, nothing insecure found (issuer {issuer})")
