"""Fixtures for the real-browser tests: Debian's chromium driven by Playwright's sync API.

- ``browser``: one headless chromium for the session (``/usr/bin/chromium``, never a downloaded one).
  Missing chromium skips these tests, unless ``JWTGATE_REQUIRE_SERVICES=1`` (CI), where it fails.
- ``server``: one real ``python -m jwtgate serve`` subprocess per module (``module_fleet``, see
  tests/processes.py), on a free loopback port, with fresh users created through the CLI. Pages are
  opened on ``http://localhost:PORT``: the documented host for cookie mode over plain HTTP (browsers
  treat localhost as a secure context, so the ``Secure`` / ``__Host-`` cookies are kept).
- ``foreign_site``: a tiny static page server on another loopback origin, for CSRF attempts.
- ``artifacts``: the folder for screenshots, ``test-artifacts/`` at the top of the repository (git
  ignores it) or ``$JWTGATE_TEST_ARTIFACTS``.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Page, expect, sync_playwright

from processes import Fleet, Instance, cli, module_fleet, new_logs_of_each_test  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPOSITORY = Path(__file__).resolve().parents[2]
PASSWORD = "browser test password"
# Playwright's own waits (navigation, selectors): generous, they only bound a failing test.
UI_TIMEOUT_MS = 15_000


def add_users(data_dir: Path, names: list[str], password: str = PASSWORD) -> None:
    """``jwtgate init --user NAME`` for the first name on a new data folder, then ``jwtgate user add NAME
    --password-stdin --data-dir DATA_DIR`` for each other name."""
    for name in names:
        fresh = not (data_dir / "jwtgate.db").exists()
        command = ["init", "--user", name] if fresh else ["user", "add", name]
        added = cli(*command, "--password-stdin", "--data-dir", str(data_dir), stdin=password + "\n")
        assert added.returncode == 0, added.stderr


@dataclass
class LocalhostServer:
    """A running ``jwtgate serve`` as the browser reaches it, with the users it was given."""

    instance: Instance
    users: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.instance.port

    @property
    def data_dir(self) -> Path:
        assert self.instance.data_dir is not None
        return self.instance.data_dir

    @property
    def url(self) -> str:
        """The base URL a browser uses (the documented ``localhost`` host)."""
        return f"http://localhost:{self.port}"


def start_server(fleet: Fleet, names: list[str], env: dict[str, str] | None = None) -> LocalhostServer:
    """A server on a new data folder with users ``names`` (password :data:`PASSWORD`)."""
    data_dir = fleet.tmp_path / "data"
    add_users(data_dir, names)
    return LocalhostServer(fleet.start(env, data_dir=data_dir), users=dict.fromkeys(names, PASSWORD))


@pytest.fixture(scope="session")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{CHROMIUM} is missing and JWTGATE_REQUIRE_SERVICES=1")
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    # Module scope, not session: while Playwright's sync API is active it keeps an asyncio loop running
    # in this thread, and every pytest-asyncio test after it would fail to start its own.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, module_fleet: Fleet) -> LocalhostServer:  # noqa: F811 (imported)
    """A real server for the test module, with the users its ``USERS`` list names (password
    :data:`PASSWORD`). Each user costs a CLI run (~2 s), so modules share users where sessions don't mix.
    """
    return start_server(module_fleet, request.module.USERS)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots for a human (or CI) to look at; created on demand."""
    folder = Path(os.environ.get("JWTGATE_TEST_ARTIFACTS") or REPOSITORY / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


NewPage = Callable[[], Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """Opens pages, each in its own browser context (its own cookie jar: another "device")."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context()
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


class _StaticPages(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}  # replaced per server by a subclass (see foreign_site)

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        return  # keep pytest's output clean


@dataclass
class ForeignSite:
    """Serves ``pages`` (path -> HTML) on ``http://127.0.0.1:PORT``; reachable as localhost too."""

    pages: dict[str, bytes]
    port: int

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def foreign_site() -> Iterator[ForeignSite]:
    """A second origin (another port) serving attacker pages; tests fill ``pages`` before use."""
    pages: dict[str, bytes] = {}
    handler = type("Pages", (_StaticPages,), {"pages": pages})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield ForeignSite(pages=pages, port=httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the ``/login`` form, as a user would, and wait for ``/account`` to show them."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/account")
    expect(page.locator("#who")).to_have_text(username)


def cookie_jar(page: Page) -> dict[str, Cookie]:
    """The browser context's cookies for ``localhost`` (every path), by name."""
    return {cookie["name"]: cookie for cookie in page.context.cookies() if cookie["domain"] == "localhost"}
