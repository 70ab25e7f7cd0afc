"""Issue 11: errors that name their cause and the fix, exit codes, `--version`, readable help, dev-cert
that keeps an existing certificate. Through the real commands (CliRunner); storage failures on real
folders and a real PostgreSQL server (a dead port needs none)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jwtgate
from jwtgate.cli import app
from processes import free_port, require_services

from ._support import init, run

# Read before the autouse fixture clears every JWTGATE_* variable.
CANNOT_START = 3


def invoke(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders unwritable for the user running the tests: permission bits, or, for root
    (whom they do not stop), the immutable attribute."""
    if os.geteuid() != 0:
        modes = [p.stat().st_mode for p in paths]
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in zip(paths, modes, strict=True):
                path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", *map(str, paths)], check=False).returncode:
        pytest.skip("running as root without a working chattr: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", *map(str, paths)], check=True)


# --- --version and help ---------------------------------------------------------------------------


def test_version_prints_the_package_version(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--version")
    assert code == 0
    assert out.strip() == f"jwtgate {jwtgate.__version__}"


def _commands() -> list[list[str]]:
    return [
        [],
        ["serve"],
        ["init"],
        ["dev-cert"],
        ["migrate"],
        ["check"],
        ["user", "add"],
        ["user", "list"],
        ["user", "disable"],
        ["user", "set-password"],
        ["keys", "rotate"],
        ["sessions", "revoke"],
        ["client", "add"],
        ["token", "verify"],
        ["token", "decode"],
    ]


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "jwtgate")
def test_help_has_readable_metavars(runner: CliRunner, command: list[str]) -> None:
    code, out, _ = invoke(runner, *command, "--help")
    assert code == 0
    assert not re.search(r"\{\w+\}", out), out  # usage lines say NAME, not {name}
    assert "<bool>" not in out, out  # a flag takes no value
    assert "<str>" not in out, out


def test_usage_line_names_arguments_in_capitals(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "user", "add", "--help")
    assert code == 0
    assert "Usage: jwtgate user add [OPTIONS] NAME" in " ".join(out.split())


def test_serve_help_shows_the_defaults(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "serve", "--help")
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    assert "[default: (8000, or $JWTGATE_PORT)]" in flat
    assert "[default: (127.0.0.1, or $JWTGATE_HOST)]" in flat
    assert "./.jwtgate" in flat


# --- dev-cert -------------------------------------------------------------------------------------


def test_dev_cert_keeps_an_existing_certificate_without_force(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "dev-cert", data_dir=data_dir)
    assert code == 0, err
    cert = data_dir / "tls" / "cert.pem"
    first = cert.read_bytes()
    code, _, err = run(runner, "dev-cert", data_dir=data_dir)
    assert code == 1
    assert "a certificate already exists" in err
    assert "--force" in err
    assert cert.read_bytes() == first
    code, _, err = run(runner, "dev-cert", "--force", data_dir=data_dir)
    assert code == 0, err
    assert cert.read_bytes() != first


# --- serve: port and TLS checked before "serving on" ---------------------------------------------------


