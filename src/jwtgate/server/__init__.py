"""The jwtgate auth server (FastAPI); :func:`create_app` builds it from the settings."""

from jwtgate.server.app import create_app

__all__ = ["create_app"]
