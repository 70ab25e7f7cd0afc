"""``/login`` and ``/account`` on a phone: 390 px wide, no horizontal scrolling, sessions as cards.

The account has several sessions whose user agents are long real-world strings (in-app browsers,
webviews); each card must stay inside the list, the page must not scroll sideways, and devices are
shown in words. Screenshots go to the ``artifacts`` folder for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import UI_TIMEOUT_MS, LocalhostServer, sign_in

pytestmark = pytest.mark.slow

USERS = ["olivia"]
WIDTH = 390  # CSS pixels: an iPhone 12-15, the narrowest common phone today

PIXEL_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
# user agent -> how the account page names the device
OTHER_DEVICES = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1": "Safari on iOS",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91": "Edge on Windows",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:121.0) Gecko/20100101 Firefox/121.0": "Firefox on macOS",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36": "Samsung Internet on Android",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/445.0.0.34.118;FBBV/540000000;FBDM/{density=2.625,width=1080,height=2340};"
    "FBLC/en_US;FBRV/0;FBCR/Vodafone;FBMF/samsung;FBBD/samsung;FBPN/com.facebook.katana;FBDV/SM-S918B;"
    "FBSV/14;FBOP/1;FBCA/arm64-v8a:;]": "Chrome on Android",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone15,3;FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBID/phone;"
    "FBLC/en_US;FBOP/5;FBRV/545297349]": "Browser on iOS",
    "curl/8.5.0": "curl",
    "Googlebot-Image-Fetcher-With-A-Name-Far-Longer-Than-Any-Phone-Is-Wide/2.1 "
    "(+http://www.google.com/bot.html)": "Googlebot-Image-Fetcher-With-A-Name-Far-…",
}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page in a phone-sized, touch, high-density context with a phone's user agent."""
    context = browser.new_context(
        viewport={"width": WIDTH, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        user_agent=PIXEL_CHROME,
        locale="en-US",
        timezone_id="Europe/Paris",
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def assert_no_horizontal_overflow(page: Page) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH, f"the page is {scroll_width} px wide at {WIDTH} px"


def assert_inside(inner: Locator, outer: Locator) -> None:
    """``inner``'s box lies within ``outer``'s, and ``inner`` does not overflow itself."""
    box, frame = inner.bounding_box(), outer.bounding_box()
    assert box is not None
    assert frame is not None
    assert box["x"] >= frame["x"] - 0.5
    assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5, inner.inner_text()
    assert inner.evaluate("element => element.scrollWidth <= element.clientWidth"), inner.inner_text()


def test_login_page_fits_a_phone(server: LocalhostServer, phone: Page, artifacts: Path) -> None:
    phone.goto(f"{server.url}/login")
    expect(phone.get_by_role("button", name="Sign in")).to_be_visible()
    assert_no_horizontal_overflow(phone)
    main = phone.locator("main")
    for field in (phone.get_by_label("Username"), phone.get_by_label("Password")):
        assert_inside(field, main)
    assert_inside(main, phone.locator("body"))
    phone.screenshot(path=artifacts / "login-390px.png", full_page=True)


def test_account_page_shows_sessions_as_cards_on_a_phone(
    server: LocalhostServer, phone: Page, artifacts: Path
) -> None:
    for agent in OTHER_DEVICES:
        signed_in = httpx.post(
            f"http://127.0.0.1:{server.port}/api/login",
            json={"username": "olivia", "password": server.users["olivia"]},
            headers={"User-Agent": agent},
            timeout=30,
        )
        assert signed_in.status_code == 200, signed_in.text
    sign_in(phone, server.url, "olivia")

    cards = phone.locator("#sessions > li")
    expect(cards).to_have_count(len(OTHER_DEVICES) + 1)
    this_browser = cards.filter(has_text="this browser")
    expect(this_browser.locator(".device")).to_have_text("Chrome on Android")
    devices = sorted(cards.locator(".device").all_inner_texts())
    assert devices == sorted([*OTHER_DEVICES.values(), "Chrome on Android"])
    # The raw user agent is still there, on hover.
    expect(cards.locator(".device").filter(has_text="Edge on Windows")).to_have_attribute(
        "title", next(agent for agent, name in OTHER_DEVICES.items() if name == "Edge on Windows")
    )

    # Times: relative, with the exact moment (RFC 3339 from the API) on hover.
    for moment in this_browser.locator("time").all():
        expect(moment).to_have_text("just now")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", moment.get_attribute("datetime") or "")
        assert "20" in (moment.get_attribute("title") or "")  # a full date with its year

    assert_no_horizontal_overflow(phone)
    listing = phone.locator("#sessions")
    assert_inside(listing, phone.locator("main"))
    for card in cards.all():
        assert_inside(card, listing)
        assert_inside(card.get_by_role("button", name="Revoke"), card)
    phone.screenshot(path=artifacts / "account-390px.png", full_page=True)


def test_times_read_as_a_person_would_say_them(server: LocalhostServer, phone: Page) -> None:
    phone.goto(f"{server.url}/login")  # any page of the server: the module is imported from there
    said = phone.evaluate(
        """async () => {
            const { relativeTime, describeDevice } = await import("/static/sessions.js");
            const now = Date.parse("2026-11-30T08:44:42Z");
            const ago = (seconds) => relativeTime(new Date(now - seconds * 1000).toISOString(), now);
            return {
                times: [5, 50, 3600 * 3, 86400, 86400 * 3, 86400 * 40, -86400 * 2].map(ago),
                devices: [describeDevice(null), describeDevice(""), describeDevice("   ")],
            };
        }"""
    )
    assert said["times"] == [
        "just now",
        "1 minute ago",
        "3 hours ago",
        "yesterday",
        "3 days ago",
        "last month",
        "in 2 days",
    ]
    assert said["devices"] == ["Unknown device"] * 3
