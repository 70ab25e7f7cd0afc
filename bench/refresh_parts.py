"""Where the server CPU of one refresh rotation goes, part by part, in one process on PostgreSQL.

    python bench/refresh_parts.py [--database postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                                  [--rounds 9] [--batch 200]

Rows (CPU time of this process per operation, median over interleaved rounds; the database server's own
CPU is not counted, as in bench/fleet.py):

- ``rsa``: the bare RSA-2048 signature (``cryptography``), the floor of any RS256 token;
- ``mint``: ``Issuer.mint`` (claims, JSON, base64url, the signature);
- ``statement``: the rotation's one SQL statement through the store (lookup, spend, child, session);
- ``service``: ``AuthService.refresh`` (the statement, new refresh token, digests, mint);
- ``app, stub service``: ``POST /api/token/refresh`` through the real app with ``service.refresh``
  answering a fixed pair: middleware, body parsing, DPoP nonce, metrics, the JSON answer;
- ``app``: the same request with the real service.

What no row holds: the HTTP server (uvicorn, httptools, the sockets; about 65 us per request for a bare
ASGI app on this machine) and the cost of a busy machine (caches shared with other processes).
"""

# ruff: noqa: E402 - the path fix below must run before the third-party imports

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # see bench/refresh.py
sys.path.insert(0, str(_HERE.parent))  # ``bench.fleet``

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from bench.asgi import http_scope

from jwtgate.server import create_app
from jwtgate.service import Argon2Hasher, AuthService, ServicePolicy, TokenPair, opaque
from jwtgate.settings import load_settings
from jwtgate.storage import open_store

Op = Callable[[], Awaitable[None]]


def _asgi_post(app: Any, body: bytes, answers: list[bytes]) -> Op:
    """One POST /api/token/refresh through ``app``'s ASGI interface; the body of the answer lands in
    ``answers``."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def post() -> None:
        scope = http_scope("POST", "/api/token/refresh", headers)
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise SystemExit(f"refresh answered {message['status']}")
            if message["type"] == "http.response.body":
                answers.append(message.get("body", b""))

        await app(scope, receive, send)

    return post


async def measure(url: str, rounds: int, batch: int) -> dict[str, float]:
    store = await open_store(url)
    await store.migrate()
    service = await AuthService.open(
        store=store,
        policy=ServicePolicy(issuer="https://bench.local", signing_alg="RS256"),
        hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),  # login is not measured
        maintenance_interval=None,
    )
    stubbed = await AuthService.open(
        store=await open_store("memory://"),
        policy=ServicePolicy(issuer="https://bench.local", signing_alg="RS256"),
        hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),
        maintenance_interval=None,
    )
    try:
        await service.add_user("bench", "timing run password")
        token = (await service.login("bench", "timing run password")).refresh_token
        issuer = service._authority.issuer
        key = issuer.key
        current = [token]

        async def rsa() -> None:
            key.sign(b"x" * 700)

        async def mint() -> None:
            issuer.mint("bench", ttl=900, session_id="s" * 22, claims={"username": "bench", "roles": []})

        async def statement() -> None:
            child = opaque.new_refresh_token()
            done = await store.rotate_client_refresh_token(
                opaque.digest(current[0]), opaque.digest(child), time.time(), 3600.0, None, None
            )
            if done is None:
                raise SystemExit("the rotation statement refused the token")
            current[0] = child

        async def refresh() -> None:
            current[0] = (await service.refresh(current[0])).refresh_token

        pair = TokenPair(
            access_token=issuer.issue("bench"),
            refresh_token=opaque.new_refresh_token(),
            expires_in=900,
            session_id="s" * 22,
            scope="read",
        )

        async def fixed_pair(*args: object, **kwargs: object) -> TokenPair:
            return pair

        stubbed.refresh = fixed_pair  # type: ignore[method-assign]
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(data_dir=Path(tmp), issuer="https://bench.local")
            stub_app = create_app(settings, service=stubbed)
            real_app = create_app(settings, service=service)
            stub_answers: list[bytes] = []
            stub_post = _asgi_post(
                stub_app, json.dumps({"refresh_token": pair.refresh_token}).encode(), stub_answers
            )
            answers: list[bytes] = []

            async def app_refresh() -> None:
                await _asgi_post(real_app, json.dumps({"refresh_token": current[0]}).encode(), answers)()
                current[0] = json.loads(answers.pop())["refresh_token"]

            async def stub() -> None:
                await stub_post()
                stub_answers.clear()

            rows: dict[str, Op] = {
                "rsa": rsa,
                "mint": mint,
                "statement": statement,
                "service": refresh,
                "app, stub service": stub,
                "app": app_refresh,
            }
            samples: dict[str, list[float]] = {name: [] for name in rows}
            for operation in rows.values():  # warm up
                for _ in range(20):
                    await operation()
            for index in range(rounds):
                names = list(rows)
                names = names[index % len(names) :] + names[: index % len(names)]
                for name in names:
                    operation = rows[name]
                    started = time.process_time()
                    for _ in range(batch):
                        await operation()
                    samples[name].append(1e6 * (time.process_time() - started) / batch)
    finally:
        await service.close()
        await stubbed.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    from bench.fleet import database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    with database(args.database) as url:
        figures = uvloop.run(measure(url, args.rounds, args.batch))
    for name, us in figures.items():
        print(f"{name:20s} {us:7.1f} us of CPU ({us / figures['rsa']:.2f}x the RSA signature)")


if __name__ == "__main__":
    main()
