"""Issue 12 at the edges: the password policy's messages over HTTP and in the CLI, the busy hashing
pool (503 + Retry-After, counted), and the audit of logins and logouts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from jwtgate.cli import app as cli_app
from jwtgate.server import create_app
from jwtgate.service import AuthService
from jwtgate.settings import Settings

from .conftest import PASSWORD, assert_error_shape, bearer, login


async def test_password_change_refuses_weak_passwords_with_a_clear_message(
    client: httpx.AsyncClient, alice: Any
) -> None:
    tokens = await login(client)
    cases = {
        "password": "too common",
        "12345678": "too common",
        "        ": "repeated",
        "Alice in wonderland": "username",
    }
    for new, rule in cases.items():
        response = await client.post(
            "/api/password",
            json={"current_password": PASSWORD, "new_password": new},
            headers=bearer(tokens["access_token"]),
        )
        body = assert_error_shape(response, 400, "invalid_request")
        assert rule in body["error_description"]
    accepted = await client.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "ünïcödé passphrase"},
        headers=bearer(tokens["access_token"]),
    )
    assert accepted.status_code == 204, accepted.text
    await login(client, password="ünïcödé passphrase")


@pytest.mark.parametrize("settings_overrides", [{"registration": "open", "password_min_length": 12}])
async def test_registration_applies_the_policy_and_its_configured_minimum(settings: Settings) -> None:
    """The app opens its own service from the settings (the path ``jwtgate serve`` takes)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            cases = (("iloveyou", "12 to"), ("mallory1234!", "username"), ("elevenchars", "12 to"))
            cases += (("xoxoxoxoxoxo", "repeated"),)
            for password, rule in cases:
                body = {"username": "mallory", "password": password}
                refused = assert_error_shape(await http.post("/api/register", json=body), 400)
                assert rule in refused["error_description"]
            body = {"username": "mallory", "password": "twelve chars ok"}
            created = await http.post("/api/register", json=body)
    assert created.status_code == 201, created.text


@pytest.fixture
def cli_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    return tmp_path / "cli-data"


def test_cli_user_add_and_set_password_explain_a_refusal(cli_data_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init", "--data-dir", str(cli_data_dir)]).exit_code == 0
    where = ["--data-dir", str(cli_data_dir), "--password-stdin"]
    weak = runner.invoke(cli_app, ["user", "add", "oscar", *where], input="password\n")
    assert weak.exit_code == 1
    assert "too common" in weak.stderr
    named = runner.invoke(cli_app, ["user", "add", "oscar", *where], input="oscar the grouch\n")
    assert named.exit_code == 1
    assert "username" in named.stderr
    added = runner.invoke(cli_app, ["user", "add", "oscar", *where], input="trash can living\n")
    assert added.exit_code == 0, added.stderr
    reset = runner.invoke(cli_app, ["user", "set-password", "oscar", *where], input="qwertyuiop\n")
    assert reset.exit_code == 1
    assert "too common" in reset.stderr
    reset = runner.invoke(cli_app, ["user", "set-password", "oscar", *where], input="a better one here\n")
    assert reset.exit_code == 0, reset.stderr


async def test_a_full_hashing_pool_answers_503_with_retry_after_and_is_counted(
    client: httpx.AsyncClient, service: AuthService, alice: Any, app: Any
) -> None:
    """Regression (issue 12, item 8): logins queued for argon2 without bound. Beyond the pool's
    workers and queue a login is refused at once with 503 + Retry-After, and the metric counts it."""
    pool = service._accounts._hasher.pool  # type: ignore[attr-defined]
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Occupy every worker and queue slot with real work that waits for the gate.
    occupied = [
        asyncio.create_task(pool.run(lambda: asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(10)))
        for _ in range(pool.workers + pool.queue)
    ]
    await asyncio.sleep(0)
    try:
        response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        body = assert_error_shape(response, 503, "temporarily_unavailable")
        assert "busy" in body["error_description"]
        assert int(response.headers["retry-after"]) >= 1
        token = await client.post(
            "/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert token.status_code == 503
    finally:
        gate.set()
        await asyncio.gather(*occupied)
    metrics = (await client.get("/metrics")).text
    assert "jwtgate_busy_refusals_total 2.0" in metrics
    await login(client)  # the refused attempts did not count as failures


async def test_logins_and_logouts_are_audited_with_the_user(
    client: httpx.AsyncClient, service: AuthService, alice: Any
) -> None:
    tokens = await login(client)
    done = await client.post("/api/logout", headers=bearer(tokens["access_token"]))
    assert done.status_code in (200, 204)
    events = await service.audit_events()
    logins = [e for e in events if e["kind"] == "login"]
    expected = {"ip": "203.0.113.7", "device": False}
    assert [(e["user_id"], e["detail"]) for e in logins] == [(alice.id, expected)]
    logouts = [e for e in events if e["kind"] == "sessions_revoked" and e["detail"]["reason"] == "logout"]
    assert [e["user_id"] for e in logouts] == [alice.id]
    assert PASSWORD not in repr(events)
    assert tokens["access_token"] not in repr(events)


async def test_throttled_logins_store_the_user_id_never_the_typed_name(
    client: httpx.AsyncClient, service: AuthService, alice: Any
) -> None:
    """Regression (issue 12): ``login_throttled`` stored the typed username, which is sometimes a
    password typed in the wrong field."""
    for _ in range(6):
        await client.post("/api/login", json={"username": "alice", "password": "wrong guess"})
    for _ in range(60):
        await client.post("/api/login", json={"username": "my secret pass", "password": "x"})
    throttled = [e for e in await service.audit_events(limit=1000) if e["kind"] == "login_throttled"]
    assert throttled
    assert {e["user_id"] for e in throttled} <= {alice.id, None}
    assert any(e["user_id"] == alice.id for e in throttled)
    assert "my secret pass" not in repr(throttled)
    assert all("username" not in e["detail"] for e in throttled)
