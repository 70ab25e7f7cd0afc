"""`jwtgate serve`, `dev-cert`, `migrate`, `check`: running and operating the server."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

import typer

from jwtgate import errors
from jwtgate.cli.common import (
    DataDir,
    fail,
    handles_errors,
    run_with_service,
    settings_for,
)
from jwtgate.server.runtime import ensure_data_dir
from jwtgate.service import AuthService
from jwtgate.settings import insecure_findings

DEMO_USER = "demo"


async def _first_run(service: AuthService) -> str | None:
    """Create the ``demo`` user when there is no user at all; return its password (shown once)."""
    if await service.list_users():
        return None
    password = secrets.token_urlsafe(12)
    await service.add_user(DEMO_USER, password)
    return password


@handles_errors
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind. [default: 8000]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the auth server (one process). A fresh data folder gets keys, a database and a demo user."""
    from jwtgate.server import create_app
    from jwtgate.server.listener import configure_logging, run_server

    settings = settings_for(data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    # jwtgate's own log lines (refusals with their precise codes) next to uvicorn's, on stderr.
    configure_logging(settings)
    for finding in insecure_findings(settings):
        typer.echo(f"warning: {finding}", err=True)
    demo_password = run_with_service(settings, _first_run)
    if demo_password is not None:
        # To the terminal only (stdout), never to the log: it is the one time it is shown.
        typer.echo(
            f"Created user '{DEMO_USER}' with password: {demo_password}\n"
            "  (shown once; change it with `jwtgate user set-password demo`)"
        )
    typer.echo(f"jwtgate serving on {settings.base_url} (issuer {settings.issuer_url})")
    run_server(create_app(settings), settings)


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
def migrate(data_dir: DataDir = None) -> None:
    """Create or upgrade the database schema."""
    from jwtgate.storage import open_store

    settings = settings_for(data_dir)
    ensure_data_dir(settings)

    async def go() -> None:
        store = await open_store(settings.database_url_value)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(go())
    typer.echo("database schema is up to date")


def check(data_dir: DataDir = None) -> None:
    """Validate the configuration and report insecure settings; exit 1 if there is anything."""
    try:
        settings = settings_for(data_dir)
    except errors.ConfigError as exc:
        fail(exc.description)
    findings = insecure_findings(settings)
    for finding in findings:
        typer.echo(f"insecure: {finding}")
    if findings:
        raise typer.Exit(1)
    typer.echo(f"ok: configuration valid, nothing insecure found (issuer {settings.issuer_url})")
