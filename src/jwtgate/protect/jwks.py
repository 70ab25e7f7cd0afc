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
  never carry a secret. ``x5c``/``x5t``/``x5t#S256`` members are ignored (never followed).
* ``algorithms``: keys whose ``alg`` is not allowed are skipped; a key without ``alg`` (Entra ID) takes
  the one allowed algorithm fitting its ``kty``/``crv``. A reachable JWKS with no usable key is a
  configuration error: logged at ERROR with the reason ("no key usable for algorithms [RS256]: 3 keys
  lack alg"), and requests are refused (503) as long as it lasts.
* ``discovery_url`` (with ``issuer``) instead of a JWKS URL: the issuer's metadata (OIDC Discovery or
  RFC 8414, see :mod:`~jwtgate.protect.discovery`) names the JWKS; it is fetched before the JWKS and
  cached under the same policy, and its ``issuer`` must be the configured one.

The async path (ASGI) and the sync path (WSGI) share everything but the HTTP call; concurrent callers of
one path share a single fetch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import httpx

from jwtgate import KeySet, key_from_jwk
from jwtgate.errors import ConfigError, JwtgateError
from jwtgate.protect.discovery import jwks_uri_from
from jwtgate.protect.errors import JWKSUnavailable
from jwtgate.protect.urls import check_fetch_url

__all__ = ["JWKSClient"]

log = logging.getLogger("jwtgate.protect.jwks")

_MAX_JWKS_BYTES = 256 * 1024


class JWKSClient:
    """Fetches and caches one JWKS URL; see the module docstring for the caching contract."""

    def __init__(
        self,
        url: str | None = None,
        *,
        discovery_url: str | None = None,
        issuer: str | None = None,
        algorithms: Collection[str] | None = None,
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
        if (url is None) == (discovery_url is None):
            raise ConfigError("give exactly one of a JWKS url or discovery_url")
        if discovery_url is not None and not issuer:
            raise ConfigError("discovery_url needs the issuer it must name")
        self._allow_insecure_http = allow_insecure_http
        #: The JWKS URL; with discovery, None until the metadata has named it.
        self.url = None if url is None else check_fetch_url(url, allow_insecure_http=allow_insecure_http)
        self.discovery_url = (
            None
            if discovery_url is None
            else check_fetch_url(discovery_url, allow_insecure_http=allow_insecure_http)
        )
        self.issuer = issuer
        self.algorithms = None if algorithms is None else tuple(algorithms)
        self._metadata_refresh_at = float("-inf")
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
        keys: list[Any] = []
        skipped: Counter[str] = Counter()
        for entry in entries:
            reason = _skip_reason(entry)
            if reason is None:
                try:
                    key = key_from_jwk(entry, algorithms=self.algorithms)
                except (JwtgateError, ValueError, TypeError, KeyError) as err:
                    # One unsupported key must not hide the others.
                    reason = _import_failure(entry, err)
                else:
                    if key.can_verify:
                        keys.append(key.public_key())
                    else:
                        reason = "are not for signatures"
            if reason is not None:
                skipped[reason] += 1
        if skipped and keys:
            log.info("jwks: skipped %s; url=%s", _summary(skipped), self.url)
        if not keys:
            allowed = (
                "any algorithm" if self.algorithms is None else f"algorithms [{', '.join(self.algorithms)}]"
            )
            detail = _summary(skipped) if skipped else "the key list is empty"
            # Reachable but useless: a setup problem (wrong algorithms, wrong URL), not an outage.
            log.error(
                "jwks: configuration error: no key usable for %s: %s; url=%s", allowed, detail, self.url
            )
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
        log.warning("jwks: %s; url=%s; keeping %s", reason, self.url or self.discovery_url, kept)
        if self.keys is None:
            raise JWKSUnavailable(reason, retry_after=max(1, round(self.min_refetch_interval)))
        # Serve the cached keys until the next allowed attempt.
        self.refresh_at = self._next_attempt_at
        return self.keys

    def _metadata_due(self) -> bool:
        # The metadata is cached like the JWKS (its own max-age) and only fetched along with it.
        if self.discovery_url is None:
            return False
        return self.url is None or self._clock() >= self._metadata_refresh_at

    def _discovery(self) -> str:
        if self.discovery_url is None:  # pragma: no cover - only called when _metadata_due()
            raise JWKSUnavailable("no discovery URL")
        return self.discovery_url

    def _jwks_url(self) -> str:
        if self.url is None:  # pragma: no cover - _accept_metadata sets it or raises
            raise JWKSUnavailable("the issuer metadata named no JWKS")
        return self.url

    def _accept_metadata(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise JWKSUnavailable(f"issuer metadata answered HTTP {response.status_code}")
        try:
            uri = jwks_uri_from(
                response.content, self.issuer or "", allow_insecure_http=self._allow_insecure_http
            )
        except JWKSUnavailable as err:
            if (err.args[0] if err.args else "").startswith("configuration error"):
                log.error("jwks: %s; metadata=%s", err.args[0], self.discovery_url)
            raise
        self.url = uri
        self._metadata_refresh_at = self._clock() + self._cache_age(response.headers.get("cache-control"))

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
                if self._metadata_due():
                    meta = await self._client().get(self._discovery(), timeout=self.timeout)
                    self._accept_metadata(meta)
                response = await self._client().get(self._jwks_url(), timeout=self.timeout)
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
                if self._metadata_due():
                    meta = self._sync_http.get(self._discovery(), timeout=self.timeout)
                    self._accept_metadata(meta)
                response = self._sync_http.get(self._jwks_url(), timeout=self.timeout)
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


def _skip_reason(entry: Any) -> str | None:
    """Why a JWKS entry is left out before trying to import it (None: try it)."""
    if not isinstance(entry, dict):
        return "are not objects"
    if entry.get("kty") == "oct":
        return "are symmetric"
    if entry.get("use", "sig") != "sig":
        return "are for another use than signatures"
    if not isinstance(entry.get("kid"), str):
        return "lack kid"
    return None


def _import_failure(entry: dict[str, Any], err: Exception) -> str:
    text = str(err)
    if "has no 'alg'" in text:
        return "lack alg"
    if "not among the allowed algorithms" in text:
        return "have an alg that is not allowed"
    return f"are unusable {entry.get('kty')!s} keys"


_SINGULAR = {"are": "is", "lack": "lacks", "have": "has"}


def _summary(skipped: Counter[str]) -> str:
    """``3 keys lack alg, 1 key is symmetric``: reasons are written for the plural."""
    parts = []
    for reason, count in skipped.items():
        if count == 1:
            verb, _, rest = reason.partition(" ")
            parts.append(f"1 key {_SINGULAR.get(verb, verb)} {rest}")
        else:
            parts.append(f"{count} keys {reason}")
    return ", ".join(parts)
