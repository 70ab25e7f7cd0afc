"""Issue 8: an Authlib client completes the authorization code flow with PKCE in a real Chromium
against a real ``jwtgate serve``: ``/oauth/authorize`` -> ``/login`` -> consent -> redirect with
``code``, ``state`` and ``iss`` -> token exchange. Clients are registered with the real CLI."""

from __future__ import annotations

import http.server
import threading
import warnings
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from processes import cli

from .conftest import PASSWORD, LocalhostServer, NewPage

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it would rather use the "httpx2" package; httpx works.
    # Its deprecate module installs an "always" filter when imported: import it first, then ignore.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.slow

USERS = ["carol", "grace"]


def register(server: LocalhostServer, name: str, *options: str) -> dict[str, str]:
    """``jwtgate client add NAME ...`` on the running server's data folder; its printed fields."""
    done = cli("client", "add", name, *options, "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    return {
        k.strip(): v.strip()
        for k, v in (line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    }


class _Callback(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []  # replaced per fixture by a subclass
    timeout = 2  # an idle preconnected socket from the browser does not hold the shutdown

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"<!doctype html><title>client</title><p>signed in</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def client_site() -> Iterator[tuple[str, list[str]]]:
    """The client application's redirect URI (a real page on another origin) and the paths it got."""
    seen: list[str] = []
    handler = type("Callback", (_Callback,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = False  # server_close() joins the handlers: every socket is closed
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/callback", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def no_console_errors(page: Page) -> list[str]:
    problems: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", record)
    return problems


def test_authlib_completes_the_code_flow_with_consent(
    server: LocalhostServer, client_site: tuple[str, list[str]], new_page: NewPage
) -> None:
    callback, _ = client_site
    fields = register(server, "photo-app", "--redirect-uri", callback, "--scope", "read")
    token_url = f"http://127.0.0.1:{server.port}/oauth/token"
    oauth = OAuth2Client(
        fields["client_id"],
        fields["client_secret"],
        redirect_uri=callback,
        scope="read",
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=verifier)

    page = new_page()
    problems = no_console_errors(page)
    page.goto(url)
    page.wait_for_url(f"{server.url}/login?next=*")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/oauth/authorize?*")
    expect(page.locator("#client")).to_have_text("photo-app")
    expect(page.locator("#scopes")).to_have_text("read")
    page.get_by_role("button", name="Allow").click()
    try:
        page.wait_for_url(lambda url: url.startswith(callback + "?"))
    except Exception:
        raise AssertionError(f"not redirected: {page.url} {problems}") from None

    received = page.url
    query = parse_qs(urlsplit(received).query)
    assert query["state"] == [state]
    assert query["iss"] == [f"http://127.0.0.1:{server.port}"]
    token = oauth.fetch_token(token_url, authorization_response=received, code_verifier=verifier)
    assert token["scope"] == "read"
    oauth.close()
    # A third-party token is for its own audience, not for the account routes of the server.
    me = httpx.get(
        f"http://127.0.0.1:{server.port}/api/me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 401
    resource_server = register(server, "gallery-api", "--introspect")
    seen = httpx.post(
        f"http://127.0.0.1:{server.port}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(resource_server["client_id"], resource_server["client_secret"]),
        timeout=10,
    ).json()
    assert seen["active"] is True
    assert seen["username"] == "carol"
    assert seen["client_id"] == fields["client_id"]
    assert seen["aud"] == fields["client_id"]
    # The same code again: refused, and what it issued is revoked.
    replay = httpx.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
        auth=(fields["client_id"], fields["client_secret"]),
        timeout=10,
    )
    assert replay.json()["error"] == "invalid_grant"
    refreshed = httpx.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(fields["client_id"], fields["client_secret"]),
        timeout=10,
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert problems == []


def test_first_party_public_client_skips_consent_and_bad_redirects_stay_on_the_server(
    server: LocalhostServer, client_site: tuple[str, list[str]], new_page: NewPage
) -> None:
    callback, _ = client_site
    fields = register(
        server, "companion", "--public", "--first-party", "--redirect-uri", callback, "--scope", "read"
    )
    page = new_page()
    oauth = OAuth2Client(
        fields["client_id"], redirect_uri=callback, scope="read", code_challenge_method="S256"
    )
    oauth.token_endpoint_auth_method = "none"
    verifier = generate_token(64)
    url, _ = oauth.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=verifier)
    page.goto(url)
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: url.startswith(callback + "?"))  # no consent page: first-party
    token = oauth.fetch_token(
        f"http://127.0.0.1:{server.port}/oauth/token",
        authorization_response=page.url,
        code_verifier=verifier,
    )
    assert token["scope"] == "read"
    oauth.close()

    evil, _ = OAuth2Client(
        fields["client_id"], redirect_uri=callback + "/", code_challenge_method="S256"
    ).create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=verifier)
    response = page.goto(evil)
    assert response is not None
    assert response.status == 400
    assert page.url.startswith(server.url)
    expect(page.locator("#message")).to_contain_text("redirect_uri")
