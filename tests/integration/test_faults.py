"""Faults, with real ``jwtgate serve`` processes (issue 12, item 6): ``kill -9`` in the middle of a refresh
storm then a restart on the same database, PostgreSQL out of an instance's reach and back, Redis out of
reach and back. The outages go through a :class:`~processes.TcpForwarder` between the instance and the
service, stopped and started by the test; what each test found is printed (``pytest -s``) for the notes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from jwtgate.service import opaque
from jwtgate.storage.sql import SqlStore
from processes import REDIS_URL, Fleet

pytestmark = [pytest.mark.slow]

ISSUER = "https://auth.faults.test"
PASSWORD = "faults password 1"
TIMEOUT = 30.0


# -- helpers ------------------------------------------------------------------------------------------
def init(fleet: Fleet, env: dict[str, str]) -> None:
    done = fleet.cli("init", "--user", "alice", "--password-stdin", env=env, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr


def login(url: str, password: str = PASSWORD, *, http: httpx.Client | None = None) -> httpx.Response:
    body = {"username": "alice", "password": password}
    return (http or httpx).post(f"{url}/api/login", json=body, timeout=TIMEOUT)


def logged_in(url: str) -> dict[str, Any]:
    response = login(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(url: str, refresh_token: str, *, http: httpx.Client | None = None) -> httpx.Response:
    """``http``: a client of the calling thread (storms): a new one per request costs more CPU than
    the refresh itself."""
    body = {"refresh_token": refresh_token}
    return (http or httpx).post(f"{url}/api/token/refresh", json=body, timeout=TIMEOUT)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def protected(url: str, access_token: str) -> int:
    return httpx.get(f"{url}/api/protected", headers=bearer(access_token), timeout=TIMEOUT).status_code


def logout(url: str, access_token: str) -> httpx.Response:
    return httpx.post(f"{url}/api/logout", headers=bearer(access_token), timeout=TIMEOUT)


def within(seconds: float, check: Callable[[], bool]) -> float:
    """Poll ``check`` until it holds; how long it took (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.02)  # polling a remote process, not waiting for an expiry
    return time.monotonic() - started


def assert_clean_refusal(response: httpx.Response, status: int = 503) -> None:
    """The one error shape, the expected status, nothing of the internals."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    if status == 503:
        assert body["error"] == "temporarily_unavailable", body
    assert "Traceback" not in response.text
    assert "asyncpg" not in response.text.lower()
    assert "sqlalchemy" not in response.text.lower()


def query(url: str, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the database at ``url`` (directly, not through an instance)."""

    async def run() -> list[tuple[Any, ...]]:
        store = SqlStore.from_url(url)
        try:
            rows = await store.run_read(lambda conn: conn.execute(sa.text(sql), params).all())
            return [tuple(row) for row in rows]
        finally:
            await store.close()

    return asyncio.run(run())


def live_tokens_per_session(url: str) -> dict[str, list[str]]:
    """Unused refresh tokens of every unrevoked session: digest lists by session id."""
    rows = query(
        url,
        "SELECT s.id, t.digest FROM sessions s LEFT JOIN refresh_tokens t "
        "ON t.session_id = s.id AND t.used_at IS NULL WHERE s.revoked_at IS NULL",
    )
    live: dict[str, list[str]] = {}
    for session_id, digest in rows:
        live.setdefault(session_id, [])
        if digest is not None:
            live[session_id].append(digest)
    return live


def postgres_env(fleet: Fleet, **extra: str) -> tuple[dict[str, str], str]:
    url = fleet.database()
    return {
        "JWTGATE_DATABASE_URL": url,
        "JWTGATE_ISSUER": ISSUER,
        "JWTGATE_SYNC_INTERVAL": "0.5",
        **extra,
    }, url


def through(forwarder_port: int, url: str, port: int) -> str:
    return url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{forwarder_port}", 1)


