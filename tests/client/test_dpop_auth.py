"""JwtgateAuth with DPoP (issue 10, item 5) against a real ASGI app that verifies every proof with
jwtgate's DPoPVerifier (tests/client/dpop_app.py): async clients over httpx.ASGITransport, sync clients
over the same app behind a2wsgi."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2wsgi import ASGIMiddleware

from jwtgate import generate_key
from jwtgate.client import JwtgateAuth
from jwtgate.dpop import access_token_hash
from jwtgate.errors import ConfigError
from jwtgate.jose.b64 import b64url_decode

from .dpop_app import DPoPServer

BASE = "http://auth.test"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> DPoPServer:
    return DPoPServer(clock)


@pytest.fixture
def sync_client(server: DPoPServer) -> Iterator[Any]:
    wsgi = ASGIMiddleware(server.app)  # type: ignore[arg-type]
    opened: list[httpx.Client] = []

    def make(auth: JwtgateAuth) -> httpx.Client:
        client = httpx.Client(base_url=BASE, transport=httpx.WSGITransport(app=wsgi), auth=auth)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def async_client(server: DPoPServer, auth: JwtgateAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=BASE, transport=httpx.ASGITransport(app=server.app), auth=auth)


def claims_of(proof: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(b64url_decode(proof.split(".")[1]))
    return parsed


def test_sync_client_binds_its_tokens_and_proves_every_request(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    first = client.get("/api/data?page=2")
    second = client.post("/api/data", json={"x": 1})
    assert first.status_code == second.status_code == 200
    assert first.json() == {"token": "at-1", "jkt": auth.dpop_jkt}
    assert auth.token_type == "DPoP"
    login, *resources = server.seen
    assert login.proof is not None
    assert (login.proof.jkt, login.proof.htm, login.proof.htu) == (auth.dpop_jkt, "POST", f"{BASE}/api/login")
    assert [seen.authorization for seen in resources] == ["DPoP at-1", "DPoP at-1"]
    assert [seen.proof.htm for seen in resources if seen.proof] == ["GET", "POST"]
    jtis = {seen.proof.jti for seen in server.seen if seen.proof}
    assert len(jtis) == 3  # a fresh proof every time


def test_proofs_carry_ath_of_the_access_token(server: DPoPServer, clock: Clock, sync_client: Any) -> None:
    sent: list[httpx.Request] = []
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    client.event_hooks["request"].append(sent.append)
    client.get("/api/data")
    resource = sent[-1]
    assert claims_of(resource.headers["dpop"])["ath"] == access_token_hash("at-1")
    assert sent[0].url.path == "/api/login"
    assert "ath" not in claims_of(sent[0].headers["dpop"])


def test_token_endpoint_nonce_is_fetched_with_one_retry(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    server.nonce_at_token_endpoint = True
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    assert client.get("/api/data").status_code == 200
    assert [(seen.path, seen.status) for seen in server.seen] == [
        ("/api/login", 400),
        ("/api/login", 200),
        ("/api/data", 200),
    ]
    assert server.seen[1].proof is not None
    assert server.seen[1].proof.nonce == server.nonces.issue()


def test_stale_resource_nonce_is_refused_and_the_retry_with_the_new_one_succeeds(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    server.nonce_at_resource = True
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True, refresh_margin=0)
    client = sync_client(auth)
    assert client.get("/api/data").status_code == 200  # first time: no nonce yet, one retry
    assert [seen.status for seen in server.seen] == [200, 401, 200]
    old = server.seen[-1].proof.nonce if server.seen[-1].proof else None
    assert client.get("/api/data").status_code == 200  # the remembered nonce: no retry
    assert len(server.seen) == 4
    clock.now += 3 * server.nonce_window  # the nonce is stale now
    assert client.get("/api/data").status_code == 200
    assert [seen.status for seen in server.seen[4:]] == [401, 200]
    new = server.seen[-1].proof.nonce if server.seen[-1].proof else None
    assert old is not None
    assert new not in (None, old)
    assert server.refreshes == 0  # a nonce is not a reason to refresh


def test_nonce_retry_happens_once_only(server: DPoPServer, clock: Clock, sync_client: Any) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    client.get("/api/data")
    server.never_satisfied = True
    response = client.get("/api/data")
    assert response.status_code == 401
    assert [seen.path for seen in server.seen[2:]] == ["/api/data", "/api/data"]


def test_refresh_before_expiry_is_proved_with_the_same_key(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True, refresh_margin=30)
    client = sync_client(auth)
    client.get("/api/data")
    clock.now += server.ttl - 10  # inside the margin
    assert client.get("/api/data").json() == {"token": "at-2", "jkt": auth.dpop_jkt}
    refresh = next(seen for seen in server.seen if seen.path == "/api/token/refresh")
    assert refresh.proof is not None
    assert refresh.proof.jkt == auth.dpop_jkt
    assert (server.logins, server.refreshes) == (1, 1)


def test_a_stolen_refresh_token_is_useless_without_the_key(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    owner = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    sync_client(owner).get("/api/data")
    for thief in (
        JwtgateAuth(refresh_token=owner.refresh_token, clock=clock),
        JwtgateAuth(refresh_token=owner.refresh_token, clock=clock, dpop=True),
    ):
        with pytest.raises(Exception, match="refresh token was refused"):
            sync_client(thief).get("/api/data")


def test_401_refreshes_and_retries_with_a_new_proof(
    server: DPoPServer, clock: Clock, sync_client: Any
) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    client.get("/api/data")
    server.access.clear()  # every access token revoked
    assert client.get("/api/data").json()["token"] == "at-2"
    assert [seen.status for seen in server.seen if seen.path == "/api/data"] == [200, 401, 200]


def test_own_key_is_used(server: DPoPServer, clock: Clock, sync_client: Any) -> None:
    key = generate_key("EdDSA")
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop_key=key)
    assert sync_client(auth).get("/api/data").json()["jkt"] == key.thumbprint() == auth.dpop_jkt
    with pytest.raises(ConfigError):
        JwtgateAuth(username="alice", password="pw", dpop_key=generate_key("HS256"))
    with pytest.raises(ConfigError):
        JwtgateAuth(username="alice", password="pw", dpop_key="a key")  # type: ignore[arg-type]


def test_server_without_dpop_gets_bearer(server: DPoPServer, clock: Clock, sync_client: Any) -> None:
    server.dpop = False
    sent: list[httpx.Request] = []
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    client = sync_client(auth)
    client.event_hooks["request"].append(sent.append)
    assert client.get("/api/data").json() == {"token": "at-1"}
    assert auth.token_type == "Bearer"
    assert sent[-1].headers["authorization"] == "Bearer at-1"
    assert "dpop" not in sent[-1].headers


def test_bearer_client_is_unchanged(server: DPoPServer, clock: Clock, sync_client: Any) -> None:
    sent: list[httpx.Request] = []
    auth = JwtgateAuth(username="alice", password="pw", clock=clock)
    client = sync_client(auth)
    client.event_hooks["request"].append(sent.append)
    assert client.get("/api/data").json() == {"token": "at-1"}
    assert auth.dpop_jkt is None
    assert not any("dpop" in request.headers for request in sent)


async def test_async_client_with_nonces_refresh_and_retry(server: DPoPServer, clock: Clock) -> None:
    server.nonce_at_token_endpoint = server.nonce_at_resource = True
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    async with async_client(server, auth) as client:
        assert (await client.get("/api/data")).json() == {"token": "at-1", "jkt": auth.dpop_jkt}
        clock.now += server.ttl  # expired: refreshed before sending, nonce gone stale too
        assert (await client.get("/api/data")).json()["token"] == "at-2"
        server.access.clear()
        assert (await client.get("/api/data")).json()["token"] == "at-3"
    # Each first contact with the token endpoint after a nonce went stale is answered use_dpop_nonce.
    refreshes = [seen.status for seen in server.seen if seen.path == "/api/token/refresh"]
    assert (server.logins, refreshes) == (2, [400, 200, 200])
    assert all(seen.proof.jkt == auth.dpop_jkt for seen in server.seen if seen.proof)


async def test_concurrent_async_requests_share_one_login_and_never_reuse_a_proof(
    server: DPoPServer, clock: Clock
) -> None:
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop=True)
    async with async_client(server, auth) as client:
        responses = await asyncio.gather(*(client.get("/api/data") for _ in range(20)))
    assert [response.status_code for response in responses] == [200] * 20
    assert server.logins == 1
    assert len({seen.proof.jti for seen in server.seen if seen.proof}) == 21


def test_key_and_tokens_never_in_repr_or_logs(
    server: DPoPServer, clock: Clock, sync_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = generate_key("ES256")
    auth = JwtgateAuth(username="alice", password="pw", clock=clock, dpop_key=key)
    sync_client(auth).get("/api/data")
    text = repr(auth) + caplog.text
    for secret in ("at-1", "rt-1", key.to_jwk(private=True)["d"], "'pw'"):
        assert secret not in text
