"""The ``jwtgate`` command line: serve, users, keys, sessions, tokens, clients, migrate, check.

Every command takes ``--data-dir`` (default ``./.jwtgate``, env ``JWTGATE_DATA_DIR``); other settings
come from ``JWTGATE_*`` variables or the ``JWTGATE_CONFIG`` file (see :mod:`jwtgate.settings`).
Errors print one line on stderr and exit non-zero (1: refused or failed, 2: usage), never a
traceback. Secrets (passwords, client secrets) are read from stdin or a hidden prompt, never from
arguments, and printed only when generated (once).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from jwtgate import errors
from jwtgate.jose.b64 import b64url_decode
from jwtgate.server.runtime import ensure_data_dir, open_service
from jwtgate.service import AuthService
from jwtgate.settings import Settings, insecure_findings, load_settings

__all__ = ["app", "main"]

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    name="jwtgate",
    help="jwtgate: an auth server issuing signed JWTs, and the tools to run it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage signing keys.", no_args_is_help=True)
sessions_app = typer.Typer(help="List and revoke login sessions.", no_args_is_help=True)
token_app = typer.Typer(help="Inspect access tokens.", no_args_is_help=True)
client_app = typer.Typer(help="Manage confidential clients (resource servers).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(sessions_app, name="sessions")
app.add_typer(token_app, name="token")
app.add_typer(client_app, name="client")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data folder (keys, SQLite database). Default ./.jwtgate or $JWTGATE_DATA_DIR.",
        show_default=False,
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]

DEMO_USER = "demo"


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    return load_settings(data_dir=data_dir, **overrides)


def _handles_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn jwtgate errors into one line on stderr and exit 1: no traceback for expected failures."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except errors.JwtgateError as exc:
            _fail(exc.description)
        except OSError as exc:
            _fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            # A bug: name it without its message (which might quote a secret), no traceback.
            _fail(f"unexpected {type(exc).__name__}; please report it with the command you ran")

    return wrapper


def _run(settings: Settings, action: Callable[[AuthService], Awaitable[T]]) -> T:
    """Open the service for ``settings``, run ``action(service)``, close it."""

    async def go() -> T:
        async with open_service(settings, time.time) as service:
            return await action(service)

    return asyncio.run(go())


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
    elif _stdin_is_terminal():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    else:
        _fail("no terminal to prompt for the password: use --password-stdin", code=2)
    if not password:
        _fail("the password is empty", code=2)
    return password


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: list[str], rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        yield "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


# -- serve -----------------------------------------------------------------------------------------


async def _first_run(service: AuthService) -> str | None:
    """Create the ``demo`` user when there is no user at all; return its password (shown once)."""
    if await service.list_users():
        return None
    password = secrets.token_urlsafe(12)
    await service.add_user(DEMO_USER, password)
    return password


@app.command()
@_handles_errors
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind. [default: 8000]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the auth server (one process). A fresh data folder gets keys, a database and a demo user."""
    import uvicorn

    from jwtgate.server import create_app

    settings = _settings(data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    # jwtgate's own log lines (refusals with their precise codes) next to uvicorn's, on stderr.
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter on every start
    for finding in insecure_findings(settings):
        typer.echo(f"warning: {finding}", err=True)
    demo_password = _run(settings, _first_run)
    if demo_password is not None:
        # To the terminal only (stdout), never to the log: it is the one time it is shown.
        typer.echo(
            f"Created user '{DEMO_USER}' with password: {demo_password}\n"
            "  (shown once; change it with `jwtgate user set-password demo`)"
        )
    typer.echo(f"jwtgate serving on {settings.base_url} (issuer {settings.issuer_url})")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=bool(settings.trusted_proxy),
        forwarded_allow_ips=list(settings.trusted_proxy) or None,
        log_level=settings.log_level,
        server_header=False,
        lifespan="on",
    )


# -- users -----------------------------------------------------------------------------------------


@user_app.command("add")
@_handles_errors
def user_add(
    name: Annotated[str, typer.Argument(help="The username.")],
    data_dir: DataDir = None,
    password_stdin: PasswordStdin = False,
    role: Annotated[list[str] | None, typer.Option(help="A role (repeatable).")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="A scope (repeatable). [default: read]")] = None,
) -> None:
    """Create a user; the password comes from stdin or a hidden prompt."""
    settings = _settings(data_dir)
    password = _read_password(password_stdin)

    async def add(service: AuthService) -> Any:
        return await service.add_user(
            name, password, roles=tuple(role or ()), scopes=tuple(scope or ("read",))
        )

    user = _run(settings, add)
    typer.echo(f"created user {user.username} (id {user.id})")


