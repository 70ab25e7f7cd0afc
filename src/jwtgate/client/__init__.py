"""Python client helpers for a jwtgate server: :class:`JwtgateAuth` for httpx."""

from jwtgate.client.auth import JwtgateAuth

__all__ = ["JwtgateAuth"]
