"""The built wheel, installed into a clean virtual environment, is a working jwtgate.

One test, in steps (each costs a build or an install, so they share them): build the wheel from this
repository, check it holds every data file of the source package (pages, scripts, migrations,
``py.typed``), install it with the ``server`` extra into a fresh venv (dependencies from the local pip
cache or the configured indexes), then, from that venv and outside the source tree, run the CLI and
``jwtgate serve`` on a free loopback port, use the API, the pages' and the docs' assets, import the
guard, and let mypy type-check a user's file against the installed package.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGE = REPOSITORY / "src" / "jwtgate"
PASSWORD = "packaging test password"
GUARD_SCRIPT = """
import asyncio, json, sys
from jwtgate.protect import Guard

async def main() -> None:
    jwks_url, issuer, audience = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    guard = Guard(issuer=issuer, audience=audience, jwks_url=jwks_url)
    try:
        claims = await guard.authenticate(sys.stdin.read().strip())
    finally:
        await guard.aclose()
    print(claims["sub"])

asyncio.run(main())
"""
BUILD_TIMEOUT = 300  # seconds: a cold pip cache may have to fetch the build backend
INSTALL_TIMEOUT = 600  # seconds: a cold pip cache downloads the server extra (~20 packages)


def run(*command: str | Path, timeout: float, **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def clean_env(cwd: Path) -> dict[str, str]:
    """No JWTGATE_* settings, no PYTHONPATH (the source tree must not leak in), a neutral cwd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWTGATE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["HOME"] = env.get("HOME", str(cwd))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def source_data_files() -> set[str]:
    """Every file of the source package that is not Python source or a cache, as a wheel path."""
    return {
        "jwtgate/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py"
    }


def test_the_wheel_installs_and_serves_from_a_clean_venv(tmp_path: Path) -> None:
    # 1. Build, and check the wheel's RECORD against the source tree.
    dist = tmp_path / "dist"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        "-w",
        dist,
        REPOSITORY,
        timeout=BUILD_TIMEOUT,
    )
    (wheel,) = dist.glob("jwtgate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record_name = next(name for name in names if name.endswith(".dist-info/RECORD"))
        recorded = {line.split(",", 1)[0] for line in archive.read(record_name).decode().splitlines()}
    expected = source_data_files()
    assert "jwtgate/py.typed" in expected
    assert {"jwtgate/server/static/account.html", "jwtgate/migrations/script.py.mako"} <= expected
    assert expected <= recorded, f"missing from the wheel: {sorted(expected - recorded)}"
    migrations = {
        "jwtgate/" + path.relative_to(PACKAGE).as_posix() for path in (PACKAGE / "migrations").rglob("*.py")
    }
    assert migrations
    assert migrations <= recorded
    assert not any(name.startswith(("tests/", "jwtgate/tests")) for name in recorded)

    # 2. A clean venv with the wheel and its server extra.
    home = tmp_path / "venv"
    venv.create(home, with_pip=True, symlinks=True)
    python, jwtgate = home / "bin" / "python", home / "bin" / "jwtgate"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = clean_env(outside)
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        f"jwtgate[server] @ {wheel.as_uri()}",
        timeout=INSTALL_TIMEOUT,
        env=env,
        cwd=outside,
    )

    # 3. The installed package is the one in use, its guard imports, and mypy sees its types.
    where = run(
        python,
        "-c",
        "import jwtgate, jwtgate.protect; print(jwtgate.__file__)",
        timeout=60,
        env=env,
        cwd=outside,
    )
    assert Path(where.stdout.strip()).is_relative_to(home)
    user_code = outside / "uses_jwtgate.py"
    user_code.write_text(
        "from jwtgate.errors import JwtgateError\n\ncode: int = JwtgateError().code\n", encoding="utf-8"
    )
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            str(python),
            str(user_code),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=outside,
        env={**env, "MYPYPATH": ""},
    )
    # The one error is the deliberate one: mypy knows ``code`` is a str, so it read jwtgate's types.
    assert "missing library stubs or py.typed marker" not in checked.stdout, checked.stdout
    assert 'expression has type "str", variable has type "int"' in checked.stdout, checked.stdout

    # 4. The CLI and `jwtgate serve` from the venv.
    data = outside / "data"
    run(
        jwtgate,
        "init",
        "--user",
        "alice",
        "--password-stdin",
        "--data-dir",
        data,
        input=PASSWORD + "\n",
        timeout=120,
        env=env,
        cwd=outside,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(jwtgate), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=outside,
    )
    try:
        deadline = time.monotonic() + 60.0
        while True:
            assert server.poll() is None, "jwtgate serve exited early"
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "jwtgate serve did not become healthy"
            time.sleep(0.1)  # polling for start-up, not waiting for an expiry

        with httpx.Client(base_url=base, timeout=30.0) as http:
            for path in ("/login", "/account", "/static/jwtgate.js", "/docs", "/redoc"):
                assert http.get(path).status_code == 200, path
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js", "redoc.standalone.js"):
                assert http.get(f"/docs/assets/{asset}").status_code == 200, asset
            login = http.post("/api/login", json={"username": "alice", "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            me = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert me.json()["username"] == "alice"

        # The installed guard verifies the installed server's token against its JWKS.
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        guarded = run(
            python,
            "-c",
            GUARD_SCRIPT,
            f"{base}/.well-known/jwks.json",
            claims["iss"],
            json.dumps(claims["aud"]),
            input=token,
            timeout=60,
            env=env,
            cwd=outside,
        )
        assert guarded.stdout.strip() == claims["sub"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        assert server.stderr is not None
        log = server.stderr.read()
        server.stderr.close()
    assert server.returncode == 0, log
