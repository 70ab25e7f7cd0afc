"""DPoP in a real browser: jwtgate.js on another origin logs in with a non-extractable WebCrypto key kept
in IndexedDB, so a token copied out of the page is useless elsewhere (RFC 9449, issue 10 item 6).

The app is served by a tiny static server on a second origin (``http://localhost:APP_PORT``) with a copy of
jwtgate.js; the real ``jwtgate serve`` allows that origin through ``JWTGATE_CORS_ORIGINS``. The first
login also shows CORS and the nonce dance work: the server always asks for its nonce (400), and the client
can only answer if the browser lets it read the ``DPoP-Nonce`` header of another origin.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from importlib.resources import files
from typing import Any, ClassVar

import httpx
import pytest
from playwright.sync_api import Page

from jwtgate import generate_key
from jwtgate.dpop import ProofSigner
from processes import Fleet

from .conftest import PASSWORD, LocalhostServer, NewPage, start_server

pytestmark = pytest.mark.slow

JWTGATE_JS = files("jwtgate.server").joinpath("static", "jwtgate.js").read_bytes()
APP_PAGE = b'<!doctype html><meta charset="utf-8"><title>app on another origin</title><p id="app">app</p>'

LOGIN = """async ([baseUrl, username, password]) => {
    const { JwtgateClient } = await import("/jwtgate.js");
    window.client = new JwtgateClient({ baseUrl, dpop: true });
    await client.login(username, password);
    return {
        me: await client.me(),
        jkt: await client.dpopThumbprint(),
        tokenType: client.tokenType,
        stored: localStorage.length + sessionStorage.length,
        cookies: document.cookie,
    };
}"""

KEY_FACTS = """async () => {
    const { privateKey, publicKey } = await client.dpopKey();
    let exported = "exported";
    try {
        await crypto.subtle.exportKey("jwk", privateKey);
    } catch (error) {
        exported = error.name;
    }
    let pkcs8 = "exported";
    try {
        await crypto.subtle.exportKey("pkcs8", privateKey);
    } catch (error) {
        pkcs8 = error.name;
    }
    const publicJwk = await crypto.subtle.exportKey("jwk", publicKey);
    return {
        extractable: privateKey.extractable,
        usages: privateKey.usages,
        exported,
        pkcs8,
        publicHasD: "d" in publicJwk,
        constructorName: privateKey.constructor.name,
    };
}"""


class _AppFiles(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/": ("text/html; charset=utf-8", APP_PAGE),
        "/jwtgate.js": ("text/javascript; charset=utf-8", JWTGATE_JS),  # a module needs a JS MIME type
    }

    def do_GET(self) -> None:
        content_type, body = self.files.get(self.path, ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    """The app's origin: another port than the server's, so every call is a cross-origin one."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AppFiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"  # localhost: a secure context (WebCrypto)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def server(app_origin: str, module_fleet: Fleet) -> LocalhostServer:
    """``jwtgate serve`` with ``JWTGATE_CORS_ORIGINS`` = the app's origin."""
    return start_server(module_fleet, ["dora"], {"JWTGATE_CORS_ORIGINS": app_origin})


