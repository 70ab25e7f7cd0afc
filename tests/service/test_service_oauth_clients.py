"""Issue 8 at the service level: registrations, client authentication by assertion, grants bounded by
the client, code exchange, owner-only revocation (every backend)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest

from jwtgate import generate_key
from jwtgate.errors import (
    AuthError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    UnsupportedGrantType,
)
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.jose.jws import sign_compact
from jwtgate.service import AuthService
from jwtgate.service.grants import narrow_scope
from jwtgate.service.registration import ClientRegistration, check_redirect_uri

from .conftest import FrozenClock

PASSWORD = "correct horse battery"
TOKEN_URL = "https://auth.example/oauth/token"


@pytest.mark.parametrize(
    ("registration", "message"),
    [
        ({"grants": ("implicit",)}, "grants are"),
        ({"grants": ("password",)}, "first-party"),
        ({"grants": ("authorization_code",)}, "redirect URI"),
        ({"redirect_uris": ("https://a.example/cb",)}, "authorization_code"),
        ({"kind": "public", "grants": ("client_credentials",)}, "public client"),
        ({"kind": "public", "introspect": True}, "public client cannot introspect"),
        ({"jwks": "{}"}, "JSON Web Key Set"),
        ({"jwks_url": "http://keys.example/jwks"}, "https"),
        ({"audiences": ("has space",)}, "audience"),
        ({"scopes": ("bad\\scope",)}, "invalid scope"),
    ],
)
def test_registration_rules(registration: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ClientRegistration(**registration)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb",
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "http://[::1]:9/cb",
        "com.example.app:/oauth",
    ],
)
def test_registrable_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/cb",
        "https://app.example/cb#frag",
        "/relative",
        "javascript:alert(1)",
        "https://",
        "a b",
    ],
)
def test_refused_redirect_uris(uri: str) -> None:
    with pytest.raises(InvalidRequest):
        check_redirect_uri(uri)


def test_narrow_scope_keeps_order_and_intersects_bounds() -> None:
    assert narrow_scope("write read admin", ("read", "write"), None) == "write read"
    assert narrow_scope(None, ("read", "write"), ("write",)) == "write"
    assert narrow_scope("nothing", ("read",)) == ""
    with pytest.raises(InvalidRequest):
        narrow_scope("bad\\scope", ("read",))


async def test_the_default_registration_is_a_resource_server(service: AuthService) -> None:
    info, secret = await service.add_client("orders-api")
    assert secret is not None
    assert (info.kind, info.grants, info.introspect) == ("confidential", (), True)
    with pytest.raises(AuthError):
        await service.add_client("orders-api")
    with pytest.raises(InvalidRequest, match="client name"):
        await service.add_client("bad name")
    with pytest.raises(AuthError):
        await service.add_client("jwtgate")  # the built-in client's name


def _assertion(key: Any, client_id: str, now: float, **changes: Any) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": int(now) + 60,
        "iat": int(now),
        "jti": secrets.token_urlsafe(16),
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return sign_compact({"typ": "JWT"}, dumps_compact(claims), key)


async def test_private_key_jwt_checks(service: AuthService, clock: FrozenClock) -> None:
    key = generate_key("ES256", kid="k1")
    info, secret = await service.add_client(
        "signer",
        ClientRegistration(
            grants=("client_credentials",), jwks=json.dumps({"keys": [key.public_key().to_jwk()]})
        ),
    )
    assert secret is None
    assert info.auth_methods == ("private_key_jwt",)
    clients, now = service.clients, clock()
    good = _assertion(key, info.id, now)
    assert (await clients.by_assertion(good, [TOKEN_URL])).id == info.id
    with pytest.raises(InvalidClient, match="already used"):
        await clients.by_assertion(good, [TOKEN_URL])
    stranger = generate_key("ES256", kid="k1")
    for bad in [
        _assertion(stranger, info.id, now),  # another key, same kid
        _assertion(key, info.id, now, aud="https://other.example/token"),
        _assertion(key, info.id, now, exp=int(now) - 120),
        _assertion(key, info.id, now, exp=int(now) + 86400),
        _assertion(key, info.id, now, iss="someone-else"),
        _assertion(key, info.id, now, jti=None),
        _assertion(key, info.id, now, nbf=int(now) + 3600),
        good.rsplit(".", 1)[0] + ".",  # no signature
    ]:
        with pytest.raises(InvalidClient):
            await clients.by_assertion(bad, [TOKEN_URL])
    with pytest.raises(InvalidClient):
        await clients.by_assertion(good, [TOKEN_URL], claimed_id="jgc_other")
    with pytest.raises(InvalidClient):  # a secret client cannot use an assertion, nor the reverse
        await clients.by_secret(info.id, "")


async def test_secret_and_public_authentication(service: AuthService) -> None:
    confidential, secret = await service.add_client("svc", ClientRegistration(grants=("client_credentials",)))
    public, none = await service.add_client(
        "spa",
        ClientRegistration(
            kind="public", grants=("authorization_code",), redirect_uris=("https://spa.example/cb",)
        ),
    )
    assert none is None
    assert secret is not None
    clients = service.clients
    assert (await clients.by_secret(confidential.id, secret)).id == confidential.id
    assert (await clients.public(public.id)).id == public.id
    for attempt in [
        clients.by_secret(confidential.id, secret + "x"),
        clients.by_secret(public.id, ""),
        clients.by_secret("jwtgate", ""),
        clients.public(confidential.id),  # a confidential client must authenticate
        clients.public("jgc_unknown"),
    ]:
        with pytest.raises(InvalidClient):
            await attempt


async def test_grants_and_scopes_are_bounded_by_the_client(service: AuthService) -> None:
    await service.add_user("carol", PASSWORD, scopes=("read", "write", "admin"))
    info, secret = await service.add_client(
        "mobile", ClientRegistration(grants=("password", "refresh_token"), scopes=("read",), first_party=True)
    )
    client = await service.clients.by_secret(info.id, secret or "")
    pair = await service.token_password(client, "carol", PASSWORD, scope="read admin")
    assert pair.scope == "read"
    claims = await service.authenticate(pair.access_token)  # first-party: the server's own audience
    assert claims["client_id"] == info.id
    with pytest.raises(UnsupportedGrantType):
        await service.token_client_credentials(client)
    refreshed = await service.token_refresh(client, pair.refresh_token)
    assert refreshed.scope == "read"
    with pytest.raises(InvalidGrant):  # another client (here the built-in one) cannot refresh it
        await service.refresh(refreshed.refresh_token)


async def test_removing_a_client_revokes_its_sessions(service: AuthService) -> None:
    await service.add_user("carol", PASSWORD)
    info, secret = await service.add_client(
        "mobile", ClientRegistration(grants=("password", "refresh_token"), scopes=("read",), first_party=True)
    )
    client = await service.clients.by_secret(info.id, secret or "")
    pair = await service.token_password(client, "carol", PASSWORD)
    assert await service.remove_client("mobile") == 1
    with pytest.raises(InvalidGrant):
        await service.token_refresh(client, pair.refresh_token)
    with pytest.raises(NotFound):
        await service.show_client("mobile")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_code_exchange_is_bound_to_client_redirect_and_verifier(
    service: AuthService, clock: FrozenClock
) -> None:
    alice = await service.add_user("carol", PASSWORD, scopes=("read", "write"))
    registration = ClientRegistration(
        grants=("authorization_code",), scopes=("read",), redirect_uris=("https://app.example/cb",)
    )
    app, app_secret = await service.add_client("app", registration)
    other, other_secret = await service.add_client("other", registration)
    app_client = await service.clients.by_secret(app.id, app_secret or "")
    other_client = await service.clients.by_secret(other.id, other_secret or "")
    verifier, challenge = _pkce()
    found, redirect = await service.authorization_client(app.id, None)  # one registered: may be left out
    request = service.authorization_request(
        found,
        redirect,
        {
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "read write",
        },
    )
    assert request.scope == "read"
    code = await service.issue_authorization_code(request, alice.id)
    with pytest.raises(InvalidGrant):  # another client: refused, and the code is spent
        await service.token_authorization_code(
            other_client, code, redirect_uri="https://app.example/cb", code_verifier=verifier
        )
    with pytest.raises(InvalidGrant):
        await service.token_authorization_code(
            app_client, code, redirect_uri="https://app.example/cb", code_verifier=verifier
        )
    code = await service.issue_authorization_code(request, alice.id)
    pair = await service.token_authorization_code(
        app_client, code, redirect_uri="https://app.example/cb", code_verifier=verifier
    )
    assert pair.scope == "read"
    with pytest.raises(InvalidRequest):
        await service.authorization_client(app.id, "https://app.example/cb/")
    with pytest.raises(NotFound):
        await service.authorization_client("jwtgate", "https://app.example/cb")
