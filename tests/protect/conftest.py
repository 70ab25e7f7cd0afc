"""Fixtures for the guard: keys, an issuer, a settable clock and an in-test JWKS/feed server."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from jwtgate import Issuer, Key, KeySet, generate_key

# Redis: a unique key prefix per test, its keys deleted afterwards (skip/fail rule of tests/storage).
from storage.conftest import redis_prefix, redis_url  # noqa: F401

ISSUER = "https://auth.test"
AUDIENCE = "api"
JWKS_URL = "https://auth.test/.well-known/jwks.json"
FEED_URL = "https://auth.test/api/revocations"
NOW = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand: no sleeping to wait for expiry."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class AuthServer:
    """An in-test auth server: JWKS + revocation feed, behind httpx.MockTransport.

    ``jwks_answer`` (status, headers, body) can be swapped to simulate garbage, errors and timeouts.
    """

    keys: list[Key]
    jwks_hits: int = 0
    feed_hits: int = 0
    jwks_answer: Callable[[], httpx.Response] | None = None
    feed_answer: Callable[[httpx.Request], httpx.Response] | None = None
    cache_control: str | None = "max-age=300"
    revocations: list[dict[str, Any]] = field(default_factory=list)

    def jwks_document(self) -> dict[str, Any]:
        return KeySet(self.keys).to_jwks()

    def revoke(self, kind: str, value: str, expires_at: float) -> None:
        cursor = len(self.revocations) + 1
        self.revocations.append(
            {"cursor": cursor, "type": kind, "value": value, "expires_at": int(expires_at)}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            self.jwks_hits += 1
            if self.jwks_answer is not None:
                return self.jwks_answer()
            headers = {"cache-control": self.cache_control} if self.cache_control else {}
            return httpx.Response(200, json=self.jwks_document(), headers=headers)
        if request.url.path == "/api/revocations":
            self.feed_hits += 1
            if self.feed_answer is not None:
                return self.feed_answer(request)
            after = int(request.url.params.get("after", "0"))
            page = [entry for entry in self.revocations if entry["cursor"] > after][:2]
            cursor = page[-1]["cursor"] if page else after
            return httpx.Response(200, content=json.dumps({"revocations": page, "cursor": cursor}))
        return httpx.Response(404)

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def sync_client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


@pytest.fixture(scope="session")
def rsa_key() -> Key:
    return generate_key("RS256", kid="k1")


@pytest.fixture(scope="session")
def other_key() -> Key:
    return generate_key("RS256", kid="k2")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(rsa_key: Key, clock: Clock) -> Issuer:
    return Issuer(rsa_key, issuer=ISSUER, audience=AUDIENCE, clock=clock)


@pytest.fixture
def server(rsa_key: Key) -> AuthServer:
    return AuthServer(keys=[rsa_key.public_key()])


def make_token(issuer: Issuer, **options: Any) -> str:
    options.setdefault("ttl", 900)
    options.setdefault("scope", "read")
    options.setdefault("session_id", "s1")
    return issuer.issue(options.pop("subject", "alice"), **options)
