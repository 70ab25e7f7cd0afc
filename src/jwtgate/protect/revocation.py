"""Revocation for the guard: a local denylist of ``sid``s and ``jti``s, kept in sync from the server.

* :class:`Denylist`: O(1) membership on the hot path; every entry carries ``expires_at`` (epoch seconds,
  when the last token it covers expires) and :meth:`Denylist.purge` drops entries past it, so the
  list never grows without bound.
* :class:`FeedRevocations` (``revocation="feed"``): polls ``GET /api/revocations?after=CURSOR`` every
  ``interval`` seconds (default 2) and pages through until caught up.
* :class:`RedisRevocations` (``revocation="redis"``): subscribes to the server's pub/sub channel
  (default ``jwtgate:revocations``); each message is one feed entry as JSON.

Both fail closed: until the first sync succeeds, and when the last sync is older than ``max_stale``
seconds (feed) or the subscription is down (Redis), :meth:`check_fresh` raises
:class:`RevocationUnavailable` and the guard answers 503 instead of trusting a stale list.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx

from jwtgate.errors import ConfigError
from jwtgate.protect.errors import RevocationUnavailable
from jwtgate.protect.urls import check_fetch_url

__all__ = ["Denylist", "FeedRevocations", "FeedToken", "RedisRevocations", "RevocationSource"]

log = logging.getLogger("jwtgate.protect.revocation")

_MAX_VALUE_LENGTH = 512
_PURGE_EVERY = 30.0


class Denylist:
    """Revoked session ids and token ids, each with the instant it stops mattering."""

    __slots__ = ("_clock", "jtis", "sids")

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.sids: dict[str, float] = {}
        self.jtis: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.sids) + len(self.jtis)

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True if the token's ``sid`` or ``jti`` is listed (hot path: two dict lookups)."""
        sid = claims.get("sid")
        if sid is not None and sid in self.sids:
            return True
        jti = claims.get("jti")
        return jti is not None and jti in self.jtis

    def add(self, kind: str, value: str, expires_at: float) -> None:
        """List one ``sid`` or ``jti`` until ``expires_at``; an entry already past it is ignored."""
        if expires_at <= self._clock():
            return
        table = self.sids if kind == "sid" else self.jtis
        table[value] = max(expires_at, table.get(value, expires_at))

    def apply(self, entries: Iterable[object]) -> int:
        """Add well-formed feed entries, skip (and log) the others; return how many were added."""
        added = 0
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kind, value, expires_at = entry.get("type"), entry.get("value"), entry.get("expires_at")
            if (
                kind not in ("sid", "jti")
                or not isinstance(value, str)
                or not 0 < len(value) <= _MAX_VALUE_LENGTH
                or isinstance(expires_at, bool)
                or not isinstance(expires_at, int | float)
            ):
                log.warning("revocation: skipped a malformed entry")
                continue
            self.add(kind, value, float(expires_at))
            added += 1
        return added

    def purge(self) -> int:
        """Drop entries whose ``expires_at`` has passed; return how many."""
        now = self._clock()
        dropped = 0
        for table in (self.sids, self.jtis):
            expired = [value for value, until in table.items() if until <= now]
            for value in expired:
                del table[value]
            dropped += len(expired)
        return dropped


class RevocationSource(Protocol):
    """What the guard needs from a revocation mode."""

    denylist: Denylist

    def check_fresh(self) -> None:
        """Raise RevocationUnavailable if the denylist cannot be trusted right now."""

    async def start(self) -> None:
        """First sync attempt, then keep syncing in a background task."""

    async def aclose(self) -> None:
        """Stop syncing and release connections."""


#: What :class:`FeedRevocations` sends as its bearer token: a string, or a callable (sync or async)
#: returning the current one.
FeedToken = str | Callable[[], str] | Callable[[], Awaitable[str]]
_TOKEN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


def _check_token(token: str) -> None:
    # RFC 6750 b64token: nothing that could split or inject a header.
    if not token or len(token) > 16_384 or not set(token) <= _TOKEN_CHARACTERS:
        raise ConfigError("the revocation feed token is not a bearer token")


