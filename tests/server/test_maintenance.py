"""`jwtgate serve` maintenance: the lifespan's service purges and rotates keys in a background task
(policy from JWTGATE_KEY_ROTATION_INTERVAL), and the task is cancelled at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from jwtgate.server import create_app
from jwtgate.settings import Settings

from .conftest import BASE_URL, FrozenClock


@pytest.mark.parametrize("settings_overrides", [{"key_rotation_interval": 86400}])
async def test_lifespan_service_rotates_keys_when_due(settings: Settings, clock: FrozenClock) -> None:
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http,
    ):
        service: Any = app.state.jwtgate.service
        assert service.policy.key_rotation_interval == 86400
        task = service._maintenance
        assert task is not None
        assert not task.done()  # the background round is scheduled
        before = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]}
        active = [k.kid for k in await service.list_keys() if k.state == "active"]
        assert (await service.maintain())["keys_rotated"] == 0  # not due yet
        clock.advance(86400)
        assert (await service.maintain())["keys_rotated"] == 1  # what the task runs each round
        now_active = [k.kid for k in await service.list_keys() if k.state == "active"]
        assert now_active != active
        after = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]}
        assert after != before
    assert task.cancelled()  # shutdown stopped the task cleanly
    assert app.state.jwtgate.service is None


async def test_rotation_is_off_by_default(settings: Settings, clock: FrozenClock) -> None:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        service: Any = app.state.jwtgate.service
        assert service.policy.key_rotation_interval is None
        clock.advance(400 * 86400)
        assert (await service.maintain())["keys_rotated"] == 0


async def test_the_background_task_runs_maintain(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwtgate.server import app as app_module

    monkeypatch.setattr(app_module, "_MAINTENANCE_INTERVAL", 0.01)  # no waiting for the real interval
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        service: Any = app.state.jwtgate.service
        ran = asyncio.Event()
        real = service.maintain

        async def spy() -> dict[str, int]:
            ran.set()
            result: dict[str, int] = await real()
            return result

        monkeypatch.setattr(service, "maintain", spy)
        await asyncio.wait_for(ran.wait(), 5.0)