# -- the database out of reach ------------------------------------------------------------------------
@pytest.mark.postgres
def test_database_unreachable_answers_503_hands_out_nothing_unstored_and_recovers(fleet: Fleet) -> None:
    """Regression: PostgreSQL out of reach of a running instance (every connection cut, new ones refused),
    then back. Meanwhile: ``/readyz`` 503, login / refresh / logout 503 ``temporarily_unavailable``, no
    500, no internals in a body, no traceback in the log; the logout did not happen; logins refused
    during the outage are not failed attempts (no lockout after it); the same process serves again
    once the database is back, from the first request on, also after a blip nobody saw (its pools
    hold only dead connections by then)."""
    env, direct = postgres_env(fleet)
    init(fleet, env)
    proxy = fleet.forwarder(5432)
    a = fleet.start({**env, "JWTGATE_DATABASE_URL": through(proxy.port, direct, 5432)}, name="a")
    b = fleet.start(env, name="b")  # on the database directly: the outage is A's alone
    first = logged_in(a.base_url)
    second = logged_in(a.base_url)
    assert refresh(a.base_url, second["refresh_token"]).status_code == 200  # every pool has connections

    proxy.stop()
    outage_started = time.monotonic()
    ready = httpx.get(f"{a.base_url}/readyz", timeout=TIMEOUT)
    assert_clean_refusal(ready)
    assert ready.json()["error_description"] == "the database does not answer"
    for _ in range(6):  # more than the failed-login limit (5): a refusal is not a failed attempt
        assert_clean_refusal(login(a.base_url))
    assert_clean_refusal(refresh(a.base_url, first["refresh_token"]))
    assert_clean_refusal(logout(a.base_url, first["access_token"]))
    assert_clean_refusal(
        httpx.get(f"{a.base_url}/api/sessions", headers=bearer(first["access_token"]), timeout=TIMEOUT)
    )
    assert login(a.base_url, "a wrong password").status_code == 503  # not 401: nothing was checked
    # Access tokens verify offline, against the denylist as last synced: every request is served for
    # the first minute of an outage (then 503: see test_service_refresh's outage test), whichever
    # request a failing sync falls on.
    api = []
    for _ in range(20):
        api.append(
            httpx.get(f"{a.base_url}/api/protected", headers=bearer(first["access_token"]), timeout=TIMEOUT)
        )
        time.sleep(0.1)  # spread over two sync intervals, so that syncs fall due and fail
    assert [r.status_code for r in api] == [200] * 20, [r.text for r in api if r.status_code != 200]
    assert httpx.get(f"{a.base_url}/healthz", timeout=TIMEOUT).status_code == 200  # alive, not ready
    refusals_took = time.monotonic() - outage_started

    # A revocation made elsewhere while A is cut off reaches A once it is back (its sync loop survived).
    assert logout(b.base_url, second["access_token"]).status_code == 204

    proxy.start()
    # The first requests after the database came back already succeed: no 503 while pools heal.
    recovered_at = time.monotonic()
    assert httpx.get(f"{a.base_url}/readyz", timeout=TIMEOUT).status_code == 200
    again = refresh(a.base_url, first["refresh_token"])  # the logout answered 503 did not happen
    assert again.status_code == 200, again.text
    assert protected(a.base_url, again.json()["access_token"]) == 200
    assert logged_in(a.base_url)["token_type"] == "Bearer"
    first_requests_took = time.monotonic() - recovered_at
    revocation_seen = within(5.0, lambda: protected(a.base_url, second["access_token"]) == 401)
    # A blip with no request during it: the pools still hold the connections it cut. The first
    # requests after it must not be the ones that find out.
    proxy.stop()
    proxy.start()
    assert httpx.get(f"{a.base_url}/readyz", timeout=TIMEOUT).status_code == 200
    assert logged_in(a.base_url)["token_type"] == "Bearer"
    again = refresh(a.base_url, again.json()["refresh_token"])
    assert again.status_code == 200, again.text
    assert "Traceback" not in a.log()
    print(
        f"\n[faults] database out of reach: 13 requests refused in {refusals_took:.2f} s (503, no 500); "
        f"/api/protected with a valid token: all {len(api)} served from the synced denylist; "
        f"back: first 4 requests all 200 in {first_requests_took:.2f} s; a logout made elsewhere "
        f"during the outage applied {revocation_seen:.2f} s after recovery"
    )


