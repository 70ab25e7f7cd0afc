"""A real ``jwtgate serve`` subprocess on loopback, with users, for the example apps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from processes import Fleet, cli, local_fleet, module_fleet, new_logs_of_each_test  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"alice": "amber example password", "bob": "brook example password"}  # no username inside


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
def auth_server(module_fleet: Fleet) -> AuthServer:  # noqa: F811 (the fixture imported above)
    data_dir = str(module_fleet.tmp_path / "data")
    roles = {
        "alice": ["--scope", "read", "--scope", "write", "--role", "editor"],
        "bob": ["--scope", "read"],
    }
    for index, (name, options) in enumerate(roles.items()):
        done = cli(
            *(("init", "--user") if index == 0 else ("user", "add")),
            name,
            "--password-stdin",
            *options,
            "--data-dir",
            data_dir,
            stdin=PASSWORDS[name] + "\n",
        )
        assert done.returncode == 0, done.stderr
    return AuthServer(module_fleet.start(name="auth-server", data_dir=Path(data_dir)).base_url)