@user_app.command("list")
@_handles_errors
def user_list(data_dir: DataDir = None) -> None:
    """List users."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_users()

    users = _run(_settings(data_dir), fetch)
    rows = [
        [u.username, u.id, "disabled" if u.disabled else "active", ",".join(u.roles), " ".join(u.scopes)]
        for u in users
    ]
    for line in _table(["USERNAME", "ID", "STATE", "ROLES", "SCOPES"], rows):
        typer.echo(line)


def _set_disabled(name: str, data_dir: Path | None, disabled: bool) -> None:
    async def change(service: AuthService) -> Any:
        return await service.set_user_disabled(name, disabled)

    _run(_settings(data_dir), change)
    state = "disabled (all sessions revoked)" if disabled else "enabled"
    typer.echo(f"user {name} {state}")


@user_app.command("disable")
@_handles_errors
def user_disable(name: str, data_dir: DataDir = None) -> None:
    """Disable a user and revoke all their sessions."""
    _set_disabled(name, data_dir, True)


@user_app.command("enable")
@_handles_errors
def user_enable(name: str, data_dir: DataDir = None) -> None:
    """Enable a disabled user."""
    _set_disabled(name, data_dir, False)


@user_app.command("set-password")
@_handles_errors
def user_set_password(name: str, data_dir: DataDir = None, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password and revoke all their sessions."""
    settings = _settings(data_dir)
    password = _read_password(password_stdin)

    async def change(service: AuthService) -> None:
        await service.set_password(name, password)

    _run(settings, change)
    typer.echo(f"password of {name} changed; all sessions revoked")


# -- keys, sessions, clients ----------------------------------------------------------------------


@keys_app.command("list")
@_handles_errors
def keys_list(data_dir: DataDir = None) -> None:
    """List signing keys and their states (next, active, retired)."""

    async def fetch(service: AuthService) -> Any:
        return await service.list_keys()

    keys = _run(_settings(data_dir), fetch)
    rows = [[k.kid, k.alg, k.state, _when(k.created_at), _when(k.retire_after)] for k in keys]
    for line in _table(["KID", "ALG", "STATE", "CREATED", "RETIRE AFTER"], rows):
        typer.echo(line)


@keys_app.command("rotate")
@_handles_errors
def keys_rotate(data_dir: DataDir = None) -> None:
    """Rotate: the next key signs from now on; the old one keeps verifying until its tokens expire."""

    async def rotate(service: AuthService) -> Any:
        return await service.rotate_keys()

    key = _run(_settings(data_dir), rotate)
    typer.echo(f"rotated: {key.kid} ({key.alg}) is now {key.state}")
    typer.echo("running servers switch to it at their next key check (within seconds)")


@sessions_app.command("list")
@_handles_errors
def sessions_list(
    data_dir: DataDir = None,
    user: Annotated[str | None, typer.Option(help="Only this user's sessions.")] = None,
) -> None:
    """List active sessions."""

    async def fetch(service: AuthService) -> tuple[Any, Any]:
        return await service.list_all_sessions(username=user), await service.list_users()

    sessions, users = _run(_settings(data_dir), fetch)
    names = {u.id: u.username for u in users}
    rows = [
        [
            s.id,
            names.get(s.user_id, s.user_id),
            _when(s.created_at),
            _when(s.last_used_at),
            _when(s.expires_at),
            s.ip or "-",
            (s.user_agent or "-")[:40],
        ]
        for s in sessions
    ]
    for line in _table(["SID", "USER", "CREATED", "LAST USED", "EXPIRES", "IP", "USER AGENT"], rows):
        typer.echo(line)


@sessions_app.command("revoke")
@_handles_errors
def sessions_revoke(sid: str, data_dir: DataDir = None) -> None:
    """Revoke one session: its refresh tokens die and its access tokens are denylisted."""

    async def revoke(service: AuthService) -> None:
        await service.revoke_session(sid)

    _run(_settings(data_dir), revoke)
    typer.echo(f"session {sid} revoked")


@client_app.command("add")
@_handles_errors
def client_add(name: str, data_dir: DataDir = None) -> None:
    """Register a confidential client allowed to introspect and revoke; prints its secret once."""

    async def add(service: AuthService) -> Any:
        return await service.add_client(name)

    info, secret = _run(_settings(data_dir), add)
    typer.echo(f"client_id:     {info.id}")
    typer.echo(f"client_secret: {secret}")
    typer.echo("(the secret is shown once; only its hash is stored)")


# -- tokens ----------------------------------------------------------------------------------------


