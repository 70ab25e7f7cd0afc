"""The ``jwtgate`` command line: serve, users, keys, sessions, tokens, clients, migrate, check.

Every command takes ``--data-dir`` (default ``./.jwtgate``, env ``JWTGATE_DATA_DIR``); other settings
come from ``JWTGATE_*`` variables or the ``JWTGATE_CONFIG`` file (see :mod:`jwtgate.settings`).
Errors print one line on stderr and exit non-zero (1: refused or failed, 2: usage, 3: the server
cannot start), never a traceback. ``JWTGATE_*`` variables that are no setting get a warning.
Secrets (passwords, client secrets) are read from stdin or a hidden prompt, never from arguments, and
printed only when generated (once).

The commands live in ``serve``, ``users``, ``admin``, ``clients`` and ``tokens``; :func:`build_app`
names and wires them (nothing registers itself on import).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

import jwtgate
from jwtgate.cli import admin, clients, serve, tokens, users
from jwtgate.cli.help import ReadableCommand, ReadableGroup
from jwtgate.settings import unknown_variables

__all__ = ["app", "build_app", "main"]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"jwtgate {jwtgate.__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """jwtgate: an auth server issuing signed JWTs, and the tools to run it."""
    del version  # handled by its eager callback
    # A mistyped variable would otherwise be ignored silently (and a default used instead).
    for warning in unknown_variables():
        typer.echo(f"warning: {warning}", err=True)


_ID_ARGUMENT = {"ignore_unknown_options": True}


def build_app() -> typer.Typer:
    """The root ``jwtgate`` command with its groups."""
    root = typer.Typer(
        name="jwtgate",
        cls=ReadableGroup,
        help="jwtgate: an auth server issuing signed JWTs, and the tools to run it.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root.callback()(_root)
    user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
    root.add_typer(user_app, name="user")
    keys_app = typer.Typer(help="Manage signing keys.", no_args_is_help=True)
    root.add_typer(keys_app, name="keys")
    sessions_app = typer.Typer(help="List and revoke login sessions.", no_args_is_help=True)
    root.add_typer(sessions_app, name="sessions")
    token_app = typer.Typer(help="Inspect access tokens.", no_args_is_help=True)
    root.add_typer(token_app, name="token")
    client_app = typer.Typer(help="Manage OAuth clients (apps and resource servers).", no_args_is_help=True)
    root.add_typer(client_app, name="client")
    root.command(cls=ReadableCommand)(serve.serve)
    root.command("dev-cert", cls=ReadableCommand)(serve.dev_cert)
    root.command(cls=ReadableCommand)(serve.init)
    root.command(cls=ReadableCommand)(serve.migrate)
    root.command(cls=ReadableCommand)(serve.check)
    user_app.command("add", cls=ReadableCommand)(users.user_add)
    user_app.command("list", cls=ReadableCommand)(users.user_list)
    user_app.command("disable", cls=ReadableCommand)(users.user_disable)
    user_app.command("enable", cls=ReadableCommand)(users.user_enable)
    user_app.command("set-password", cls=ReadableCommand)(users.user_set_password)
    user_app.command("show", cls=ReadableCommand)(users.user_show)
    user_app.command("grant", cls=ReadableCommand)(users.user_grant)
    user_app.command("ungrant", cls=ReadableCommand)(users.user_ungrant)
    keys_app.command("list", cls=ReadableCommand)(admin.keys_list)
    keys_app.command("rotate", cls=ReadableCommand)(admin.keys_rotate)
    keys_app.command("rewrap", cls=ReadableCommand)(admin.keys_rewrap)
    keys_app.command("new-kek", cls=ReadableCommand)(admin.keys_new_kek)
    sessions_app.command("list", cls=ReadableCommand)(admin.sessions_list)
    # Session ids made before 0.2 may begin with "-": taken as the argument, not as an unknown option.
    sessions_app.command("revoke", cls=ReadableCommand, context_settings=_ID_ARGUMENT)(admin.sessions_revoke)
    client_app.command("add", cls=ReadableCommand)(clients.client_add)
    client_app.command("list", cls=ReadableCommand)(clients.client_list)
    client_app.command("show", cls=ReadableCommand)(clients.client_show)
    client_app.command("remove", cls=ReadableCommand)(clients.client_remove)
    client_app.command("rotate-secret", cls=ReadableCommand)(clients.client_rotate_secret)
    token_app.command("decode", cls=ReadableCommand)(tokens.token_decode)
    token_app.command("verify", cls=ReadableCommand)(tokens.token_verify)
    return root


app = build_app()


def main() -> None:
    """Console entry point. Files the commands create (database, its WAL, TLS keys, logs) are
    owner-only: an auth server's data is secret, whatever the shell's umask."""
    os.umask(0o077)
    app()
