"""Shared fixtures for the token-core tests: one key per algorithm (RSA keygen is slow, so keys are made
once per session), a frozen clock, and helpers to reach the vector files."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from jwtgate import KeySet, generate_key
from jwtgate.jose import ALGORITHMS

# Redis: a unique key prefix per test, its keys deleted afterwards (skip/fail rule of tests/storage).
from storage.conftest import redis_prefix, redis_url  # noqa: F401

from ._forge import Signer, b64d, hmac_signer, private_key_signer

VECTORS = Path(__file__).resolve().parent.parent / "vectors"

#: Every algorithm jwtgate supports (the issue's eight, plus RS384/512, PS384/512 and ES512).
ALGS = tuple(ALGORITHMS)
ASYMMETRIC_ALGS = tuple(alg for alg in ALGS if not alg.startswith("HS"))

ISSUER = "https://auth.example"
AUDIENCE = "api"
NOW = 1_800_000_000


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


class FrozenClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.cache
def signer_for(key: Any) -> Signer:
    """An independent signer holding the same private material as a jwtgate key (cached: loading an
    RSA private key from PEM is slow)."""
    if key.alg.startswith("HS"):
        return hmac_signer(b64d(key.to_jwk(private=True)["k"]), key.alg[2:])
    return private_key_signer(key.alg, key.to_pem(private=True))


@pytest.fixture(scope="session")
def keys_by_alg() -> dict[str, Any]:
    """One private key per supported algorithm, generated once for the whole run."""
    return {alg: generate_key(alg) for alg in ALGS}


@pytest.fixture(scope="session")
def other_keys_by_alg() -> dict[str, Any]:
    """A second, unrelated key per algorithm with the same kid as the first (a wrong key)."""
    return {alg: generate_key(alg) for alg in ALGS}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def public_keyset(keys_by_alg: dict[str, Any]) -> KeySet:
    return KeySet([key.public_key() for key in keys_by_alg.values()])
