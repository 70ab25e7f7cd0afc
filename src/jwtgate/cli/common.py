"""What every command shares: option types, error handling, running the service, reading secrets."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from jwtgate import errors
from jwtgate.server.runtime import OpenMode, open_service
from jwtgate.service import AuthService
from jwtgate.settings import Settings, load_settings

__all__ = [
    "CANNOT_START",
    "DataDir",
    "DatabaseUrl",
    "PasswordStdin",
    "fail",
    "handles_errors",
    "read_password",
    "run_with_service",
    "settings_for",
    "stdin_is_terminal",
    "table",
    "when",
]

# Exit codes (docs/server.md): 0 ok, 1 refused or failed (configuration, storage, a refused token),
# 2 usage (bad flags or arguments), and CANNOT_START for a server that cannot listen on its address
# (port in use, no permission, host not of this machine): the code uvicorn itself exits with when its
# bind fails, so both paths agree.
CANNOT_START = 3

P = ParamSpec("P")
T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="PATH",
        help="Data folder (keys, SQLite database).",
        show_default="./.jwtgate, or $JWTGATE_DATA_DIR",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="Database URL, e.g. postgresql+asyncpg://USER@HOST/DB. Prefer the variable for URLs with "
        "a password.",
        show_default="SQLite in the data folder, or $JWTGATE_DATABASE_URL",
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_for(data_dir: Path | None, database_url: str | None = None, **overrides: Any) -> Settings:
    return load_settings(data_dir=data_dir, database_url=database_url, **overrides)


def handles_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn jwtgate errors into one line on stderr and exit 1: no traceback for expected failures."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except errors.JwtgateError as exc:
            fail(exc.description)
        except OSError as exc:
            fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            # A bug: name it without its message (which might quote a secret), no traceback.
            fail(f"unexpected {type(exc).__name__}; please report it with the command you ran")

    return wrapper


def run_with_service(
    settings: Settings,
    action: Callable[[AuthService], Awaitable[T]],
    *,
    mode: OpenMode = "write",
    notes: list[str] | None = None,
) -> T:
    """Open the service for ``settings`` in ``mode`` (``read`` never writes; ``write`` needs existing
    data; ``init``/``serve`` create it), run ``action(service)``, close it."""

    async def go() -> T:
        async with open_service(settings, time.time, mode=mode, notes=notes) as service:
            return await action(service)

    return asyncio.run(go())


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
    elif stdin_is_terminal():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    else:
        fail("no terminal to prompt for the password: use --password-stdin", code=2)
    if not password:
        fail("the password is empty", code=2)
    return password


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: list[str], rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        yield "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
