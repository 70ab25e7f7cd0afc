"""The CLI on the same store as the server, never by surprise: init, read-only commands that write
nothing, no data created by accident, --database-url, algorithm switches, key-encryption keys, and the
upgrade of a data folder made by jwtgate 0.1.0."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jwtgate import KeySet, Verifier
from jwtgate.server.cookies import CsrfSigner
from jwtgate.server.runtime import open_service
from jwtgate.settings import load_settings

from ._support import PASSWORD, add_user, init, login, run

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-0.1.0"


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with its content hash (mtime is not enough on a fast machine)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_read_only_commands_write_nothing(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `JWTGATE_SIGNING_ALG=ES256 jwtgate keys list` then a plain `jwtgate check` retired
    the ES256 key and made an RS256 key sign at once."""
    monkeypatch.setenv("JWTGATE_SIGNING_ALG", "ES256")
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    before = run(runner, "keys", "list", data_dir=data_dir)[1]
    monkeypatch.delenv("JWTGATE_SIGNING_ALG")  # a shell without the variable
    snapshot = fingerprint(data_dir)
    for command in (
        ["keys", "list"],
        ["user", "list"],
        ["sessions", "list"],
        ["check"],
        ["token", "verify", token],
        ["token", "decode", token],
    ):
        code, _, err = run(runner, *command, data_dir=data_dir)
        assert code == 0, (command, err)
        assert fingerprint(data_dir) == snapshot, command
    assert run(runner, "keys", "list", data_dir=data_dir)[1] == before
    assert "ES256" in before
    assert "RS256" not in before


