"""A JWKS client: fetch the auth server's public keys, cache them, refetch rarely.

Contract:

* ``keys`` is the last good :class:`~jwtgate.KeySet` (``None`` before the first good answer).
* A good answer is cached for its ``Cache-Control: max-age``, bounded to
  ``[min_refetch_interval, max_cache_age]`` (``default_cache_age`` when absent).
* Every network attempt (scheduled refresh or unknown-``kid`` refetch, success or failure) opens a
  quiet window of ``min_refetch_interval`` seconds: tokens with random ``kid``s cannot make the client
  hammer the server, and a down server is asked at most once per window.
* A failed fetch (timeout, HTTP error, garbage, no usable key) keeps the cached keys. With no cached keys
  it raises :class:`JWKSUnavailable`: an unverified token never gets through.
* The URL must be https (plain http only on loopback, or with ``allow_insecure_http=True``).
* Symmetric (``oct``) keys, private members and keys for another ``use`` are ignored: a public JWKS must
  never carry a secret.

The async path (ASGI) and the sync path (WSGI) share everything but the HTTP call; concurrent callers of
one path share a single fetch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from jwtgate import KeySet, key_from_jwk
from jwtgate.errors import ConfigError, JwtgateError
from jwtgate.protect.errors import JWKSUnavailable
from jwtgate.protect.urls import check_fetch_url

__all__ = ["JWKSClient"]

log = logging.getLogger("jwtgate.protect.jwks")

_MAX_JWKS_BYTES = 256 * 1024


class JWKSClient:
    """Fetches and caches one JWKS URL; see the module docstring for the caching contract."""

    def __init__(
        self,
        url: str,
        *,
        min_refetch_interval: float = 10.0,
        default_cache_age: float = 300.0,
        max_cache_age: float = 86400.0,
        timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
        sync_http_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        allow_insecure_http: bool = False,
    ) -> None:
        if min_refetch_interval < 0 or timeout <= 0 or max_cache_age < min_refetch_interval:
            raise ConfigError("invalid JWKS client intervals")
        self.url = check_fetch_url(url, allow_insecure_http=allow_insecure_http)
        self.min_refetch_interval = min_refetch_interval
        self.default_cache_age = default_cache_age
        self.max_cache_age = max_cache_age
        self.timeout = timeout
        self._clock = clock
        self._http = http_client
        self._own_http = http_client is None
        self._sync_http = sync_http_client
        self._own_sync_http = sync_http_client is None
        self.keys: KeySet | None = None
        # Monotonic instants: when the cache goes stale, and when the next network attempt is allowed.
        self.refresh_at = float("-inf")
        self._next_attempt_at = float("-inf")
        self._async_lock: asyncio.Lock | None = None
        self._sync_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JWKSClient(url={self.url!r}, keys={0 if self.keys is None else len(self.keys)})"

    # -- policy (no I/O) ---------------------------------------------------------------------------

    def is_stale(self) -> bool:
        """True when the cached keys are past their max-age (or there are none)."""
        return self._clock() >= self.refresh_at

    def _may_attempt(self) -> bool:
        return self._clock() >= self._next_attempt_at

    def _begin_attempt(self) -> None:
        self._next_attempt_at = self._clock() + self.min_refetch_interval

    def _accept(self, response: httpx.Response) -> KeySet:
        """Parse a JWKS answer into a KeySet; raise JWKSUnavailable on anything unusable."""
        if response.status_code != 200:
            raise JWKSUnavailable(f"JWKS answered HTTP {response.status_code}")
        body = response.content
        if len(body) > _MAX_JWKS_BYTES:
            raise JWKSUnavailable("JWKS answer too large")
        try:
            doc = json.loads(body)
        except ValueError as err:
            raise JWKSUnavailable("JWKS answer is not JSON") from err
        entries = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise JWKSUnavailable("JWKS answer has no keys list")
        keys = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kty") == "oct":
                continue
            if entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
                continue
            try:
                key = key_from_jwk(entry)
            except (JwtgateError, ValueError, TypeError, KeyError):
                # One unsupported key must not hide the others.
                log.warning("jwks: skipped an unusable key")
                continue
            if key.can_verify:
                keys.append(key.public_key())
        if not keys:
            raise JWKSUnavailable("JWKS answer has no usable key")
        try:
            return KeySet(keys)
        except JwtgateError as err:  # e.g. a duplicate kid
            raise JWKSUnavailable("JWKS answer is not a valid key set") from err

    def _store(self, keys: KeySet, response: httpx.Response) -> KeySet:
        self.keys = keys
        self.refresh_at = self._clock() + self._cache_age(response.headers.get("cache-control"))
        return keys

    def _cache_age(self, cache_control: str | None) -> float:
        age = self.default_cache_age
        if cache_control:
            for directive in cache_control.lower().split(","):
                name, _, value = directive.strip().partition("=")
                if name in ("no-cache", "no-store"):
                    age = 0.0
                elif name == "max-age" and value.strip().strip('"').isdigit():
                    age = float(value.strip().strip('"'))
        return min(max(age, self.min_refetch_interval), self.max_cache_age)

    def _failed(self, err: Exception) -> KeySet:
        if isinstance(err, JWKSUnavailable):
            reason = err.description
        else:
            reason = f"JWKS fetch failed ({type(err).__name__})"
        kept = "cached keys" if self.keys else "nothing"
        log.warning("jwks: %s; url=%s; keeping %s", reason, self.url, kept)
        if self.keys is None:
            raise JWKSUnavailable(reason, retry_after=max(1, round(self.min_refetch_interval)))
        # Serve the cached keys until the next allowed attempt.
        self.refresh_at = self._next_attempt_at
        return self.keys

    def _current_or_unavailable(self) -> KeySet:
        if self.keys is None:
            raise JWKSUnavailable(retry_after=max(1, round(self.min_refetch_interval)))
        return self.keys

    # -- async path --------------------------------------------------------------------------------

    async def refresh(self, *, kid: str | None = None) -> KeySet:
        """Refetch if allowed (stale cache, or ``kid`` unknown) and return the keys to use.

        Raises :class:`JWKSUnavailable` only when there are no keys at all.
        """
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            if not self._wanted(kid):
                return self._current_or_unavailable()
            self._begin_attempt()
            try:
                response = await self._client().get(self.url, timeout=self.timeout)
                return self._store(self._accept(response), response)
            except (httpx.HTTPError, JWKSUnavailable) as err:
                return self._failed(err)

    def _wanted(self, kid: str | None) -> bool:
        # Re-checked under the lock: a caller that waited may find the work already done.
        if kid is not None and self.keys is not None and kid in self.keys:
            return False
        if kid is None and not self.is_stale():
            return False
        return self._may_attempt()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP clients this object created (injected ones are the caller's)."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
        self.close_sync()

    # -- sync path (WSGI) --------------------------------------------------------------------------

    def refresh_sync(self, *, kid: str | None = None) -> KeySet:
        """Blocking twin of :meth:`refresh` for WSGI apps; same policy, same cache."""
        with self._sync_lock:
            if not self._wanted(kid):
                return self._current_or_unavailable()
            self._begin_attempt()
            if self._sync_http is None:
                self._sync_http = httpx.Client(follow_redirects=False)
            try:
                response = self._sync_http.get(self.url, timeout=self.timeout)
                return self._store(self._accept(response), response)
            except (httpx.HTTPError, JWKSUnavailable) as err:
                return self._failed(err)

    def close_sync(self) -> None:
        if self._own_sync_http and self._sync_http is not None:
            self._sync_http.close()
            self._sync_http = None

    def info(self) -> dict[str, Any]:
        """Diagnostics without secrets: url, number of keys, their kids."""
        kids = sorted(key.kid for key in self.keys) if self.keys is not None else []
        return {"url": self.url, "keys": len(kids), "kids": kids}
