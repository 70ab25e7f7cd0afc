"""Issue 8 with the synchronous clients, unmodified, against a real ``jwtgate serve`` process:
requests-oauthlib (``LegacyApplicationClient`` with automatic refresh, ``BackendApplicationClient``)
and Authlib's ``OAuth2Client`` (metadata discovery, password grant, refresh, revoke, introspect)."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient
from requests_oauthlib import OAuth2Session

from browser.conftest import PASSWORD, add_users
from jwtgate.server.runtime import open_service
from jwtgate.service.registration import ClientRegistration
from jwtgate.settings import load_settings
from processes import Fleet, Instance, module_fleet, new_logs_of_each_test  # noqa: F401

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it would rather use the "httpx2" package; httpx works.
    # Its deprecate module installs an "always" filter when imported: import it first, then ignore.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.slow


class Live:
    def __init__(self, server: Instance, clients: dict[str, tuple[str, str]]) -> None:
        self.server = server
        self.clients = clients
        self.base = server.base_url  # http://127.0.0.1:PORT
        self.token_url = self.base + "/oauth/token"


def _register(data_dir: Path) -> dict[str, tuple[str, str]]:
    registrations = {
        "mobile": ClientRegistration(
            grants=("password", "refresh_token"), scopes=("read",), first_party=True
        ),
        "batch": ClientRegistration(grants=("client_credentials",), scopes=("reports", "read")),
        "orders-api": ClientRegistration(introspect=True),
    }

    async def go() -> dict[str, tuple[str, str]]:
        made = {}
        async with open_service(load_settings(data_dir=data_dir), time.time) as service:
            for name, registration in registrations.items():
                info, secret = await service.add_client(name, registration)
                assert secret is not None
                made[name] = (info.id, secret)
        return made

    return asyncio.run(go())


@pytest.fixture(scope="module")
def live(module_fleet: Fleet, monkeypatch_module: None) -> Iterator[Live]:  # noqa: F811 (imported)
    data_dir = module_fleet.tmp_path / "data"
    add_users(data_dir, ["alice"])
    clients = _register(data_dir)
    server = module_fleet.start(data_dir=data_dir)
    try:
        yield Live(server, clients)
    finally:
        log = server.stop()
        assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[None]:
    # The in-process registration reads settings from the environment: none of the caller's.
    mp = pytest.MonkeyPatch()
    import os

    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            mp.delenv(name)
    mp.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib refuses http:// otherwise
    yield
    mp.undo()


def test_requests_oauthlib_legacy_client_with_automatic_refresh(live: Live) -> None:
    client_id, secret = live.clients["mobile"]
    saved: list[dict[str, Any]] = []
    session = OAuth2Session(
        client=LegacyApplicationClient(client_id=client_id),
        auto_refresh_url=live.token_url,
        auto_refresh_kwargs={"client_id": client_id, "client_secret": secret},
        token_updater=saved.append,
    )
    token = session.fetch_token(
        live.token_url, username="alice", password=PASSWORD, client_id=client_id, client_secret=secret
    )
    assert token["scope"] == ["read"]
    assert session.get(live.base + "/api/me").json()["username"] == "alice"
    # Force the automatic refresh (it sends allow_redirects=True in the form: ignored, RFC 6749 3.2).
    session.token = {**session.token, "expires_at": time.time() - 10}
    me = session.get(live.base + "/api/me")
    assert me.status_code == 200
    assert len(saved) == 1
    assert saved[0]["refresh_token"] != token["refresh_token"]


def test_requests_oauthlib_backend_client(live: Live) -> None:
    client_id, secret = live.clients["batch"]
    session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
    token = session.fetch_token(live.token_url, client_id=client_id, client_secret=secret)
    assert set(token["scope"]) == {"reports", "read"}
    assert "refresh_token" not in token
    rs_id, rs_secret = live.clients["orders-api"]
    seen = requests.post(
        live.base + "/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(rs_id, rs_secret),
        timeout=10,
    ).json()
    assert seen["active"] is True
    assert seen["sub"] == client_id
    assert seen["client_id"] == client_id


def test_authlib_sync_client_discovers_and_uses_the_server(live: Live) -> None:
    metadata = requests.get(live.base + "/.well-known/oauth-authorization-server", timeout=10).json()
    AuthorizationServerMetadata(metadata).validate_response_types_supported()
    client_id, secret = live.clients["mobile"]
    with OAuth2Client(client_id, secret, token_endpoint=metadata["token_endpoint"]) as oauth:
        token = oauth.fetch_token(metadata["token_endpoint"], username="alice", password=PASSWORD)
        assert token["scope"] == "read"
        refreshed = oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
        rs_id, rs_secret = live.clients["orders-api"]
        with OAuth2Client(rs_id, rs_secret) as rs:
            active = rs.introspect_token(metadata["introspection_endpoint"], token=refreshed["access_token"])
            assert active.json()["active"] is True
            assert (
                oauth.revoke_token(
                    metadata["revocation_endpoint"], token=refreshed["access_token"]
                ).status_code
                == 200
            )
            gone = rs.introspect_token(metadata["introspection_endpoint"], token=refreshed["access_token"])
            assert gone.json() == {"active": False}
