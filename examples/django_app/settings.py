"""Settings of the Django example: the guard is configured in ``JWTGATE`` from the environment.

``JWTGATE_URL`` (the auth server, default ``http://127.0.0.1:8000``), ``JWTGATE_ISSUER`` (when the
server's issuer differs from its URL), ``JWTGATE_AUDIENCE`` (default ``jwtgate``),
``JWTGATE_REVOCATION_INTERVAL`` (seconds between revocation-feed polls, default 2).
"""

from __future__ import annotations

import os
import secrets

from jwtgate.protect.providers import Jwtgate

AUTH_URL = os.environ.get("JWTGATE_URL", "http://127.0.0.1:8000").rstrip("/")

DEBUG = False
# The example keeps no sessions or signed cookies: a random key per process is enough here.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
DATABASES: dict[str, object] = {}
USE_TZ = True

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    # Every request needs a valid token, except the paths left open.
    "jwtgate.protect.django.JWTAuthMiddleware",
]

JWTGATE = {
    # Any preset fits here: Keycloak(...), Auth0(...), EntraID(...), OIDC(...), ...
    "provider": Jwtgate(
        os.environ.get("JWTGATE_ISSUER", AUTH_URL), audience=os.environ.get("JWTGATE_AUDIENCE", "jwtgate")
    ),
    "revocation": "feed",
    "revocation_url": f"{AUTH_URL}/api/revocations",
    "revocation_interval": float(os.environ.get("JWTGATE_REVOCATION_INTERVAL", "2")),
    "exclude_paths": ["/health"],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwtgate.protect.django.JWTAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
