"""What a user does on ``/login`` and ``/account``, in a real chromium against a real server."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Cookie, Page, expect

from .conftest import LocalhostServer, NewPage, cookie_jar, sign_in

pytestmark = pytest.mark.slow

# alice signs in from several tests (each asserts only about its own browser); the others count or
# end all of their user's sessions, so each has a user of its own.
USERS = ["alice", "dave", "erin", "frank"]

ACCESS, REFRESH, CSRF = "__Host-jwtgate-access", "__Secure-jwtgate-refresh", "jwtgate-csrf"
# The device cookie (issue 12, lockout) names the device, not a session: it outlives signing out.
DEVICE = "__Secure-jwtgate-device"


def session_cookies(page: Page) -> dict[str, Cookie]:
    return {name: cookie for name, cookie in cookie_jar(page).items() if name != DEVICE}


def rows(page: Page) -> list[str]:
    """The session cards as text, one string per card."""
    return [row.inner_text() for row in page.locator("#sessions > li").all()]


def flags(cookie: Cookie) -> tuple[object, ...]:
    """(HttpOnly, Secure, SameSite, Path) of a cookie."""
    return (cookie.get("httpOnly"), cookie.get("secure"), cookie.get("sameSite"), cookie.get("path"))


def test_sign_in_lands_on_account_with_this_session(server: LocalhostServer, new_page: NewPage) -> None:
    page = new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: _console_error(message, problems))

    sign_in(page, server.url, "alice")

    assert page.url == f"{server.url}/account"
    this_browser = page.locator("#sessions > li").filter(has_text="this browser")
    expect(this_browser).to_have_count(1)
    expect(this_browser.locator(".ip")).to_have_text("127.0.0.1")  # the client's IP
    expect(this_browser.get_by_role("button", name="Revoke")).to_be_visible()
    expect(page.locator("#message")).to_have_text("")
    assert problems == []  # no script error, no CSP violation


def _console_error(message: ConsoleMessage, sink: list[str]) -> None:
    if message.type == "error":
        sink.append(f"{message.text} ({message.location.get('url')})")


def test_wrong_password_shows_the_same_generic_error_as_an_unknown_user(
    server: LocalhostServer, new_page: NewPage
) -> None:
    page = new_page()
    page.goto(f"{server.url}/login")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    seen = []
    for username in ("alice", "nobody-by-this-name"):
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("not the password")
        with page.expect_response(f"{server.url}/api/cookie/login") as answer:
            page.get_by_role("button", name="Sign in").click()
        message = page.locator("#message")
        expect(message).to_have_text("Wrong username or password.")
        expect(message).to_be_visible()
        expect(page.get_by_label("Password")).to_have_value("")
        seen.append((answer.value.status, answer.value.body(), page.locator("main").inner_html()))
        page.locator("#message").evaluate("element => { element.textContent = ''; }")

    assert navigations == []
    assert page.url == f"{server.url}/login"
    wrong_password, unknown_user = seen
    assert wrong_password[0] == 401
    assert wrong_password == unknown_user  # status, API body and the whole page: identical
    assert cookie_jar(page) == {}


def test_tokens_live_in_httponly_cookies(server: LocalhostServer, new_page: NewPage) -> None:
    page = new_page()
    sign_in(page, server.url, "alice")

    jar = cookie_jar(page)
    assert set(jar) == {ACCESS, REFRESH, CSRF, DEVICE}
    access, refresh, csrf = jar[ACCESS], jar[REFRESH], jar[CSRF]
    assert flags(jar[DEVICE]) == (True, True, "Strict", "/api/cookie/login")
    assert access["value"].count(".") == 2  # a JWT
    assert flags(access) == (True, True, "Lax", "/")
    assert flags(refresh) == (True, True, "Strict", "/api/cookie/refresh")
    assert flags(csrf) == (False, True, "Lax", "/")

    visible = page.evaluate("document.cookie")
    assert visible == f"{CSRF}={csrf['value']}"  # the only cookie the page's script can read
    assert access["value"] not in visible
    assert refresh["value"] not in visible

    # What the login answer shows the page's script: the CSRF token, no token.
    answer = page.evaluate(
        """async (password) => {
            const response = await fetch("/api/cookie/login", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ username: "alice", password }),
            });
            return { status: response.status, body: await response.json() };
        }""",
        server.users["alice"],
    )
    assert answer["status"] == 200
    assert set(answer["body"]) == {"expires_in", "csrf_token"}
    assert answer["body"]["csrf_token"] == cookie_jar(page)[CSRF]["value"]


def test_revoking_another_session_signs_that_browser_out(server: LocalhostServer, new_page: NewPage) -> None:
    laptop, phone = new_page(), new_page()
    sign_in(laptop, server.url, "dave")
    expect(laptop.locator("#sessions > li")).to_have_count(1)
    sign_in(phone, server.url, "dave")

    laptop.reload()
    expect(laptop.locator("#sessions > li")).to_have_count(2)
    assert sum("this browser" in row for row in rows(laptop)) == 1
    other = laptop.locator("#sessions > li").filter(has_not_text="this browser")
    expect(other).to_contain_text("Headless Chrome on Linux")  # the other session's device, in words
    with laptop.expect_response(lambda response: response.request.method == "DELETE") as revoked:
        other.get_by_role("button", name="Revoke").click()
    assert revoked.value.status == 204
    expect(laptop.locator("#sessions > li")).to_have_count(1)
    expect(laptop.locator("#sessions > li")).to_contain_text("this browser")

    # The phone's next API call is refused, even after its script tries the refresh cookie ...
    status = phone.evaluate(
        """async () => {
            const { JwtgateClient } = await import("/static/jwtgate.js");
            const response = await new JwtgateClient().fetch("/api/me");
            return response.status;
        }"""
    )
    assert status == 401
    # ... the refused refresh cleared its cookies, and its account page sends it to /login.
    assert session_cookies(phone) == {}
    phone.reload()
    phone.wait_for_url(f"{server.url}/login")

    laptop.reload()
    expect(laptop.locator("#who")).to_have_text("dave")
    expect(laptop.locator("#sessions > li")).to_have_count(1)


def test_sign_out_everywhere_signs_out_every_browser(server: LocalhostServer, new_page: NewPage) -> None:
    laptop, phone = new_page(), new_page()
    sign_in(laptop, server.url, "erin")
    sign_in(phone, server.url, "erin")

    with laptop.expect_response(f"{server.url}/api/logout/all") as answer:
        laptop.get_by_role("button", name="Sign out everywhere").click()
    assert answer.value.status == 200
    laptop.wait_for_url(f"{server.url}/login")
    assert session_cookies(laptop) == {}  # the server cleared this browser's cookies

    phone.reload()
    phone.wait_for_url(f"{server.url}/login")
    laptop.goto(f"{server.url}/account")
    laptop.wait_for_url(f"{server.url}/login")


def test_sign_out_ends_only_this_session(server: LocalhostServer, new_page: NewPage) -> None:
    laptop, phone = new_page(), new_page()
    sign_in(laptop, server.url, "frank")
    sign_in(phone, server.url, "frank")

    with laptop.expect_response(f"{server.url}/api/logout") as answer:
        laptop.get_by_role("button", name="Sign out", exact=True).click()
    assert answer.value.status == 204
    laptop.wait_for_url(f"{server.url}/login")
    assert session_cookies(laptop) == {}

    phone.reload()
    expect(phone.locator("#who")).to_have_text("frank")
    expect(phone.locator("#sessions > li")).to_have_count(1)
