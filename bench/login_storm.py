"""Login storm benchmark: does a storm of logins starve token-authenticated requests?

Run from the repository root: ``python bench/login_storm.py`` (needs ``wrk``). For each variant a real
``jwtgate serve`` (production argon2 parameters, SQLite, a fresh data folder) is started and:

1. *idle*: wrk sends ``GET /api/protected`` with a valid bearer token for ``--seconds`` (``--connections``
   connections) and reports its p99 latency and req/s;
2. *storm*: the same, while a second wrk keeps ``--logins`` concurrent ``POST /api/login`` (right
   password) looping.

The figure is the ratio p99(storm) / p99(idle) of ``/api/protected`` (issue 12 target: at most 2x; it was
3.8x before the hashing pool). Variants, side by side in one run, their servers up at once and measured
in interleaved rounds (the medians are reported):

* ``bounded``: the defaults (hashing pool of one fewer worker than the CPUs, queue 32);
* ``unbounded``: ``JWTGATE_PASSWORD_HASH_WORKERS=8`` and a huge queue: as many hashes at once as there
  are logins in flight (still on the lower-priority threads);
* ``before`` (with ``--before SRC``): an earlier version's package, e.g. the one before the hashing pool
  (``asyncio.to_thread`` hashing at normal priority).

Logins answered 503 (queue full) are counted. A benchmark, not a test: nothing asserts timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and its http.py would shadow the
# standard library's ``http`` package (urllib imports it): drop it before importing anything else.
_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
USER = "bench"
PASSWORD = "a storm of logins passphrase"
VARIANTS: dict[str, dict[str, str]] = {
    "bounded": {},
    "unbounded": {"JWTGATE_PASSWORD_HASH_WORKERS": "8", "JWTGATE_PASSWORD_HASH_QUEUE": "10000"},
}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: dict[str, str], source: Path = ROOT / "src") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    env["JWTGATE_LOG_LEVEL"] = "warning"  # no access log: it would cost the server time
    env.update(extra)
    return env


def http_json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)  # noqa: S310 - loopback URL built here
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> subprocess.Popen[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    return subprocess.Popen([*command, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse_wrk(output: str) -> dict[str, float]:
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if p99 is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return {
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)],
        "rps": float(rate.group(1)),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


class Variant:
    """One running ``jwtgate serve`` with a user, a token and the wrk scripts."""

    def __init__(self, name: str, extra: dict[str, str], workdir: Path, source: Path = ROOT / "src") -> None:
        self.name = name
        data_dir = workdir / name
        env = child_env(extra, source)
        # `init` creates the data since 0.2; earlier versions created it with the first `user add`.
        for add_user in (
            ["init", "--user", USER, "--password-stdin", "--data-dir", str(data_dir)],
            ["user", "add", USER, "--password-stdin", "--data-dir", str(data_dir)],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "jwtgate", *add_user],
                input=PASSWORD + "\n",
                text=True,
                env=env,
                check=False,
                capture_output=True,
            )
            if done.returncode == 0:
                break
        else:
            raise SystemExit(f"could not create the user: {done.stderr}")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "jwtgate", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                http_json(f"{self.base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        token = http_json(f"{self.base}/api/login", {"username": USER, "password": PASSWORD})["access_token"]
        self.protected_script = workdir / f"{name}-protected.lua"
        self.protected_script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        self.login_script = workdir / f"{name}-login.lua"
        body = json.dumps({"username": USER, "password": PASSWORD}).replace('"', '\\"')
        self.login_script.write_text(
            f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n'
        )

    def measure(self, seconds: int, connections: int, logins: int) -> dict[str, float]:
        """p99 of /api/protected idle, then during a login storm (which starts first and outlasts it)."""
        url = f"{self.base}/api/protected"
        idle_out, _ = wrk(url, seconds, connections, self.protected_script).communicate()
        storm = wrk(f"{self.base}/api/login", seconds + 2, logins, self.login_script)
        time.sleep(1.0)
        busy_out, _ = wrk(url, seconds, connections, self.protected_script).communicate()
        storm_out, _ = storm.communicate()
        idle, busy, storm_result = parse_wrk(idle_out), parse_wrk(busy_out), parse_wrk(storm_out)
        return {
            "idle_p99_ms": idle["p99_ms"],
            "storm_p99_ms": busy["p99_ms"],
            "idle_rps": idle["rps"],
            "storm_rps": busy["rps"],
            "logins_per_s": storm_result["rps"],
            "logins_refused_503": storm_result["non_2xx"],
            "protected_non_2xx": idle["non_2xx"] + busy["non_2xx"],
        }

    def stop(self) -> None:
        self.server.send_signal(signal.SIGINT)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


def summarize(name: str, rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Medians over the rounds (load from other processes drifts; interleaving spreads it evenly)."""
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    return {
        "variant": name,
        "idle_p99_ms": round(medians["idle_p99_ms"], 2),
        "storm_p99_ms": round(medians["storm_p99_ms"], 2),
        "p99_ratio": round(medians["storm_p99_ms"] / medians["idle_p99_ms"], 2),
        "idle_rps": round(medians["idle_rps"]),
        "storm_rps": round(medians["storm_rps"]),
        "logins_per_s": round(medians["logins_per_s"], 1),
        "logins_refused_503": int(sum(r["logins_refused_503"] for r in rounds)),
        "protected_non_2xx": int(sum(r["protected_non_2xx"] for r in rounds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians reported)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections on /api/protected")
    parser.add_argument("--logins", type=int, default=4, help="concurrent logins in the storm")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also measure the jwtgate package under SRC (e.g. `git archive OLD src | tar -x -C /tmp/old`, "
        "then /tmp/old/src): the same storm against an earlier version, side by side",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install -y wrk)")
    names = args.variants.split(",")
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="jwtgate-storm-") as tmp:
        variants: list[Variant] = []
        try:
            for name in names:
                variants.append(Variant(name, VARIANTS[name], Path(tmp)))
            if args.before is not None:
                variants.append(Variant("before", {}, Path(tmp), Path(args.before).resolve()))
                measured["before"] = []
            for variant in variants:  # warm-up
                wrk(
                    f"{variant.base}/api/protected", 2, args.connections, variant.protected_script
                ).communicate()
            for round_number in range(args.rounds):
                # Rotate the order so that drifting outside load hits every variant alike.
                for variant in (
                    variants[round_number % len(variants) :] + variants[: round_number % len(variants)]
                ):
                    measured[variant.name].append(
                        variant.measure(args.seconds, args.connections, args.logins)
                    )
        finally:
            for variant in variants:
                variant.stop()
    results = [summarize(name, rounds) for name, rounds in measured.items()]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    columns = list(results[0])
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(str(row[c]) for c in columns))


if __name__ == "__main__":
    main()
