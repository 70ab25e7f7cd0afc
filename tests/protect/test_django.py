"""Django middleware and DRF classes through Django's real request handling (django.test.Client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

django = pytest.importorskip("django")
pytest.importorskip("rest_framework")

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="only-for-tests-" + "x" * 40,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        MIDDLEWARE=[],
        DATABASES={},
        USE_TZ=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["jwtgate.protect.django.JWTAuthentication"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "UNAUTHENTICATED_USER": None,
        },
    )
    django.setup()

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from jwtgate import Issuer, Key, KeySet, generate_key  # noqa: E402
from jwtgate.dpop import ProofSigner  # noqa: E402
from jwtgate.errors import ConfigError  # noqa: E402
from jwtgate.protect import Guard  # noqa: E402
from jwtgate.protect.django import HasRole, HasScope, JWTAuthMiddleware, JWTUser  # noqa: E402
from jwtgate.protect.providers import Keycloak  # noqa: E402
from jwtgate.storage.redis_replay import RedisReplayCache, SyncRedisReplayCache  # noqa: E402

from .conftest import AUDIENCE, ISSUER, NOW, Clock, make_token  # noqa: E402
from .idp import sign  # noqa: E402
from .test_providers import _keycloak  # noqa: E402

MIDDLEWARE = "jwtgate.protect.django.JWTAuthMiddleware"


def plain_view(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "anonymous": user.is_anonymous,
            "user": user.get_username(),
            "sub": (request.auth or {}).get("sub"),  # type: ignore[attr-defined]
        }
    )


class Notes(APIView):
    permission_classes = (HasScope("read"),)

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username, "scopes": sorted(request.user.scopes)})


class Admin(APIView):
    permission_classes = (HasRole("admin"),)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class ViewScopes(APIView):
    permission_classes = (HasScope,)
    required_scopes = ("write",)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("plain", plain_view),
    path("health", plain_view),
    path("notes", Notes.as_view()),
    path("admin", Admin.as_view()),
    path("write", ViewScopes.as_view()),
]


@pytest.fixture
def guard(rsa_key: Key, clock: Clock) -> Iterator[Guard]:
    guard = Guard(issuer=ISSUER, audience=AUDIENCE, keys=KeySet([rsa_key.public_key()]), clock=clock)
    yield guard
    guard.close_sync()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_middleware_sets_auth_and_user(guard: Guard, issuer: Issuer) -> None:
    config = {"guard": guard, "exclude_paths": ["/health"]}
    with override_settings(MIDDLEWARE=[MIDDLEWARE], JWTGATE=config):
        client = Client()
        response = client.get("/plain", **bearer(make_token(issuer)))
        assert response.status_code == 200
        assert response.json() == {"authenticated": True, "anonymous": False, "user": "alice", "sub": "alice"}
        missing = client.get("/plain")
        assert missing.status_code == 401
        assert missing.json() == {"error": "unauthorized", "error_description": "a bearer token is required"}
        assert missing["WWW-Authenticate"] == 'Bearer realm="api"'
        bad = client.get("/plain", **bearer(make_token(issuer)[:-4] + "AAAA"))
        assert bad.status_code == 401
        assert bad.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in bad["WWW-Authenticate"]
        open_path = client.get("/health")
        assert open_path.json()["anonymous"] is True


def test_optional_tokens_still_refuse_bad_ones(guard: Guard, issuer: Issuer) -> None:
    with override_settings(MIDDLEWARE=[MIDDLEWARE], JWTGATE={"guard": guard, "require_token": False}):
        client = Client()
        assert client.get("/plain").json()["authenticated"] is False
        assert client.get("/plain", **bearer("not.a.token")).status_code == 401


def test_drf_scopes_and_roles_behind_the_middleware(guard: Guard, issuer: Issuer) -> None:
    with override_settings(MIDDLEWARE=[MIDDLEWARE], JWTGATE={"guard": guard, "require_token": False}):
        client = Client()
        reader = make_token(issuer, scope="read")
        response = client.get("/notes", **bearer(reader))
        assert response.status_code == 200
        assert response.json() == {"user": "alice", "scopes": ["read"]}
        denied = client.get("/admin", **bearer(reader))
        assert denied.status_code == 403
        assert denied.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in denied["WWW-Authenticate"]
        write = client.get("/write", **bearer(reader))
        assert write.status_code == 403
        assert 'scope="write"' in write["WWW-Authenticate"]
        admin = make_token(issuer, claims={"roles": ["admin"]})
        assert client.get("/admin", **bearer(admin)).status_code == 200
        anonymous = client.get("/notes")
        assert anonymous.status_code == 401
        assert anonymous.json() == {
            "error": "unauthorized",
            "error_description": "a bearer token is required",
        }
        assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'


def test_drf_alone_with_a_ready_guard(guard: Guard, issuer: Issuer) -> None:
    with override_settings(MIDDLEWARE=[], JWTGATE={"guard": guard}):
        client = Client()
        assert client.get("/notes", **bearer(make_token(issuer))).status_code == 200
        bad = client.get("/notes", **bearer(make_token(issuer)[:-4] + "AAAA"))
        assert bad.status_code == 401
        assert bad.json()["error"] == "invalid_token"
        assert set(bad.json()) == {"error", "error_description"}
        assert 'error="invalid_token"' in bad["WWW-Authenticate"]


def test_drf_keys_unavailable_is_503_with_retry_after(issuer: Issuer) -> None:
    down = Guard(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url="https://127.0.0.1:1/.well-known/jwks.json",  # nothing listens there
    )
    try:
        with override_settings(MIDDLEWARE=[], JWTGATE={"guard": down}):
            response = Client().get("/notes", **bearer(make_token(issuer)))
            assert response.status_code == 503
            assert response.json()["error"] == "temporarily_unavailable"
            assert response["Retry-After"] == "10"
    finally:
        down.close_sync()


def test_middleware_from_a_provider_in_settings(rsa_key: Key) -> None:
    provider = Keycloak("https://sso.test/realms/acme", audience="api", keys=KeySet([rsa_key.public_key()]))
    with override_settings(MIDDLEWARE=[MIDDLEWARE], JWTGATE={"provider": provider, "clock": Clock()}):
        client = Client()
        token = sign(rsa_key, {"typ": "JWT"}, _keycloak(NOW))
        response = client.get("/plain", **bearer(token))
        assert response.status_code == 200, response.content
        assert response.json()["user"] == "alice"


def test_misconfiguration_is_loud(guard: Guard) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(JWTGATE=None), pytest.raises(ImproperlyConfigured):
        JWTAuthMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    with override_settings(JWTGATE={"guard": guard, "issuer": "x"}), pytest.raises(ImproperlyConfigured):
        JWTAuthMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]


def test_jwt_user_is_a_light_django_user() -> None:
    user = JWTUser({"sub": "u1", "preferred_username": "alice"})
    assert (user.pk, user.id, user.username, user.get_username()) == ("u1", "u1", "alice", "alice")
    assert user.is_authenticated
    assert not user.is_anonymous
    assert not user.has_perm("app.view")


@pytest.mark.redis
def test_django_instances_sharing_redis_accept_a_dpop_proof_once(
    rsa_key: Key, issuer: Issuer, redis_prefix: str
) -> None:
    """``dpop_replay`` in settings.JWTGATE, as for any Guard: two Django instances, one Redis."""
    signer = ProofSigner(generate_key("ES256"))
    token = make_token(issuer, claims={"cnf": {"jkt": signer.jkt}})
    proof = signer.proof("GET", "http://testserver/plain", now=NOW, access_token=token)
    headers = {"HTTP_AUTHORIZATION": f"DPoP {token}", "HTTP_DPOP": proof}
    caches = [SyncRedisReplayCache.from_url("redis://127.0.0.1:6379/0", prefix=redis_prefix) for _ in "ab"]
    answers = []
    try:
        for cache in caches:
            config = {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "keys": KeySet([rsa_key.public_key()]),
                "clock": Clock(),
                "dpop_replay": cache,
            }
            with override_settings(MIDDLEWARE=[MIDDLEWARE], JWTGATE=config):
                answers.append(Client().get("/plain", **headers))
    finally:
        for cache in caches:
            cache.close()
    assert answers[0].status_code == 200, answers[0].content
    assert answers[0].json()["sub"] == "alice"
    assert answers[1].status_code == 401
    assert answers[1].json()["error"] == "invalid_dpop_proof"


def test_django_with_the_asyncio_redis_cache_is_refused_at_startup(rsa_key: Key) -> None:
    config = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": KeySet([rsa_key.public_key()]),
        "dpop_replay": RedisReplayCache(object()),
    }
    with override_settings(JWTGATE=config), pytest.raises(ConfigError, match="SyncRedisReplayCache"):
        JWTAuthMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
