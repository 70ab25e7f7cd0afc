"""`jwtgate serve`, `dev-cert`, `migrate`, `check`: running and operating the server."""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import ssl
from pathlib import Path
from typing import Annotated

import typer

from jwtgate import errors
from jwtgate.cli.common import (
    CANNOT_START,
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


def _check_port(host: str, port: int) -> None:
    """Bind the address once before announcing anything: a port in use is reported in words (and
    nothing is created) instead of after "serving on"."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        fail(f"--host {host} is not an address or a name this machine can resolve", CANNOT_START)
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a previous run is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                reason = (
                    f"port {port} on {host} is already in use (another jwtgate serve, or another "
                    f"program: `ss -ltnp 'sport = :{port}'` shows which); stop it, or choose another "
                    "port with --port"
                )
            elif err.errno == errno.EACCES:
                reason = f"port {port} needs privileges this user lacks; choose --port 1024 or above"
            elif err.errno == errno.EADDRNOTAVAIL:
                reason = f"--host {host} is not an address of this machine"
            else:
                reason = f"cannot listen on {host}:{port}: {err.strerror}"
            fail(reason, CANNOT_START)


def _pem_kinds(path: Path, flag: str) -> set[str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        fail(f"{flag}: cannot read {path}: {err.strerror}")
    kinds = set()
    if b"-----BEGIN CERTIFICATE-----" in data:
        kinds.add("certificate")
    if b"PRIVATE KEY-----" in data:
        kinds.add("private key")
    return kinds


def _check_tls(cert: Path, key: Path) -> None:
    """Load the pair once before serving, and say in words what is wrong with it (the TLS library
    would say `[SSL] PEM lib` after "serving on")."""
    cert_kinds, key_kinds = _pem_kinds(cert, "--tls-cert"), _pem_kinds(key, "--tls-key")
    if cert_kinds == {"private key"} and "certificate" in key_kinds:
        fail(
            f"--tls-cert and --tls-key are swapped: {cert} holds the private key and {key} the "
            f"certificate; use --tls-cert {key} --tls-key {cert}",
        )
    if "certificate" not in cert_kinds:
        fail(
            f"--tls-cert {cert} holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' block); "
            "`jwtgate dev-cert` makes a pair for local development",
        )
    if "private key" not in key_kinds:
        fail(
            f"--tls-key {key} holds no PEM private key (a '-----BEGIN ... PRIVATE KEY-----' block)",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError:
        fail(
            f"the private key {key} does not belong to the certificate {cert} (or it is encrypted: "
            "jwtgate needs an unencrypted key file, readable by this user only)",
        )


def _show_urls(base_url: str) -> None:
    typer.echo(f"  API:   {base_url}/api/login, /api/token/refresh, /api/logout (JSON)")
    typer.echo(f"  pages: {base_url}/login, {base_url}/account")
    typer.echo(f"  docs:  {base_url}/docs (Swagger UI), {base_url}/redoc")
    typer.echo(
        "  CLI:   `jwtgate --help` in another terminal (`./scripts/jwtgate --help` in a clone of jwtgate)"
    )


@handles_errors
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="Interface to bind.", show_default="127.0.0.1, or $JWTGATE_HOST"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", min=1, max=65535, help="Port to bind.", show_default="8000, or $JWTGATE_PORT"
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="PEM certificate: serve HTTPS.", show_default="none: plain HTTP"),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(metavar="FILE", help="PEM private key of --tls-cert.", show_default="none")
    ] = None,
) -> None:
    """Run the auth server (one process). A fresh data folder gets keys, a database and a demo user.

    Exit codes: 0 stopped cleanly, 1 refused (configuration, TLS files, storage), 2 usage (bad
    flags), 3 cannot listen (port in use, no permission for the port, host not of this machine)."""
    from jwtgate.server import create_app
    from jwtgate.server.listener import configure_logging, run_server

    settings = settings_for(data_dir, database_url, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    if settings.issuer_must_be_set:
        fail(ISSUER_REQUIRED)
    if settings.tls_cert is not None and settings.tls_key is not None:
        _check_tls(settings.tls_cert, settings.tls_key)
    _check_port(settings.host, settings.port)
    # jwtgate's own log lines (refusals with their precise codes) next to uvicorn's, on stderr.
    configure_logging(settings)
    for finding in insecure_findings(settings):
        typer.echo(f"warning: {finding}", err=True)
    password, issuer, notes = _bootstrap(settings, mode="serve")
    _announce(settings, issuer, notes, DEMO_USER, password)
    typer.echo(f"jwtgate serving on {settings.base_url} (issuer {issuer})")
    _show_urls(settings.base_url)
    try:
        run_server(create_app(settings, bootstrapped=True), settings)
    except KeyboardInterrupt:
        # Ctrl-C (SIGINT): uvicorn has shut down gracefully, then re-raised the signal. A clean stop
        # exits 0, as documented.
        return


@handles_errors
def dev_cert(
    data_dir: DataDir = None,
    name: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST",
            help="Host name or IP (repeatable).",
            show_default="localhost, 127.0.0.1, ::1",
        ),
    ] = None,
    days: Annotated[int, typer.Option(metavar="DAYS", min=1, max=825, help="Validity in days.")] = 30,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing certificate and key.")] = False,
) -> None:
    """Create a self-signed TLS certificate for local development (DATA_DIR/tls, key 0600).
    An existing one is kept unless --force is given."""
    from jwtgate.server.devcert import write_dev_certificate

    settings = settings_for(data_dir)
    tls_dir = settings.data_dir / "tls"
    if not force and any(path.exists() for path in (tls_dir / "cert.pem", tls_dir / "key.pem")):
        fail(
            f"a certificate already exists in {settings.data_dir / 'tls'}: keep it, or replace it with "
            "`jwtgate dev-cert --force` (clients that trusted the old one must trust the new one)"
        )
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
    user: Annotated[str, typer.Option(metavar="NAME", help="Name of the first user.")] = DEMO_USER,
    password_stdin: PasswordStdin = False,
    scope: Annotated[
        list[str] | None,
        typer.Option(metavar="SCOPE", help="A scope of the first user (repeatable).", show_default="read"),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(metavar="ROLE", help="A role of the first user (repeatable).", show_default="none"),
    ] = None,
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
