"""DPoP cost benchmark: one proof check beside one access-token check, in CPU time of this process.

Rows (each checks the same input over and over; nothing here is a timed assertion):

* ``token``: ``Verifier.verify`` of an access token (``--token-alg``, default RS256 as the server signs),
  cache off: what every Bearer request costs the guard.
* ``proof ES256`` / ``proof EdDSA``: ``DPoPVerifier.verify`` of a resource-request proof with all its
  checks (header from the per-key cache, signature, claims, ``htu`` normalisation, ``ath``, ``jkt``
  binding, a ``NonceSource`` nonce): what a DPoP request costs on top of the token check.
* ``proof ES256 cold``: the same with the header cache off (a client seen for the first time).
* ``replay (memory)``: one ``MemoryReplayCache.first_use`` of a new key (the coroutine is driven by hand;
  no event loop overhead is counted).
* ``floor ES256`` / ``floor EdDSA``: the bare ``cryptography`` signature check of the proof: the least any
  proof verifier must spend.

Rows run interleaved (short batches in rotating order), each rate is ops per CPU-second of the process
(``time.process_time``), the median over the rounds. Reported ratios: ``proof/token`` (a proof check in
token checks), ``DPoP request/Bearer request`` ((token + proof + replay) / token) and ``proof/floor``.

Usage: ``python bench/dpop.py [--seconds 20] [--json] [--token-alg RS256]``
"""

# ruff: noqa: E402 - the path fix below must run before the other imports

from __future__ import annotations

import sys
from pathlib import Path

# As in verify.py: bench/http.py would shadow the standard library's ``http`` when run from this folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import itertools
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jwtgate
from jwtgate import Issuer, KeySet, Verifier, generate_key
from jwtgate.dpop import DPoPPolicy, DPoPVerifier, NonceSource, create_proof
from jwtgate.dpop_replay import MemoryReplayCache
from jwtgate.jose.b64 import b64url_decode

ISSUER = "https://auth.example"
AUDIENCE = "api"
URL = "https://api.example/orders/42"
NOW = 1_800_000_000.0

Op = Callable[[], Any]


def floor_for(proof: str, key: Any) -> Op:
    """The bare primitive on the proof, with the per-proof work it cannot skip: split the proof, decode
    the signature (and, for ECDSA, turn r||s into DER)."""
    public = key.raw.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):

        def eddsa() -> None:
            head, payload, signature = proof.split(".")
            public.verify(b64url_decode(signature), f"{head}.{payload}".encode())

        return eddsa
    assert isinstance(public, ec.EllipticCurvePublicKey)
    scheme = ec.ECDSA(hashes.SHA256())

    def ecdsa() -> None:
        head, payload, signature = proof.split(".")
        sig = b64url_decode(signature)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        public.verify(der, f"{head}.{payload}".encode(), scheme)

    return ecdsa


def build(token_alg: str) -> dict[str, Op]:
    signing = generate_key(token_alg)
    token = Issuer(signing, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW).issue("alice", ttl=3600)
    verifier = Verifier(KeySet([signing.public_key()]), issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW)
    nonces = NonceSource(b"n" * 32, clock=lambda: NOW)
    nonce = nonces.issue()
    ops: dict[str, Op] = {"token": lambda: verifier.verify(token)}
    for alg in ("ES256", "EdDSA"):
        key = generate_key(alg)
        proof = create_proof(key, "GET", URL, now=NOW, nonce=nonce, access_token=token)
        jkt = key.thumbprint()
        for label, policy in (
            (f"proof {alg}", DPoPPolicy()),
            (f"proof {alg} cold", DPoPPolicy(cache_size=0)),
        ):
            if label == "proof EdDSA cold":
                continue
            proofs = DPoPVerifier(policy)

            def check(proofs: DPoPVerifier = proofs, proof: str = proof, jkt: str = jkt) -> Any:
                return proofs.verify(
                    proof, method="GET", url=URL, now=NOW, access_token=token, jkt=jkt, nonce=nonces
                )

            ops[label] = check
        ops[f"floor {alg}"] = floor_for(proof, key)
    cache = MemoryReplayCache(max_entries=10_000_000, clock=lambda: NOW)
    keys = (f"key-{n}" for n in itertools.count())

    def replay() -> None:
        coroutine = cache.first_use(next(keys), NOW + 150)
        try:
            coroutine.send(None)
        except StopIteration as done:
            if done.value is not True:
                raise SystemExit("the replay cache refused a new key") from None
        else:  # pragma: no cover - first_use never awaits
            raise SystemExit("first_use suspended")

    ops["replay (memory)"] = replay
    return ops


def batch_size(op: Op, target: float = 0.02) -> int:
    start, n = time.process_time(), 0
    while time.process_time() - start < target / 4:
        op()
        n += 1
    return max(1, n * 4)


def measure(ops: dict[str, Op], seconds: float) -> dict[str, float]:
    names = list(ops)
    sizes = {name: batch_size(ops[name]) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.process_time() + seconds
    round_index = 0
    while time.process_time() < deadline or round_index < 3:
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            op, n = ops[name], sizes[name]
            start = time.process_time()
            for _ in range(n):
                op()
            rates[name].append(n / max(time.process_time() - start, 1e-9))
        round_index += 1
    return {name: statistics.median(values) for name, values in rates.items()}


def ratios(rates: dict[str, float]) -> dict[str, float]:
    cost = {name: 1.0 / rate for name, rate in rates.items()}
    out: dict[str, float] = {}
    for alg in ("ES256", "EdDSA"):
        out[f"proof {alg}/token"] = cost[f"proof {alg}"] / cost["token"]
        dpop_request = cost["token"] + cost[f"proof {alg}"] + cost["replay (memory)"]
        out[f"DPoP {alg} request/Bearer request"] = dpop_request / cost["token"]
        out[f"proof {alg}/floor"] = cost[f"proof {alg}"] / cost[f"floor {alg}"]
    out["proof ES256 cold/warm"] = cost["proof ES256 cold"] / cost["proof ES256"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU time budget (default 20)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--token-alg", default="RS256", help="access-token algorithm (default RS256)")
    args = parser.parse_args(argv)
    ops = build(args.token_alg)
    rates = measure(ops, args.seconds)
    report = {
        "python": platform.python_version(),
        "versions": {"jwtgate": jwtgate.__version__, "cryptography": cryptography.__version__},
        "token_alg": args.token_alg,
        "seconds": args.seconds,
        "ops_per_cpu_second": {name: round(rate) for name, rate in rates.items()},
        "microseconds_per_op": {name: round(1e6 / rate, 1) for name, rate in rates.items()},
        "ratios": {name: round(value, 2) for name, value in ratios(rates).items()},
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    print(f"DPoP proof check beside a {args.token_alg} token check (Python {report['python']}; {versions})")
    for name, rate in rates.items():
        print(f"  {name:<18}{rate:>12,.0f} ops/CPU-s {1e6 / rate:>9.1f} us")
    for name, value in report["ratios"].items():
        print(f"  {name:<36}{value:>6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
