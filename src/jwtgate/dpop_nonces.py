"""Server nonces for DPoP (RFC 9449 section 8): a server asks proofs to carry a nonce it issued, so a
proof made in advance (by malware that saw the key once) expires with the nonce.

:class:`NonceSource` needs no storage: a nonce is a window number and its MAC under a secret, so every
instance sharing the secret issues and accepts the same nonces. Pure: time comes from an injected clock.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from typing import Protocol

from jwtgate.errors import ConfigError, JwtgateError, UseDPoPNonce
from jwtgate.jose.b64 import b64url_decode, b64url_encode

__all__ = ["ExactNonce", "NonceChecker", "NonceSource"]


class NonceChecker(Protocol):
    """Decides whether a proof's ``nonce`` is current; raises UseDPoPNonce (with a fresh one) if not."""

    def check(self, nonce: object) -> None: ...


_NONCE_LABEL = b"jwtgate dpop nonce v1"
_NONCE_MAC_SIZE = 16


class NonceSource:
    """Stateless server nonces: ``base64url(window number || HMAC(secret, window number))``.

    Nonces rotate every ``window`` seconds; the current and the previous window's are accepted, so a nonce
    lives from ``window`` to ``2 * window`` seconds. Nothing is stored: every instance sharing ``secret``
    (and a clock within a few seconds) issues and accepts the same nonces.
    """

    __slots__ = ("_cached", "_clock", "_key", "window")

    def __init__(self, secret: bytes, *, window: int = 300, clock: Callable[[], float] = time.time) -> None:
        if type(secret) is not bytes or len(secret) < 32:
            raise ConfigError("the DPoP nonce secret must be at least 32 bytes")
        if type(window) is not int or not 10 <= window <= 86400:
            raise ConfigError("the DPoP nonce window must be an integer from 10 to 86400 seconds")
        # A key of its own, so a secret shared with other uses (CSRF, ...) never MACs the same input.
        self._key = hmac.digest(secret, _NONCE_LABEL, "sha256")
        self.window = window
        self._clock = clock
        self._cached: tuple[int, str] = (-1, "")

    def __repr__(self) -> str:
        return f"NonceSource(window={self.window})"

    def _mac(self, counter: bytes) -> bytes:
        return hmac.digest(self._key, counter, "sha256")[:_NONCE_MAC_SIZE]

    def _window_number(self) -> int:
        return math.floor(self._clock() / self.window)

    def issue(self) -> str:
        """The current nonce (the same for every caller during one window)."""
        number = self._window_number()
        cached_number, cached = self._cached
        if cached_number == number:
            return cached
        counter = number.to_bytes(8, "big", signed=True)
        nonce = b64url_encode(counter + self._mac(counter))
        self._cached = (number, nonce)
        return nonce

    def check(self, nonce: object) -> None:
        """Accept a nonce of this window or the previous one; else raise UseDPoPNonce with a fresh one."""
        if type(nonce) is not str:
            raise UseDPoPNonce(nonce=self.issue())
        current = self.issue()
        if hmac.compare_digest(nonce.encode(), current.encode()):
            return  # the common case: the nonce just handed out, no MAC to compute
        if len(nonce) < 64:
            try:
                raw = b64url_decode(nonce)
            except JwtgateError:
                raw = b""
            if len(raw) == 8 + _NONCE_MAC_SIZE:
                counter, mac = raw[:8], raw[8:]
                age = self._window_number() - int.from_bytes(counter, "big", signed=True)
                if age in (0, 1) and hmac.compare_digest(mac, self._mac(counter)):
                    return
        raise UseDPoPNonce(nonce=current)


class ExactNonce:
    """The nonce a caller handed over as a plain string."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def check(self, nonce: object) -> None:
        if type(nonce) is not str or not hmac.compare_digest(nonce.encode(), self.value.encode()):
            raise UseDPoPNonce(nonce=self.value)
