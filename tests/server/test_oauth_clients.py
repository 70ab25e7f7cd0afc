"""Issue 8 through Authlib's ``AsyncOAuth2Client`` (unmodified) on the real app, plus the raw HTTP
checks of client authentication, per-client tokens and RFC conformance."""

from __future__ import annotations

import http.server
import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi import FastAPI

from jwtgate import generate_key
from jwtgate.server.client_keys import ClientKeys
from jwtgate.service import AuthService
from jwtgate.service.registration import ClientRegistration

from .conftest import BASE_URL, PASSWORD, FrozenClock, assert_error_shape, basic, bearer, login

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it would rather use the "httpx2" package; httpx works.
    # Its deprecate module installs an "always" filter when imported: import it first, then ignore.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

TOKEN_URL = f"{BASE_URL}/oauth/token"
REVOKE_URL = f"{BASE_URL}/oauth/revoke"
INTROSPECT_URL = f"{BASE_URL}/oauth/introspect"


@pytest.fixture
def clock() -> FrozenClock:
    # Real time: Authlib stamps client assertions and token expiry with time.time().
    return FrozenClock(float(int(time.time())))


@pytest.fixture
async def alice(service: AuthService) -> Any:
    return await service.add_user("alice", PASSWORD, scopes=("read", "write", "admin"))


async def _client(service: AuthService, name: str, **registration: Any) -> tuple[str, str | None]:
    info, secret = await service.add_client(name, ClientRegistration(**registration))
    return info.id, secret


@pytest.fixture
async def mobile(service: AuthService) -> tuple[str, str | None]:
    """A first-party confidential app with the password grant, bounded to read and write."""
    return await _client(
        service, "mobile", grants=("password", "refresh_token"), scopes=("read", "write"), first_party=True
    )


@pytest.fixture
async def resource_server(service: AuthService) -> tuple[str, str | None]:
    return await _client(service, "orders-api", introspect=True)


def oauth_client(
    app: FastAPI, client_id: str, secret: str | None = None, **options: Any
) -> AsyncOAuth2Client:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4444))
    return AsyncOAuth2Client(client_id, secret, transport=transport, base_url=BASE_URL, **options)


# ---------------------------------------------------------------------------------- client authentication
@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"headers": "wrong-basic"}, id="wrong basic secret"),
        pytest.param({"data": {"client_secret": "jgs_wrong"}}, id="wrong posted secret"),
        pytest.param({"data": {"client_id": "jgc_nope", "client_secret": "x"}}, id="unknown client"),
        pytest.param({"headers": {"Authorization": "Bearer xyz"}}, id="bearer instead of client auth"),
        pytest.param({"data": {"client_id": "jgc_nope"}}, id="unknown public client"),
        pytest.param({"headers": "basic", "data": {"client_secret": "x"}}, id="mixed methods"),
        pytest.param(
            {"data": {"client_assertion_type": "x", "client_assertion": "a.b.c"}}, id="bad assertion"
        ),
    ],
)
async def test_presented_client_credentials_are_always_checked(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str], credentials: dict[str, Any]
) -> None:
    """Issue 8: each of these got a 200 with tokens before."""
    client_id, secret = mobile
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    headers = credentials.get("headers")
    if headers == "wrong-basic":
        headers = basic(client_id, "jgs_wrong")
    elif headers == "basic":
        headers = basic(client_id, secret)
    data = dict(credentials.get("data", {}))
    if data.get("client_secret") == "jgs_wrong":
        data["client_id"] = client_id
    response = await client.post("/oauth/token", data={**form, **data}, headers=headers)
    body = assert_error_shape(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert secret not in response.text
    assert "access_token" not in body


async def test_a_confidential_client_must_authenticate(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str]
) -> None:
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": mobile[0]}
    assert_error_shape(await client.post("/oauth/token", data=form), 401, "invalid_client")


