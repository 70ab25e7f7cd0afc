"""Fixtures and helpers of the CLI tests: the real typer commands through CliRunner."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from typer.testing import CliRunner

from jwtgate.cli import app
from jwtgate.server.runtime import open_service
from jwtgate.settings import load_settings

PASSWORD = "a long enough password"


def run(
    runner: CliRunner, *args: str, data_dir: Path | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    argv = [*args, "--data-dir", str(data_dir)] if data_dir is not None else list(args)
    result = runner.invoke(app, argv, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def init(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "init", data_dir=data_dir)
    assert code == 0, err


def add_user(runner: CliRunner, data_dir: Path, name: str = "alice") -> None:
    if not (data_dir / "jwtgate.db").exists():
        init(runner, data_dir)
    code, out, err = run(
        runner, "user", "add", name, "--password-stdin", data_dir=data_dir, stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert f"created user {name}" in out


def login(data_dir: Path, name: str = "alice", *, clock_offset: float = 0.0) -> tuple[str, str]:
    """Log in through the service of the data folder; returns (access token, session id)."""

    async def go() -> tuple[str, str]:
        clock = lambda: time.time() + clock_offset  # noqa: E731
        async with open_service(load_settings(data_dir=data_dir), clock) as service:
            pair = await service.login(name, PASSWORD)
            return pair.access_token, pair.session_id

    return asyncio.run(go())
