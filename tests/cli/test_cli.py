"""The real typer commands through typer.testing.CliRunner, on a temporary data folder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jwtgate import Issuer, generate_key
from jwtgate.cli import app
from jwtgate.jose.b64 import b64url_decode, b64url_encode
from jwtgate.server.runtime import open_service
from jwtgate.service import opaque
from jwtgate.settings import load_settings

from ._support import PASSWORD, add_user, init, login, run


def test_user_add_with_password_stdin_and_list(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    code, out, _ = run(runner, "user", "list", data_dir=data_dir)
    assert code == 0
    assert "alice" in out
    assert "active" in out
    assert PASSWORD not in out
    assert login(data_dir)[0].count(".") == 2  # the password was stored as given


def test_user_add_twice_is_a_clear_error(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    code, out, err = run(
        runner, "user", "add", "alice", "--password-stdin", data_dir=data_dir, stdin=PASSWORD
    )
    assert code == 1
    assert err.startswith("error: ")
    assert "Traceback" not in out + err


def test_user_add_without_terminal_or_stdin_flag(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "user", "add", "alice", data_dir=data_dir, stdin="")
    assert code == 2
    assert "--password-stdin" in err


def test_user_add_prompts_with_hidden_input_on_a_terminal(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jwtgate.cli.common.stdin_is_terminal", lambda: True)
    init(runner, data_dir)
    code, out, _ = run(runner, "user", "add", "alice", data_dir=data_dir, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0
    assert PASSWORD not in out  # hidden input is not echoed
    assert login(data_dir)[0]


def test_unexpected_errors_are_one_line_without_traceback(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret-in-message")

    monkeypatch.setattr("jwtgate.cli.common.open_service", broken)
    code, out, err = run(runner, "user", "list", data_dir=data_dir)
    assert code == 1
    assert "unexpected RuntimeError" in err
    assert "secret-in-message" not in out + err
    assert "Traceback" not in out + err


def test_user_add_rejects_an_empty_password(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "user", "add", "alice", "--password-stdin", data_dir=data_dir, stdin="\n")
    assert code == 2
    assert "empty" in err


def test_disable_enable_and_set_password(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    code, out, _ = run(runner, "user", "disable", "alice", data_dir=data_dir)
    assert code == 0
    assert "disabled" in out
    assert "disabled" in run(runner, "user", "list", data_dir=data_dir)[1]
    code, out, _ = run(runner, "token", "verify", token, data_dir=data_dir)
    assert code == 1
    assert "REJECTED (revoked)" in out
    assert run(runner, "user", "enable", "alice", data_dir=data_dir)[0] == 0
    code, out, _ = run(
        runner, "user", "set-password", "alice", "--password-stdin", data_dir=data_dir, stdin=PASSWORD + "\n"
    )
    assert code == 0
    assert "all sessions revoked" in out
    assert run(runner, "user", "disable", "nobody", data_dir=data_dir)[0] == 1


def test_keys_list_and_rotate(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    code, before, _ = run(runner, "keys", "list", data_dir=data_dir)
    assert code == 0
    active_before = next(line.split()[0] for line in before.splitlines() if " active " in line)
    code, out, _ = run(runner, "keys", "rotate", data_dir=data_dir)
    assert code == 0
    assert "rotated" in out
    after = run(runner, "keys", "list", data_dir=data_dir)[1]
    retired = [line.split()[0] for line in after.splitlines() if " retired " in line]
    assert retired == [active_before]
    assert any(" next " in line for line in after.splitlines())
    # A token signed by the retired key still verifies until it expires.
    assert run(runner, "token", "verify", token, data_dir=data_dir)[0] == 0


def test_token_verify_accepts_a_valid_token(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, sid = login(data_dir)
    code, out, _ = run(runner, "token", "verify", token, data_dir=data_dir)
    assert code == 0
    assert out.startswith("VALID")
    assert sid in out


def test_token_verify_explains_an_expired_token(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir, clock_offset=-7200)  # issued two hours ago, 15 min lifetime
    code, out, _ = run(runner, "token", "verify", token, data_dir=data_dir)
    assert code == 1
    assert "REJECTED (expired)" in out
    assert "it expired at" in out
    assert "leeway 30s" in out


def test_token_verify_explains_a_forged_token(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    head, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[0] ^= 0x01  # one flipped bit: well-formed, wrong signature
    tampered = f"{head}.{payload}.{b64url_encode(bytes(raw))}"
    code, out, _ = run(runner, "token", "verify", tampered, data_dir=data_dir)
    assert code == 1
    assert "REJECTED (bad_signature)" in out
    assert "altered or forged" in out
    forger = Issuer(generate_key("RS256"), issuer="http://127.0.0.1:8000", audience="jwtgate")
    code, out, _ = run(
        runner, "token", "verify", forger.issue(subject="x", ttl=60, session_id="s"), data_dir=data_dir
    )
    assert code == 1
    assert "REJECTED (unknown_key)" in out


def test_token_verify_explains_a_wrong_issuer(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    code, out, _ = run(
        runner, "token", "verify", token, "--issuer", "https://other.example", data_dir=data_dir
    )
    assert code == 1
    assert "REJECTED (invalid_claim)" in out
    assert "https://other.example" in out


def test_token_verify_reads_stdin_and_needs_keys(runner: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    add_user(runner, data_dir)
    token, _ = login(data_dir)
    assert run(runner, "token", "verify", "-", data_dir=data_dir, stdin=token + "\n")[0] == 0
    code, _, err = run(runner, "token", "verify", token, data_dir=tmp_path / "empty")
    assert code == 1
    assert "no jwtgate data at" in err
    assert not (tmp_path / "empty").exists()


def test_token_decode_is_labelled_unverified(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, sid = login(data_dir)
    code, out, _ = run(runner, "token", "decode", token)
    assert code == 0
    assert "UNVERIFIED header" in out
    assert "UNVERIFIED claims" in out
    assert "NOT VERIFIED" in out
    assert sid in out
    assert "VALID" not in out.replace("UNVERIFIED", "").replace("NOT VERIFIED", "")


def test_token_decode_flags_an_unsigned_token(runner: CliRunner) -> None:
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."  # {"alg":"none"}.{"sub":"alice"}.
    code, out, _ = run(runner, "token", "decode", unsigned)
    assert code == 0
    assert "NO signature" in out
    code, _, err = run(runner, "token", "decode", "not-a-token")
    assert code == 1
    assert "3 dot-separated parts" in err


def test_sessions_list_and_revoke(runner: CliRunner, data_dir: Path) -> None:
    add_user(runner, data_dir)
    token, sid = login(data_dir)
    code, out, _ = run(runner, "sessions", "list", data_dir=data_dir)
    assert code == 0
    assert sid in out
    assert "alice" in out
    assert run(runner, "sessions", "list", "--user", "alice", data_dir=data_dir)[1].count(sid) == 1
    code, out, _ = run(runner, "sessions", "revoke", sid, data_dir=data_dir)
    assert code == 0
    assert run(runner, "token", "verify", token, data_dir=data_dir)[0] == 1
    assert sid not in run(runner, "sessions", "list", data_dir=data_dir)[1]
    assert run(runner, "sessions", "revoke", "no-such-sid", data_dir=data_dir)[0] == 1


def test_sessions_revoke_takes_an_id_that_begins_with_a_dash(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids before 0.2 could begin with "-" (base64url); the CLI read one as an unknown option (exit 2).
    add_user(runner, data_dir)
    monkeypatch.setattr(opaque, "new_id", lambda prefix="": prefix + "-Legacy_session_id_0001")
    token, sid = login(data_dir)
    assert sid == "-Legacy_session_id_0001"
    code, out, err = run(runner, "sessions", "revoke", sid, data_dir=data_dir)
    assert (code, err) == (0, "")
    assert f"session {sid} revoked" in out
    assert run(runner, "token", "verify", token, data_dir=data_dir)[0] == 1


def test_client_add_prints_the_secret_once(runner: CliRunner, data_dir: Path) -> None:
    init(runner, data_dir)
    code, out, _ = run(runner, "client", "add", "orders-api", data_dir=data_dir)
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("("))
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()

    async def authenticate() -> str:
        async with open_service(load_settings(data_dir=data_dir), time.time) as service:
            return (await service.authenticate_client(client_id, secret)).name

    assert asyncio.run(authenticate()) == "orders-api"


def test_migrate_needs_data_and_is_idempotent(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "migrate", data_dir=data_dir)
    assert code == 1
    assert "run `jwtgate init`" in err
    assert not data_dir.exists()  # it created nothing
    init(runner, data_dir)
    code, out, _ = run(runner, "migrate", data_dir=data_dir)
    assert code == 0
    assert "up to date" in out
    assert run(runner, "migrate", data_dir=data_dir)[0] == 0  # idempotent


def test_dev_cert_writes_a_usable_certificate(runner: CliRunner, data_dir: Path) -> None:
    import ssl

    from cryptography import x509

    code, out, _ = run(runner, "dev-cert", "--name", "localhost", "--name", "127.0.0.1", data_dir=data_dir)
    assert code == 0
    cert, key = data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem"
    assert f"--tls-cert {cert}" in out
    assert key.stat().st_mode & 0o777 == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    settings = load_settings(data_dir=data_dir, tls_cert=cert, tls_key=key)
    assert settings.issuer_url == "https://127.0.0.1:8000"


def test_check_passes_on_defaults(runner: CliRunner, data_dir: Path) -> None:
    code, out, _ = run(runner, "check", data_dir=data_dir)
    assert code == 0
    assert out.startswith("ok:")


def test_check_reports_insecure_settings(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTGATE_REGISTRATION", "open")
    monkeypatch.setenv("JWTGATE_HOST", "0.0.0.0")
    code, out, _ = run(runner, "check", data_dir=data_dir)
    assert code == 1
    assert "insecure: JWTGATE_REGISTRATION=open" in out
    assert "plain HTTP beyond loopback" in out


def test_check_refuses_invalid_settings_without_traceback(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTGATE_LEEWAY", "301")
    code, out, err = run(runner, "check", data_dir=data_dir)
    assert code == 1
    assert "JWTGATE_LEEWAY" in err
    assert "Traceback" not in out + err
    # Every other command refuses the same way.
    code, _, err = run(runner, "user", "list", data_dir=data_dir)
    assert code == 1
    assert "JWTGATE_LEEWAY" in err


def test_data_dir_comes_from_the_environment(
    runner: CliRunner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTGATE_DATA_DIR", str(data_dir))
    assert run(runner, "init")[0] == 0
    assert (data_dir / "jwtgate.db").exists()


def test_every_command_takes_data_dir(runner: CliRunner) -> None:
    commands = [
        ["serve"],
        ["init"],
        ["migrate"],
        ["check"],
        ["user", "add"],
        ["user", "list"],
        ["user", "disable"],
        ["user", "enable"],
        ["user", "set-password"],
        ["keys", "list"],
        ["keys", "rotate"],
        ["keys", "rewrap"],
        ["sessions", "list"],
        ["sessions", "revoke"],
        ["token", "decode"],
        ["token", "verify"],
        ["client", "add"],
        ["dev-cert"],
    ]
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, command
        assert "--data-dir" in result.stdout, command
        if command != ["dev-cert"]:  # the only command that never touches the database
            assert "--database-url" in result.stdout, command
