"""Helpers for the service tests: a frozen clock, cheap argon2 parameters, a policy builder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from jwtgate.service import Argon2Hasher, AuthService, ServicePolicy

T0 = 1_800_000_000.0


class FrozenClock:
    """Time stands still until a test moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cheap_hasher() -> Argon2Hasher:
    # Tests only: production parameters cost ~20 ms and 19 MiB per hash.
    return Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)


def make_policy(**overrides: object) -> ServicePolicy:
    options: dict[str, object] = {
        "issuer": "https://auth.test",
        "audience": "api",
        "signing_alg": "ES256",  # fast key generation; the RS256 default is tested on its own
    }
    options.update(overrides)
    return ServicePolicy(**options)  # type: ignore[arg-type]


OpenService = Callable[..., Awaitable[AuthService]]