async def test_no_client_at_all_is_the_builtin_client(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post(
        "/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200
    claims = (await client.get("/api/protected", headers=bearer(response.json()["access_token"]))).json()
    assert claims["user"]["client_id"] == "jwtgate"


async def test_an_empty_basic_secret_never_authenticates_a_confidential_client(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str]
) -> None:
    """Swagger UI's password flow sends ``Basic base64(":")`` (no client): that is the built-in client;
    the same with a confidential client's id and no secret is refused."""
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    anonymous = await client.post("/oauth/token", data=form, headers=basic("", ""))
    assert anonymous.status_code == 200, anonymous.text
    builtin = await client.post("/oauth/token", data=form, headers=basic("jwtgate", ""))
    assert builtin.status_code == 200, builtin.text
    refused = await client.post("/oauth/token", data=form, headers=basic(mobile[0], ""))
    assert_error_shape(refused, 401, "invalid_client")


# ---------------------------------------------------------------------------------- Authlib end to end
async def test_authlib_password_grant_refresh_revoke_introspect(
    app: FastAPI,
    alice: Any,
    mobile: tuple[str, str],
    resource_server: tuple[str, str],
) -> None:
    updates: list[dict[str, Any]] = []

    async def update_token(token: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
        updates.append(token)

    # The scope goes with this request only: Authlib resends a client-wide ``scope=`` on every refresh,
    # and "admin" was never granted (RFC 6749 section 6: invalid_scope; see test_oauth_refresh_scope).
    async with oauth_client(app, *mobile, token_endpoint=TOKEN_URL, update_token=update_token) as oauth:
        token = await oauth.fetch_token(
            TOKEN_URL, username="alice", password=PASSWORD, scope="read write admin"
        )
        assert token["scope"] == "read write"  # admin: the user has it, the client may not get it
        first_refresh = token["refresh_token"]
        async with oauth_client(app, *resource_server) as rs:
            seen = (await rs.introspect_token(INTROSPECT_URL, token=token["access_token"])).json()
        assert seen["active"] is True
        assert seen["client_id"] == mobile[0]
        assert seen["username"] == "alice"
        # Automatic refresh: Authlib refreshes a token it believes expired before the request.
        oauth.token["expires_at"] = int(time.time()) - 60
        me = await oauth.get("/api/me")
        assert me.status_code == 200
        assert me.json()["username"] == "alice"
        assert len(updates) == 1
        assert updates[0]["refresh_token"] != first_refresh
        assert updates[0]["scope"] == "read write"
        revoked = await oauth.revoke_token(REVOKE_URL, token=updates[0]["refresh_token"])
        assert revoked.status_code == 200
        with pytest.raises(OAuthError, match="invalid_grant"):
            await oauth.refresh_token(TOKEN_URL, refresh_token=updates[0]["refresh_token"])


async def test_per_client_tokens_carry_the_client_and_its_audience(
    app: FastAPI, service: AuthService, alice: Any
) -> None:
    client_id, secret = await _client(
        service,
        "reports",
        grants=("password", "refresh_token"),
        scopes=("read",),
        first_party=True,
        audiences=("https://reports.example",),
    )
    async with oauth_client(app, client_id, secret) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, username="alice", password=PASSWORD)
    claims = await service._authority.inspect(token["access_token"], time.time())
    assert claims["client_id"] == client_id
    assert claims["aud"] == "https://reports.example"
    assert claims["scope"] == "read"


async def test_another_clients_refresh_token_is_invalid_grant_and_not_spent(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str], service: AuthService
) -> None:
    other = await _client(
        service, "other", grants=("password", "refresh_token"), scopes=("read",), first_party=True
    )
    issued = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers=basic(*mobile),
    )
    refresh_token = issued.json()["refresh_token"]
    stolen = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(*other),
    )
    assert_error_shape(stolen, 400, "invalid_grant")
    builtin = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert_error_shape(builtin, 400, "invalid_grant")
    owner = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(*mobile),
    )
    assert owner.status_code == 200  # the refusals above did not spend it
    events = [e["kind"] for e in await service.audit_events()]
    assert events.count("refresh_token_wrong_client") == 2


async def test_grants_the_client_was_not_registered_for_are_unsupported(
    client: httpx.AsyncClient, alice: Any, resource_server: tuple[str, str], mobile: tuple[str, str]
) -> None:
    for form, who in [
        ({"grant_type": "password", "username": "alice", "password": PASSWORD}, resource_server),
        ({"grant_type": "client_credentials"}, mobile),
        ({"grant_type": "authorization_code", "code": "jga_x"}, mobile),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, mobile),
    ]:
        response = await client.post("/oauth/token", data=form, headers=basic(*who))
        assert_error_shape(response, 400, "unsupported_grant_type")


