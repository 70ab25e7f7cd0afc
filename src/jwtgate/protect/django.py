"""Django and Django REST framework integration (``pip install jwtgate[django]``).

::

    # settings.py
    from jwtgate.protect.providers import Keycloak
    JWTGATE = {
        "provider": Keycloak("https://sso.example/realms/acme", audience="api"),
        # or the plain Guard keywords: "issuer": ..., "audience": ..., "jwks_url": ...
        "exclude_paths": ["/health"],      # left open (exact, or prefixes ending in "*")
        "require_token": True,             # False: requests without a token pass as anonymous
        "realm": "api",
    }
    MIDDLEWARE = [..., "jwtgate.protect.django.JWTAuthMiddleware"]
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["jwtgate.protect.django.JWTAuthentication"],
        "UNAUTHENTICATED_USER": None,
    }

    # views.py (DRF)
    class Notes(APIView):
        permission_classes = [HasScope("notes:read")]     # or HasRole("editor")

:class:`JWTAuthMiddleware` owns the :class:`~jwtgate.protect.guard.Guard` (built once from
``settings.JWTGATE``, or ``JWTGATE["guard"]`` when given ready); on success ``request.auth`` holds the
verified claims and ``request.user`` a :class:`JWTUser`. :class:`JWTAuthentication` reuses what the
middleware verified, or verifies with the middleware's guard (or ``JWTGATE["guard"]``).
Refusals are the RFC 6750 answers of every other integration: ``{"error", "error_description"}``
with ``WWW-Authenticate``; 503 with ``Retry-After`` when keys are unavailable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from jwtgate.credentials import challenge
from jwtgate.errors import InsufficientScope
from jwtgate.protect.claims import ClaimMap
from jwtgate.protect.guard import Guard, TokenUser, check_grants
from jwtgate.protect.paths import OpenPaths
from jwtgate.protect.refusals import Rejection, bearer_token, missing_token, rejection
from jwtgate.protect.wsgi import _claims_for, _Refused

__all__ = ["AnonymousUser", "HasRole", "HasScope", "JWTAuthMiddleware", "JWTAuthentication", "JWTUser"]

_MIDDLEWARE_KEYS = frozenset({"guard", "exclude_paths", "require_token", "realm"})


class JWTUser(TokenUser):
    """``request.user`` for a verified token: a light object with the attributes Django code reads
    (``is_authenticated``, ``is_anonymous``, ``username``, ``pk``), no database row behind it."""

    __slots__ = ()
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> str:
        return self.identity

    id = pk

    @property
    def username(self) -> str:
        return self.display_name

    def get_username(self) -> str:
        return self.display_name

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        # Django model permissions live in the database; a token's grants are its scopes and roles.
        return False


class AnonymousUser:
    """``request.user`` without a token (open paths, ``require_token: False``)."""

    __slots__ = ()
    is_authenticated = False
    is_anonymous = True
    is_active = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    username = ""
    identity = ""
    display_name = ""
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def get_username(self) -> str:
        return ""

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False


_ANONYMOUS = AnonymousUser()


def _settings() -> dict[str, Any]:
    config = getattr(settings, "JWTGATE", None)
    if not isinstance(config, dict):
        raise ImproperlyConfigured("settings.JWTGATE must be a dict (see jwtgate.protect.django)")
    return dict(config)


def _response(answer: Rejection) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type="application/json")
    for name, value in answer.headers:
        if name not in ("content-type", "content-length"):
            response[name] = value
    return response


class JWTAuthMiddleware:
    """Django middleware: every request outside ``exclude_paths`` needs a valid bearer token.

    Configured from ``settings.JWTGATE`` (see the module docstring); a bad token is always refused
    (401), even with ``require_token: False``, which only lets requests *without* a token through.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        config = _settings()
        guard = config.get("guard")
        options = {name: value for name, value in config.items() if name not in _MIDDLEWARE_KEYS}
        if guard is not None:
            if options or not isinstance(guard, Guard):
                raise ImproperlyConfigured("JWTGATE: give a ready Guard as 'guard', or the Guard options")
            self.guard = guard
        else:
            self.guard = Guard(**options)
        self.guard.dpop.require_sync()  # Django's middleware runs without an event loop
        self.get_response = get_response
        self.realm: str = config.get("realm", "api")
        self.require_token = bool(config.get("require_token", True))
        self._open_paths = OpenPaths(config.get("exclude_paths", ()))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.jwtgate_guard = self.guard
        header = request.META.get("HTTP_AUTHORIZATION")
        if request.path_info in self._open_paths or (header is None and not self.require_token):
            request.auth = None
            if not hasattr(request, "user"):
                request.user = _ANONYMOUS
            return self.get_response(request)
        try:
            claims = _claims_for(self.guard, request.META, self.realm, self.guard.scopes, self.guard.roles)
        except _Refused as refused:
            return _response(refused.answer)
        request.auth = claims
        request.user = JWTUser(claims, self.guard.claim_map(claims))
        return self.get_response(request)


# -- Django REST framework ------------------------------------------------------------------------


