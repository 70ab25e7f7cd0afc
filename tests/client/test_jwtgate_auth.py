"""JwtgateAuth against a small in-test token server (httpx.MockTransport), sync and async."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from jwtgate.client import JwtgateAuth
from jwtgate.errors import InvalidCredentials, InvalidGrant, RateLimited

BASE = "http://auth.test"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """Issues numbered tokens; access tokens expire after ``ttl`` on the shared clock."""

    def __init__(self, clock: Clock, ttl: int = 900) -> None:
        self.clock = clock
        self.ttl = ttl
        self.counter = 0
        self.access: dict[str, float] = {}
        self.refresh: set[str] = set()
        self.logins = 0
        self.refreshes = 0
        self.seen_tokens: list[str | None] = []
        self.fail_refresh_with: int | None = None
        self.lock = threading.Lock()

    def issue(self) -> dict[str, object]:
        self.counter += 1
        access, refresh = f"at-{self.counter}", f"rt-{self.counter}"
        self.access[access] = self.clock() + self.ttl
        self.refresh.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "refresh_token": refresh,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/login":
            self.logins += 1
            body = json.loads(request.content)
            if body == {"username": "alice", "password": "pw"}:
                return httpx.Response(200, json=self.issue())
            if body["password"] == "slow-down":
                return httpx.Response(429, headers={"Retry-After": "7"}, json={})
            return httpx.Response(401, json={"error": "invalid_grant"})
        if path == "/api/token/refresh":
            self.refreshes += 1
            if self.fail_refresh_with is not None:
                return httpx.Response(self.fail_refresh_with, json={"error": "server_error"})
            token = json.loads(request.content)["refresh_token"]
            if token not in self.refresh:
                return httpx.Response(401, json={"error": "invalid_grant"})
            self.refresh.discard(token)
            return httpx.Response(200, json=self.issue())
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        self.seen_tokens.append(token)
        expires = self.access.get(token or "")
        if expires is None or self.clock() >= expires:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"token": token})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> TokenServer:
    return TokenServer(clock)


def sync_client(server: TokenServer, auth: JwtgateAuth) -> httpx.Client:
    return httpx.Client(base_url=BASE, transport=httpx.MockTransport(server), auth=auth)


def async_client(server: TokenServer, auth: JwtgateAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(server), auth=auth)


def test_logs_in_once_and_attaches_the_token(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    with sync_client(server, auth) as client:
        assert client.get("/api/data").json() == {"token": "at-1"}
        assert client.get("/api/data").json() == {"token": "at-1"}
    assert server.logins == 1
    assert server.refreshes == 0


def test_refreshes_shortly_before_expiry(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(BASE, username="alice", password="pw", refresh_margin=30, clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        clock.now += 900 - 31
        assert client.get("/api/data").json() == {"token": "at-1"}
        clock.now += 2  # inside the margin: renewed before sending
        assert client.get("/api/data").json() == {"token": "at-2"}
    assert (server.logins, server.refreshes) == (1, 1)
    assert "at-1" not in server.seen_tokens[2:]


def test_a_401_triggers_one_refresh_and_one_retry(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        server.access.clear()  # the server revoked every access token
        response = client.get("/api/data")
    assert response.json() == {"token": "at-2"}
    assert server.refreshes == 1
    assert server.seen_tokens == ["at-1", "at-1", "at-2"]


def test_a_second_401_is_returned_not_retried_forever(server: TokenServer, clock: Clock) -> None:
    server.ttl = 0  # every token is born expired
    auth = JwtgateAuth(username="alice", password="pw", refresh_margin=0, clock=clock)
    with sync_client(server, auth) as client:
        response = client.get("/api/data")
    assert response.status_code == 401
    assert len(server.seen_tokens) == 2


def test_refused_refresh_falls_back_to_login(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        server.refresh.clear()  # e.g. the session was revoked
        clock.now += 900
        assert client.get("/api/data").json() == {"token": "at-2"}
    assert (server.logins, server.refreshes) == (2, 1)


def test_refused_refresh_without_credentials_raises(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(access_token="at-x", refresh_token="rt-unknown", expires_in=0, clock=clock)
    with sync_client(server, auth) as client, pytest.raises(InvalidGrant):
        client.get("/api/data")


def test_wrong_password_raises_invalid_credentials(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="wrong", clock=clock)
    with sync_client(server, auth) as client, pytest.raises(InvalidCredentials):
        client.get("/api/data")


def test_rate_limited_login_raises_with_retry_after(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="slow-down", clock=clock)
    with sync_client(server, auth) as client, pytest.raises(RateLimited) as raised:
        client.get("/api/data")
    assert raised.value.retry_after == 7


def test_server_error_during_early_refresh_keeps_the_valid_token(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", refresh_margin=60, clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        server.fail_refresh_with = 503
        clock.now += 900 - 30  # renewal due, token still valid
        assert client.get("/api/data").json() == {"token": "at-1"}
        clock.now += 60  # expired now: the failure surfaces
        with pytest.raises(httpx.HTTPStatusError):
            client.get("/api/data")
    assert auth.refresh_token == "rt-1"  # kept for the next attempt


def _jwt_with_exp(exp: float) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': exp})}.c2ln"


def test_starts_from_a_token_pair_and_reads_exp_for_scheduling(server: TokenServer, clock: Clock) -> None:
    server.refresh.add("rt-start")
    token = _jwt_with_exp(clock.now + 10)  # due for renewal at once with a 30 s margin
    auth = JwtgateAuth(access_token=token, refresh_token="rt-start", clock=clock)
    with sync_client(server, auth) as client:
        assert client.get("/api/data").json() == {"token": "at-1"}
    assert (server.logins, server.refreshes) == (0, 1)


def test_concurrent_sync_requests_share_one_refresh(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        clock.now += 900
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: client.get("/api/data").json(), range(16)))
    assert results == [{"token": "at-2"}] * 16
    assert server.refreshes == 1


async def test_async_flow_logs_in_refreshes_and_retries(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    async with async_client(server, auth) as client:
        assert (await client.get("/api/data")).json() == {"token": "at-1"}
        clock.now += 900
        assert (await client.get("/api/data")).json() == {"token": "at-2"}
        server.access.clear()
        assert (await client.get("/api/data")).json() == {"token": "at-3"}
    assert (server.logins, server.refreshes) == (1, 2)


async def test_concurrent_async_requests_share_one_refresh(server: TokenServer, clock: Clock) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    async with async_client(server, auth) as client:
        await client.get("/api/data")
        clock.now += 900
        responses = await asyncio.gather(*(client.get("/api/data") for _ in range(20)))
    assert {r.json()["token"] for r in responses} == {"at-2"}
    assert server.refreshes == 1


def test_tokens_never_in_repr_or_logs(
    server: TokenServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    with sync_client(server, auth) as client:
        client.get("/api/data")
        clock.now += 900
        client.get("/api/data")
    text = repr(auth) + caplog.text
    for secret in ("at-1", "rt-1", "at-2", "rt-2", "'pw'"):
        assert secret not in text


def test_constructor_rejects_incomplete_credentials() -> None:
    with pytest.raises(ValueError, match="both"):
        JwtgateAuth(username="alice")
    with pytest.raises(ValueError, match="token pair"):
        JwtgateAuth()
