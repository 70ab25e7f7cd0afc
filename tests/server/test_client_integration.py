"""jwtgate.client.JwtgateAuth against the real app (async, httpx.ASGITransport), frozen clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from jwtgate.client import JwtgateAuth

from .conftest import BASE_URL, PASSWORD, FrozenClock, bearer, login


async def test_client_logs_in_refreshes_and_recovers_from_revocation(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, alice: Any
) -> None:
    auth = JwtgateAuth(username="alice", password=PASSWORD, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, auth=auth) as http:
        first = (await http.get("/api/protected")).json()["user"]
        clock.advance(900 - 10)  # inside the renewal margin: refreshed before sending
        second = (await http.get("/api/protected")).json()["user"]
        assert second["sid"] == first["sid"]
        assert second["jti"] != first["jti"]
        # Everything of alice is revoked elsewhere: the 401 makes the client log in again.
        other = await login(client)
        await client.post("/api/logout/all", headers=bearer(other["access_token"]))
        response = await http.get("/api/protected")
        assert response.status_code == 200
        assert response.json()["user"]["sid"] not in (first["sid"], other.get("sid"))


async def test_concurrent_refreshes_of_one_token_never_fail_the_server(
    client: httpx.AsyncClient, alice: Any
) -> None:
    tokens = await login(client)
    responses = await asyncio.gather(
        *(
            client.post("/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(8)
        )
    )
    statuses = [r.status_code for r in responses]
    assert all(status in (200, 401) for status in statuses), statuses
    assert 200 in statuses