def _read_token(argument: str) -> str:
    value = sys.stdin.readline() if argument == "-" else argument
    return value.strip()


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature bytes, decoded WITHOUT verification (for display only)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise errors.MalformedToken(f"a compact JWS has 3 dot-separated parts, this has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2]) if parts[2] else b""
    except (ValueError, errors.MalformedToken) as exc:
        raise errors.MalformedToken("the token's parts are not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise errors.MalformedToken("the header and the claims must be JSON objects")
    return header, claims, signature


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


@token_app.command("decode")
@_handles_errors
def token_decode(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    data_dir: DataDir = None,
) -> None:
    """Show a token's header and claims WITHOUT verifying it (use `token verify` for that)."""
    del data_dir  # accepted for uniformity; decoding needs no keys
    header, claims, signature = _unverified_parts(_read_token(token))
    typer.echo("UNVERIFIED header (not checked, do not trust):")
    typer.echo(_dump(header))
    typer.echo("UNVERIFIED claims (not checked, do not trust):")
    typer.echo(_dump(claims))
    for name in ("iat", "nbf", "exp"):
        if isinstance(claims.get(name), int | float) and not isinstance(claims.get(name), bool):
            typer.echo(f"  {name}: {_when(float(claims[name]))}")
    if not signature or str(header.get("alg", "")).lower() == "none":
        typer.echo("WARNING: this token has NO signature: it is not valid and never will be.")
    else:
        typer.echo(f"signature: {len(signature)} bytes, NOT VERIFIED (run `jwtgate token verify`)")


def _explain(exc: errors.TokenError, claims: dict[str, Any] | None, settings: Settings) -> str:
    """A sentence on why the token was refused, from the error and the (unverified) claims."""
    now = time.time()
    claims = claims or {}
    if isinstance(exc, errors.ExpiredToken) and isinstance(claims.get("exp"), int | float):
        ago = int(now - float(claims["exp"]))
        return f"it expired at {_when(float(claims['exp']))}, {ago}s ago (leeway {settings.leeway}s)"
    if isinstance(exc, errors.NotYetValid):
        return "its nbf/iat lies in the future (check the clocks)"
    if isinstance(exc, errors.InvalidClaim) and exc.claim == "iss":
        return (
            f"it was issued by {claims.get('iss')!r}, expected {settings.issuer_url!r} "
            "(set JWTGATE_ISSUER or --issuer)"
        )
    if isinstance(exc, errors.InvalidClaim) and exc.claim == "aud":
        return f"its audience {claims.get('aud')!r} does not include {settings.audience!r}"
    if isinstance(exc, errors.UnknownKey):
        return "no key of this data folder has its kid: signed elsewhere, or the key was removed"
    if isinstance(exc, errors.BadSignature):
        return "the signature does not match: the token was altered or forged"
    if isinstance(exc, errors.UnsupportedAlgorithm):
        return "its alg is not the algorithm of the key (or is 'none')"
    if isinstance(exc, errors.RevokedToken):
        return "its session (or the token itself) was revoked"
    return exc.description


@token_app.command("verify")
@_handles_errors
def token_verify(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    data_dir: DataDir = None,
    issuer: Annotated[str | None, typer.Option(help="Expected iss. [default: the server's]")] = None,
) -> None:
    """Verify a token against this data folder's keys and denylist; explain any rejection."""
    settings = _settings(data_dir, issuer=issuer)
    if not settings.keys_dir.exists():
        _fail(f"no keys in {settings.keys_dir}: run `jwtgate serve` (or another command) there first")
    value = _read_token(token)
    try:
        claims_seen: dict[str, Any] | None = _unverified_parts(value)[1]
    except errors.MalformedToken:
        claims_seen = None

    async def verify(service: AuthService) -> dict[str, Any]:
        result: dict[str, Any] = await service.authenticate(value)
        return result

    try:
        claims = _run(settings, verify)
    except errors.TokenError as exc:
        typer.echo(f"REJECTED ({exc.code}): {exc.description}")
        typer.echo(f"  why: {_explain(exc, claims_seen, settings)}")
        raise typer.Exit(1) from None
    typer.echo("VALID: signature, claims and revocation checked")
    typer.echo(_dump(claims))


# -- operations ------------------------------------------------------------------------------------


@app.command("dev-cert")
@_handles_errors
def dev_cert(
    data_dir: DataDir = None,
    name: Annotated[list[str] | None, typer.Option(help="Host name or IP (repeatable).")] = None,
    days: Annotated[int, typer.Option(min=1, max=825, help="Validity in days.")] = 30,
) -> None:
    """Create a self-signed TLS certificate for local development (DATA_DIR/tls, key 0600)."""
    from jwtgate.server.devcert import write_dev_certificate

    settings = _settings(data_dir)
    ensure_data_dir(settings)
    names = tuple(name or ("localhost", "127.0.0.1", "::1"))
    cert, key = write_dev_certificate(settings.data_dir / "tls", names, days=days)
    typer.echo(f"certificate: {cert}\nprivate key: {key}")
    typer.echo("self-signed, for development only; clients must trust it explicitly")
    typer.echo(f"serve with: jwtgate serve --data-dir {settings.data_dir} --tls-cert {cert} --tls-key {key}")


@app.command()
@_handles_errors
def migrate(data_dir: DataDir = None) -> None:
    """Create or upgrade the database schema."""
    from jwtgate.storage import open_store

    settings = _settings(data_dir)
    ensure_data_dir(settings)

    async def go() -> None:
        store = await open_store(settings.database_url_value)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(go())
    typer.echo("database schema is up to date")


@app.command()
def check(data_dir: DataDir = None) -> None:
    """Validate the configuration and report insecure settings; exit 1 if there is anything."""
    try:
        settings = _settings(data_dir)
    except errors.ConfigError as exc:
        _fail(exc.description)
    findings = insecure_findings(settings)
    for finding in findings:
        typer.echo(f"insecure: {finding}")
    if findings:
        raise typer.Exit(1)
    typer.echo(f"ok: configuration valid, nothing insecure found (issuer {settings.issuer_url})")


def main() -> None:
    """Console entry point."""
    app()
