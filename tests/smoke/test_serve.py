"""One real `python -m jwtgate serve` on loopback, driven over HTTP like a user would."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import jwtgate
from jwtgate.client import JwtgateAuth

pytestmark = pytest.mark.slow

PASSWORD = "a fine test passphrase"  # never containing the username (password policy)
SRC = str(Path(jwtgate.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def jwtgate_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=False,
    )


class Server:
    def __init__(self, data_dir: Path, *extra: str, verify: ssl.SSLContext | bool = True) -> None:
        self.port = free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jwtgate",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        self.banner: list[str] = []

    def read_banner(self) -> None:
        """Lines printed before uvicorn starts (ends with the 'serving on' line)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.banner.append(line)
            if line.startswith("jwtgate serving on"):
                return
        raise AssertionError(f"server exited early: {self.process.wait()}")

    def wait_healthy(self, deadline_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("server exited before it was healthy")
            try:
                url = f"{self.base_url}/healthz"
                if httpx.get(url, timeout=1.0, verify=self.verify).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)  # polling for start-up, not waiting for an expiry
        raise AssertionError("server did not become healthy")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.stderr is not None
        return self.process.stderr.read()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server_factory(data_dir: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
        for stream in (server.process.stdout, server.process.stderr):
            if stream is not None:
                stream.close()


def test_serve_login_protected_refresh_logout(data_dir: Path, server_factory: list[Server]) -> None:
    added = jwtgate_cli(
        "init", "--user", "smoke", "--password-stdin", "--data-dir", str(data_dir), stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    server = Server(data_dir)
    server_factory.append(server)
    server.read_banner()
    assert not any("demo" in line for line in server.banner)  # a user exists: no demo user
    server.wait_healthy()
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        login = http.post("/api/login", json={"username": "smoke", "password": PASSWORD})
        assert login.status_code == 200
        tokens = login.json()
        protected = http.get("/api/protected", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert protected.status_code == 200
        assert protected.json()["message"] == "This is a protected route!"
        assert protected.json()["user"]["iss"] == server.base_url
        refreshed = http.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        new = refreshed.json()
        assert new["refresh_token"] != tokens["refresh_token"]
        headers = {"Authorization": f"Bearer {new['access_token']}"}
        assert http.post("/api/logout", headers=headers).status_code == 204
        after = http.get("/api/protected", headers=headers)
        assert after.status_code == 401
        assert 'error="invalid_token"' in after.headers["www-authenticate"]
        assert http.get("/readyz").json() == {"status": "ready"}
        assert http.get("/.well-known/jwks.json").json()["keys"]
    # The Python client against the real server.
    auth = JwtgateAuth(server.base_url, username="smoke", password=PASSWORD)
    with httpx.Client(base_url=server.base_url, auth=auth, timeout=10.0) as http:
        assert http.get("/api/me").json()["username"] == "smoke"
    log = server.stop()
    for secret in (PASSWORD, tokens["access_token"], tokens["refresh_token"], new["refresh_token"]):
        assert secret not in log


def test_first_run_creates_the_demo_user_once(data_dir: Path, server_factory: list[Server]) -> None:
    server = Server(data_dir)
    server_factory.append(server)
    server.read_banner()
    text = "".join(server.banner)
    match = re.search(r"Created user 'demo' with password: (\S+)", text)
    assert match is not None, text
    password = match.group(1)
    server.wait_healthy()
    login = httpx.post(
        f"{server.base_url}/api/login", json={"username": "demo", "password": password}, timeout=10
    )
    assert login.status_code == 200
    log = server.stop()
    assert password not in log  # shown on the terminal (stdout), never in the log
    assert sorted(p.name for p in data_dir.iterdir()) == ["jwtgate.db"]  # keys live in the database
    assert all((p.stat().st_mode & 0o077) == 0 for p in data_dir.rglob("*"))
    # Second start: users exist, no new demo password.
    again = Server(data_dir)
    server_factory.append(again)
    again.read_banner()
    assert "Created user" not in "".join(again.banner)


def test_serve_over_tls_sends_hsts(tmp_path: Path, data_dir: Path, server_factory: list[Server]) -> None:
    made = jwtgate_cli("dev-cert", "--data-dir", str(data_dir), "--name", "127.0.0.1")
    assert made.returncode == 0, made.stderr
    cert, key = data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem"
    context = ssl.create_default_context(cafile=str(cert))
    server = Server(data_dir, "--tls-cert", str(cert), "--tls-key", str(key), verify=context)
    server_factory.append(server)
    server.read_banner()
    server.wait_healthy()
    response = httpx.get(
        f"{server.base_url}/.well-known/oauth-authorization-server", verify=context, timeout=10
    )
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.json()["issuer"] == server.base_url
    assert server.base_url.startswith("https://")


def test_the_banner_shows_the_urls_and_the_cli(data_dir: Path, server_factory: list[Server]) -> None:
    server = Server(data_dir)
    server_factory.append(server)
    server.read_banner()
    assert server.process.stdout is not None
    urls = [server.process.stdout.readline() for _ in range(4)]
    text = "".join(urls)
    assert f"API:   {server.base_url}/api/login" in text
    assert f"pages: {server.base_url}/login, {server.base_url}/account" in text
    assert f"docs:  {server.base_url}/docs (Swagger UI), {server.base_url}/redoc" in text
    assert "jwtgate --help" in text
    server.wait_healthy()
    assert httpx.get(f"{server.base_url}/docs", timeout=10).status_code == 200


def test_a_second_server_on_the_same_port_stops_before_serving(
    tmp_path: Path, data_dir: Path, server_factory: list[Server]
) -> None:
    """Regression: it printed "serving on" and "Application startup complete", then exited 3 on the
    bind with uvicorn's message. Now: the cause and the fix, before anything is created."""
    first = Server(data_dir)
    server_factory.append(first)
    first.read_banner()
    first.wait_healthy()
    other = tmp_path / "other"
    second = jwtgate_cli("serve", "--port", str(first.port), "--data-dir", str(other))
    assert second.returncode == 3
    assert f"error: port {first.port} on 127.0.0.1 is already in use" in second.stderr
    assert "choose another port with --port" in second.stderr
    assert "serving on" not in second.stdout
    assert "Traceback" not in second.stderr
    assert not other.exists()


def test_swapped_tls_files_are_named_before_serving(data_dir: Path) -> None:
    made = jwtgate_cli("dev-cert", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    cert, key = data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem"
    swapped = jwtgate_cli(
        "serve", "--port", str(free_port()), "--data-dir", str(data_dir), "--tls-cert", str(key),
        "--tls-key", str(cert),
    )  # fmt: skip
    assert swapped.returncode == 1
    assert "--tls-cert and --tls-key are swapped" in swapped.stderr
    assert "serving on" not in swapped.stdout
    assert "PEM lib" not in swapped.stderr
