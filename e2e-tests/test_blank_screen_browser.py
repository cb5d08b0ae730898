"""The blank screen in headless Chromium against the distributed platform.

The header's "Blank screen" hides the page at once; after the school's idle timeout without
activity the page blanks by itself and drops its content, so coming back reloads it (the
server decides whether the session still lives). The idle timeout is the school setting an
administrator changes in Admin > Settings. Time is moved with Playwright's fake clock.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from journey import DSL_EMAIL, PASSWORD, TEACHER_EMAIL, dsl_totp_secret, fresh_totp

SCREENSHOTS = Path(os.environ.get("HAVEN_SCREENSHOTS", "/tmp/haven-screenshots"))


def _login(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))


def _set_idle_timeout(browser, base: str, minutes: int) -> None:
    context = browser.new_context()
    page = context.new_page()
    _login(page, base, DSL_EMAIL)
    page.goto(f"{base}/elevate")
    page.get_by_label("Authenticator code").fill(fresh_totp(dsl_totp_secret()))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    page.goto(f"{base}/admin/settings")
    page.get_by_label("Idle timeout (minutes)").fill(str(minutes))
    page.get_by_role("button", name=re.compile("Save")).click()
    page.wait_for_load_state()
    assert page.get_by_label("Idle timeout (minutes)").input_value() == str(minutes)
    context.close()


def test_the_screen_blanks_on_request_and_after_the_schools_idle_timeout(platform, browser):
    base = platform.base_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _set_idle_timeout(browser, base, 5)
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()
    _login(page, base, TEACHER_EMAIL)
    assert page.locator("body").get_attribute("data-idle-minutes") == "5"
    main = page.locator("#main")
    overlay = page.locator("#blank-screen")
    assert main.is_visible() and not overlay.is_visible()

    # On request: everything hidden at once, and back with one click, without a reload.
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Blank screen").click()
    assert overlay.is_visible() and not main.is_visible()
    assert not page.locator(".site-header").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "blank-screen.png"))
    page.get_by_role("button", name="Show Haven again").click()
    assert main.is_visible() and not overlay.is_visible()
    assert page.evaluate("window.__sameDocument === true")

    # Activity keeps it open: 4 minutes, a key press, 4 more minutes.
    page.clock.fast_forward("04:00")
    page.keyboard.press("Shift")
    page.clock.fast_forward("04:00")
    assert main.is_visible() and not overlay.is_visible()

    # Five quiet minutes: blanked, and the page's content is gone, not just hidden.
    page.clock.fast_forward("05:01")
    assert overlay.is_visible()
    assert "5 minutes without activity" in overlay.inner_text()
    assert page.locator("#main").inner_text().strip() == ""
    # Coming back reloads the page from the server (the session is still live here).
    page.get_by_role("button", name="Show Haven again").click()
    page.wait_for_load_state()
    assert page.evaluate("window.__sameDocument === undefined")
    assert page.locator("#main").is_visible() and not overlay.is_visible()
    context.close()
    _set_idle_timeout(browser, base, 15)
