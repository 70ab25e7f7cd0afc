"""Real ``jwtgate serve`` instances on PostgreSQL (and Redis) for bench/refresh.py ``--instances``.

Starts N servers on one fresh database (created on the given server, dropped afterwards), drives chained
refreshes over HTTP from concurrent chains, and reads each server's CPU time from /proc, so the figure is
CPU per rotation whatever else the machine runs. Also measures how long a logout on one instance takes to
be refused by another (revocation propagation), with and without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

PASSWORD = "rotation chain seven"
ISSUER = "https://bench.fleet"
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url`` (postgresql+asyncpg://user@host:port/db)."""
    import asyncpg

    parts = urlsplit(server_url)
    name = f"jwtgate_bench_{uuid.uuid4().hex[:10]}"
    admin = {
        "host": parts.hostname,
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "database": "postgres",
    }

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(**admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{parts.scheme}://{parts.netloc}/{name}"
    finally:
        asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Fleet:
    def __init__(self, url: str, instances: int, *, redis_url: str | None, alg: str, workdir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
        self.env.update(
            JWTGATE_DATABASE_URL=url,
            JWTGATE_ISSUER=ISSUER,
            JWTGATE_SIGNING_ALG=alg,
            JWTGATE_LOG_LEVEL="warning",
            JWTGATE_LOGIN_MAX_FAILURES_IP="100000",
        )
        if redis_url:
            self.env.update(
                JWTGATE_REDIS_URL=redis_url, JWTGATE_REDIS_CHANNEL=f"bench-{uuid.uuid4().hex[:8]}"
            )
        src = str(Path(__file__).resolve().parents[1] / "src")
        self.env["PYTHONPATH"] = src + os.pathsep + self.env.get("PYTHONPATH", "")
        self.count = instances
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []

    def __enter__(self) -> Fleet:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jwtgate",
                "init",
                "--user",
                "bench",
                "--password-stdin",
                "--data-dir",
                str(self.workdir / "init"),
            ],
            input=(PASSWORD + "\n").encode(),
            env=self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(done.stderr.decode())
        for index in range(self.count):
            port = _free_port()
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "jwtgate",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--data-dir",
                        str(self.workdir / f"i{index}"),
                    ],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} did not start")
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes)


async def _chains(
    urls: list[str], chains: int, seconds: float, mark: Callable[[], None] = lambda: None
) -> tuple[int, list[float], int]:
    """``chains`` logins, then ``mark()``, then chained refreshes for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=chains * 2, max_keepalive_connections=chains * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        tokens = []
        for index in range(chains):
            login = await http.post(
                f"{urls[index % len(urls)]}/api/login", json={"username": "bench", "password": PASSWORD}
            )
            login.raise_for_status()
            tokens.append(login.json()["refresh_token"])
        mark()  # the logins (argon2) are not part of what is measured
        deadline = time.perf_counter() + seconds

        async def chain(index: int) -> int:
            nonlocal errors
            token, done, hop = tokens[index], 0, index
            while time.perf_counter() < deadline:
                hop += 1
                started = time.perf_counter()
                response = await http.post(
                    f"{urls[hop % len(urls)]}/api/token/refresh", json={"refresh_token": token}
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1
                    break
                token = response.json()["refresh_token"]
                done += 1
            return done

        counts = await asyncio.gather(*(chain(i) for i in range(chains)))
    return sum(counts), latencies, errors


def rotations(fleet: Fleet, *, chains: int, seconds: float) -> dict[str, float]:
    asyncio.run(_chains(fleet.urls, chains, 1.0))  # warm up
    start: list[float] = []
    done, latencies, errors = asyncio.run(
        _chains(fleet.urls, chains, seconds, lambda: start.extend((fleet.cpu(), time.perf_counter())))
    )
    elapsed, cpu = time.perf_counter() - start[1], fleet.cpu() - start[0]
    latencies.sort()
    return {
        "rotations_per_s": done / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "server_cpu_ms_per_rotation": 1000 * cpu / max(done, 1),
        "errors": errors,
    }


def propagation(fleet: Fleet, trials: int) -> dict[str, float]:
    """Logout on instance B; how long until instance A refuses the access token."""
    a, b = fleet.urls[0], fleet.urls[-1]
    seen: list[float] = []
    with httpx.Client(timeout=10) as http:
        for _ in range(trials):
            login = http.post(f"{a}/api/login", json={"username": "bench", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {login['access_token']}"}
            assert http.get(f"{a}/api/protected", headers=headers).status_code == 200
            assert http.post(f"{b}/api/logout", headers=headers).status_code == 204
            started = time.perf_counter()
            while http.get(f"{a}/api/protected", headers=headers).status_code != 401:
                if time.perf_counter() - started > 10:
                    raise SystemExit("a revocation did not propagate within 10 s")
            seen.append(time.perf_counter() - started)
    seen.sort()
    return {"median_ms": 1000 * statistics.median(seen), "max_ms": 1000 * seen[-1], "trials": trials}


def sign_cpu_ms(alg: str, seconds: float = 2.0) -> float:
    from jwtgate import Issuer, generate_key

    issuer = Issuer(generate_key(alg), issuer=ISSUER, audience="jwtgate")
    started, done = time.process_time(), 0
    while time.process_time() - started < seconds:
        for _ in range(20):
            issuer.mint("bench", ttl=900, session_id="s", claims={"username": "bench"})
        done += 20
    return 1000 * (time.process_time() - started) / done
