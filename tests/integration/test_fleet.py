"""N `jwtgate serve` instances on one PostgreSQL database and one Redis, as real processes: shared keys,
secrets and issuer, revocations and key rotations pushed to every instance and to a guard in Redis mode,
concurrent refreshes spread over instances, and instances started together on an empty database."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate.protect import JWTAuthMiddleware
from jwtgate.storage.sql import SqlStore
from processes import REDIS_URL, Fleet

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ISSUER = "https://auth.fleet.test"
PASSWORD = "fleet password 1"


def shared_env(fleet: Fleet, *, redis: bool = True) -> dict[str, str]:
    env = {
        "JWTGATE_DATABASE_URL": fleet.database(),
        "JWTGATE_ISSUER": ISSUER,
        "JWTGATE_SYNC_INTERVAL": "0.5",
    }
    if redis:
        env["JWTGATE_REDIS_URL"] = REDIS_URL
        env["JWTGATE_REDIS_CHANNEL"] = fleet.channel()
    return env


def init(fleet: Fleet, env: dict[str, str]) -> None:
    done = fleet.cli("init", "--user", "alice", "--password-stdin", env=env, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr


def kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"])


def within(seconds: float, check: Callable[[], bool]) -> float:
    """Poll ``check`` until it holds; returns how long it took (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.01)  # polling a remote process, not waiting for an expiry
    return time.monotonic() - started


def login(url: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/api/login", json={"username": "alice", "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def protected(url: str, token: str) -> int:
    return httpx.get(
        f"{url}/api/protected", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def guard_app(a_url: str, channel: str) -> JWTAuthMiddleware:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["auth"]["sub"]})

    return JWTAuthMiddleware(
        Starlette(routes=[Route("/hello", hello)]),
        issuer=ISSUER,
        audience="jwtgate",
        jwks_url=f"{a_url}/.well-known/jwks.json",
        revocation="redis",
        revocation_url=f"{a_url}/api/revocations",
        redis_url=REDIS_URL,
        redis_channel=channel,
    )


