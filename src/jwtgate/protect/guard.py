"""The guard: one object that checks bearer tokens for every integration (ASGI, FastAPI, WSGI/Flask, Django).

A :class:`Guard` trusts one issuer or several. Each trusted issuer (a
:class:`~jwtgate.protect.providers.Provider`: a preset, or built from the plain keywords) gets its own
:class:`~jwtgate.Verifier` (with its bounded cache of verified tokens) and its own keys (a fixed
:class:`~jwtgate.KeySet`, or a :class:`JWKSClient` that refreshes them, found through discovery or
not); with several, a token's ``iss`` (read from the still unverified payload, only to pick) chooses
the issuer, so a token is only ever checked with its own issuer's keys. :meth:`Guard.authenticate`
returns verified claims or raises:

* a :class:`~jwtgate.TokenError` (401): bad, expired, unknown-key, unknown-issuer or revoked token;
* a :class:`~jwtgate.protect.errors.GuardUnavailable` (503): no keys yet, revocation list out of sync.

:meth:`Guard.check_grants` then checks scopes and roles where that issuer keeps them (a
:class:`~jwtgate.protect.claims.ClaimMap`) and raises :class:`~jwtgate.InsufficientScope` (403).

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
from jwtgate.dpop_binding import DPoPMode, GuardDPoP
from jwtgate.dpop_replay import ProofReplayCache
from jwtgate.errors import (
    ConfigError,
    InvalidClaim,
    JwtgateError,
    MalformedToken,
    RevokedToken,
    UnknownKey,
)
from jwtgate.jose.b64 import decode_checked
from jwtgate.jose.jsonutil import loads_object
from jwtgate.protect.claims import DEFAULT_CLAIM_MAP, ClaimMap
from jwtgate.protect.jwks import JWKSClient
from jwtgate.protect.providers import Provider, build
from jwtgate.protect.revocation import FeedRevocations, FeedToken, RedisRevocations, RevocationSource
from jwtgate.protect.users import AnonymousUser, TokenUser, check_grants

# TokenUser, AnonymousUser and check_grants live in users.py; importable from here as before.
__all__ = ["AnonymousUser", "Guard", "RevocationMode", "TokenUser", "check_grants"]

RevocationMode = Literal["off", "feed", "redis"]


class _Trust:
    """One trusted issuer: its description, its own keys and its own verifier (never shared)."""

    __slots__ = ("claims", "jwks", "keys", "provider", "verifier")

    def __init__(self, provider: Provider, jwks: JWKSClient | None, verifier: Verifier) -> None:
        self.provider = provider
        self.claims = provider.claims
        self.jwks = jwks
        self.keys = verifier.keys
        self.verifier = verifier

    def use_keys(self, keys: KeySet) -> None:
        if keys is not self.keys:
            self.keys = keys
            self.verifier.update_keys(keys)


class Guard:
    """Verifies bearer tokens; shared by the middlewares and dependencies.

    Whom to trust, one of:

    * ``provider=`` a preset (``jwtgate.protect.providers``: Keycloak, Auth0, Okta, EntraID, Cognito,
      Google, Jwtgate, OIDC) or any :class:`~jwtgate.protect.providers.Provider`;
    * ``issuers=[...]`` several providers, each checked only with its own keys;
    * the plain keywords: ``issuer=``, ``audience=`` and exactly one of ``keys`` (a fixed KeySet),
      ``jwks_url``, ``discovery_url`` or ``jwks`` (a configured JWKSClient), plus any provider option
      (``token_types``, ``required_claims``, ``algorithms``, ``scope_claim``, ``roles_claim``, ...:
      see :data:`~jwtgate.protect.providers.OPTIONS`). Without options this is the strict RFC 9068
      profile, as before.

    ``revocation`` (for the tokens of the first issuer: a jwtgate server): ``"off"``; ``"feed"``
    polls ``revocation_url`` (default: ``/api/revocations`` on the JWKS host, else on the issuer)
    every ``revocation_interval`` seconds; ``"redis"`` subscribes to
    ``redis_channel`` at ``redis_url`` and backfills from the feed on every (re)subscription.
    ``revocation_token``: a bearer token (or a callable returning one, sync or async) the feed sends, for
    a server in production mode (scope ``jwtgate:revocations``). ``revocation_source`` overrides both
    (tests, custom sources).
    ``scopes``/``roles`` are required of every token this guard accepts through a middleware.
    Keys, metadata and revocations are fetched over https only (plain http on loopback, or with
    ``allow_insecure_http=True``).
    """

    def __init__(
        self,
        *,
        provider: Provider | None = None,
        issuers: Collection[Provider] | None = None,
        issuer: str | None = None,
        audience: str | Collection[str] | None = None,
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
        revocation_token: FeedToken | None = None,
        cache_size: int = 4096,
        max_token_size: int = 8192,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPMode = "allowed",
        dpop_nonce_secret: bytes | None = None,
        dpop_replay: ProofReplayCache | None = None,
        **options: Any,
    ) -> None:
        # Proof of possession for DPoP-bound tokens (see jwtgate.dpop_binding).
        self.dpop = GuardDPoP(dpop, nonce_secret=dpop_nonce_secret, replay=dpop_replay, clock=clock)
        providers = self._providers(provider, issuers, issuer, audience, keys, jwks_url, jwks, options)
        self._allow_insecure_http = allow_insecure_http
        self._max_token_size = max_token_size
        self._trusts: list[_Trust] = []
        self._by_issuer: dict[str, _Trust] = {}
        for trusted in providers:
            client = jwks if jwks is not None else self._jwks_client(trusted, http_client)
            verifier = trusted.verifier(
                trusted.keys if trusted.keys is not None else KeySet(),
                leeway=leeway,
                clock=clock,
                max_token_size=max_token_size,
                cache_size=cache_size,
            )
            trust = _Trust(trusted, client, verifier)
            for spelling in trusted.issuers:
                if spelling in self._by_issuer:
                    raise ConfigError(f"issuer {spelling!r} is trusted twice")
                self._by_issuer[spelling] = trust
            self._trusts.append(trust)
        first = self._trusts[0]
        #: With one trusted issuer there is nothing to pick: the hot path skips the peek at ``iss``.
        self._single = first if len(self._trusts) == 1 else None
        self.provider = first.provider
        self.issuer = first.provider.issuer
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)
        self._jwks = first.jwks
        self._revocation_token = revocation_token
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
        self._refresh_tasks: dict[int, asyncio.Task[None]] = {}
        self._thread: _LoopThread | None = None
        self._sync_start_lock = threading.Lock()

    @staticmethod
    def _providers(
        provider: Provider | None,
        issuers: Collection[Provider] | None,
        issuer: str | None,
        audience: str | Collection[str] | None,
        keys: KeySet | None,
        jwks_url: str | None,
        jwks: JWKSClient | None,
        options: dict[str, Any],
    ) -> list[Provider]:
        plain = issuer is not None or audience is not None or keys is not None or jwks_url is not None
        if provider is not None or issuers is not None:
            if plain or jwks is not None or options or (provider is not None and issuers is not None):
                raise TypeError(
                    "give provider=, issuers=, or the plain issuer=/audience= keywords: not several "
                    "(options such as algorithms= go to the preset)"
                )
            chosen = [provider] if provider is not None else list(issuers or ())
            if not chosen or not all(isinstance(item, Provider) for item in chosen):
                raise ConfigError("issuers= must be a non-empty list of Provider objects (see providers)")
            return chosen
        if issuer is None:
            raise ConfigError("the guard needs issuer= and audience= (or provider= / issuers=)")
        sources = {"keys": keys, "jwks_url": jwks_url, "discovery_url": options.pop("discovery_url", None)}
        given = {name: value for name, value in sources.items() if value is not None}
        if len(given) + (jwks is not None) != 1:
            raise ConfigError("give exactly one of keys=, jwks_url=, discovery_url= or jwks=")
        if jwks is not None:  # a ready client: the provider only records where its keys come from
            given = {"jwks_url": jwks.url} if jwks.url is not None else {"discovery_url": jwks.discovery_url}
        defaults = {"token_url": issuer.rstrip("/") + "/oauth/token"}
        return [build("custom", issuer, audience, defaults, {**given, **options})]

    def _jwks_client(self, provider: Provider, http_client: httpx.AsyncClient | None) -> JWKSClient | None:
        if provider.keys is not None:
            return None
        return JWKSClient(
            provider.jwks_url,
            discovery_url=provider.discovery_url,
            issuer=provider.issuer,
            algorithms=provider.algorithms,
            http_client=http_client,
            allow_insecure_http=self._allow_insecure_http,
        )

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
            base = self._jwks.url if self._jwks is not None and self._jwks.url else self.issuer
            url = str(httpx.URL(base).join("/api/revocations"))
        feed = FeedRevocations(
            url,
            interval=interval,
            max_stale=max_stale,
            http_client=http_client,
            clock=clock,
            allow_insecure_http=self._allow_insecure_http,
            token=self._revocation_token,
        )
        if mode == "feed":
            return feed
        # Redis pushes revocations at once; the feed fills what pub/sub missed while disconnected.
        return RedisRevocations(redis_url, channel=redis_channel, backfill=feed, clock=clock)

    def __repr__(self) -> str:
        if self._single is None:
            return f"Guard(issuers={[trust.provider.issuer for trust in self._trusts]!r})"
        return f"Guard(issuer={self.issuer!r}, keys={len(self._single.keys)})"

    @property
    def verifier(self) -> Verifier:
        """The verifier of the first (with one issuer: the only) trusted issuer."""
        return self._trusts[0].verifier

    @property
    def providers(self) -> tuple[Provider, ...]:
        return tuple(trust.provider for trust in self._trusts)

    @property
    def revocations(self) -> RevocationSource | None:
        return self._revocations

    @property
    def token_url(self) -> str | None:
        """The issuer's OAuth token endpoint (for the OpenAPI "Authorize" button), when known."""
        return self.provider.token_url

    # -- issuer selection and grants (no I/O) ------------------------------------------------------

    def _trust_for(self, token: str) -> _Trust:
        """The trusted issuer a token claims. Only picks; the chosen verifier checks everything."""
        single = self._single
        if single is not None:
            return single
        if type(token) is not str or len(token) > self._max_token_size:
            raise MalformedToken("token too large")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedToken("not a compact JWS")
        iss = loads_object(decode_checked(parts[1])).get("iss")
        trust = self._by_issuer.get(iss) if type(iss) is str else None
        if trust is None:
            raise InvalidClaim("unexpected issuer", claim="iss")
        return trust

    def claim_map(self, claims: Mapping[str, Any]) -> ClaimMap:
        """Where the issuer of these (verified) claims keeps scopes and roles."""
        single = self._single
        if single is not None:
            return single.claims
        iss = claims.get("iss")
        trust = self._by_issuer.get(iss) if type(iss) is str else None
        return trust.claims if trust is not None else DEFAULT_CLAIM_MAP

    def check_grants(
        self, claims: Mapping[str, Any], scopes: Collection[str], roles: Collection[str]
    ) -> None:
        """:func:`check_grants` with the claim map of the token's issuer."""
        check_grants(claims, scopes, roles, self.claim_map(claims))

    def user(self, claims: dict[str, Any]) -> TokenUser:
        """The :class:`TokenUser` for verified claims (scopes and roles read the issuer's way)."""
        return TokenUser(claims, self.claim_map(claims))

    def _check_revocation(self, claims: dict[str, Any], trust: _Trust) -> None:
        revocations = self._revocations
        # The revocation feed is the first issuer's (a jwtgate server): its entries name that issuer's
        # sessions, tokens and users, and must not refuse another issuer's tokens that share a sub.
        if revocations is not None and trust is self._trusts[0]:
            revocations.check_fresh()
            if revocations.denylist.is_revoked(claims):
                raise RevokedToken

    @property
    def fixed_claim_map(self) -> ClaimMap | None:
        """The claim map of the only trusted issuer; None with several (then see :meth:`claim_map`)."""
        single = self._single
        return None if single is None else single.claims

    # -- async (ASGI, FastAPI) ---------------------------------------------------------------------

    def authenticate_now(self, token: str) -> dict[str, Any] | None:
        """What :meth:`authenticate` returns when it needs no I/O (started, keys fresh and known);
        ``None`` when the caller must ``await authenticate(token)`` instead. Raises like it."""
        if not self._started:
            return None
        trust = self._single or self._trust_for(token)
        jwks = trust.jwks
        if jwks is not None and jwks.is_stale():
            return None
        try:
            claims = trust.verifier.verify(token)
        except UnknownKey as err:
            if jwks is None or err.kid is None:
                raise
            return None  # a refetch may know the kid
        if self._revocations is not None:
            self._check_revocation(claims, trust)
        return claims

    async def authenticate(self, token: str) -> dict[str, Any]:
        """Verified claims of ``token``; raises TokenError (401) or GuardUnavailable (503)."""
        if not self._started:
            await self.start()
        trust = self._single or self._trust_for(token)
        jwks = trust.jwks
        if jwks is not None and jwks.is_stale():
            if jwks.keys is None:
                trust.use_keys(await jwks.refresh())
            else:
                self._refresh_in_background(trust, jwks)
        try:
            claims = trust.verifier.verify(token)
        except UnknownKey as err:
            if jwks is None or err.kid is None:
                raise
            trust.use_keys(await jwks.refresh(kid=err.kid))
            claims = trust.verifier.verify(token)
        if self._revocations is not None:
            self._check_revocation(claims, trust)
        return claims

    def _refresh_in_background(self, trust: _Trust, jwks: JWKSClient) -> None:
        # Stale-while-revalidate: requests keep using the cached keys while one task refetches, so no
        # request waits on the JWKS server once keys are known.
        task = self._refresh_tasks.get(id(trust))
        if task is None or task.done():
            loop = asyncio.get_running_loop()
            self._refresh_tasks[id(trust)] = loop.create_task(self._refresh_keys(trust, jwks))

    async def _refresh_keys(self, trust: _Trust, jwks: JWKSClient) -> None:
        with contextlib.suppress(JwtgateError):  # logged by the client; cached keys stay in use
            trust.use_keys(await jwks.refresh())

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
        for trust in self._trusts:
            if trust.jwks is not None:
                with contextlib.suppress(JwtgateError):  # logged by the client, with the reason
                    trust.use_keys(await trust.jwks.refresh())
        self._started = True

    async def aclose(self) -> None:
        """Stop background work and close connections this guard opened."""
        tasks, self._refresh_tasks = list(self._refresh_tasks.values()), {}
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._revocations is not None:
            await self._revocations.aclose()
        for trust in self._trusts:
            if trust.jwks is not None:
                await trust.jwks.aclose()
        self._start_task = None
        self._started = False
        self.close_sync()

    # -- sync (WSGI, Flask, Django) ----------------------------------------------------------------

    def authenticate_sync(self, token: str) -> dict[str, Any]:
        """Blocking :meth:`authenticate` for WSGI: JWKS fetched inline, revocation synced by a thread."""
        if not self._started:
            self.start_sync()
        trust = self._single or self._trust_for(token)
        jwks = trust.jwks
        if jwks is not None and jwks.is_stale():
            trust.use_keys(jwks.refresh_sync())
        try:
            claims = trust.verifier.verify(token)
        except UnknownKey as err:
            if jwks is None or err.kid is None:
                raise
            trust.use_keys(jwks.refresh_sync(kid=err.kid))
            claims = trust.verifier.verify(token)
        self._check_revocation(claims, trust)
        return claims

    def start_sync(self, timeout: float = 10.0) -> None:
        """Start revocation syncing on a daemon thread with its own event loop (WSGI apps)."""
        with self._sync_start_lock:
            if self._started:
                return
            if self._revocations is not None and self._thread is None:
                self._thread = _LoopThread()
                self._thread.run(self._revocations.start(), timeout)
            for trust in self._trusts:
                if trust.jwks is not None:
                    with contextlib.suppress(JwtgateError):
                        trust.use_keys(trust.jwks.refresh_sync())
            self._started = True

    def close_sync(self, timeout: float = 10.0) -> None:
        """Stop the background thread started by :meth:`start_sync`."""
        thread, self._thread = self._thread, None
        if thread is not None:
            if self._revocations is not None:
                thread.run(self._revocations.aclose(), timeout)
            thread.stop()
            self._started = False
        for trust in self._trusts:
            if trust.jwks is not None:
                trust.jwks.close_sync()


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
