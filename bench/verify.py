"""Verify-speed benchmark: the same access token checked by jwtgate, PyJWT, joserfc and a minimal floor.

The floor is what any verifier must at least do: strict base64url decoding, ``orjson`` parsing, the bare
``cryptography`` primitive and the same claim checks (typ, alg, kid, iss, aud, exp/nbf/iat with leeway,
required claims). Implementations run interleaved in one process: every round runs a short batch of each
one, in rotating order, so drifts in CPU frequency or load hit all of them alike. Reported figures are the
median per-round rates (ops/s on one core) and the ratios the design sets goals for:
``floor/jwtgate`` (how many times slower than the floor jwtgate is; goal <= 1.25) and ``jwtgate/PyJWT``.

Usage: ``python bench/verify.py [--seconds 20] [--json] [--algs HS256,RS256,ES256,EdDSA]``
(with the package installed, or ``PYTHONPATH=src``).
"""

# ruff: noqa: E402 - the path fix below must run before the third-party imports

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/verify.py``, this folder comes first on sys.path, and its sibling bench/http.py
# would shadow the standard library's ``http`` package that PyJWT imports. Drop the folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import binascii
import hmac
import json
import platform
import re
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import cryptography
import joserfc
import jwt as pyjwt
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwk as joserfc_jwk
from joserfc import jwt as joserfc_jwt
from joserfc.errors import SecurityWarning

import jwtgate
from jwtgate import Issuer, KeySet, Verifier, generate_key

ISSUER = "https://auth.example"
AUDIENCE = "api"
LEEWAY = 30
DEFAULT_ALGS = ("HS256", "RS256", "ES256", "EdDSA")
IMPLEMENTATIONS = ("jwtgate", "jwtgate+cache", "pyjwt", "joserfc", "floor")

Verify = Callable[[str], dict[str, Any]]


class Rejected(Exception):
    """The floor verifier refused a token."""


# -- the floor -------------------------------------------------------------------------------------

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")


#: Three non-empty base64url segments: one regex over the whole token is the cheapest alphabet check.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+").fullmatch


def strict_b64decode(segment: str) -> bytes:
    """Decode a segment whose alphabet the caller checked; binascii's strict mode rejects the rest."""
    try:
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[len(segment) & 3], strict_mode=True
        )
    except binascii.Error as err:
        raise Rejected("bad base64url") from err


def primitive_for(alg: str, key: Any) -> Callable[[bytes, bytes], None]:
    """The bare signature check for ``alg`` (raises on a bad signature)."""
    if alg == "HS256":
        secret = key

        def hs(data: bytes, sig: bytes) -> None:
            if not hmac.compare_digest(hmac.digest(secret, data, "sha256"), sig):
                raise Rejected("bad signature")

        return hs
    if alg == "RS256":
        assert isinstance(key, rsa.RSAPublicKey)
        pad, sha = padding.PKCS1v15(), hashes.SHA256()
        return lambda data, sig: key.verify(sig, data, pad, sha)
    if alg == "ES256":
        assert isinstance(key, ec.EllipticCurvePublicKey)
        scheme = ec.ECDSA(hashes.SHA256())

        def es(data: bytes, sig: bytes) -> None:
            if len(sig) != 64:
                raise Rejected("bad signature length")
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, data, scheme)

        return es
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return lambda data, sig: key.verify(sig, data)


def floor_verifier(alg: str, kid: str, key: Any, clock: Callable[[], float] = time.time) -> Verify:
    verify_signature = primitive_for(alg, key)
    required = ("iss", "sub", "aud", "exp", "iat", "jti")

    def verify(token: str) -> dict[str, Any]:
        if len(token) > 8192 or _COMPACT(token) is None:
            raise Rejected("not a compact JWS of at most 8 KiB")
        head, payload, signature = token.split(".")
        header = orjson.loads(strict_b64decode(head))
        if header.get("alg") != alg or header.get("kid") != kid or header.get("typ") != "at+jwt":
            raise Rejected("header")
        try:
            verify_signature(token[: len(head) + len(payload) + 1].encode(), strict_b64decode(signature))
        except InvalidSignature as err:
            raise Rejected("bad signature") from err
        claims: dict[str, Any] = orjson.loads(strict_b64decode(payload))
        for name in required:
            if name not in claims:
                raise Rejected(f"missing {name}")
        if claims["iss"] != ISSUER:
            raise Rejected("iss")
        aud = claims["aud"]
        if not (aud == AUDIENCE or (type(aud) is list and AUDIENCE in aud)):
            raise Rejected("aud")
        now = clock()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if type(exp) not in (int, float) or type(iat) not in (int, float) or type(nbf) not in (int, float):
            raise Rejected("numeric date")
        if now >= exp + LEEWAY or now + LEEWAY < nbf or now + LEEWAY < iat:
            raise Rejected("time")
        return claims

    return verify


# -- the contestants -------------------------------------------------------------------------------


