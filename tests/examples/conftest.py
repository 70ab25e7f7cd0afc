"""A real ``jwtgate serve`` subprocess on loopback, with users, for the example apps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import jwtgate

ROOT = Path(__file__).resolve().parents[2]
SRC = str(Path(jwtgate.__file__).resolve().parents[1])
PASSWORDS = {"alice": "amber example password", "bob": "brook example password"}  # no username inside


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(*args: str, stdin: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jwtgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@dataclass
class AuthServer:
    url: str

    def login(self, username: str) -> str:
        response = httpx.post(
            f"{self.url}/api/login",
            json={"username": username, "password": PASSWORDS[username]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def logout(self, token: str) -> None:
        response = httpx.post(
            f"{self.url}/api/logout", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code in (200, 204), response.text


@pytest.fixture(scope="module")
def auth_server() -> Iterator[AuthServer]:
    with tempfile.TemporaryDirectory(prefix="jwtgate-example-") as tmp:
        data_dir = str(Path(tmp) / "data")
        roles = {
            "alice": ["--scope", "read", "--scope", "write", "--role", "editor"],
            "bob": ["--scope", "read"],
        }
        for index, (name, options) in enumerate(roles.items()):
            _cli(
                *(("init", "--user") if index == 0 else ("user", "add")),
                name,
                "--password-stdin",
                *options,
                "--data-dir",
                data_dir,
                stdin=PASSWORDS[name] + "\n",
            )
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jwtgate",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, "jwtgate serve exited early"
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)  # polling for start-up, not waiting for an expiry
            else:
                pytest.fail("jwtgate serve did not become healthy")
            yield AuthServer(url)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