def test_serve_on_a_port_in_use_says_so_before_serving(runner: CliRunner, data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(runner, "serve", "--port", str(port), data_dir=data_dir)
    assert code == CANNOT_START
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "--port" in err
    assert "serving on" not in out
    assert not data_dir.exists()  # nothing was created for a server that could not start


def test_a_port_out_of_range_is_reported_by_its_flag(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = run(runner, "serve", "--port", "99999", data_dir=data_dir)
    assert code == 2
    assert "'--port'" in err
    assert "JWTGATE_PORT" not in err


def test_an_invalid_flag_value_is_named_by_its_flag(runner: CliRunner, data_dir: Path) -> None:
    init(runner, data_dir)
    code, _, err = run(runner, "token", "verify", "x", "--issuer", "not-a-url", data_dir=data_dir)
    assert code == 1
    assert "--issuer: the issuer must be an absolute http(s) URL" in err
    assert "JWTGATE_ISSUER" not in err


def test_an_invalid_variable_is_still_named_by_its_variable(runner: CliRunner, data_dir: Path) -> None:
    code, _, err = invoke(runner, "check", "--data-dir", str(data_dir), env={"JWTGATE_PORT": "99999"})
    assert code == 1
    assert "JWTGATE_PORT: Input should be less than or equal to 65535" in err


@pytest.fixture
def tls_pair(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    code, _, err = run(runner, "dev-cert", data_dir=tmp_path / "certs")
    assert code == 0, err
    return tmp_path / "certs" / "tls" / "cert.pem", tmp_path / "certs" / "tls" / "key.pem"


def serve_tls(runner: CliRunner, data_dir: Path, cert: Path, key: Path) -> tuple[int, str, str]:
    args = ["serve", "--port", str(free_port()), "--tls-cert", str(cert), "--tls-key", str(key)]
    return run(runner, *args, data_dir=data_dir)


def test_swapped_certificate_and_key_are_named(
    runner: CliRunner, data_dir: Path, tls_pair: tuple[Path, Path]
) -> None:
    cert, key = tls_pair
    code, out, err = serve_tls(runner, data_dir, key, cert)
    assert code == 1
    assert "--tls-cert and --tls-key are swapped" in err
    assert f"use --tls-cert {cert} --tls-key {key}" in err
    assert "serving on" not in out
    assert "PEM lib" not in err


def test_a_file_that_is_not_pem_is_named(
    runner: CliRunner, data_dir: Path, tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_pair
    junk = tmp_path / "junk.txt"
    junk.write_text("not a certificate\n")
    code, out, err = serve_tls(runner, data_dir, junk, key)
    assert code == 1
    assert f"--tls-cert {junk} holds no PEM certificate" in err
    code, out, err = serve_tls(runner, data_dir, cert, junk)
    assert code == 1
    assert f"--tls-key {junk} holds no PEM private key" in err
    assert "serving on" not in out


def test_a_key_of_another_certificate_is_named(
    runner: CliRunner, data_dir: Path, tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = tls_pair
    code, _, err = run(runner, "dev-cert", data_dir=tmp_path / "other")
    assert code == 0, err
    other_key = tmp_path / "other" / "tls" / "key.pem"
    code, out, err = serve_tls(runner, data_dir, cert, other_key)
    assert code == 1
    assert f"the private key {other_key} does not belong to the certificate {cert}" in err
    assert "serving on" not in out


def test_a_missing_tls_file_and_a_lone_certificate_are_named_by_flag(
    runner: CliRunner, data_dir: Path, tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_pair
    code, _, err = serve_tls(runner, data_dir, tmp_path / "missing.pem", key)
    assert code == 1
    assert f"the TLS certificate file {tmp_path / 'missing.pem'} does not exist" in err
    code, _, err = run(runner, "serve", "--tls-cert", str(cert), data_dir=data_dir)
    assert code == 1
    assert "give both --tls-cert and --tls-key" in err
    assert "tls_cert" not in err


# --- unknown JWTGATE_* variables --------------------------------------------------------------------


def test_an_unknown_variable_is_warned_with_the_nearest_name(runner: CliRunner, data_dir: Path) -> None:
    env = {"JWTGATE_PROT": "9000", "JWTGATE_BOGUS": "1", "JWTGATE_PORT": "8001"}
    code, _, err = invoke(runner, "check", "--data-dir", str(data_dir), env=env)
    assert code == 0, err
    assert "warning: JWTGATE_PROT is not a jwtgate setting and is ignored; did you mean JWTGATE_PORT?" in err
    assert "warning: JWTGATE_BOGUS is not a jwtgate setting and is ignored\n" in err
    assert "JWTGATE_PORT is not" not in err  # a real setting is not warned about


# --- storage failures name what failed and how to fix it ------------------------------------------------


def test_a_read_only_data_folder_is_named(runner: CliRunner, data_dir: Path) -> None:
    init(runner, data_dir)
    database = data_dir / "jwtgate.db"
    with read_only(data_dir, database):
        code, _, err = run(
            runner, "user", "add", "bob", "--password-stdin", data_dir=data_dir, stdin="long password\n"
        )
    assert code == 1
    assert f"cannot open the SQLite database {database}" in err
    assert "read-only for this user" in err
    assert "--data-dir" in err
    assert "the storage backend failed" not in err


def test_a_data_folder_that_cannot_be_created_says_how_to_fix_it(runner: CliRunner, tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with read_only(parent):
        code, _, err = run(runner, "init", data_dir=parent / "data")
    assert code == 1
    assert f"cannot create the data folder {parent / 'data'}" in err
    assert "--data-dir or JWTGATE_DATA_DIR" in err


def test_a_dead_database_port_is_named_without_the_password(runner: CliRunner, data_dir: Path) -> None:
    port = free_port()  # closed again: nothing listens there
    url = f"postgresql+asyncpg://postgres:s3cr3t-pw@127.0.0.1:{port}/jwtgate"
    code, _, err = invoke(
        runner, "user", "list", "--database-url", url, env={"JWTGATE_ISSUER": "https://auth.example"}
    )
    assert code == 1
    assert f"cannot connect to the database at postgres@127.0.0.1:{port}/jwtgate: connection refused" in err
    assert "JWTGATE_DATABASE_URL" in err
    assert "s3cr3t-pw" not in err


def test_a_missing_database_is_named(runner: CliRunner) -> None:
    require_services("PostgreSQL")
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/jwtgate_no_such_database"
    code, _, err = invoke(
        runner, "user", "list", "--database-url", url, env={"JWTGATE_ISSUER": "https://auth.example"}
    )
    assert code == 1
    assert "the PostgreSQL database postgres@127.0.0.1:5432/jwtgate_no_such_database does not exist" in err
    assert "createdb" in err


def test_an_unknown_database_user_is_named(runner: CliRunner) -> None:
    require_services("PostgreSQL")
    url = "postgresql+asyncpg://jwtgate_no_such_role:s3cr3t-pw@127.0.0.1:5432/postgres"
    code, _, err = invoke(
        runner, "user", "list", "--database-url", url, env={"JWTGATE_ISSUER": "https://auth.example"}
    )
    assert code == 1
    assert "refused the user" in err
    assert "s3cr3t-pw" not in err