@pytest.mark.postgres
def test_database_that_stops_answering_gets_503_within_a_bound(fleet: Fleet) -> None:
    """Regression: PostgreSQL reachable but silent (a network partition: connections stay open, nothing
    comes back). Requests must not hang: a clean 503 within a bound, then recovery once it heals."""
    env, direct = postgres_env(fleet)
    init(fleet, env)
    proxy = fleet.forwarder(5432)
    a = fleet.start({**env, "JWTGATE_DATABASE_URL": through(proxy.port, direct, 5432)}, name="a")
    opened = refresh(a.base_url, logged_in(a.base_url)["refresh_token"])  # the refresh pool is open
    assert opened.status_code == 200, opened.text
    pair = opened.json()

    proxy.stall()
    took = {}
    for name, call in (
        ("readyz", lambda: httpx.get(f"{a.base_url}/readyz", timeout=TIMEOUT)),
        ("login", lambda: login(a.base_url)),
        ("refresh", lambda: refresh(a.base_url, pair["refresh_token"])),
    ):
        started = time.monotonic()
        assert_clean_refusal(call())
        took[name] = time.monotonic() - started
    # Bounded by the runner's timeouts (connect 5 s, statement 10 s; a refresh may meet two).
    assert max(took.values()) < 25.0, took

    proxy.stop()
    proxy.start()
    healed = within(30.0, lambda: httpx.get(f"{a.base_url}/readyz", timeout=TIMEOUT).status_code == 200)
    again = refresh(a.base_url, pair["refresh_token"])
    assert again.status_code == 200, again.text
    print(
        "\n[faults] database silent: "
        + ", ".join(f"{name} 503 in {seconds:.1f} s" for name, seconds in took.items())
        + f"; healed: ready again in {healed:.1f} s, the session refreshes"
    )


