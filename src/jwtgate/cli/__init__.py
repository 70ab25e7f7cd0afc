"""The ``jwtgate`` command line: serve, users, keys, sessions, tokens, clients, migrate, check.

Every command takes ``--data-dir`` (default ``./.jwtgate``, env ``JWTGATE_DATA_DIR``); other settings
come from ``JWTGATE_*`` variables or the ``JWTGATE_CONFIG`` file (see :mod:`jwtgate.settings`).
Errors print one line on stderr and exit non-zero (1: refused or failed, 2: usage), never a
traceback. Secrets (passwords, client secrets) are read from stdin or a hidden prompt, never from
arguments, and printed only when generated (once).

The commands live in ``serve``, ``users``, ``admin``, ``clients`` and ``tokens``; :func:`build_app`
names and wires them (nothing registers itself on import).
"""

from __future__ import annotations

import os

import typer

from jwtgate.cli import admin, clients, serve, tokens, users

__all__ = ["app", "build_app", "main"]


def build_app() -> typer.Typer:
    """The root ``jwtgate`` command with its groups."""
    root = typer.Typer(
        name="jwtgate",
        help="jwtgate: an auth server issuing signed JWTs, and the tools to run it.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
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
    root.command()(serve.serve)
    root.command("dev-cert")(serve.dev_cert)
    root.command()(serve.migrate)
    root.command()(serve.check)
    user_app.command("add")(users.user_add)
    user_app.command("list")(users.user_list)
    user_app.command("disable")(users.user_disable)
    user_app.command("enable")(users.user_enable)
    user_app.command("set-password")(users.user_set_password)
    user_app.command("show")(users.user_show)
    user_app.command("grant")(users.user_grant)
    user_app.command("ungrant")(users.user_ungrant)
    keys_app.command("list")(admin.keys_list)
    keys_app.command("rotate")(admin.keys_rotate)
    sessions_app.command("list")(admin.sessions_list)
    sessions_app.command("revoke")(admin.sessions_revoke)
    client_app.command("add")(clients.client_add)
    client_app.command("list")(clients.client_list)
    client_app.command("show")(clients.client_show)
    client_app.command("remove")(clients.client_remove)
    client_app.command("rotate-secret")(clients.client_rotate_secret)
    token_app.command("decode")(tokens.token_decode)
    token_app.command("verify")(tokens.token_verify)
    return root


app = build_app()


def main() -> None:
    """Console entry point. Files the commands create (database, its WAL, TLS keys, logs) are
    owner-only: an auth server's data is secret, whatever the shell's umask."""
    os.umask(0o077)
    app()
