"""The pages keep working when the access token expires: jwtgate.js refreshes through the cookie.

The server runs in this process (uvicorn in a thread, on a real socket) so that its clock can be
moved forward instead of waiting for the expiry; the browser is the same real chromium.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, Response, expect

from jwtgate.server import create_app
from jwtgate.settings import Settings
from processes import free_port

from .conftest import NewPage, add_users, cookie_jar, sign_in

pytestmark = pytest.mark.slow

ACCESS_TTL = 30  # the smallest JWTGATE_ACCESS_TOKEN_TTL the settings accept


class ShiftedClock:
    """Wall-clock time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class ClockedServer:
    url: str
    clock: ShiftedClock


@pytest.fixture(scope="module")
def clocked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    data_dir: Path = tmp_path_factory.mktemp("expiry") / "data"
    add_users(data_dir, ["ivan", "judy"])
    port = free_port()
    settings = Settings.model_validate(
        {
            "data_dir": data_dir,
            "host": "127.0.0.1",
            "port": port,
            "access_token_ttl": ACCESS_TTL,
            "leeway": 0,  # expired means expired: the clock moves just past the TTL
            "log_level": "warning",
        }
    )
    clock = ShiftedClock()
    config = uvicorn.Config(
        create_app(settings, clock=clock), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the in-process server did not start")
        time.sleep(0.05)  # polling for start-up, not waiting for an expiry
    try:
        yield ClockedServer(url=f"http://localhost:{port}", clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def raw_status(page: Page, path: str) -> int:
    """A plain fetch() from the page: no refresh, no retry."""
    status: int = page.evaluate("async (path) => (await fetch(path)).status", path)
    return status


def record(calls: list[tuple[str, str, int]], base_url: str, response: Response) -> None:
    """Appends (method, path, status) of an API response."""
    path = response.url.removeprefix(base_url)
    if path.startswith("/api/"):
        calls.append((response.request.method, path, response.status))


def test_account_page_refreshes_an_expired_access_token(
    clocked_server: ClockedServer, new_page: NewPage
) -> None:
    page = new_page()
    sign_in(page, clocked_server.url, "ivan")
    expect(page.locator("#sessions > li").filter(has_text="this browser")).to_have_count(1)
    first_access = cookie_jar(page)["__Host-jwtgate-access"]["value"]

    clocked_server.clock.advance(ACCESS_TTL + 1)
    assert raw_status(page, "/api/me") == 401  # the access token in the cookie has expired

    calls: list[tuple[str, str, int]] = []
    page.on("response", lambda response: record(calls, clocked_server.url, response))
    page.reload()
    expect(page.locator("#who")).to_have_text("ivan")
    expect(page.locator("#sessions > li").filter(has_text="this browser")).to_have_count(1)
    assert calls[:3] == [
        ("GET", "/api/me", 401),
        ("POST", "/api/cookie/refresh", 200),
        ("GET", "/api/me", 200),
    ]
    assert cookie_jar(page)["__Host-jwtgate-access"]["value"] != first_access
    assert raw_status(page, "/api/me") == 200

    # Expired again: an unsafe call (sign out) still works. The client now knows the expiry (from
    # the refresh answer), so it may refresh before the call or after its 401; either way the CSRF
    # header, bound to the session and not to the token, stays valid.
    clocked_server.clock.advance(ACCESS_TTL + 1)
    calls.clear()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{clocked_server.url}/login")
    assert calls[-1] == ("POST", "/api/logout", 204)
    assert ("POST", "/api/cookie/refresh", 200) in calls
    assert set(calls) <= {("POST", "/api/logout", 401), ("POST", "/api/cookie/refresh", 200), calls[-1]}
    # Only the device cookie (issue 12, lockout) outlives the session: it names the device.
    assert set(cookie_jar(page)) <= {"__Secure-jwtgate-device"}


def test_account_page_survives_the_browser_dropping_the_access_cookie(
    clocked_server: ClockedServer, new_page: NewPage
) -> None:
    """The access cookie's Max-Age is the token's TTL, so a real browser drops it at expiry and the
    server then sees no access token at all (not an expired one)."""
    page = new_page()
    sign_in(page, clocked_server.url, "ivan")
    page.context.clear_cookies(name="__Host-jwtgate-access")  # what Max-Age does at expiry
    assert raw_status(page, "/api/me") == 401

    calls: list[tuple[str, str, int]] = []
    page.on("response", lambda response: record(calls, clocked_server.url, response))
    page.reload()
    expect(page.locator("#who")).to_have_text("ivan")
    assert calls[:3] == [
        ("GET", "/api/me", 401),
        ("POST", "/api/cookie/refresh", 200),
        ("GET", "/api/me", 200),
    ]
    assert "__Host-jwtgate-access" in cookie_jar(page)


def test_a_fresh_access_token_is_not_refreshed_again(
    clocked_server: ClockedServer, new_page: NewPage
) -> None:
    laptop, phone = new_page(), new_page()
    sign_in(laptop, clocked_server.url, "judy")
    sign_in(phone, clocked_server.url, "judy")
    clocked_server.clock.advance(ACCESS_TTL + 1)
    laptop.reload()  # 401, refresh: the page's client now holds a token that is seconds old
    expect(laptop.locator("#sessions > li")).to_have_count(2)

    calls: list[str] = []
    laptop.on("response", lambda response: calls.append(f"{response.request.method} {response.url}"))
    other = laptop.locator("#sessions > li").filter(has_not_text="this browser")
    other.get_by_role("button", name="Revoke").click()
    expect(laptop.locator("#sessions > li")).to_have_count(1)
    assert [call for call in calls if call.endswith("/api/cookie/refresh")] == []
