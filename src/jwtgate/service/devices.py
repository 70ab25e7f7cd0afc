"""Device tokens: OWASP's device-cookie answer to lockouts an attacker can trigger.

A successful login gives the client a device token: ``d1.<payload>.<mac>`` where the payload (base64url)
is ``user id | device id | expiry`` and the MAC is HMAC-SHA256 under the server secret ``device`` (shared
by every instance, so any instance verifies it). A client presenting a valid token for the account it
logs in to is counted on its own (per device id): failures made by others, from any address, do not
block it. Clients without one are counted per (account, client network) and share one budget of
failures per account (:class:`LockoutPolicy`), so an attacker gets a bounded number of guesses per
account per hour however many addresses they use, while the owner's device still gets in.

The token is a capability to *try* a password, never a credential: it grants nothing else and holds no
secret of the user. It is not stored server-side; it dies with its expiry or a new ``device`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from jwtgate.errors import ConfigError

__all__ = ["DeviceTokens", "LockoutPolicy"]

_PREFIX = "d1."
_MAX_TOKEN_LENGTH = 300  # a user id of up to 64 characters fits well within it


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """The numbers of the lockout (validated; documented in docs/server.md).

    ``untrusted_max_failures`` failures per account within ``untrusted_window`` seconds from clients
    without a device token; beyond them each failure doubles the wait from 1 s up to
    ``untrusted_window``. ``success_max`` successful logins per account within ``success_window``
    (0: no limit), then waits doubling likewise. ``device_ttl``: seconds a device token stays valid.
    """

    device_ttl: int = 90 * 86_400
    untrusted_max_failures: int = 20
    untrusted_window: int = 3600
    success_max: int = 0
    success_window: int = 3600

    def __post_init__(self) -> None:
        if self.device_ttl < 60 or self.untrusted_max_failures < 1 or self.untrusted_window < 1:
            raise ConfigError("lockout parameters must be positive")
        if self.success_max < 0 or self.success_window < 1:
            raise ConfigError("the successful-login limit must be 0 (off) or positive")


class DeviceTokens:
    """Issue and check device tokens under one secret (the server secret ``device``)."""

    __slots__ = ("_key", "ttl")

    def __init__(self, key: bytes, *, ttl: int) -> None:
        if len(key) < 32:
            raise ConfigError("the device-token secret must be at least 32 bytes")
        self._key = key
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"DeviceTokens(ttl={self.ttl})"  # never the key

    def issue(self, user_id: str, now: float) -> str:
        """A new device token for ``user_id``, valid ``ttl`` seconds from ``now``."""
        if "|" in user_id:
            raise ConfigError("a user id never holds '|'")
        payload = f"{user_id}|{secrets.token_urlsafe(12)}|{math.floor(now) + self.ttl}".encode()
        return _PREFIX + _b64(payload) + "." + _b64(self._mac(payload))

    def device_id(self, token: object, user_id: str, now: float) -> str | None:
        """The device id of ``token`` when it is a valid, unexpired token for ``user_id``; else None
        (never an error: a bad token only means an untrusted client)."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH or not token.startswith(_PREFIX):
            return None
        body, _, mac_text = token[len(_PREFIX) :].partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            owner, device, expiry = payload.decode("ascii").split("|")
            expires_at = int(expiry)
        except ValueError:
            return None
        if not hmac.compare_digest(owner.encode(), user_id.encode()) or now >= expires_at:
            return None
        return device

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"jwtgate device token\x00" + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
