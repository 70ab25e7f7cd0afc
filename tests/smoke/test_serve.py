"""One real `python -m jwtgate serve` on loopback, driven over HTTP like a user would."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx
import pytest

from jwtgate.client import JwtgateAuth
from processes import Fleet, cli, free_port

pytestmark = pytest.mark.slow

PASSWORD = "a fine test passphrase"  # never containing the username (password policy)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_serve_login_protected_refresh_logout(data_dir: Path, local_fleet: Fleet) -> None:
    added = cli(
        "init", "--user", "smoke", "--password-stdin", "--data-dir", str(data_dir), stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    server = local_fleet.spawn(data_dir=data_dir)
    assert "demo" not in server.read_banner()  # a user exists: no demo user
    server.wait_ready()
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


def test_first_run_creates_the_demo_user_once(data_dir: Path, local_fleet: Fleet) -> None:
    server = local_fleet.spawn(data_dir=data_dir)
    text = server.read_banner()
    match = re.search(r"Created user 'demo' with password: (\S+)", text)
    assert match is not None, text
    password = match.group(1)
    server.wait_ready()
    login = httpx.post(
        f"{server.base_url}/api/login", json={"username": "demo", "password": password}, timeout=10
    )
    assert login.status_code == 200
    log = server.stop()
    assert password not in log  # shown on the terminal (stdout), never in the log
    assert sorted(p.name for p in data_dir.iterdir()) == ["jwtgate.db"]  # keys live in the database
    assert all((p.stat().st_mode & 0o077) == 0 for p in data_dir.rglob("*"))
    # Second start: users exist, no new demo password.
    again = local_fleet.spawn(data_dir=data_dir, name="again")
    assert "Created user" not in again.read_banner()


def test_serve_over_tls_sends_hsts(tmp_path: Path, data_dir: Path, local_fleet: Fleet) -> None:
    made = cli("dev-cert", "--data-dir", str(data_dir), "--name", "127.0.0.1")
    assert made.returncode == 0, made.stderr
    cert, key = data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem"
    context = ssl.create_default_context(cafile=str(cert))
    tls_files = ["--tls-cert", str(cert), "--tls-key", str(key)]
    server = local_fleet.spawn(data_dir=data_dir, args=tls_files, tls=context)
    server.read_banner()
    server.wait_ready()
    response = httpx.get(
        f"{server.base_url}/.well-known/oauth-authorization-server", verify=context, timeout=10
    )
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.json()["issuer"] == server.base_url
    assert server.base_url.startswith("https://")


def test_the_banner_shows_the_urls_and_the_cli(data_dir: Path, local_fleet: Fleet) -> None:
    server = local_fleet.spawn(data_dir=data_dir)
    banner = server.read_banner()
    server.wait_ready()  # the lines after the banner are printed before uvicorn starts
    urls = server.output().removeprefix(banner).splitlines(keepends=True)[:4]
    text = "".join(urls)
    assert f"API:   {server.base_url}/api/login" in text
    assert f"pages: {server.base_url}/login, {server.base_url}/account" in text
    assert f"docs:  {server.base_url}/docs (Swagger UI), {server.base_url}/redoc" in text
    assert "jwtgate --help" in text
    assert httpx.get(f"{server.base_url}/docs", timeout=10).status_code == 200


def test_a_second_server_on_the_same_port_stops_before_serving(
    tmp_path: Path, data_dir: Path, local_fleet: Fleet
) -> None:
    """Regression: it printed "serving on" and "Application startup complete", then exited 3 on the
    bind with uvicorn's message. Now: the cause and the fix, before anything is created."""
    first = local_fleet.spawn(data_dir=data_dir)
    first.read_banner()
    first.wait_ready()
    other = tmp_path / "other"
    second = cli("serve", "--port", str(first.port), "--data-dir", str(other))
    assert second.returncode == 3
    assert f"error: port {first.port} on 127.0.0.1 is already in use" in second.stderr
    assert "choose another port with --port" in second.stderr
    assert "serving on" not in second.stdout
    assert "Traceback" not in second.stderr
    assert not other.exists()


def test_swapped_tls_files_are_named_before_serving(data_dir: Path) -> None:
    made = cli("dev-cert", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    cert, key = data_dir / "tls" / "cert.pem", data_dir / "tls" / "key.pem"
    swapped = cli(
        "serve", "--port", str(free_port()), "--data-dir", str(data_dir), "--tls-cert", str(key),
        "--tls-key", str(cert),
    )  # fmt: skip
    assert swapped.returncode == 1
    assert "--tls-cert and --tls-key are swapped" in swapped.stderr
    assert "serving on" not in swapped.stdout
    assert "PEM lib" not in swapped.stderr
