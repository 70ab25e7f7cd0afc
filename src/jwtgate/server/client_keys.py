"""The public keys of ``private_key_jwt`` clients registered with a JWKS URL (``--jwks-url``).

Fetched with the guard's :class:`~jwtgate.protect.jwks.JWKSClient` (https, or http on loopback; no
redirects; size and shape checks), through a short-lived HTTP client so nothing outlives the request.
A known ``kid`` uses keys up to :data:`_MAX_AGE` seconds old; an unknown or absent one refetches, at
most every :data:`_REFETCH` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import httpx
from fastapi import Request

from jwtgate.errors import InvalidClient, JwtgateError
from jwtgate.jose.jwks import KeySet
from jwtgate.protect.jwks import JWKSClient

__all__ = ["ClientKeys", "client_keys"]

_MAX_URLS = 256
_MAX_AGE = 300.0
_REFETCH = 10.0


class ClientKeys:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: OrderedDict[str, tuple[KeySet, float]] = OrderedDict()
        self._clock = clock

    async def __call__(self, url: str, kid: str | None) -> KeySet:
        """The keys published at ``url``; InvalidClient when they cannot be had."""
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None:
            keys, fetched_at = cached
            # A known kid uses the cache while fresh; an unknown or absent one (Authlib sends none)
            # refetches, at most every _REFETCH seconds.
            known = kid is not None and kid in keys and now - fetched_at < _MAX_AGE
            if known or now - fetched_at < _REFETCH:
                return keys
        try:
            async with httpx.AsyncClient(follow_redirects=False) as http:
                keys = await JWKSClient(url, http_client=http, min_refetch_interval=0).refresh()
        except JwtgateError:
            raise InvalidClient("the client's keys are unavailable") from None
        if len(self._cache) >= _MAX_URLS:
            self._cache.popitem(last=False)
        self._cache[url] = (keys, now)
        return keys


def client_keys(request: Request) -> ClientKeys:
    """The app's cache (created on first use)."""
    keys = getattr(request.app.state, "jwtgate_client_keys", None)
    if not isinstance(keys, ClientKeys):
        keys = ClientKeys()
        request.app.state.jwtgate_client_keys = keys
    return keys
