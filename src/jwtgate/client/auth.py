"""``JwtgateAuth``: an ``httpx.Auth`` that logs in, attaches the access token and keeps it fresh.

The token logic is one generator (:meth:`JwtgateAuth._renew_flow`) that yields the login or refresh
request and receives the response: no I/O of its own, so the sync and the async flow drive the same
code (httpx's ``_auth.py`` pattern). One lock per flavour (``threading.Lock`` for sync clients,
``asyncio.Lock`` for async ones) makes concurrent requests share a single renewal: whoever takes
the lock second finds the token already fresh and uses it.

With DPoP (RFC 9449) every token request and every request with a DPoP-bound token carries a fresh
proof signed by the client's key; server nonces (``DPoP-Nonce``) are remembered per origin, and a
request refused with ``use_dpop_nonce`` is signed again with the new nonce and sent once more.

Tokens and keys are never logged and never appear in ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx

from jwtgate.dpop import ProofSigner
from jwtgate.errors import ConfigError, InvalidCredentials, InvalidGrant, RateLimited
from jwtgate.jose.jwk import Key, generate_key

__all__ = ["JwtgateAuth"]

RenewFlow = Generator[httpx.Request, httpx.Response, None]
TokenFlow = Generator[httpx.Request, httpx.Response, httpx.Response]

#: A ``DPoP`` challenge among the ``WWW-Authenticate`` challenges (RFC 9449 section 7.1).
_DPOP_CHALLENGE = re.compile(r"(?:^|,)\s*dpop(?:\s|$)", re.IGNORECASE)
_MAX_ORIGINS = 64


class JwtgateAuth(httpx.Auth):
    """Bearer authentication against a jwtgate server.

    Give ``username`` and ``password`` (logs in at ``login_path`` on first use and again when the
    refresh token no longer works), or a token pair (``access_token`` and/or ``refresh_token``), or
    both. The access token is renewed ``refresh_margin`` seconds before it expires (expiry from
    ``expires_in``, else read from the token's ``exp`` claim without verification: it only
    schedules the renewal) and once after a 401, after which the request is retried once.

    Raises :class:`~jwtgate.errors.InvalidCredentials` when the login is refused,
    :class:`~jwtgate.errors.InvalidGrant` when the refresh token is refused and there is nothing
    to log in with, :class:`~jwtgate.errors.RateLimited` on 429, and ``httpx.HTTPStatusError`` on
    any other failed token request (the tokens held so far are kept).

    DPoP: ``dpop=True`` makes a new ES256 key for this object (kept in memory only), ``dpop_key`` uses
    yours (a private jwtgate Key: ES256, ES384, EdDSA, RS256 or PS256). Token requests then carry a
    proof, and when the server answers ``token_type: DPoP`` every request sends
    ``Authorization: DPoP <token>`` with a proof bound to it (``ath``). Tokens given to the
    constructor are taken as bound to that key. When the server issues plain Bearer tokens (DPoP off
    on the server), they are used as Bearer tokens.
    """

    requires_request_body = True  # a request retried after a 401 is sent twice

    def __init__(
        self,
        base_url: str | httpx.URL | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_in: float | None = None,
        refresh_margin: float = 30.0,
        login_path: str = "/api/login",
        refresh_path: str = "/api/token/refresh",
        clock: Callable[[], float] = time.time,
        dpop: bool = False,
        dpop_key: Key | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is None and access_token is None and refresh_token is None:
            raise ValueError("give username and password, or a token pair")
        if refresh_margin < 0:
            raise ValueError("refresh_margin must be >= 0")
        self._base_url = httpx.URL(str(base_url)) if base_url is not None else None
        self._credentials = (username, password) if username is not None else None
        self._access = access_token
        self._refresh = refresh_token
        self._clock = clock
        self._margin = refresh_margin
        self._login_path = login_path
        self._refresh_path = refresh_path
        self._expires_at = self._expiry_of(access_token, expires_in)
        self._thread_lock = threading.Lock()
        self._async_lock = asyncio.Lock()
        if dpop_key is None and dpop:
            dpop_key = generate_key("ES256")
        if dpop_key is not None and not isinstance(dpop_key, Key):
            raise ConfigError("dpop_key must be a jwtgate Key")
        self._signer = ProofSigner(dpop_key) if dpop_key is not None else None
        # Whether the current access token is DPoP-bound (decided by each token response).
        self._bound = self._signer is not None and access_token is not None
        self._nonces: dict[str, str] = {}

    def __repr__(self) -> str:
        who = self._credentials[0] if self._credentials else None
        return f"JwtgateAuth(base_url={self._base_url!s}, username={who!r}, tokens=<redacted>)"

    @property
    def access_token(self) -> str | None:
        """The current access token (None before the first request when logging in)."""
        return self._access

    @property
    def refresh_token(self) -> str | None:
        return self._refresh

    @property
    def dpop_jkt(self) -> str | None:
        """The RFC 7638 thumbprint of the DPoP key (what the server binds tokens to), or None."""
        return None if self._signer is None else self._signer.jkt

    @property
    def token_type(self) -> str:
        """``DPoP`` while the access token is bound to the DPoP key, else ``Bearer``."""
        return "DPoP" if self._bound else "Bearer"

    # -- state ---------------------------------------------------------------------------------

    def _expiry_of(self, access_token: str | None, expires_in: float | None) -> float | None:
        if access_token is None:
            return None
        if expires_in is not None:
            return self._clock() + float(expires_in)
        return _unverified_exp(access_token)

    def _needs_renewal(self) -> bool:
        if self._access is None:
            return True
        return self._expires_at is not None and self._clock() >= self._expires_at - self._margin

    def _still_usable(self) -> bool:
        return self._access is not None and (self._expires_at is None or self._clock() < self._expires_at)

    def _accept(self, response: httpx.Response) -> None:
        try:
            body = json.loads(response.content)
            access, refresh = body["access_token"], body["refresh_token"]
            expires_in = body["expires_in"]
        except (ValueError, KeyError, TypeError):
            raise httpx.DecodingError("malformed token response", request=response.request) from None
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise httpx.DecodingError("malformed token response", request=response.request)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise httpx.DecodingError("malformed token response", request=response.request)
        token_type = body.get("token_type", "Bearer")
        self._access, self._refresh = access, refresh
        self._expires_at = self._clock() + float(expires_in)
        self._bound = (
            self._signer is not None and isinstance(token_type, str) and token_type.lower() == "dpop"
        )

    # -- DPoP ----------------------------------------------------------------------------------

    def _sign(self, request: httpx.Request, access_token: str | None) -> None:
        """Attach a fresh DPoP proof for ``request`` (with the origin's nonce, if the server gave one)."""
        if self._signer is None:
            return
        request.headers["DPoP"] = self._signer.proof(
            request.method,
            str(request.url),
            now=self._clock(),
            nonce=self._nonces.get(_origin(request.url)),
            access_token=access_token,
        )

    def _note_nonce(self, response: httpx.Response) -> str | None:
        """Remember a ``DPoP-Nonce`` the server sent (on any response, RFC 9449 section 8.2)."""
        nonce: str | None = response.headers.get("dpop-nonce")
        if self._signer is None or not nonce:
            return None
        origin = _origin(response.request.url)
        if origin not in self._nonces and len(self._nonces) >= _MAX_ORIGINS:
            self._nonces.clear()
        self._nonces[origin] = nonce
        return nonce

    def _asks_for_nonce(self, response: httpx.Response, *, token_endpoint: bool) -> bool:
        """True when the server refused the proof for want of its nonce and sent one to use."""
        if self._note_nonce(response) is None:
            return False
        if token_endpoint:
            if response.status_code != 400:
                return False
            try:
                body = json.loads(response.content)
            except ValueError:
                return False
            return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
        if response.status_code != 401:
            return False
        return any(
            _DPOP_CHALLENGE.search(value) is not None and 'error="use_dpop_nonce"' in value
            for value in response.headers.get_list("www-authenticate")
        )

    # -- the token requests --------------------------------------------------------------------

    def _url(self, request: httpx.Request, path: str) -> httpx.URL:
        if self._base_url is not None:
            return self._base_url.join(path)
        return request.url.copy_with(path=path, query=None, fragment=None)

    def _post_json(self, request: httpx.Request, path: str, body: dict[str, str]) -> TokenFlow:
        """Send one token request (and, with DPoP, once more when the server asks for its nonce)."""
        token_request = httpx.Request(
            "POST",
            self._url(request, path),
            json=body,
            headers={"Accept": "application/json"},
            extensions=request.extensions,
        )
        self._sign(token_request, None)
        response = yield token_request
        if self._asks_for_nonce(response, token_endpoint=True):
            self._sign(token_request, None)
            response = yield token_request
            self._note_nonce(response)
        return response

    def _renew_flow(self, request: httpx.Request, *, forced: bool) -> RenewFlow:
        """Refresh, else log in; the caller holds the lock and reads each response's body."""
        if self._refresh is not None:
            response = yield from self._post_json(
                request, self._refresh_path, {"refresh_token": self._refresh}
            )
            if response.status_code == 200:
                self._accept(response)
                return
            if response.status_code in (400, 401):
                # Spent, expired or revoked: it will never work again.
                self._refresh = None
                self._access = None if forced else self._access
            elif self._handled_transient(response, forced=forced):
                return
        if self._credentials is None:
            self._access = None
            raise InvalidGrant("the refresh token was refused and there are no credentials")
        username, password = self._credentials
        response = yield from self._post_json(
            request, self._login_path, {"username": username, "password": password or ""}
        )
        if response.status_code == 200:
            self._accept(response)
            return
        if response.status_code in (400, 401):
            raise InvalidCredentials()
        if not self._handled_transient(response, forced=forced):
            response.raise_for_status()

    def _handled_transient(self, response: httpx.Response, *, forced: bool) -> bool:
        """On a server-side failure keep going with a token that still works; else raise."""
        if response.status_code == 429:
            raise RateLimited(retry_after=_retry_after(response))
        if not forced and self._still_usable():
            return True
        response.raise_for_status()
        return False

    def _authorize(self, request: httpx.Request) -> str | None:
        sent = self._access
        if sent is not None:
            if self._bound:
                request.headers["Authorization"] = f"DPoP {sent}"
                self._sign(request, sent)
            else:
                request.headers["Authorization"] = f"Bearer {sent}"
                request.headers.pop("DPoP", None)
        return sent

    # -- httpx entry points --------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._thread_lock:
            if self._needs_renewal():
                yield from _drive_sync(self._renew_flow(request, forced=False))
            sent = self._authorize(request)
        response = yield request
        if self._asks_for_nonce(response, token_endpoint=False):
            with self._thread_lock:
                sent = self._authorize(request)  # a new proof, with the nonce just received
            response = yield request
            if self._asks_for_nonce(response, token_endpoint=False):
                return  # asked again: retried once already, a refresh would not help
        if response.status_code != 401:
            return
        with self._thread_lock:
            if self._access == sent:  # nobody renewed meanwhile: this token is the bad one
                yield from _drive_sync(self._renew_flow(request, forced=True))
            self._authorize(request)
        response = yield request
        self._note_nonce(response)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Same steps as sync_auth_flow; an async generator cannot ``yield from``, so the
        # renewal flow is driven inline.
        async with self._async_lock:
            if self._needs_renewal():
                flow = self._renew_flow(request, forced=False)
                try:
                    sub_request = next(flow)
                    while True:
                        reply = yield sub_request
                        await reply.aread()
                        sub_request = flow.send(reply)
                except StopIteration:
                    pass
                finally:
                    flow.close()
            sent = self._authorize(request)
        response = yield request
        if self._asks_for_nonce(response, token_endpoint=False):
            async with self._async_lock:
                sent = self._authorize(request)  # a new proof, with the nonce just received
            response = yield request
            if self._asks_for_nonce(response, token_endpoint=False):
                return  # asked again: retried once already, a refresh would not help
        if response.status_code != 401:
            return
        async with self._async_lock:
            if self._access == sent:  # nobody renewed meanwhile: this token is the bad one
                flow = self._renew_flow(request, forced=True)
                try:
                    sub_request = next(flow)
                    while True:
                        reply = yield sub_request
                        await reply.aread()
                        sub_request = flow.send(reply)
                except StopIteration:
                    pass
                finally:
                    flow.close()
            self._authorize(request)
        response = yield request
        self._note_nonce(response)


def _drive_sync(flow: RenewFlow) -> Generator[httpx.Request, httpx.Response, None]:
    """Pass the flow's requests to httpx and feed back each response with its body read."""
    try:
        request = next(flow)
        while True:
            response = yield request
            response.read()
            request = flow.send(response)
    except StopIteration:
        return
    finally:
        flow.close()


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port or ''}"


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "1")
    return int(value) if value.isdigit() else 1


def _unverified_exp(token: str) -> float | None:
    """The ``exp`` claim read WITHOUT verification, only to schedule a renewal."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims: Any = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)
