"""`jwtgate client ...` and `jwtgate user show | grant | ungrant` through the real typer app (issue 8)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jwtgate import generate_key
from jwtgate.server.runtime import open_service
from jwtgate.settings import load_settings

from ._support import PASSWORD, add_user, run


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path, clean_env: None) -> Path:
    """An initialised data folder (commands other than init and serve create nothing)."""
    from jwtgate.cli import app

    path = tmp_path / "data"
    assert CliRunner().invoke(app, ["init", "--data-dir", str(path)]).exit_code == 0
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _fields(out: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def test_client_add_with_a_registration_then_list_show_remove(runner: CliRunner, data_dir: Path) -> None:
    code, out, err = run(
        runner,
        "client",
        "add",
        "web-app",
        "--public",
        "--redirect-uri",
        "https://app.example/callback",
        "--scope",
        "read",
        "--scope",
        "write",
        data_dir=data_dir,
    )
    assert code == 0, err
    fields = _fields(out)
    assert "client_secret" not in fields  # public: nothing to show
    assert fields["kind"] == "public"
    assert fields["grants"] == "authorization_code refresh_token"
    assert fields["auth methods"] == "none"
    assert fields["introspect"] == "no"
    code, out, _ = run(runner, "client", "list", data_dir=data_dir)
    assert code == 0
    assert "web-app" in out
    assert fields["client_id"] in out
    code, out, _ = run(runner, "client", "show", "web-app", data_dir=data_dir)
    assert code == 0
    assert "https://app.example/callback" in out
    code, out, _ = run(runner, "client", "remove", "web-app", data_dir=data_dir)
    assert code == 0
    assert "removed" in out
    code, _, err = run(runner, "client", "show", "web-app", data_dir=data_dir)
    assert code == 1
    assert "no such client" in err


def test_client_add_refuses_bad_names_and_rules_with_a_clear_error(runner: CliRunner, data_dir: Path) -> None:
    for args, message in [
        (["bad name"], "a client name is 1-64 characters"),
        (["app", "--grant", "password"], "first-party"),
        (["app", "--grant", "authorization_code"], "redirect URI"),
        (["app", "--public", "--grant", "client_credentials"], "public client"),
        (["app", "--redirect-uri", "http://evil.example/cb"], "redirect URI is https"),
        (["app", "--grant", "implicit"], "grants are"),
    ]:
        code, out, err = run(runner, "client", "add", *args, data_dir=data_dir)
        assert code != 0, args
        assert message in err, (args, err)
        assert "Traceback" not in out + err


def test_rotate_secret_replaces_the_old_one(runner: CliRunner, data_dir: Path) -> None:
    code, out, _ = run(runner, "client", "add", "batch", "--grant", "client_credentials", data_dir=data_dir)
    assert code == 0
    first = _fields(out)
    code, out, _ = run(runner, "client", "rotate-secret", "batch", data_dir=data_dir)
    assert code == 0
    second = _fields(out)["client_secret"]
    assert second != first["client_secret"]

    async def check() -> tuple[bool, bool]:
        async with open_service(load_settings(data_dir=data_dir), time.time) as service:
            results = []
            for secret in (first["client_secret"], second):
                try:
                    await service.authenticate_client(first["client_id"], secret)
                    results.append(True)
                except Exception:
                    results.append(False)
            return results[0], results[1]

    assert asyncio.run(check()) == (False, True)


def test_client_add_with_a_jwks_file_has_no_secret(runner: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    key = generate_key("ES256")
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": [key.public_key().to_jwk()]}))
    code, out, err = run(
        runner,
        "client",
        "add",
        "signer",
        "--grant",
        "client_credentials",
        "--jwks-file",
        str(jwks),
        data_dir=data_dir,
    )
    assert code == 0, err
    fields = _fields(out)
    assert "client_secret" not in fields
    assert fields["auth methods"] == "private_key_jwt"
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [key.to_jwk(private=True)]}))
    code, _, err = run(runner, "client", "add", "leaky", "--jwks-file", str(private), data_dir=data_dir)
    assert code == 1
    assert "private" in err


def test_user_show_grant_and_ungrant(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    code, out, _ = run(
        runner, "user", "grant", "alice", "--scope", "write", "--role", "admin", data_dir=data_dir
    )
    assert code == 0
    code, out, _ = run(runner, "user", "show", "alice", data_dir=data_dir)
    assert code == 0
    fields = _fields(out)
    assert fields["scopes"] == "read write"
    assert fields["roles"] == "admin"

    async def session_count() -> int:
        async with open_service(load_settings(data_dir=data_dir), time.time) as service:
            await service.login("alice", PASSWORD)
            return len(await service.list_all_sessions(username="alice"))

    assert asyncio.run(session_count()) == 1
    code, out, _ = run(runner, "user", "ungrant", "alice", "--scope", "write", data_dir=data_dir)
    assert code == 0
    code, out, _ = run(runner, "user", "show", "alice", data_dir=data_dir)
    fields = _fields(out)
    assert fields["scopes"] == "read"
    assert fields["sessions"] == "0 active"  # taking a scope away revoked the session
    code, _, err = run(runner, "user", "grant", "alice", data_dir=data_dir)
    assert code == 2
    assert "--scope or --role" in err
    code, _, err = run(runner, "user", "grant", "nobody", "--scope", "x", data_dir=data_dir)
    assert code == 1
    assert "no such user" in err