async def test_client_credentials_with_authlib(app: FastAPI, service: AuthService) -> None:
    client_id, secret = await _client(service, "batch", grants=("client_credentials",), scopes=("reports",))
    async with oauth_client(app, client_id, secret, token_endpoint_auth_method="client_secret_post") as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials", scope="reports other")
    assert token["scope"] == "reports"
    assert "refresh_token" not in token
    claims = await service._authority.inspect(token["access_token"], time.time())
    assert claims["sub"] == client_id
    assert claims["client_id"] == client_id
    assert "sid" not in claims


async def test_private_key_jwt_with_authlib_and_jti_once(
    app: FastAPI, client: httpx.AsyncClient, service: AuthService
) -> None:
    key = generate_key("RS256", kid="batch-key-1")
    client_id, secret = await _client(
        service,
        "signer",
        grants=("client_credentials",),
        scopes=("reports",),
        jwks=json.dumps({"keys": [key.public_key().to_jwk()]}),
    )
    assert secret is None
    auth = PrivateKeyJWT(TOKEN_URL, claims={"jti": "fixed-jti-1"})
    private_jwk = key.to_jwk(private=True)
    async with oauth_client(app, client_id, private_jwk, token_endpoint_auth_method=auth) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        assert token["scope"] == "reports"
        # RFC 7523 section 3: the same jti again is a replay.
        with pytest.raises(OAuthError, match="invalid_client"):
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    fresh = PrivateKeyJWT(TOKEN_URL)
    async with oauth_client(app, client_id, private_jwk, token_endpoint_auth_method=fresh) as oauth:
        assert (await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials"))["access_token"]
    other_key = generate_key("RS256", kid="batch-key-1")
    async with oauth_client(
        app, client_id, other_key.to_jwk(private=True), token_endpoint_auth_method=PrivateKeyJWT(TOKEN_URL)
    ) as oauth:
        with pytest.raises(OAuthError, match="invalid_client"):
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    kinds = [e["kind"] for e in await service.audit_events()]
    assert "client_assertion_replay" in kinds


# ------------------------------------------------------------------ revocation and introspection
async def test_a_client_revokes_only_its_own_tokens(
    client: httpx.AsyncClient,
    alice: Any,
    mobile: tuple[str, str],
    resource_server: tuple[str, str],
    service: AuthService,
) -> None:
    mine = (
        await client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "alice", "password": PASSWORD},
            headers=basic(*mobile),
        )
    ).json()
    for token in (mine["access_token"], mine["refresh_token"]):
        other = await client.post("/oauth/revoke", data={"token": token}, headers=basic(*resource_server))
        assert other.status_code == 200  # RFC 7009: nothing said, nothing done
    active = await client.post(
        "/oauth/introspect", data={"token": mine["access_token"]}, headers=basic(*resource_server)
    )
    assert active.json()["active"] is True
    refreshed = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": mine["refresh_token"]},
        headers=basic(*mobile),
    )
    assert refreshed.status_code == 200
    kinds = [e["kind"] for e in await service.audit_events()]
    assert kinds.count("token_revocation_refused") == 2
    assert "token_introspected" in kinds


async def test_introspection_is_for_registered_resource_servers(
    client: httpx.AsyncClient, alice: Any, mobile: tuple[str, str]
) -> None:
    tokens = await login(client)
    response = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(*mobile)
    )
    assert_error_shape(response, 403, "unauthorized_client")
    public = await client.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": "jwtgate"}
    )
    assert_error_shape(public, 403, "unauthorized_client")


