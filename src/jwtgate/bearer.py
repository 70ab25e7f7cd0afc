"""Kept for imports written before DPoP: the token schemes live in :mod:`jwtgate.credentials`."""

from jwtgate.credentials import bearer_token, challenge

__all__ = ["bearer_token", "challenge"]
