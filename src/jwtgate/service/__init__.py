"""Use cases of the auth server: login, refresh rotation, revocation, sessions, keys, clients.

The storage ports are in :mod:`jwtgate.service.ports`; adapters in :mod:`jwtgate.storage`.
"""

from jwtgate.errors import InvalidRequest  # re-exported: the service raises it for malformed input
from jwtgate.service.auth import AuthService
from jwtgate.service.keyring import KeyInfo, KeyRing, Rotation
from jwtgate.service.passwords import Argon2Hasher, PasswordHasher
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ratelimit import MemoryRateLimiter, RateLimiter
from jwtgate.service.sealing import Sealer
from jwtgate.service.types import ClientInfo, SessionInfo, TokenPair, UserInfo

__all__ = [
    "Argon2Hasher",
    "AuthService",
    "ClientInfo",
    "InvalidRequest",
    "KeyInfo",
    "KeyRing",
    "MemoryRateLimiter",
    "PasswordHasher",
    "RateLimiter",
    "Rotation",
    "Sealer",
    "ServicePolicy",
    "SessionInfo",
    "TokenPair",
    "UserInfo",
]
