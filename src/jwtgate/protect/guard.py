"""The guard: one object that checks bearer tokens for every integration (ASGI, FastAPI, WSGI/Flask).

A :class:`Guard` holds a :class:`~jwtgate.Verifier` (with its bounded cache of verified tokens), the keys
(a fixed :class:`~jwtgate.KeySet`, or a :class:`JWKSClient` that refreshes them), and optionally a
revocation source. :meth:`Guard.authenticate` returns verified claims or raises:

* a :class:`~jwtgate.TokenError` (401): bad, expired, unknown-key or revoked token;
* a :class:`~jwtgate.protect.errors.GuardUnavailable` (503): no keys yet, revocation list out of sync.

:func:`check_grants` then checks scopes (the space-separated ``scope`` claim) and roles (a ``roles``
list claim) and raises :class:`~jwtgate.InsufficientScope` (403).

A cached token is still checked for expiry and revocation on every call; a key change clears the cache.
Once keys are known, the async path refreshes them in the background when they go stale (requests never
wait on the JWKS server for that); only an unknown ``kid`` makes a request wait for a (rate-limited)
refetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

import httpx

from jwtgate import KeySet, Verifier
from jwtgate.errors import ConfigError, InsufficientScope, JwtgateError, RevokedToken, UnknownKey
from jwtgate.protect.jwks import JWKSClient
from jwtgate.protect.revocation import FeedRevocations, RedisRevocations, RevocationSource

__all__ = ["Guard", "RevocationMode", "TokenUser", "check_grants"]

RevocationMode = Literal["off", "feed", "redis"]


class TokenUser:
    """The authenticated caller, shaped like Starlette's ``BaseUser`` (``is_authenticated``,
    ``display_name``, ``identity``) with the verified ``claims`` at hand."""

    __slots__ = ("claims",)

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return str(self.claims.get("sub", ""))

    @property
    def display_name(self) -> str:
        name = self.claims.get("preferred_username") or self.claims.get("username")
        return name if isinstance(name, str) else self.identity

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

    @property
    def roles(self) -> frozenset[str]:
        return _roles(self.claims)

    def __repr__(self) -> str:
        return f"TokenUser(sub={self.identity!r})"


class AnonymousUser:
    """Put in ``scope["user"]`` on paths left open, so ``request.user`` works there too."""

    __slots__ = ()
    is_authenticated = False
    identity = ""
    display_name = ""
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


def _roles(claims: Mapping[str, Any]) -> frozenset[str]:
    roles = claims.get("roles")
    if isinstance(roles, list | tuple):
        return frozenset(role for role in roles if isinstance(role, str))
    return frozenset()


def check_grants(
    claims: Mapping[str, Any], scopes: Collection[str] = (), roles: Collection[str] = ()
) -> None:
    """Raise InsufficientScope unless the token has every scope in ``scopes`` and role in ``roles``."""
    if scopes:
        granted = claims.get("scope")
        if not isinstance(granted, str) or not set(scopes).issubset(granted.split()):
            raise InsufficientScope(scope=" ".join(scopes))
    if roles and not _roles(claims).issuperset(roles):
        raise InsufficientScope("the token lacks a required role")


class Guard:
    """Verifies bearer tokens against one issuer; shared by the middlewares and dependencies.

    Give exactly one of ``keys`` (a fixed KeySet), ``jwks_url`` or ``jwks`` (a configured JWKSClient).
    ``revocation``: ``"off"``; ``"feed"`` polls ``revocation_url`` (default: ``/api/revocations`` on the
    JWKS host, else on the issuer) every ``revocation_interval`` seconds; ``"redis"`` subscribes to
    ``redis_channel`` at ``redis_url`` and backfills from the feed on every (re)subscription.
    ``revocation_source`` overrides both (tests, custom sources).
    ``scopes``/``roles`` are required of every token this guard accepts through a middleware.
    Keys and revocations are fetched over https only (plain http on loopback, or with
    ``allow_insecure_http=True``).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Collection[str],
        keys: KeySet | None = None,
        jwks_url: str | None = None,
        jwks: JWKSClient | None = None,
        leeway: int = 30,
        scopes: Collection[str] = (),
        roles: Collection[str] = (),
        revocation: RevocationMode = "off",
        revocation_url: str | None = None,
        revocation_interval: float = 2.0,
        revocation_max_stale: float = 60.0,
        redis_url: str = "redis://127.0.0.1:6379/0",
        redis_channel: str = "jwtgate:revocations",
        revocation_source: RevocationSource | None = None,
        cache_size: int = 4096,
        max_token_size: int = 8192,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        if sum(option is not None for option in (keys, jwks_url, jwks)) != 1:
            raise ConfigError("give exactly one of keys=, jwks_url= or jwks=")
        if jwks_url is not None:
            jwks = JWKSClient(jwks_url, http_client=http_client, allow_insecure_http=allow_insecure_http)
        self.issuer = issuer
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)
        self._jwks = jwks
        self._keys = keys if keys is not None else KeySet()
        self._verifier = Verifier(
            self._keys,
            issuer=issuer,
            audience=audience if isinstance(audience, str) else tuple(audience),
            leeway=leeway,
            clock=clock,
            max_token_size=max_token_size,
            cache_size=cache_size,
        )
        self._allow_insecure_http = allow_insecure_http
        self._revocations = revocation_source or self._revocation_source(
            revocation,
            revocation_url,
            revocation_interval,
            revocation_max_stale,
            redis_url,
            redis_channel,
            http_client,
            clock,
        )
        self._started = False
        self._start_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._thread: _LoopThread | None = None
        self._sync_start_lock = threading.Lock()

    def _revocation_source(
        self,
        mode: RevocationMode,
        url: str | None,
        interval: float,
        max_stale: float,
        redis_url: str,
        redis_channel: str,
        http_client: httpx.AsyncClient | None,
        clock: Callable[[], float],
    ) -> RevocationSource | None:
        if mode == "off":
            return None
        if mode not in ("feed", "redis"):
            raise ConfigError("revocation must be 'off', 'feed' or 'redis'")
        if url is None:
            base = self._jwks.url if self._jwks is not None else self.issuer
            url = str(httpx.URL(base).join("/api/revocations"))
        feed = FeedRevocations(
            url,
            interval=interval,
            max_stale=max_stale,
            http_client=http_client,
            clock=clock,
            allow_insecure_http=self._allow_insecure_http,
        )
        if mode == "feed":
            return feed
        # Redis pushes revocations at once; the feed fills what pub/sub missed while disconnected.
        return RedisRevocations(redis_url, channel=redis_channel, backfill=feed, clock=clock)

    def __repr__(self) -> str:
        return f"Guard(issuer={self.issuer!r}, keys={len(self._keys)})"

    @property
    def verifier(self) -> Verifier:
        return self._verifier

    @property
    def revocations(self) -> RevocationSource | None:
        return self._revocations

    @property
    def token_url(self) -> str:
        """The issuer's OAuth token endpoint (for the OpenAPI "Authorize" button)."""
        return self.issuer.rstrip("/") + "/oauth/token"

    def _use_keys(self, keys: KeySet) -> None:
        if keys is not self._keys:
            self._keys = keys
            self._verifier.update_keys(keys)

    def _check_revocation(self, claims: dict[str, Any]) -> None:
        revocations = self._revocations
        if revocations is not None:
            revocations.check_fresh()
            if revocations.denylist.is_revoked(claims):
                raise RevokedToken

    # -- async (ASGI, FastAPI) ---------------------------------------------------------------------

    async def authenticate(self, token: str) -> dict[str, Any]:
        """Verified claims of ``token``; raises TokenError (401) or GuardUnavailable (503)."""
        if not self._started:
            await self.start()
        jwks = self._jwks
        if jwks is not None and jwks.is_stale():
            if jwks.keys is None:
                self._use_keys(await jwks.refresh())
            else:
                self._refresh_in_background(jwks)
        try:
            claims = self._verifier.verify(token)
        except UnknownKey as err:
            if jwks is None or err.kid is None:
                raise
            self._use_keys(await jwks.refresh(kid=err.kid))
            claims = self._verifier.verify(token)
        self._check_revocation(claims)
        return claims

    def _refresh_in_background(self, jwks: JWKSClient) -> None:
        # Stale-while-revalidate: requests keep using the cached keys while one task refetches, so no
        # request waits on the JWKS server once keys are known.
        task = self._refresh_task
        if task is None or task.done():
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_keys(jwks))

    async def _refresh_keys(self, jwks: JWKSClient) -> None:
        with contextlib.suppress(JwtgateError):  # logged by the client; cached keys stay in use
            self._use_keys(await jwks.refresh())

    async def start(self) -> None:
        """Fetch the keys and start revocation syncing; idempotent, concurrent callers wait together.

        Never raises for an unreachable server: requests then get 503 until it answers.
        """
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._start_task)

    async def _start(self) -> None:
        if self._revocations is not None:
            await self._revocations.start()
        if self._jwks is not None:
            with contextlib.suppress(JwtgateError):
                self._use_keys(await self._jwks.refresh())
        self._started = True

    async def aclose(self) -> None:
        """Stop background work and close connections this guard opened."""
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
            self._refresh_task = None
        if self._revocations is not None:
            await self._revocations.aclose()
        if self._jwks is not None:
            await self._jwks.aclose()
        self._start_task = None
        self._started = False
        self.close_sync()

    # -- sync (WSGI, Flask) ------------------------------------------------------------------------

    def authenticate_sync(self, token: str) -> dict[str, Any]:
        """Blocking :meth:`authenticate` for WSGI: JWKS fetched inline, revocation synced by a thread."""
        if not self._started:
            self.start_sync()
        jwks = self._jwks
        if jwks is not None and jwks.is_stale():
            self._use_keys(jwks.refresh_sync())
        try:
            claims = self._verifier.verify(token)
        except UnknownKey as err:
            if jwks is None or err.kid is None:
                raise
            self._use_keys(jwks.refresh_sync(kid=err.kid))
            claims = self._verifier.verify(token)
        self._check_revocation(claims)
        return claims

    def start_sync(self, timeout: float = 10.0) -> None:
        """Start revocation syncing on a daemon thread with its own event loop (WSGI apps)."""
        with self._sync_start_lock:
            if self._started:
                return
            if self._revocations is not None and self._thread is None:
                self._thread = _LoopThread()
                self._thread.run(self._revocations.start(), timeout)
            if self._jwks is not None:
                with contextlib.suppress(JwtgateError):
                    self._use_keys(self._jwks.refresh_sync())
            self._started = True

    def close_sync(self, timeout: float = 10.0) -> None:
        """Stop the background thread started by :meth:`start_sync`."""
        thread, self._thread = self._thread, None
        if thread is not None:
            if self._revocations is not None:
                thread.run(self._revocations.aclose(), timeout)
            thread.stop()
            self._started = False
        if self._jwks is not None:
            self._jwks.close_sync()


class _LoopThread:
    """An event loop on a daemon thread, so async sources serve sync (WSGI) apps too."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="jwtgate-revocation", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