class FeedRevocations:
    """Polls the auth server's revocation feed into a :class:`Denylist`.

    ``token``: an access token with scope ``jwtgate:revocations``, which a server in production
    requires (a string, or a callable, sync or async, asked for on every poll so it can refresh it).
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float = 2.0,
        max_stale: float = 60.0,
        timeout: float = 5.0,
        max_pages: int = 100,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        allow_insecure_http: bool = False,
        denylist: Denylist | None = None,
        token: FeedToken | None = None,
    ) -> None:
        if interval <= 0 or max_stale < interval or timeout <= 0:
            raise ConfigError("invalid revocation feed intervals")
        if isinstance(token, str):
            _check_token(token)
        elif token is not None and not callable(token):
            raise ConfigError("the revocation feed token is a string or a callable returning one")
        self._token = token
        self.url = check_fetch_url(url, allow_insecure_http=allow_insecure_http)
        self.interval = interval
        self.max_stale = max_stale
        self.timeout = timeout
        self.max_pages = max_pages
        self.denylist = denylist if denylist is not None else Denylist(clock=clock)
        self.cursor = 0
        self._clock = clock
        self._http = http_client
        self._own_http = http_client is None
        self._synced_at = float("-inf")
        self._last_purge = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"FeedRevocations(url={self.url!r}, cursor={self.cursor}, entries={len(self.denylist)})"

    def check_fresh(self) -> None:
        if self._clock() - self._synced_at > self.max_stale:
            raise RevocationUnavailable(retry_after=max(1, round(self.interval)))

    async def poll_once(self) -> int:
        """Fetch every page after the cursor; return the number of entries added.

        Raises httpx.HTTPError or ValueError on a failed or garbled answer (the cursor is kept).
        """
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        added = 0
        headers = await self._auth_headers()
        for _ in range(self.max_pages):
            response = await self._http.get(
                self.url, params={"after": str(self.cursor)}, timeout=self.timeout, headers=headers
            )
            response.raise_for_status()
            doc = json.loads(response.content)
            if not isinstance(doc, dict):
                raise ValueError("revocation feed answer is not an object")
            entries, cursor = doc.get("revocations"), doc.get("cursor")
            if not isinstance(entries, list) or isinstance(cursor, bool) or not isinstance(cursor, int):
                raise ValueError("revocation feed answer lacks revocations or cursor")
            added += self.denylist.apply(entries)
            caught_up = not entries or cursor <= self.cursor
            self.cursor = max(self.cursor, cursor)
            if caught_up:
                break
        self._synced_at = self._clock()
        if self._synced_at - self._last_purge >= _PURGE_EVERY:
            self.denylist.purge()
            self._last_purge = self._synced_at
        return added

    async def _auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer`` with the feed token (asked for on every poll, so a callable can
        hand out a fresh access token); a bad one is a ValueError, logged by type only like any
        failed poll: the token itself never reaches a log."""
        if self._token is None:
            return {}
        value: object = self._token() if callable(self._token) else self._token
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str):
            raise ValueError("the revocation feed token callable did not return a string")
        try:
            _check_token(value)
        except ConfigError as err:
            raise ValueError(err.description) from None
        return {"Authorization": f"Bearer {value}"}

    async def _poll_logged(self) -> None:
        try:
            await self.poll_once()
        except (httpx.HTTPError, ValueError) as err:
            log.warning("revocation feed poll failed (%s); url=%s", type(err).__name__, self.url)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._poll_logged()
            except Exception as err:
                # Unexpected, but the poller must outlive it: the list goes stale and fails closed.
                log.error("revocation feed poller error (%s)", type(err).__name__)

    async def start(self) -> None:
        if self._task is not None:
            return
        await self._poll_logged()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


class RedisRevocations:
    """Subscribes to the server's Redis revocation channel into a :class:`Denylist`.

    ``client`` is a ``redis.asyncio.Redis`` (created from ``url`` when not given; ``redis`` is then
    imported lazily, so the guard does not need it unless this mode is chosen).

    Pub/sub drops what is published while nobody listens. With ``backfill`` (a feed poller sharing
    this denylist), every (re)subscription is followed by one feed poll, and the source counts as in
    sync only after it: revocations made while the guard was starting or disconnected are not missed.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        channel: str = "jwtgate:revocations",
        reconnect_delay: float = 1.0,
        client: Any = None,
        backfill: FeedRevocations | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.channel = channel
        self.reconnect_delay = reconnect_delay
        self.denylist = backfill.denylist if backfill is not None else Denylist(clock=clock)
        self._backfill = backfill
        self._clock = clock
        self._client = client
        self._own_client = client is None
        self._subscribed = False
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RedisRevocations(channel={self.channel!r}, entries={len(self.denylist)})"

    def check_fresh(self) -> None:
        if not self._subscribed:
            raise RevocationUnavailable(retry_after=max(1, round(self.reconnect_delay)))

    def handle_message(self, data: bytes | str) -> bool:
        """Apply one pub/sub message (a feed entry as JSON); False if it was not one."""
        try:
            entry = json.loads(data)
        except ValueError:
            log.warning("revocation: skipped a non-JSON message on %s", self.channel)
            return False
        return self.denylist.apply([entry]) == 1

    async def _run(self) -> None:
        from redis.exceptions import RedisError

        last_purge = self._clock()
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if self._backfill is not None:
                    await self._backfill.poll_once()  # after subscribing: nothing falls in between
                self._subscribed = True
                self._ready.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.handle_message(message["data"])
                    if self._clock() - last_purge >= _PURGE_EVERY:
                        self.denylist.purge()
                        last_purge = self._clock()
            except (RedisError, OSError, httpx.HTTPError, ValueError) as err:
                log.warning("revocation: redis subscription lost (%s)", type(err).__name__)
            except Exception as err:
                # Unexpected, but the subscriber must outlive it: log, fail closed, resubscribe.
                log.error("revocation: redis subscriber error (%s)", type(err).__name__)
            finally:
                # Messages published while unsubscribed are lost: fail closed until resubscribed.
                self._subscribed = False
                # The connection is already broken or being torn down: a failed close changes nothing.
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            self._ready.set()
            await asyncio.sleep(self.reconnect_delay)

    async def start(self, *, wait: float = 5.0) -> None:
        """Start the subscriber; wait up to ``wait`` seconds for the first subscription."""
        if self._task is not None:
            return
        if self._client is None:
            try:
                import redis.asyncio
            except ImportError as err:
                raise ConfigError("revocation='redis' needs the redis package (jwtgate[redis])") from err
            self._client = redis.asyncio.Redis.from_url(self.url)
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._backfill is not None:
            await self._backfill.aclose()
