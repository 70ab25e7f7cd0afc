"""The service's policy: lifetimes, grace windows and limits, validated when built."""

from __future__ import annotations

from dataclasses import dataclass

from jwtgate.errors import ConfigError

__all__ = ["SIGNING_ALGORITHMS", "ServicePolicy"]

SIGNING_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePolicy:
    """What the auth service enforces. Durations are seconds. Raises ConfigError when out of bounds.

    - ``access_ttl``: access-token lifetime; ``leeway``: clock skew tolerated by verifiers.
    - ``refresh_idle_ttl``: a session dies when not refreshed for this long; ``session_absolute_ttl``:
      it dies this long after login whatever happens.
    - ``reuse_grace``: a used refresh token presented again within this many seconds of its use gets a
      fresh pair (parallel tabs, retries after a lost response); later it is a reuse: the session dies.
    - ``login_*``: failed-login limits per account and per client IP (see :mod:`.ratelimit`).
    - ``revocation_sync_interval``: how often the in-process denylist pulls entries written by other
      processes; ``key_check_interval``: how often the key ring looks for a rotation done elsewhere;
      ``revocation_max_stale``: how long requests are served from the last synced denylist while the
      database does not answer (then 503 until a sync succeeds).
    - ``audit_retention``: audit events older than this are purged.
    - ``signing_alg``: the algorithm of the ring's very first key; later switches are explicit
      rotations (``rotate_keys(alg=...)``). ``key_publication_delay``: how long a ``next`` key is
      published in the JWKS before a rotation lets it sign (JWKS caches must have fetched it).
    - ``key_rotation_interval``: rotate the signing key automatically once it has signed this long
      (checked by :meth:`AuthService.maintain`); None: only ``jwtgate keys rotate`` rotates.
    """

    issuer: str
    audience: str = "jwtgate"
    access_ttl: int = 900
    refresh_idle_ttl: int = 7 * 86400
    session_absolute_ttl: int = 30 * 86400
    reuse_grace: int = 10
    signing_alg: str = "RS256"
    leeway: int = 30
    client_id: str = "jwtgate"
    registration_open: bool = False
    login_max_failures_account: int = 5
    login_max_failures_ip: int = 50
    login_failure_window: int = 900
    login_max_backoff: int = 900
    revocation_sync_interval: float = 1.0
    key_check_interval: float = 1.0
    revocation_max_stale: int = 60
    key_publication_delay: int = 300
    audit_retention: int = 90 * 86400
    key_rotation_interval: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigError("issuer is required")
        if not isinstance(self.audience, str) or not self.audience:
            raise ConfigError("audience is required")
        _bounded("access_ttl", self.access_ttl, 30, 86400)
        _bounded("refresh_idle_ttl", self.refresh_idle_ttl, 60, 365 * 86400)
        _bounded("session_absolute_ttl", self.session_absolute_ttl, 60, 365 * 86400)
        _bounded("reuse_grace", self.reuse_grace, 0, 300)
        _bounded("leeway", self.leeway, 0, 300)
        _bounded("login_max_failures_account", self.login_max_failures_account, 1, 1000)
        _bounded("login_max_failures_ip", self.login_max_failures_ip, 1, 100_000)
        _bounded("login_failure_window", self.login_failure_window, 1, 86400)
        _bounded("login_max_backoff", self.login_max_backoff, 1, 86400)
        _bounded("key_publication_delay", self.key_publication_delay, 0, 86400)
        _bounded("audit_retention", self.audit_retention, 86400, 10 * 365 * 86400)
        if self.key_rotation_interval is not None:
            _bounded("key_rotation_interval", self.key_rotation_interval, 3600, 10 * 365 * 86400)
        if self.signing_alg not in SIGNING_ALGORITHMS:
            raise ConfigError(f"signing_alg must be one of {', '.join(sorted(SIGNING_ALGORITHMS))}")
        if not 0 < self.revocation_sync_interval <= 300 or not 0 < self.key_check_interval <= 3600:
            raise ConfigError("sync intervals must be positive (at most 300 s / 3600 s)")
        _bounded("revocation_max_stale", self.revocation_max_stale, 1, 3600)

    @property
    def deny_ttl(self) -> int:
        """How long a revoked session stays denylisted: its newest access token's life plus leeway."""
        return self.access_ttl + self.leeway


def _bounded(name: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}")