# ---------------------------------------------------------------------------------- RFC conformance
async def test_unknown_parameters_are_ignored_repeated_ones_refused(
    client: httpx.AsyncClient, alice: Any, resource_server: tuple[str, str]
) -> None:
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": PASSWORD,
        "audience": "x",
        "allow_redirects": "True",
    }
    assert (await client.post("/oauth/token", data=form)).status_code == 200
    tokens = await login(client)
    seen = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "colour": "blue"},
        headers=basic(*resource_server),
    )
    assert seen.json()["active"] is True
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        repeated = await client.post(
            path,
            content="grant_type=password&token=a&colour=1&colour=2",
            headers={"Content-Type": "application/x-www-form-urlencoded", **basic(*resource_server)},
        )
        assert_error_shape(repeated, 400, "invalid_request")


async def test_scope_is_always_in_the_token_response(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "scope": "nothing-she-has",
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == ""


@pytest.mark.parametrize("grant", ["password", "client_credentials", "refresh_token"])
async def test_a_malformed_scope_is_invalid_scope_in_every_grant(
    client: httpx.AsyncClient, alice: Any, service: AuthService, grant: str
) -> None:
    """RFC 6749 section 5.2 (as /oauth/authorize already answers): invalid_scope, nothing issued."""
    form: dict[str, str] = {"grant_type": grant}
    headers = None
    if grant == "password":
        form.update(username="alice", password=PASSWORD)
    elif grant == "client_credentials":
        headers = basic(*await _client(service, "batch", grants=("client_credentials",), scopes=("x",)))
    else:
        form["refresh_token"] = (await login(client))["refresh_token"]
    for scope in ("bad\\scope", 'quote"d', "tab\tbed"):
        response = await client.post("/oauth/token", data={**form, "scope": scope}, headers=headers)
        body = assert_error_shape(response, 400, "invalid_scope")
        assert body["error_description"] == "the scope is malformed"


@pytest.mark.parametrize("settings_overrides", [{"issuer": "https://auth.example/tenant"}])
async def test_metadata_passes_authlib_and_is_at_the_path_insertion_location(
    client: httpx.AsyncClient, service: AuthService
) -> None:
    await _client(service, "batch", grants=("client_credentials",), scopes=("reports",))
    plain = await client.get("/.well-known/oauth-authorization-server")
    inserted = await client.get("/.well-known/oauth-authorization-server/tenant")
    assert inserted.status_code == 200
    assert inserted.json() == plain.json()
    metadata = AuthorizationServerMetadata(inserted.json())
    metadata.validate()
    assert metadata["authorization_endpoint"] == "https://auth.example/tenant/oauth/authorize"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["scopes_supported"]) >= {"read", "reports"}
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert (await client.get("/.well-known/oauth-authorization-server/other")).status_code == 404


@pytest.fixture
def jwks_site() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server publishing a client's JWKS at /jwks.json (body set by the test)."""
    published: dict[str, bytes] = {"body": b'{"keys": []}'}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = published["body"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json", published
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_private_key_jwt_with_keys_at_a_jwks_url(
    app: FastAPI, service: AuthService, jwks_site: tuple[str, dict[str, bytes]]
) -> None:
    url, published = jwks_site
    fetch_clock = FrozenClock(1000.0)
    app.state.jwtgate_client_keys = ClientKeys(clock=fetch_clock)
    key = generate_key("RS256", kid="rotating-1")
    published["body"] = json.dumps({"keys": [key.public_key().to_jwk()]}).encode()
    client_id, secret = await _client(
        service, "fetcher", grants=("client_credentials",), scopes=("x",), jwks_url=url
    )
    assert secret is None

    async def token_with(signing_key: Any) -> dict[str, Any]:
        auth = PrivateKeyJWT(TOKEN_URL)
        async with oauth_client(
            app, client_id, signing_key.to_jwk(private=True), token_endpoint_auth_method=auth
        ) as oauth:
            token: dict[str, Any] = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
            return token

    assert (await token_with(key))["scope"] == "x"
    # The client rotates its key: an unknown kid refetches, but at most every 10 seconds.
    new_key = generate_key("RS256", kid="rotating-2")
    published["body"] = json.dumps({"keys": [new_key.public_key().to_jwk()]}).encode()
    with pytest.raises(OAuthError, match="invalid_client"):
        await token_with(new_key)
    fetch_clock.advance(11)
    assert (await token_with(new_key))["scope"] == "x"
    with pytest.raises(OAuthError, match="invalid_client"):  # the old key is gone from the JWKS
        await token_with(key)