def _realm() -> str:
    config = getattr(settings, "JWTGATE", None)
    realm = config.get("realm", "api") if isinstance(config, dict) else "api"
    return realm if isinstance(realm, str) else "api"


def _body(answer: Rejection) -> dict[str, str]:
    body: dict[str, str] = json.loads(answer.body)
    return body


def _header(answer: Rejection, name: str) -> str | None:
    return next((value for key, value in answer.headers if key == name), None)


class _Unavailable(exceptions.APIException):
    status_code = 503
    default_code = "temporarily_unavailable"

    def __init__(self, answer: Rejection) -> None:
        super().__init__(detail=_body(answer))
        # DRF's handler turns ``wait`` into Retry-After.
        self.wait = int(_header(answer, "retry-after") or 1)


def _refusal(answer: Rejection) -> exceptions.APIException:
    """The DRF exception answering like every other integration (RFC 6750 body and headers)."""
    if answer.status == 503:
        return _Unavailable(answer)
    if answer.status == 403:
        denied = exceptions.PermissionDenied(detail=_body(answer))
        denied.auth_header = _header(answer, "www-authenticate")
        return denied
    if answer.status == 400:
        return exceptions.ParseError(detail=_body(answer))
    return exceptions.AuthenticationFailed(detail=_body(answer))


def _guard_for(request: HttpRequest) -> Guard:
    guard = getattr(request, "jwtgate_guard", None)
    if guard is None:
        config = getattr(settings, "JWTGATE", None)
        guard = config.get("guard") if isinstance(config, dict) else None
    if not isinstance(guard, Guard):
        raise ImproperlyConfigured(
            "JWTAuthentication needs jwtgate.protect.django.JWTAuthMiddleware in MIDDLEWARE "
            "(with 'require_token': False to let DRF decide) or a ready Guard in JWTGATE['guard']"
        )
    return guard


class JWTAuthentication(BaseAuthentication):
    """DRF authentication: ``Authorization: Bearer <jwt>`` -> ``(JWTUser, claims)``.

    No ``Authorization`` header, or another scheme: ``None`` (other authenticators may try; the
    permissions decide). A bad token: 401 with the RFC 6750 body and challenge.
    """

    def authenticate(self, request: Any) -> tuple[JWTUser, dict[str, Any]] | None:
        django_request: HttpRequest = request._request
        user = getattr(django_request, "user", None)
        claims = getattr(django_request, "auth", None)
        if type(user) is JWTUser and isinstance(claims, dict):
            return user, claims  # verified by the middleware
        header = django_request.META.get("HTTP_AUTHORIZATION")
        token = bearer_token(header) if header is not None else None
        if token is None:
            return None
        guard = _guard_for(django_request)
        try:
            claims = guard.authenticate_sync(token)
        except Exception as err:
            # Any failure refuses with a clean RFC 6750 answer, never a 500.
            answer = rejection(err, _realm())
            django_request.jwtgate_challenge = _header(answer, "www-authenticate")
            raise _refusal(answer) from None
        return JWTUser(claims, guard.claim_map(claims)), claims

    def authenticate_header(self, request: Any) -> str:
        found = getattr(request._request, "jwtgate_challenge", None)
        return found if isinstance(found, str) else challenge(_realm(), None, None, None)


class _GrantPermission(BasePermission):
    """Shared by HasScope and HasRole. An instance is also usable where DRF expects a class: calling
    it returns itself, so ``permission_classes = [HasScope("read")]`` works."""

    view_attribute = ""

    def __init__(self, *names: str) -> None:
        self.names: tuple[str, ...] = names

    def __call__(self) -> _GrantPermission:
        return self

    def _wanted(self, view: Any) -> tuple[str, ...]:
        return self.names or tuple(getattr(view, self.view_attribute, ()))

    def _check(self, claims: dict[str, Any], claim_map: ClaimMap, wanted: Collection[str]) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        claims = request.auth
        if not isinstance(user, TokenUser) or not isinstance(claims, dict):
            missing = missing_token(_realm())
            request._request.jwtgate_challenge = _header(missing, "www-authenticate")
            raise exceptions.NotAuthenticated(detail=_body(missing))
        wanted = self._wanted(view)
        try:
            self._check(claims, user.claim_map, wanted)
        except InsufficientScope as err:
            scope = " ".join(wanted) if isinstance(self, HasScope) else None
            raise _refusal(rejection(err, _realm(), scope=scope)) from None
        return True


class HasScope(_GrantPermission):
    """Admit tokens with every scope named (``HasScope("read", "write")``), or ``view.required_scopes``."""

    view_attribute = "required_scopes"

    def _check(self, claims: dict[str, Any], claim_map: ClaimMap, wanted: Collection[str]) -> None:
        check_grants(claims, wanted, (), claim_map)


class HasRole(_GrantPermission):
    """Admit tokens with every role named (``HasRole("editor")``), or ``view.required_roles``."""

    view_attribute = "required_roles"

    def _check(self, claims: dict[str, Any], claim_map: ClaimMap, wanted: Collection[str]) -> None:
        check_grants(claims, (), wanted, claim_map)