def claims_of(token: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return loaded


def open_app(new_page: NewPage, app_origin: str) -> Page:
    page = new_page()
    page.goto(f"{app_origin}/")
    return page


def log_in(page: Page, server: LocalhostServer) -> tuple[dict[str, Any], str, list[int]]:
    """Log in through jwtgate.js in the page; returns what the page saw, the access token as it crossed
    the network (what a proxy log or a malicious extension would copy) and the statuses of /api/login."""
    statuses: list[int] = []

    def note(response: Any) -> None:
        if response.url == f"{server.url}/api/login" and response.request.method == "POST":
            statuses.append(response.status)

    page.on("response", note)
    with page.expect_response(lambda r: r.url == f"{server.url}/api/login" and r.status == 200) as login:
        seen: dict[str, Any] = page.evaluate(LOGIN, [server.url, "dora", PASSWORD])
    page.remove_listener("response", note)
    token: str = login.value.json()["access_token"]
    return seen, token, statuses


def test_a_token_copied_out_of_the_page_is_useless_elsewhere(
    server: LocalhostServer, app_origin: str, new_page: NewPage
) -> None:
    page = open_app(new_page, app_origin)
    seen, token, statuses = log_in(page, server)
    assert statuses == [400, 200]  # asked for the nonce, read it across origins, answered with it
    assert seen["me"]["username"] == "dora"
    assert seen["tokenType"] == "DPoP"
    assert claims_of(token)["cnf"]["jkt"] == seen["jkt"]
    assert seen["stored"] == 0  # tokens in memory only
    assert seen["cookies"] == ""
    assert page.context.cookies() == []  # JSON routes and credentials "omit": no session cookie

    # The page's own next call, and the proof it sends with it (captured for a replay).
    with page.expect_request(lambda r: r.url == f"{server.url}/api/me" and r.method == "GET") as sent:
        assert page.evaluate("async () => (await client.me()).username") == "dora"
    browser_proof = sent.value.all_headers()["dpop"]
    assert sent.value.all_headers()["authorization"] == f"DPoP {token}"

    me = f"{server.url}/api/me"
    thief = ProofSigner(generate_key("ES256"))
    with httpx.Client(timeout=10.0) as elsewhere:
        as_bearer = elsewhere.get(me, headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401
        assert as_bearer.json()["error"] == "invalid_token"
        assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP ")
        no_proof = elsewhere.get(me, headers={"Authorization": f"DPoP {token}"})
        assert no_proof.status_code == 401
        assert no_proof.json()["error"] == "invalid_dpop_proof"
        other_key = elsewhere.get(
            me,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": thief.proof("GET", me, now=time.time(), access_token=token),
            },
        )
        assert other_key.status_code == 401
        assert other_key.json()["error"] == "invalid_dpop_proof"
        replayed = elsewhere.get(me, headers={"Authorization": f"DPoP {token}", "DPoP": browser_proof})
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "invalid_dpop_proof"

    # Still good in the page, with its key: the refusals above were about the key, not a dead token.
    assert page.evaluate("async () => (await client.me()).username") == "dora"


def test_the_key_is_not_extractable_and_survives_a_reload(
    server: LocalhostServer, app_origin: str, new_page: NewPage
) -> None:
    page = open_app(new_page, app_origin)
    _, first_token, _ = log_in(page, server)
    jkt = claims_of(first_token)["cnf"]["jkt"]
    facts = page.evaluate(KEY_FACTS)
    assert facts == {
        "extractable": False,
        "usages": ["sign"],
        "exported": "InvalidAccessError",
        "pkcs8": "InvalidAccessError",
        "publicHasD": False,
        "constructorName": "CryptoKey",
    }

    # A refresh signs with the same key and keeps the binding.
    with page.expect_response(
        lambda r: r.url == f"{server.url}/api/token/refresh" and r.status == 200
    ) as renewed:
        assert (
            page.evaluate("async () => { await client.refresh(); return (await client.me()).username; }")
            == "dora"
        )
    assert claims_of(renewed.value.json()["access_token"])["cnf"]["jkt"] == jkt

    page.reload()  # memory is gone (a new login is needed), the key is still in IndexedDB
    assert page.evaluate("() => typeof window.client") == "undefined"
    _, second_token, _ = log_in(page, server)
    assert second_token != first_token
    assert claims_of(second_token)["cnf"]["jkt"] == jkt
    assert page.evaluate(KEY_FACTS)["extractable"] is False  # the key read back from IndexedDB

    # Another browser profile (another device) has its own key.
    _, other_token, _ = log_in(open_app(new_page, app_origin), server)
    assert claims_of(other_token)["cnf"]["jkt"] != jkt


def test_clients_creating_the_key_at_once_share_one_per_server(
    server: LocalhostServer, app_origin: str, new_page: NewPage
) -> None:
    page = open_app(new_page, app_origin)  # a fresh profile: nothing in IndexedDB yet
    seen = page.evaluate(
        """async (baseUrl) => {
            const { JwtgateClient } = await import("/jwtgate.js");
            const make = (url) => new JwtgateClient({ baseUrl: url, dpop: true });
            // Both find no key, both create one, one add() wins: the other must read the winner's.
            const racing = await Promise.all([1, 2, 3].map(() => make(baseUrl).dpopThumbprint()));
            return {
                racing,
                later: await make(baseUrl).dpopThumbprint(),
                otherServer: await make("https://other.example").dpopThumbprint(),
            };
        }""",
        server.url,
    )
    assert len(set(seen["racing"])) == 1
    assert seen["later"] == seen["racing"][0]
    assert seen["otherServer"] != seen["later"]  # no key shared between servers
    _, token, _ = log_in(page, server)
    assert claims_of(token)["cnf"]["jkt"] == seen["later"]
