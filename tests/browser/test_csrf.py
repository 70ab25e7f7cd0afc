"""CSRF in a real browser: unsafe cookie-authenticated calls need the header, other sites get nowhere."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import ForeignSite, LocalhostServer, NewPage, sign_in

pytestmark = pytest.mark.slow

USERS = ["grace", "heidi"]

STATUS_OF_FETCH = """async ([path, init]) => {
    const response = await fetch(path, init);
    return { status: response.status, body: await response.text() };
}"""


def test_unsafe_calls_need_the_csrf_header_the_page_sends(server: LocalhostServer, new_page: NewPage) -> None:
    page = new_page()
    sign_in(page, server.url, "grace")

    refused = [
        page.evaluate(STATUS_OF_FETCH, ["/api/sessions/no-such-session", {"method": "DELETE"}]),
        page.evaluate(
            STATUS_OF_FETCH,
            ["/api/sessions/no-such-session", {"method": "DELETE", "headers": {"X-CSRF-Token": "0" * 64}}],
        ),
        page.evaluate(STATUS_OF_FETCH, ["/api/logout/all", {"method": "POST"}]),
        page.evaluate(STATUS_OF_FETCH, ["/api/logout", {"method": "POST"}]),
    ]
    for answer in refused:
        assert answer["status"] == 403
        assert '"access_denied"' in answer["body"]

    # The page's own client adds the header: the same call passes the CSRF check and reaches the
    # route, which answers 404 (not one of this user's sessions).
    own = page.evaluate(
        """async () => {
            const { JwtgateClient } = await import("/static/jwtgate.js");
            const client = new JwtgateClient();
            const response = await client.fetch("/api/sessions/no-such-session", { method: "DELETE" });
            return response.status;
        }"""
    )
    assert own == 404

    page.reload()  # none of the refused calls ended the session
    expect(page.locator("#who")).to_have_text("grace")
    expect(page.locator("#sessions > li")).to_have_count(1)


def attack_page(target: str, fields: dict[str, str]) -> bytes:
    inputs = "".join(f'<input type="hidden" name="{name}" value="{value}">' for name, value in fields.items())
    return (
        f'<!doctype html><form method="POST" action="{target}">{inputs}</form>'
        "<script>document.forms[0].submit()</script>"
    ).encode()


@pytest.mark.parametrize(
    ("attacker_host", "refused_with"),
    [
        # Another site: the SameSite cookies stay home, so the request arrives unauthenticated.
        ("127.0.0.1", 401),
        # Same site, other origin (another port of localhost): the cookies go along, and the
        # Origin and CSRF checks refuse the request.
        ("localhost", 403),
    ],
)
@pytest.mark.parametrize(
    ("route", "fields"),
    [
        ("/api/logout/all", {}),
        ("/api/password", {"current_password": "browser test password", "new_password": "attacker's pick!"}),
    ],
)
def test_a_form_posted_from_another_origin_changes_nothing(
    server: LocalhostServer,
    new_page: NewPage,
    foreign_site: ForeignSite,
    attacker_host: str,
    refused_with: int,
    route: str,
    fields: dict[str, str],
) -> None:
    page = new_page()
    sign_in(page, server.url, "heidi")
    foreign_site.pages["/win-a-prize"] = attack_page(f"{server.url}{route}", fields)

    with page.expect_response(f"{server.url}{route}") as answer:
        page.goto(foreign_site.url(attacker_host, "/win-a-prize"))
    assert answer.value.request.method == "POST"  # the attack did reach the server ...
    assert answer.value.status == refused_with  # ... and was refused

    page.goto(f"{server.url}/account")
    expect(page.locator("#who")).to_have_text("heidi")
    expect(page.locator("#sessions")).to_contain_text("this browser")
    kept = httpx.post(
        f"{server.url}/api/login", json={"username": "heidi", "password": server.users["heidi"]}, timeout=10.0
    )
    assert kept.status_code == 200  # the password did not change