def test_no_command_but_init_and_serve_creates_data(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: any command in the wrong folder silently created ./.jwtgate with new keys."""
    monkeypatch.chdir(tmp_path)
    for command in (
        ["user", "list"],
        ["keys", "list"],
        ["keys", "rotate"],
        ["sessions", "list"],
        ["migrate"],
    ):
        code, out, err = run(runner, *command)
        assert code == 1, command
        assert "no jwtgate data at .jwtgate/jwtgate.db: run `jwtgate init` or `jwtgate serve` first" in err
        assert out == ""
    code, _, err = run(runner, "user", "add", "x", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1
    assert "no jwtgate data" in err
    assert list(tmp_path.iterdir()) == []


def test_a_data_folder_path_is_never_grown(runner: CliRunner, tmp_path: Path) -> None:
    """Regression: `--data-dir /nonexistent/x` created the whole path."""
    deep = tmp_path / "nonexistent" / "x"
    code, _, err = run(runner, "init", data_dir=deep)
    assert code == 1
    assert f"cannot create the data folder {deep}: {deep.parent} does not exist" in err
    assert not (tmp_path / "nonexistent").exists()
    code, _, err = run(runner, "user", "list", data_dir=deep)
    assert code == 1
    assert "no jwtgate data" in err


def test_init_names_the_first_user_once(runner: CliRunner, data_dir: Path) -> None:
    code, out, _ = run(
        runner, "init", "--user", "admin", "--password-stdin", data_dir=data_dir, stdin=PASSWORD + "\n"
    )
    assert code == 0
    assert PASSWORD not in out
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert "admin" in run(runner, "user", "list", data_dir=data_dir)[1]
    code, out, _ = run(runner, "init", data_dir=data_dir)
    assert code == 0
    assert "already had users" in out
    assert "demo" not in run(runner, "user", "list", data_dir=data_dir)[1]


def test_database_url_points_every_command_at_one_store(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    assert run(runner, "init", "--database-url", url, data_dir=tmp_path / "a")[0] == 0
    code, out, err = run(runner, "user", "list", "--database-url", url, data_dir=tmp_path / "b")
    assert code == 0, err
    assert "demo" in out
    assert not (tmp_path / "b").exists()


def test_keys_rotate_alg_publishes_first(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(runner, data_dir)
    code, out, _ = run(runner, "keys", "rotate", "--alg", "ES256", data_dir=data_dir)
    assert code == 0
    assert "(ES256) is the next key; it signs from" in out
    listing = run(runner, "keys", "list", data_dir=data_dir)[1].splitlines()
    assert any(" ES256 " in line and " next " in line for line in listing)
    assert any(" RS256 " in line and " active " in line for line in listing)
    code, _, err = run(runner, "keys", "rotate", "--alg", "none", data_dir=data_dir)
    assert code == 1
    assert "alg must be one of" in err


def test_keys_rotate_now_and_a_repeated_rotation(runner: CliRunner, data_dir: Path) -> None:
    init(runner, data_dir)
    code, out, _ = run(runner, "keys", "rotate", data_dir=data_dir)
    assert code == 0
    assert "signs now" in out
    code, out, _ = run(
        runner, "keys", "rotate", data_dir=data_dir
    )  # the fresh next key is not published long enough
    assert code == 0
    assert "it signs from" in out
    code, out, _ = run(runner, "keys", "rotate", "--now", data_dir=data_dir)
    assert "signs now" in out


def kek_text() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def test_key_encryption_key_rewrap_and_a_wrong_key(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(runner, data_dir)
    code, out, _ = run(runner, "keys", "new-kek")
    assert code == 0
    first = out.strip()
    assert len(first) == 43
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY", first)
    assert "not sealed" in run(runner, "keys", "list", data_dir=data_dir)[1]
    code, out, _ = run(runner, "keys", "rewrap", data_dir=data_dir)
    assert code == 0
    assert "resealed 2 signing keys" in out
    assert "not sealed" not in run(runner, "keys", "list", data_dir=data_dir)[1]
    # a wrong KEK: a clear refusal, no traceback, nothing overwritten
    snapshot = fingerprint(data_dir)
    wrong = kek_text()
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY", wrong)
    for command in (["user", "list"], ["keys", "rotate"], ["init"]):
        code, out, err = run(runner, *command, data_dir=data_dir)
        assert code == 1, command
        assert err.strip() == "error: cannot decrypt the signing keys: wrong key-encryption key", command
        assert wrong not in out + err
        assert first not in out + err
    assert fingerprint(data_dir) == snapshot
    # moving to a new KEK: the old one stays accepted until rewrap
    second = kek_text()
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY", second)
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY_PREVIOUS", first)
    assert run(runner, "keys", "rewrap", data_dir=data_dir)[0] == 0
    monkeypatch.delenv("JWTGATE_KEY_ENCRYPTION_KEY_PREVIOUS")
    assert run(runner, "user", "list", data_dir=data_dir)[0] == 0
    # the file form, owner-only
    kek_file = data_dir.parent / "kek"
    kek_file.write_text(second + "\n")
    os.chmod(kek_file, 0o644)
    monkeypatch.delenv("JWTGATE_KEY_ENCRYPTION_KEY")
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY_FILE", str(kek_file))
    code, _, err = run(runner, "user", "list", data_dir=data_dir)
    assert code == 1
    assert "readable by others" in err
    os.chmod(kek_file, 0o600)
    assert run(runner, "user", "list", data_dir=data_dir)[0] == 0


def test_a_malformed_kek_is_named_not_shown(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(runner, data_dir)
    monkeypatch.setenv("JWTGATE_KEY_ENCRYPTION_KEY", "tooShortSecretValue")
    code, out, err = run(runner, "user", "list", data_dir=data_dir)
    assert code == 1
    assert "JWTGATE_KEY_ENCRYPTION_KEY" in err
    assert "tooShortSecretValue" not in out + err


def legacy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "legacy"
    shutil.copytree(LEGACY / "data", target)
    os.chmod(target, 0o700)
    for path in target.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    return target


def test_upgrade_of_a_data_folder_made_by_0_1_0(runner: CliRunner, tmp_path: Path) -> None:
    made = json.loads((LEGACY / "tokens.json").read_text())
    folder = legacy_copy(tmp_path)
    code, _, err = run(runner, "user", "list", data_dir=folder)
    assert code == 1
    assert "schema is at revision 0001" in err
    assert "run `jwtgate migrate`" in err
    code, _out, err = run(runner, "migrate", data_dir=folder)
    assert code == 0, err
    assert "imported 3 signing keys" in err
    assert "imported the CSRF secret" in err
    assert not (folder / "keys").exists()
    assert (folder / "keys.imported" / "ring.json").exists()
    assert (folder / "csrf.key.imported").exists()
    listing = run(runner, "keys", "list", data_dir=folder)[1]
    for jwk in made["jwks"]["keys"]:
        assert jwk["kid"] in listing
    assert "alice" in run(runner, "user", "list", data_dir=folder)[1]
    assert run(runner, "migrate", data_dir=folder)[0] == 0  # once only: nothing left to import

    async def check() -> None:
        settings = load_settings(data_dir=folder, issuer=made["issuer"])
        clock = lambda: made["made_at"] + 60  # noqa: E731
        async with open_service(settings, clock) as service:
            claims = await service.authenticate(made["access_token"])
            assert claims["sid"] == made["session_id"]
            assert (
                CsrfSigner(service.server_secret("csrf")).token_for(made["session_id"]) == made["csrf_token"]
            )
            pair = await service.refresh(made["refresh_token"])
            assert pair.session_id == made["session_id"]
            verifier = Verifier(
                KeySet.from_jwks(service.jwks()),
                issuer=made["issuer"],
                audience=made["audience"],
                clock=clock,
            )
            verifier.verify(made["access_token"])

    asyncio.run(check())


def test_serve_imports_a_legacy_folder_with_its_first_start(runner: CliRunner, tmp_path: Path) -> None:
    folder = legacy_copy(tmp_path)
    made = json.loads((LEGACY / "tokens.json").read_text())
    notes: list[str] = []

    async def start() -> list[str]:
        async with open_service(
            load_settings(data_dir=folder), lambda: made["made_at"], mode="serve", notes=notes
        ) as service:
            return [info.kid for info in await service.list_keys()]

    kids = asyncio.run(start())
    assert sorted(kids) == sorted(jwk["kid"] for jwk in made["jwks"]["keys"])
    assert any("imported 3 signing keys" in note for note in notes)