def test_two_instances_share_everything_and_revocations_reach_all_at_once(fleet: Fleet) -> None:
    env = shared_env(fleet)
    init(fleet, env)
    a, b = fleet.start(env, name="a"), fleet.start(env, name="b")
    tokens = login(a.base_url)
    assert protected(b.base_url, tokens["access_token"]) == 200  # B verifies A's token: one key ring
    refreshed = httpx.post(f"{b.base_url}/api/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert protected(a.base_url, new["access_token"]) == 200
    # cookie mode: a browser session started on A refreshes on B (one CSRF secret)
    with httpx.Client(base_url=a.base_url) as browser:
        started = browser.post("/api/cookie/login", json={"username": "alice", "password": PASSWORD})
        assert started.status_code == 200
        csrf = started.json()["csrf_token"]
        cookies = {c.name: c.value for c in browser.cookies.jar}
    moved = httpx.post(
        f"{b.base_url}/api/cookie/refresh",
        headers={"X-CSRF-Token": csrf, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
    )
    assert moved.status_code == 200, moved.text

    async def scenario() -> tuple[float, float]:
        guarded = guard_app(a.base_url, env["JWTGATE_REDIS_CHANNEL"])
        transport = httpx.ASGITransport(app=guarded)
        try:
            return await observe(httpx.AsyncClient(transport=transport, base_url="http://api"))
        finally:
            await guarded.guard.aclose()

    async def observe(client: httpx.AsyncClient) -> tuple[float, float]:
        async with client as api:
            headers = {"Authorization": f"Bearer {new['access_token']}"}
            assert (await api.get("/hello", headers=headers)).status_code == 200
            logout = await asyncio.to_thread(
                httpx.post, f"{b.base_url}/api/logout", headers=headers, timeout=10
            )
            assert logout.status_code == 204
            started = time.monotonic()
            seen_a = seen_guard = None
            while seen_a is None or seen_guard is None:
                now = time.monotonic() - started
                assert now < 1.0, (seen_a, seen_guard)
                if (
                    seen_a is None
                    and await asyncio.to_thread(protected, a.base_url, new["access_token"]) == 401
                ):
                    seen_a = now
                if seen_guard is None and (await api.get("/hello", headers=headers)).status_code == 401:
                    seen_guard = now
                await asyncio.sleep(0.005)
            return seen_a, seen_guard

    on_a, on_guard = asyncio.run(scenario())
    assert on_a < 1.0
    assert on_guard < 1.0
    assert protected(b.base_url, new["access_token"]) == 401


def test_a_cli_rotation_reaches_every_instance_within_a_second(fleet: Fleet) -> None:
    env = shared_env(fleet)
    init(fleet, env)
    a, b = fleet.start(env, name="a"), fleet.start(env, name="b")
    # One chain of refresh tokens per instance: a refresh signs with the active key and costs no argon2,
    # so one check is two cheap requests and the time measured is the propagation, not the check.
    chains = {i.base_url: login(i.base_url)["refresh_token"] for i in (a, b)}
    before = kid_of(login(a.base_url)["access_token"])
    rotated = fleet.cli("keys", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "signs now" in rotated.stdout
    pool = ThreadPoolExecutor(max_workers=4)

    def signing_kid(url: str) -> str:
        answer = httpx.post(
            f"{url}/api/token/refresh", json={"refresh_token": chains[url]}, timeout=10
        ).json()
        chains[url] = answer["refresh_token"]
        return kid_of(answer["access_token"])

    def agreed() -> bool:
        jwks = pool.map(lambda i: httpx.get(f"{i.base_url}/.well-known/jwks.json").json(), (a, b))
        kids = pool.map(lambda i: signing_kid(i.base_url), (a, b))
        documents, signing = list(jwks), list(kids)
        return documents[0] == documents[1] and signing[0] == signing[1] != before

    try:
        assert within(1.0, agreed) < 1.0
    finally:
        pool.shutdown()


def test_without_redis_instances_poll_the_database(fleet: Fleet) -> None:
    env = shared_env(fleet, redis=False)
    init(fleet, env)
    a, b = fleet.start(env, name="a"), fleet.start(env, name="b")
    tokens = login(a.base_url)
    assert (
        httpx.post(
            f"{b.base_url}/api/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 204
    )
    assert within(2.0, lambda: protected(a.base_url, tokens["access_token"]) == 401) < 2.0


def test_fifty_concurrent_refreshes_of_one_token_over_two_instances(fleet: Fleet) -> None:
    env = shared_env(fleet)
    init(fleet, env)
    a, b = fleet.start(env, name="a"), fleet.start(env, name="b")
    tokens = login(a.base_url)

    def refresh(index: int) -> int:
        url = (a, b)[index % 2].base_url
        return httpx.post(
            f"{url}/api/token/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(refresh, range(50)))
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) >= 1

    async def live_tokens() -> list[int]:
        store = SqlStore.from_url(env["JWTGATE_DATABASE_URL"])
        try:

            def count(conn: sa.Connection) -> list[int]:
                query = sa.text(
                    "SELECT count(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id "
                    "WHERE t.used_at IS NULL AND s.revoked_at IS NULL GROUP BY t.session_id"
                )
                return [int(row[0]) for row in conn.execute(query)]

            return list(await store.run_read(count))
        finally:
            await store.close()

    assert all(n <= 1 for n in asyncio.run(live_tokens()))


def test_instances_started_together_on_an_empty_database(fleet: Fleet) -> None:
    """Regression: started at the same moment on an empty database, one instance often exited
    (alembic_version created twice) and both created the demo user."""
    for trial in range(10):
        env = shared_env(fleet, redis=False)
        pair = [fleet.spawn(env, name=f"t{trial}-a"), fleet.spawn(env, name=f"t{trial}-b")]
        for instance in pair:
            instance.wait_ready()

        async def state(url: str = env["JWTGATE_DATABASE_URL"]) -> tuple[int, int]:
            store = SqlStore.from_url(url)
            try:
                keys = len(await store.load_keys())
                users = await store.count_users()
                return keys, users
            finally:
                await store.close()

        assert asyncio.run(state()) == (2, 1), trial
        printed = "".join(i.output() for i in pair)  # the demo password is shown on stdout only
        assert printed.count("Created user 'demo'") == 1, trial
        jwks = {
            json.dumps(httpx.get(f"{i.base_url}/.well-known/jwks.json").json(), sort_keys=True) for i in pair
        }
        assert len(jwks) == 1
        for instance in pair:
            instance.stop()


def test_an_instance_on_postgresql_needs_an_explicit_issuer(fleet: Fleet) -> None:
    env = shared_env(fleet, redis=False)
    del env["JWTGATE_ISSUER"]
    done = fleet.cli("serve", "--port", "1", env=env)
    assert done.returncode == 1
    assert "JWTGATE_ISSUER is required with a PostgreSQL database" in done.stderr
    assert "Traceback" not in done.stderr
