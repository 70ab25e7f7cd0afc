"""HTTP benchmark of the guard: req/s of one small JSON endpoint, open vs protected, side by side.

Run from the repository root: ``python -m bench.http`` (or ``python bench/http.py``). Needs ``wrk``
(``apt-get install -y wrk``) and ``taskset``. Each variant is served by uvicorn (1 worker, uvloop +
httptools) pinned to core 0 and driven by wrk on 127.0.0.1 pinned to core 1, after a warm-up:

* ``open``: a FastAPI endpoint returning a small JSON object, no authentication (sent the same
  ``Authorization`` header as the protected runs, which it ignores: same requests, with or without guard);
* ``protected``: the same app behind :class:`jwtgate.protect.JWTAuthMiddleware`, one repeated token
  (served from the verified-token cache after the first request);
* ``per-request token``: the same protected server, wrk cycling through more distinct pre-issued tokens
  than the cache holds, so every request pays a full RS256 verification;
* ``floor HS256`` / ``floor RS256``: the in-situ floor, a bare ASGI middleware in front of the same app
  doing only what a correct check must (split, signature with the bare ``cryptography``/``hmac``
  primitive, ``orjson``, ``iss``/``aud``/``exp``), with a new token per request;
* ``guard fresh HS256`` / ``guard repeated HS256`` (and the RS256 rows above): the guard with a new
  token per request and with one repeated token, HS256 keys;
* ``tutorial``: the FastAPI-tutorial style endpoint (``OAuth2PasswordBearer`` + ``jwt.decode`` of PyJWT in
  a ``get_current_user`` dependency, a user lookup and a pydantic ``User`` response model), verifying the
  same RS256 tokens with the same checks (``iss``, ``aud``, ``exp``; the public key loaded once).

Prints req/s per variant and the ratios guard-fresh/floor (per algorithm), protected/open,
protected/tutorial. Any non-2xx answer makes the run invalid (reported). This is a benchmark, not a
test: nothing asserts timings. ``python -m bench.http profile [--alg RS256]`` profiles the fresh-token
path in process (cProfile over the ASGI middleware, no HTTP server) and prints the top functions.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the tutorial app's annotations, which
# refer to classes defined inside a function.
import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and shadow the standard library's
# ``http`` package (which uvicorn and httpx import): drop it before importing anything else.
_HERE = str(Path(__file__).resolve().parent)
if sys.path and Path(sys.path[0] or ".").resolve() == Path(_HERE):
    sys.path.pop(0)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "jwtgate"
PATH = "/data"
SERVER_CORE = "0"
WRK_CORE = "1"

LUA_CYCLE = """
local tokens = {}
for line in io.lines(os.getenv("JWTGATE_BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


# -- the served apps ---------------------------------------------------------------------------------


def open_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(PATH)
    async def data() -> dict[str, Any]:
        return {"message": "hello", "items": [1, 2, 3]}

    return app


def protected_app(workdir: Path, alg: str = "RS256") -> Any:
    from jwtgate import KeySet, key_from_jwk
    from jwtgate.protect import JWTAuthMiddleware

    if alg == "RS256":
        keys = KeySet.from_jwks(json.loads((workdir / "jwks.json").read_text()))
    else:  # a shared secret: the guard holds the key itself
        keys = KeySet([key_from_jwk(json.loads((workdir / f"key-{alg}.json").read_text()))])
    return JWTAuthMiddleware(open_app(), issuer=ISSUER, audience=AUDIENCE, keys=keys)


def floor_app(workdir: Path, alg: str = "RS256") -> Any:
    """The in-situ floor: the least a correct check does, as a bare ASGI middleware (no typ, kid, nbf,
    size or strictness checks, no revocation, no user object): split, signature, JSON, iss/aud/exp."""
    import base64
    import hashlib
    import hmac

    import orjson
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    app = open_app()
    b64decode = base64.urlsafe_b64decode
    if alg == "HS256":
        secret = b64decode(json.loads((workdir / "key-HS256.json").read_text())["k"] + "==")
        digest = hashlib.sha256

        def check(signing_input: bytes, signature: bytes) -> None:
            if not hmac.compare_digest(hmac.new(secret, signing_input, digest).digest(), signature):
                raise ValueError("bad signature")
    else:
        verify = load_pem_public_key((workdir / "public.pem").read_bytes()).verify  # type: ignore[union-attr]
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

        def check(signing_input: bytes, signature: bytes) -> None:
            verify(signature, signing_input, pkcs1, sha256)  # type: ignore[call-arg]

    refusal = {"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]}

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        try:
            header = next(value for name, value in scope["headers"] if name == b"authorization")
            head, payload, signature = header[7:].split(b".")
            check(head + b"." + payload, b64decode(signature + b"=" * (-len(signature) % 4)))
            claims = orjson.loads(b64decode(payload + b"=" * (-len(payload) % 4)))
            if claims["iss"] != ISSUER or claims["aud"] != AUDIENCE or claims["exp"] <= time.time():
                raise ValueError("claims")
        except Exception:
            await send(refusal)
            await send({"type": "http.response.body", "body": b""})
            return
        scope["auth"] = claims
        await app(scope, receive, send)

    return middleware


def tutorial_app(workdir: Path) -> Any:
    # Shaped after https://fastapi.tiangolo.com/tutorial/security/oauth2-jwt/ (RS256 instead of HS256,
    # since the tokens are jwtgate's; the key is loaded once, as a careful reader would).
    from typing import Annotated

    import jwt
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from fastapi import Depends, FastAPI, HTTPException, status
    from fastapi.security import OAuth2PasswordBearer
    from jwt.exceptions import InvalidTokenError
    from pydantic import BaseModel

    public_key = load_pem_public_key((workdir / "public.pem").read_bytes())
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    class TokenData(BaseModel):
        username: str | None = None

    class User(BaseModel):
        username: str
        disabled: bool | None = None

    users_db = {"alice": {"username": "alice", "disabled": False}}

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> User:
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
        try:
            payload = jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
            username = payload.get("sub")
            if username is None:
                raise credentials_exception
            token_data = TokenData(username=username)
        except InvalidTokenError as err:
            raise credentials_exception from err
        user = users_db.get(token_data.username or "")
        if user is None:
            raise credentials_exception
        return User(**user)  # type: ignore[arg-type]

    async def get_current_active_user(
        current_user: Annotated[User, Depends(get_current_user)],
    ) -> User:
        if current_user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        return current_user

    app = FastAPI()

    @app.get(PATH)
    async def data(current_user: Annotated[User, Depends(get_current_active_user)]) -> dict[str, Any]:
        return {"message": "hello", "items": [1, 2, 3]}

    return app


VARIANTS = ["open", "protected", "protected-HS256", "floor", "floor-HS256", "tutorial"]


def serve(variant: str, port: int, workdir: Path) -> None:
    import uvicorn

    apps = {
        "open": open_app,
        "protected": lambda: protected_app(workdir),
        "protected-HS256": lambda: protected_app(workdir, "HS256"),
        "floor": lambda: floor_app(workdir),
        "floor-HS256": lambda: floor_app(workdir, "HS256"),
        "tutorial": lambda: tutorial_app(workdir),
    }
    uvicorn.run(
        apps[variant](),
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


# -- the driver ------------------------------------------------------------------------------------------


def _issue_batch(args: tuple[dict[str, Any], int, int]) -> list[str]:
    from jwtgate import Issuer, key_from_jwk

    jwk, start, count = args
    issuer = Issuer(key_from_jwk(jwk), issuer=ISSUER, audience=AUDIENCE)
    return [
        issuer.issue("alice", ttl=3600, scope="read", session_id=f"s{n}") for n in range(start, start + count)
    ]


def prepare(workdir: Path, distinct_tokens: int, alg: str = "RS256") -> tuple[str, Path]:
    from jwtgate import KeySet, generate_key

    key = generate_key(alg)
    jwk = key.to_jwk(private=True)
    if alg == "RS256":
        (workdir / "jwks.json").write_text(json.dumps(KeySet([key.public_key()]).to_jwks()))
        (workdir / "public.pem").write_bytes(key.public_key().to_pem(private=False))
    else:
        (workdir / f"key-{alg}.json").write_text(json.dumps(jwk))
    half = distinct_tokens // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        batches = pool.map(_issue_batch, [(jwk, 0, half), (jwk, half, distinct_tokens - half)])
        tokens = [token for batch in batches for token in batch]
    tokens_file = workdir / ("tokens.txt" if alg == "RS256" else f"tokens-{alg}.txt")
    tokens_file.write_text("\n".join(tokens) + "\n")
    (workdir / "cycle.lua").write_text(LUA_CYCLE)
    return tokens[0], tokens_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(variant: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        "taskset",
        "-c",
        SERVER_CORE,
        sys.executable,
        "-m",
        "bench.http",
        "serve",
        variant,
        str(port),
        str(workdir),
    ]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    process = subprocess.Popen(command, cwd=root, env=env)
    url = f"http://127.0.0.1:{port}{PATH}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except urllib.error.HTTPError:
            break  # 401 from a protected variant: it is up
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"{variant} server did not start")
    return process, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str, seconds: int, connections: int, token: str | None, script: Path | None, env: dict[str, str]
) -> dict[str, Any]:
    command = ["taskset", "-c", WRK_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE)
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
        "p99": p99.group(1) if p99 else "?",
    }


def run(
    seconds: int, warmup: int, connections: int, distinct_tokens: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Run every variant ``rounds`` times, interleaved (other load on the machine hits all alike);
    keep each variant's median round."""
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="jwtgate-bench-") as tmp:
        workdir = Path(tmp)
        print(f"issuing {distinct_tokens} RS256 and HS256 tokens ...", flush=True)
        token, tokens_file = prepare(workdir, distinct_tokens)
        hs_token, hs_tokens_file = prepare(workdir, distinct_tokens, "HS256")
        rs_env = {**os.environ, "JWTGATE_BENCH_TOKENS": str(tokens_file)}
        hs_env = {**os.environ, "JWTGATE_BENCH_TOKENS": str(hs_tokens_file)}
        cycle = workdir / "cycle.lua"
        plan = [
            # The open server gets the same requests (header included, ignored): the ratios then
            # measure the guard, not the cost of parsing a longer request.
            ("open", "open", token, None, rs_env),
            ("protected", "protected", token, None, rs_env),
            ("per-request token", "protected", None, cycle, rs_env),
            ("floor RS256", "floor", None, cycle, rs_env),
            ("guard repeated HS256", "protected-HS256", hs_token, None, hs_env),
            ("guard fresh HS256", "protected-HS256", None, cycle, hs_env),
            ("floor HS256", "floor-HS256", None, cycle, hs_env),
            ("tutorial", "tutorial", token, None, rs_env),
        ]
        for round_number in range(1, rounds + 1):
            for name, variant, bearer, script, env in plan:
                process, url = start_server(variant, workdir)
                try:
                    wrk(url, warmup, connections, bearer, script, env)
                    cpu_before = cpu_seconds(process.pid)
                    result = wrk(url, seconds, connections, bearer, script, env)
                    cpu = cpu_seconds(process.pid) - cpu_before
                    # Requests per CPU-second of the server: other load on the machine takes wall
                    # time from every variant unevenly, but not CPU time per request.
                    result["rps_per_cpu"] = result["requests"] / cpu if cpu > 0 else 0.0
                finally:
                    process.terminate()
                    process.wait(10)
                samples.setdefault(name, []).append(result)
                print(
                    f"round {round_number} {name:>18}: {result['rps']:>7.0f} req/s wall, "
                    f"{result['rps_per_cpu']:>7.0f} req/s per server CPU-second, p99 {result['p99']}",
                    flush=True,
                )
    medians = {name: _median(runs) for name, runs in samples.items()}
    # Variants of one round ran seconds apart: their ratio is less exposed to load that comes and goes.
    for name, result in medians.items():
        result["per_round"] = samples[name]
    return medians


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    middle = len(runs) // 2
    return {
        **sorted(runs, key=lambda r: r["rps"])[middle],
        "rps": sorted(r["rps"] for r in runs)[middle],
        "rps_per_cpu": sorted(r["rps_per_cpu"] for r in runs)[middle],
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": " ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }


def report(results: dict[str, dict[str, Any]]) -> None:
    print()
    print(f"{'variant':>26}  {'req/s wall':>10}  {'req/s per CPU-s':>15}   (medians of the rounds)")
    for name, result in results.items():
        print(f"{name:>26}  {result['rps']:10.0f}  {result['rps_per_cpu']:15.0f}")
    print()
    targets = [
        ("guard fresh / floor RS256", "per-request token", "floor RS256", 0.95),
        ("guard fresh / floor HS256", "guard fresh HS256", "floor HS256", 0.95),
        ("protected / open", "protected", "open", 0.95),
        ("repeated HS256 / open", "guard repeated HS256", "open", 0.95),
        ("per-request token / open", "per-request token", "open", 0.8),
        ("floor RS256 / open", "floor RS256", "open", 0.8),
        ("floor HS256 / open", "floor HS256", "open", 0.8),
        ("protected / tutorial", "protected", "tutorial", 2.5),
    ]
    print(f"{'ratio':>26}  {'wall':>6}  {'per CPU-s':>9}  {'per round':>9}  target")
    for label, numerator, denominator, target in targets:
        wall = results[numerator]["rps"] / results[denominator]["rps"]
        cpu = results[numerator]["rps_per_cpu"] / results[denominator]["rps_per_cpu"]
        rounds = sorted(
            top["rps_per_cpu"] / bottom["rps_per_cpu"]
            for top, bottom in zip(
                results[numerator]["per_round"], results[denominator]["per_round"], strict=True
            )
        )
        per_round = rounds[len(rounds) // 2]
        verdict = "meets" if per_round >= target else "BELOW"
        print(
            f"{label:>26}  {wall:5.2f}x  {cpu:8.2f}x  {per_round:8.2f}x  >= {target}x "
            f"({verdict}; median of per-round CPU-s ratios)"
        )
    for name, result in results.items():
        if result["non_2xx"] or result["socket_errors"]:
            print(f"INVALID {name}: non-2xx={result['non_2xx']} {result['socket_errors']}")


def profile(alg: str, requests: int) -> None:
    """cProfile of the guard with a new token per request, driven in process through the ASGI
    middleware in front of a bare ASGI app (the web framework's own cost left out)."""
    import asyncio
    import cProfile
    import pstats

    from jwtgate import Issuer, KeySet, generate_key
    from jwtgate.protect import JWTAuthMiddleware

    key = generate_key(alg)
    issuer = Issuer(key, issuer=ISSUER, audience=AUDIENCE)
    tokens = [issuer.issue("alice", ttl=3600, scope="read", session_id=f"s{n}") for n in range(requests)]
    keys = KeySet([key.public_key() if alg == "RS256" else key])

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = JWTAuthMiddleware(bare, issuer=ISSUER, audience=AUDIENCE, keys=keys)

    async def drive() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"refused: {message['status']}")

        for token in tokens:
            scope = {
                "type": "http",
                "path": PATH,
                "headers": [(b"authorization", b"Bearer " + token.encode())],
            }
            await app(scope, receive, send)

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, drive())
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    per_request = total / requests * 1e6
    print(f"{requests} requests, {alg}, fresh token each: {per_request:.1f} us per request (profiled)")
    stats.sort_stats("tottime").print_stats(14)


