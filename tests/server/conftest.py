"""Fixtures: the real app over httpx.ASGITransport, the real service on a real store, a frozen clock."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jwtgate.server import create_app
from jwtgate.server.runtime import service_policy
from jwtgate.service import AuthService
from jwtgate.service.passwords import Argon2Hasher
from jwtgate.settings import Settings, load_settings
from jwtgate.storage import open_store
from jwtgate.storage.sql import SqlStore

# Redis on 127.0.0.1:6379 for the broadcast tests (skip/fail rule shared with tests/storage); the
# PostgreSQL database of the run for modules that override store_url.
from storage.conftest import _empty_tables, redis_url  # noqa: F401

BASE_URL = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery"


class FrozenClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(tmp_path: Path, settings_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    import os

    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "max_body_size": 4096}
    values.update(settings_overrides)
    return load_settings(**values)


def cheap_hasher_for_tests() -> Argon2Hasher:
    return Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)


def service_policy_of(settings: Settings) -> Any:
    return service_policy(settings)


@pytest.fixture
def store_url(settings: Settings) -> str:
    """SQLite in the data folder; a test module may override it (e.g. with every backend)."""
    return f"sqlite+aiosqlite:///{settings.data_dir / 'test.db'}"


@pytest.fixture
async def service(settings: Settings, clock: FrozenClock, store_url: str) -> AsyncIterator[AuthService]:
    settings.data_dir.mkdir(mode=0o700, exist_ok=True)
    store = await open_store(store_url)
    if isinstance(store, SqlStore) and store.dialect == "postgresql":
        await _empty_tables(store)  # one database serves the whole run
    await store.migrate()
    opened = await AuthService.open(
        store=store,
        policy=service_policy(settings),
        clock=clock,
        hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def app(settings: Settings, service: AuthService, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, service=service, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def alice(service: AuthService) -> Any:
    return await service.add_user("alice", PASSWORD)


@pytest.fixture
async def bob(service: AuthService) -> Any:
    return await service.add_user("bob", PASSWORD)


async def login(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def assert_error_shape(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert isinstance(body["error"], str)
    assert isinstance(body["error_description"], str)
    if error is not None:
        assert body["error"] == error, body
    return body
