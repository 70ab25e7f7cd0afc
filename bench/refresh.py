"""Refresh rotations per second: through AuthService in process, or across real instances.

In process (default): each operation is a full ``service.refresh()`` on SQLite (a temporary file) or
memory: token lookup, the conditional UPDATE + child INSERT in one transaction, signing a new access token.
Sequential, one process, bounded in time. ``--http`` also measures ``POST /api/token/refresh`` through the
real FastAPI app (in process, over httpx's ASGI transport) on the same service.

    PYTHONPATH=src python bench/refresh.py [--seconds 3] [--alg RS256] [--database sqlite|memory] [--http]

Across instances: ``--database postgresql+asyncpg://postgres@127.0.0.1:5432/test --instances 2`` starts
that many real ``jwtgate serve`` processes on a fresh database of that server (dropped afterwards), drives
chained refreshes over HTTP (``--chains`` concurrent chains, each hopping between instances) and reports
rotations/s, p50/p99 latency and the servers' CPU-ms per rotation (from /proc) beside the CPU cost of one
signature; then the revocation propagation between instances over ``--trials`` logouts, with Redis
(``--redis``, default redis://127.0.0.1:6379/0) and without.
"""

# ruff: noqa: E402 - the path fix below must run before the third-party imports

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/refresh.py``, this folder comes first on sys.path, and its sibling bench/http.py
# would shadow the standard library's ``http`` package (httpx needs it). Drop the folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # ``bench.fleet`` for --instances

import argparse
import asyncio
import json
import tempfile
import time

from jwtgate.service import Argon2Hasher, AuthService, ServicePolicy
from jwtgate.storage import open_store


async def _http_rotations(service: AuthService, refresh_token: str, seconds: float) -> tuple[int, float]:
    import httpx

    from jwtgate.server import create_app
    from jwtgate.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(load_settings(data_dir=Path(tmp)), service=service)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:

            async def rotate(token: str) -> str:
                response = await http.post("/api/token/refresh", json={"refresh_token": token})
                response.raise_for_status()
                return str(response.json()["refresh_token"])

            for _ in range(20):  # warm up
                refresh_token = await rotate(refresh_token)
            done = 0
            started = time.perf_counter()
            while time.perf_counter() < started + seconds:
                for _ in range(20):
                    refresh_token = await rotate(refresh_token)
                done += 20
            return done, time.perf_counter() - started


async def run(seconds: float, alg: str, database: str, http: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = "memory://" if database == "memory" else f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"
        store = await open_store(url)
        await store.migrate()
        service = await AuthService.open(
            store=store,
            policy=ServicePolicy(issuer="https://bench.local", signing_alg=alg),
            hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),  # login is not measured
            maintenance_interval=None,
        )
        try:
            await service.add_user("bench", "timing run password")
            pair = await service.login("bench", "timing run password")
            for _ in range(50):  # warm up
                pair = await service.refresh(pair.refresh_token)
            done = 0
            started = time.perf_counter()
            deadline = started + seconds
            while time.perf_counter() < deadline:
                for _ in range(20):
                    pair = await service.refresh(pair.refresh_token)
                done += 20
            elapsed = time.perf_counter() - started
            # The signing floor, measured in the same run: what a refresh costs with no storage at all.
            issuer = service._authority.issuer
            signed = 0
            sign_started = time.perf_counter()
            while time.perf_counter() < sign_started + min(seconds, 2.0):
                for _ in range(20):
                    issuer.mint("bench", ttl=900, session_id="s", claims={"username": "bench"})
                signed += 20
            sign_elapsed = time.perf_counter() - sign_started
            http_done, http_elapsed = (
                await _http_rotations(service, pair.refresh_token, seconds) if http else (0, 0.0)
            )
        finally:
            await service.close()
    return {
        "database": database,
        "alg": alg,
        "rotations": done,
        "seconds": round(elapsed, 3),
        "ops_per_s": round(done / elapsed),
        "sign_only_ops_per_s": round(signed / sign_elapsed),
        "http_ops_per_s": round(http_done / http_elapsed) if http_elapsed else None,
    }


def fleet_figures(args: argparse.Namespace) -> dict[str, object]:
    from bench.fleet import Fleet, database, propagation, rotations, sign_cpu_ms

    results: dict[str, object] = {"alg": args.alg, "instances": args.instances, "chains": args.chains}
    with tempfile.TemporaryDirectory() as tmp:
        with (
            database(args.database) as url,
            Fleet(url, args.instances, redis_url=args.redis, alg=args.alg, workdir=Path(tmp) / "r") as fleet,
        ):
            results["refresh"] = rotations(fleet, chains=args.chains, seconds=args.seconds)
            results["propagation_redis"] = propagation(fleet, args.trials)
        with (
            database(args.database) as url,
            Fleet(url, args.instances, redis_url=None, alg=args.alg, workdir=Path(tmp) / "p") as fleet,
        ):
            results["propagation_polling"] = propagation(fleet, args.trials)
    results["sign_cpu_ms"] = sign_cpu_ms(args.alg)
    refresh = results["refresh"]
    assert isinstance(refresh, dict)
    results["cpu_per_rotation_in_signatures"] = refresh["server_cpu_ms_per_rotation"] / results["sign_cpu_ms"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--alg", default="RS256")
    parser.add_argument("--database", default="sqlite", help="sqlite, memory, or a postgresql+asyncpg:// URL")
    parser.add_argument("--instances", type=int, default=0, help="real jwtgate serve processes (PostgreSQL)")
    parser.add_argument("--chains", type=int, default=8, help="concurrent refresh chains (--instances)")
    parser.add_argument("--trials", type=int, default=100, help="revocation propagation trials (--instances)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--http", action="store_true", help="also through the HTTP app")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.instances:
        if not args.database.startswith("postgresql"):
            parser.error("--instances needs --database postgresql+asyncpg://...")
        figures = fleet_figures(args)
        print(json.dumps(figures, indent=2, default=lambda v: round(v, 3)))
        return
    if args.database not in ("sqlite", "memory"):
        parser.error("in process: --database sqlite or memory")
    result = asyncio.run(run(args.seconds, args.alg, args.database, args.http))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"refresh rotations ({result['database']}, {result['alg']}): "
            f"{result['ops_per_s']} ops/s ({result['rotations']} in {result['seconds']} s); "
            f"signing alone: {result['sign_only_ops_per_s']} ops/s"
        )
        if result["http_ops_per_s"] is not None:
            print(f"through the HTTP app (POST /api/token/refresh): {result['http_ops_per_s']} ops/s")


if __name__ == "__main__":
    main()