def prepare_dpop(workdir: Path, count: int) -> tuple[Any, list[str], list[str]]:
    """DPoP-bound RS256 tokens (``cnf.jkt`` of one ES256 client key) and one fresh proof per token for
    ``GET PATH`` (with ``ath``); returns the guarded app, the tokens and the proofs (each usable once,
    for 120 s)."""
    from jwtgate import Issuer, KeySet, generate_key
    from jwtgate.dpop import ProofSigner
    from jwtgate.protect import JWTAuthMiddleware

    signing = generate_key("RS256")
    client = ProofSigner(generate_key("ES256"))
    issuer = Issuer(signing, issuer=ISSUER, audience=AUDIENCE)
    tokens = [
        issuer.issue("alice", ttl=3600, scope="read", session_id=f"d{n}", claims={"cnf": {"jkt": client.jkt}})
        for n in range(count)
    ]
    now = time.time()
    proofs = [client.proof("GET", f"http://127.0.0.1:8000{PATH}", now=now, access_token=t) for t in tokens]
    app = JWTAuthMiddleware(open_app(), issuer=ISSUER, audience=AUDIENCE, keys=KeySet([signing.public_key()]))
    return app, tokens, proofs


def inproc(batch: int, rounds: int) -> None:
    """The same apps driven in process through a raw ASGI cycle (no sockets, no uvicorn), variants
    interleaved batch by batch and timed in process CPU time: robust to other load on the machine,
    and stricter than wrk (the open request is cheaper without the HTTP server, so any guard
    overhead weighs more in the ratio)."""
    import asyncio
    import statistics

    from bench.asgi import http_scope

    with tempfile.TemporaryDirectory(prefix="jwtgate-bench-") as tmp:
        workdir = Path(tmp)
        count = batch * rounds
        print(f"issuing {count} RS256 and HS256 tokens ...", flush=True)
        prepare(workdir, count)
        prepare(workdir, count, "HS256")
        rs = (workdir / "tokens.txt").read_text().split()
        hs = (workdir / "tokens-HS256.txt").read_text().split()
        print(f"issuing {count} DPoP-bound tokens and their proofs ...", flush=True)
        dpop_app, dp, proofs = prepare_dpop(workdir, count)
        apps = {
            "guard DPoP": dpop_app,
            "open": open_app(),
            "guard RS256": protected_app(workdir),
            "floor RS256": floor_app(workdir),
            "guard HS256": protected_app(workdir, "HS256"),
            "floor HS256": floor_app(workdir, "HS256"),
        }
        # (row, app, tokens per round: a fresh slice, or the same one token again)
        rows = [
            ("open", "open", lambda r: [rs[0]] * batch),
            ("guard repeated RS256", "guard RS256", lambda r: [rs[0]] * batch),
            ("guard fresh RS256", "guard RS256", lambda r: rs[r * batch : (r + 1) * batch]),
            ("floor RS256", "floor RS256", lambda r: rs[r * batch : (r + 1) * batch]),
            ("guard repeated HS256", "guard HS256", lambda r: [hs[0]] * batch),
            ("guard fresh HS256", "guard HS256", lambda r: hs[r * batch : (r + 1) * batch]),
            ("floor HS256", "floor HS256", lambda r: hs[r * batch : (r + 1) * batch]),
            # The same RS256 check plus a DPoP proof per request (ES256 signature, ath, replay cache).
            ("guard fresh RS256+DPoP", "guard DPoP", lambda r: dp[r * batch : (r + 1) * batch]),
        ]
        proof_of = dict(zip(dp, proofs, strict=True))

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def drive(app: Any, tokens: list[str]) -> None:
            for token in tokens:
                proof = proof_of.get(token)
                headers = [
                    (b"host", b"127.0.0.1:8000"),
                    (b"user-agent", b"bench"),
                    (b"authorization", (b"DPoP " if proof else b"Bearer ") + token.encode()),
                ]
                if proof is not None:
                    headers.append((b"dpop", proof.encode()))
                await app(http_scope("GET", PATH, headers), receive, send)

        loop = asyncio.new_event_loop()
        samples: dict[str, list[float]] = {name: [] for name, _, _ in rows}
        for app_name, app in apps.items():  # warm-up (stacks, caches) with tokens no round uses again
            if app_name != "guard DPoP":  # its proofs are single-use: no warm-up with them
                loop.run_until_complete(drive(app, [(hs if "HS256" in app_name else rs)[0]] * 50))
        for round_number in range(rounds):
            for name, app_name, tokens_for in rows:
                tokens = tokens_for(round_number)
                statuses.clear()
                started = time.process_time()
                loop.run_until_complete(drive(apps[app_name], tokens))
                samples[name].append((time.process_time() - started) / len(tokens) * 1e6)
                if set(statuses) != {200}:
                    raise RuntimeError(f"{name}: answers {sorted(set(statuses))}")
        loop.close()
    print(f"\n{'row':>22}  {'us/request':>10}  (median of {rounds} interleaved batches of {batch})")
    for name, values in samples.items():
        print(f"{name:>22}  {statistics.median(values):10.1f}")
    print()
    for label, top, bottom, target in [
        ("guard fresh / floor RS256", "floor RS256", "guard fresh RS256", 0.95),
        ("guard fresh / floor HS256", "floor HS256", "guard fresh HS256", 0.95),
        ("guard repeated RS256 / open", "open", "guard repeated RS256", 0.95),
        ("guard repeated HS256 / open", "open", "guard repeated HS256", 0.95),
        ("DPoP-protected / Bearer (RS256)", "guard fresh RS256", "guard fresh RS256+DPoP", 0.0),
    ]:
        # Throughput ratio = inverse cost ratio, per round (adjacent batches), then the median.
        ratios = [a / b for a, b in zip(samples[top], samples[bottom], strict=True)]
        ratio = statistics.median(ratios)
        if not target:
            print(f"{label:>28}  {ratio:5.3f}x  (throughput, no goal)")
            continue
        verdict = "meets" if ratio >= target else "BELOW"
        print(f"{label:>28}  {ratio:5.3f}x  >= {target}x ({verdict})")
    proof_cost = statistics.median(
        [a - b for a, b in zip(samples["guard fresh RS256+DPoP"], samples["guard fresh RS256"], strict=True)]
    )
    token_cost = statistics.median(
        [a - b for a, b in zip(samples["guard fresh RS256"], samples["open"], strict=True)]
    )
    print(f"{'one DPoP proof check':>28}  {proof_cost:6.1f} us  beside one token check {token_cost:6.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="(internal) serve one variant")
    serve_cmd.add_argument("variant", choices=VARIANTS)
    serve_cmd.add_argument("port", type=int)
    serve_cmd.add_argument("workdir", type=Path)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=8192, help="distinct tokens (> the 4096-entry cache)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is kept")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    profile_cmd = sub.add_parser("profile", help="profile the fresh-token path in process")
    profile_cmd.add_argument("--alg", default="RS256", choices=["RS256", "HS256"])
    profile_cmd.add_argument("--requests", type=int, default=20000)
    inproc_cmd = sub.add_parser("inproc", help="the same apps in process, interleaved, CPU time")
    inproc_cmd.add_argument("--batch", type=int, default=400)
    inproc_cmd.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    if args.command == "inproc":
        inproc(args.batch, args.rounds)
        return
    if args.command == "serve":
        serve(args.variant, args.port, args.workdir)
        return
    if args.command == "profile":
        profile(args.alg, args.requests)
        return
    results = run(args.seconds, args.warmup, args.connections, args.tokens, args.rounds)
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