@pytest.mark.postgres
def test_database_cut_in_the_middle_of_a_login_and_refresh_storm(fleet: Fleet) -> None:
    """Regression: the database cut while logins and refreshes are in flight. Every answer is 200 or 503;
    every token pair handed out was stored: after recovery, its refresh token is in the database and its
    access token is accepted."""
    env, direct = postgres_env(fleet)
    init(fleet, env)
    proxy = fleet.forwarder(5432)
    a = fleet.start({**env, "JWTGATE_DATABASE_URL": through(proxy.port, direct, 5432)}, name="a")
    chains = [logged_in(a.base_url)["refresh_token"] for _ in range(8)]
    handed_out: list[dict[str, Any]] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(response: httpx.Response) -> dict[str, Any] | None:
        with lock:
            statuses.append(response.status_code)
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert_clean_refusal(response)
            return None
        body: dict[str, Any] = response.json()
        with lock:
            handed_out.append(body)
        return body

    def chain(index: int) -> None:
        token = chains[index]
        with httpx.Client() as http:
            while not stop.is_set():
                if index == 0:  # one client logs in over and over (argon2: keep it to one)
                    record(login(a.base_url, http=http))
                    continue
                body = record(refresh(a.base_url, token, http=http))
                if body is not None:
                    token = body["refresh_token"]
                elif not proxy.forwarding:
                    time.sleep(0.05)  # pacing the retries of a client during the outage

    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        running = [pool.submit(chain, i) for i in range(len(chains))]
        try:
            within(60.0, lambda: len(handed_out) >= 100)
            proxy.stop()
            cut_at = len(statuses)
            within(60.0, lambda: statuses[cut_at:].count(503) >= 20)
            proxy.start()
            back_at = len(handed_out)
            within(60.0, lambda: len(handed_out) >= back_at + 100)
        finally:
            stop.set()
        for future in running:
            future.result()

    stored = {row[0] for row in query(direct, "SELECT digest FROM refresh_tokens")}
    missing = [b for b in handed_out if opaque.digest(b["refresh_token"]) not in stored]
    assert not missing, f"{len(missing)} refresh tokens handed out but not stored"
    sample = handed_out[:: max(1, len(handed_out) // 50)]
    assert all(protected(a.base_url, b["access_token"]) == 200 for b in sample)
    assert all(len(live) <= 1 for live in live_tokens_per_session(direct).values())
    print(
        f"\n[faults] database cut mid-storm: {len(statuses)} answers, {statuses.count(200)} x 200, "
        f"{statuses.count(503)} x 503, 0 other; {len(handed_out)} pairs handed out, all stored"
    )


# -- kill -9 mid-storm ------------------------------------------------------------------------------
CHAINS = 24


def storm_env(fleet: Fleet, backend: str, data_dir: Path) -> tuple[dict[str, str], str]:
    # A grace window wider than the default: the retries below come after a restart, which takes a few
    # seconds on a loaded machine; what the test checks does not depend on its width.
    common = {"JWTGATE_ISSUER": ISSUER, "JWTGATE_REFRESH_REUSE_GRACE": "60"}
    if backend == "postgresql":
        env, url = postgres_env(fleet, **common)
        return env, url
    return {**common, "JWTGATE_DATA_DIR": str(data_dir)}, f"sqlite+aiosqlite:///{data_dir / 'jwtgate.db'}"


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def test_kill_9_in_the_middle_of_a_refresh_storm_then_restart(
    fleet: Fleet, backend: str, tmp_path: Path
) -> None:
    """Regression: ``kill -9`` while many sessions rotate their refresh tokens, then a new instance on the
    same database. Each client retries with the last token it received (the answer to its in-flight
    request was lost, the rotation may or may not have been committed): every session rotates again, no
    session holds two unused refresh tokens, no session or user is lost, a logout made before the kill
    stays in force."""
    data_dir = tmp_path / "data"
    env, url = storm_env(fleet, backend, data_dir)
    init(fleet, env)
    a = fleet.start(env, name="a", data_dir=data_dir)
    with ThreadPoolExecutor(max_workers=4) as pool:
        pairs = list(pool.map(lambda _: logged_in(a.base_url), range(CHAINS + 1)))
    gone = pairs.pop()
    assert logout(a.base_url, gone["access_token"]).status_code == 204
    users_before = query(url, "SELECT count(*) FROM users")[0][0]
    sessions_before = query(url, "SELECT count(*) FROM sessions")[0][0]

    tokens = [pair["refresh_token"] for pair in pairs]
    rotations = [0] * CHAINS
    lost = [0] * CHAINS

    stop = threading.Event()

    def storm(index: int) -> None:
        with httpx.Client() as http:
            while not stop.is_set():
                try:
                    response = refresh(a.base_url, tokens[index], http=http)
                except httpx.TransportError:
                    lost[index] += 1  # the server died under this request: keep the last token received
                    return
                assert response.status_code == 200, response.text
                tokens[index] = response.json()["refresh_token"]
                rotations[index] += 1

    with ThreadPoolExecutor(max_workers=CHAINS) as pool:
        running = [pool.submit(storm, i) for i in range(CHAINS)]
        try:
            within(120.0, lambda: sum(rotations) >= 20 * CHAINS)
            a.kill()
        finally:
            stop.set()  # should the storm fail: no thread outlives the test
        killed_after = sum(rotations)
        for future in running:
            future.result()
    in_flight = sum(lost)

    restarted_at = time.monotonic()
    b = fleet.start(env, name="b", data_dir=data_dir)
    restart_took = time.monotonic() - restarted_at
    assert sessions_before == query(url, "SELECT count(*) FROM sessions")[0][0]
    assert users_before == query(url, "SELECT count(*) FROM users")[0][0]

    grace_pairs = 0
    for index in range(CHAINS):
        retried = refresh(b.base_url, tokens[index])
        assert retried.status_code == 200, (index, retried.text)
        onward = refresh(b.base_url, retried.json()["refresh_token"])  # and the chain goes on as usual
        assert onward.status_code == 200, (index, onward.text)
        tokens[index] = onward.json()["refresh_token"]
        assert protected(b.base_url, onward.json()["access_token"]) == 200
    grace_pairs = int(query(url, "SELECT count(*) FROM audit_events WHERE kind = 'refresh_grace'")[0][0])

    live = live_tokens_per_session(url)
    assert len(live) == CHAINS  # the logged-out session is not among them
    assert all(len(digests) == 1 for digests in live.values()), live
    assert sorted(d for digests in live.values() for d in digests) == sorted(
        opaque.digest(token) for token in tokens
    )
    assert refresh(b.base_url, gone["refresh_token"]).status_code == 401
    assert protected(b.base_url, gone["access_token"]) == 401
    assert query(url, "SELECT count(*) FROM sessions")[0][0] == sessions_before
    assert "Traceback" not in b.log()
    print(
        f"\n[faults] kill -9 ({backend}): {CHAINS} chains, killed after {killed_after} rotations with "
        f"{in_flight} requests in flight; restart in {restart_took:.1f} s; all {CHAINS} sessions rotate, "
        f"{grace_pairs} through the grace window (rotation committed, answer lost); 1 live refresh "
        f"token per session; {sessions_before} sessions and {users_before} users kept; logout kept"
    )


# -- Redis out of reach -------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.redis
def test_redis_unreachable_logins_work_and_revocations_arrive_by_polling(fleet: Fleet) -> None:
    """Regression: Redis out of reach of two instances configured with it, then back. Logins and
    refreshes still work (failed-login limits fall back to each process), a logout on one instance still
    reaches the other (through the database's version counter), nothing answers 5xx; once Redis is back,
    revocations are pushed again."""
    proxy = fleet.forwarder(6379)
    env, _ = postgres_env(
        fleet,
        JWTGATE_REDIS_URL=through(proxy.port, REDIS_URL, 6379),
        JWTGATE_REDIS_CHANNEL=fleet.channel(),
        # Polls far apart: a revocation seen within half a second three times in a row was pushed.
        JWTGATE_SYNC_INTERVAL="5",
    )
    init(fleet, env)
    a, b = fleet.start(env, name="a"), fleet.start(env, name="b")

    def pushed() -> float:
        """How long a logout on B takes to reach A; three in a row, the slowest."""
        took = []
        for _ in range(3):
            fresh = logged_in(a.base_url)
            assert logout(b.base_url, fresh["access_token"]).status_code == 204
            took.append(within(8.0, lambda: protected(a.base_url, fresh["access_token"]) == 401))  # noqa: B023
        return max(took)

    pushed_before = pushed()
    assert pushed_before < 0.5

    proxy.stop()
    statuses: list[int] = []

    def seen(response: httpx.Response) -> httpx.Response:
        statuses.append(response.status_code)
        assert "Traceback" not in response.text
        return response

    started = time.monotonic()
    pair = seen(login(a.base_url)).json()
    on_b = seen(login(b.base_url)).json()
    login_took = time.monotonic() - started
    assert seen(refresh(b.base_url, pair["refresh_token"])).status_code == 200
    # The failed-login limit still holds, in each process on its own (5 failures per account).
    failures = [seen(login(a.base_url, "not the password")).status_code for _ in range(6)]
    assert failures == [401] * 5 + [429], failures
    assert seen(login(b.base_url)).status_code == 200  # B's own counters: A's failures are not seen
    # A logout on A reaches B by polling the database.
    assert seen(logout(a.base_url, on_b["access_token"])).status_code == 204
    polled = within(8.0, lambda: protected(b.base_url, on_b["access_token"]) == 401)
    assert all(status < 500 for status in statuses), statuses

    proxy.start()
    # Redis is back: the subscribers reconnect and revocations are pushed again (well under the poll).
    # The subscribers reconnect on their own (backoff): until then a revocation comes by polling.
    reconnected = within(30.0, lambda: pushed() < 0.5)
    pushed_after = pushed()
    assert pushed_after < 0.5
    print(
        f"\n[faults] Redis out of reach: {len(statuses)} requests, none 5xx; 2 logins in "
        f"{login_took:.2f} s; per-process limit: 429 after 5 failures; a logout reached the other "
        f"instance by polling in {polled:.2f} s (poll every 5 s); Redis back: pushed again "
        f"within {reconnected:.1f} s, revocations pushed in {pushed_after * 1000:.0f} ms "
        f"(before the outage {pushed_before * 1000:.0f} ms)"
    )