def build(alg: str) -> tuple[str, dict[str, Verify]]:
    """A fresh key and token for ``alg`` and one verify function per implementation."""
    key = generate_key(alg)
    token = Issuer(key, issuer=ISSUER, audience=AUDIENCE).issue(
        "alice", ttl=3600, scope="read", session_id="s1"
    )
    public = key.public_key()
    keys = KeySet([public])
    ours = Verifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY)
    cached = Verifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY, cache_size=1024)

    # Every contestant gets its key pre-loaded, as a long-running service would hold it.
    raw: Any = (
        jwtgate.jose.b64url_decode(public.to_jwk(private=True)["k"]) if alg.startswith("HS") else public.raw  # type: ignore[attr-defined]
    )
    py = pyjwt.PyJWT()
    options = {"require": ["iss", "sub", "aud", "exp", "iat", "jti"]}

    def with_pyjwt(token: str) -> dict[str, Any]:
        claims: dict[str, Any] = py.decode(
            token, raw, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY, options=options
        )
        return claims

    jf_key = joserfc_jwk.import_key(public.to_jwk(private=alg.startswith("HS")))
    registry = joserfc_jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )

    def with_joserfc(token: str) -> dict[str, Any]:
        decoded = joserfc_jwt.decode(token, jf_key, algorithms=[alg])
        registry.validate(decoded.claims)
        return decoded.claims

    return token, {
        "jwtgate": ours.verify,
        "jwtgate+cache": cached.verify,
        "pyjwt": with_pyjwt,
        "joserfc": with_joserfc,
        "floor": floor_verifier(alg, key.kid, raw),
    }


def check(token: str, implementations: dict[str, Verify]) -> None:
    """Every contestant must accept the token and refuse a tampered one: never time a broken path."""
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for name, verify in implementations.items():
        if verify(token)["sub"] != "alice":
            raise SystemExit(f"{name} returned the wrong claims")
        try:
            verify(f"{head}.{payload}.{flipped}")
        except Exception:  # noqa: S110 - each library raises its own error type; any refusal will do
            pass
        else:
            raise SystemExit(f"{name} accepted a tampered token")


def batch_size(verify: Verify, token: str, target: float = 0.02) -> int:
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < target / 4:
        verify(token)
        n += 1
    return max(1, n * 4)


def measure(token: str, implementations: dict[str, Verify], seconds: float) -> dict[str, float]:
    """Median ops/s per implementation over interleaved rounds that together last about ``seconds``."""
    names = list(implementations)
    sizes = {name: batch_size(implementations[name], token) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + seconds
    round_index = 0
    while time.perf_counter() < deadline or round_index < 3:
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            verify, n = implementations[name], sizes[name]
            start = time.perf_counter()
            for _ in range(n):
                verify(token)
            rates[name].append(n / (time.perf_counter() - start))
        round_index += 1
    return {name: statistics.median(values) for name, values in rates.items()}


def ratios(result: dict[str, float]) -> dict[str, float]:
    return {
        "floor/jwtgate": result["floor"] / result["jwtgate"],
        "floor/jwtgate+cache": result["floor"] / result["jwtgate+cache"],
        "jwtgate/pyjwt": result["jwtgate"] / result["pyjwt"],
        "jwtgate/joserfc": result["jwtgate"] / result["joserfc"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="total time budget (default 20)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--algs", default=",".join(DEFAULT_ALGS), help="comma-separated algorithms")
    args = parser.parse_args(argv)
    algs = [a for a in args.algs.split(",") if a]
    unknown = set(algs) - set(DEFAULT_ALGS)
    if unknown:
        parser.error(f"the floor covers {', '.join(DEFAULT_ALGS)} only, not {', '.join(sorted(unknown))}")
    warnings.simplefilter("ignore", SecurityWarning)  # joserfc: "EdDSA is deprecated via RFC 9864"

    results: dict[str, dict[str, float]] = {}
    for alg in algs:
        token, implementations = build(alg)
        check(token, implementations)
        results[alg] = measure(token, implementations, args.seconds / len(algs))

    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": {
            "jwtgate": jwtgate.__version__,
            "cryptography": cryptography.__version__,
            "pyjwt": pyjwt.__version__,
            "joserfc": joserfc.__version__,
            "orjson": orjson.__version__,
        },
        "seconds": args.seconds,
        "ops_per_second": {alg: {k: round(v) for k, v in r.items()} for alg, r in results.items()},
        "ratios": {alg: {k: round(v, 3) for k, v in ratios(r).items()} for alg, r in results.items()},
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    print(f"verify an access token, ops/s on one core (Python {report['python']}; {versions})")
    header = f"{'alg':<6}" + "".join(f"{name:>15}" for name in IMPLEMENTATIONS)
    print(header + f"{'floor/jwtgate':>15}{'jwtgate/PyJWT':>15}")
    for alg, result in results.items():
        r = ratios(result)
        row = f"{alg:<6}" + "".join(f"{result[name]:>15,.0f}" for name in IMPLEMENTATIONS)
        print(row + f"{r['floor/jwtgate']:>14.2f}x{r['jwtgate/pyjwt']:>14.1f}x")
    print("goal: floor/jwtgate <= 1.25 for every algorithm (jwtgate within 1.25x of the floor)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
