"""The foundation journey in headless Chromium against the distributed platform: a teacher
raises a concern and alerts the DSL; the DSL elevates with a TOTP code, opens the incident
from the alert (highlighted in the chronology), marks it read, and sees it in Reporting."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from journey import (
    DSL_EMAIL,
    PASSWORD,
    TEACHER_EMAIL,
    Api,
    dsl_totp_secret,
    fresh_totp,
)

SCREENSHOTS = Path(os.environ.get("HAVEN_SCREENSHOTS", "/tmp/haven-screenshots"))


def _login(page, base: str, email: str) -> None:
    """identity's login page (OpenID Connect, through the gateway), then back to Haven."""
    paths: list[str] = []

    def record(request) -> None:  # every page load, redirects included
        if request.resource_type == "document":
            paths.append(urlsplit(request.url).path)

    page.on("request", record)
    page.goto(f"{base}/login")
    assert urlsplit(page.url).path == "/oauth/authorize"
    assert page.get_by_role("heading", name="Log in to Haven").is_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")
    page.remove_listener("request", record)
    # /login -> identity's form (GET, then POST) -> the gateway's callback -> the dashboard
    assert paths == ["/login", "/oauth/authorize", "/oauth/authorize", "/auth/callback", "/"]


def test_teacher_alerts_the_dsl_who_reads_it_in_the_browser(platform, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = platform.base_url
    api = Api(base)
    assert api.login(TEACHER_EMAIL).status_code == 200
    student = api.get("/students", q="an").json()["students"][2]
    shown_name = f"{student.get('preferred_name') or student['first_name']} {student['last_name']}"
    marker = f"Browser journey {uuid.uuid4().hex[:6]}: bruise on left arm, says fell off bike"

    # --- the teacher -------------------------------------------------------------------
    teacher = browser.new_context()
    page = teacher.new_page()
    _login(page, base, TEACHER_EMAIL)
    assert page.get_by_role("heading", name="My History").is_visible()
    page.get_by_label("Student name").fill(student["last_name"])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=f"Add an incident for {shown_name}").first.click()
    page.get_by_label("Incident", exact=True).fill(marker)
    page.locator("label.check", has_text="Cause for Concern").first.click()
    page.get_by_label("Alert staff members").select_option(label="Dana Lead (DSL)")
    page.screenshot(path=str(SCREENSHOTS / "1-teacher-add-incident.png"), full_page=True)
    page.get_by_role("button", name="Add incident").click()
    page.wait_for_url(f"{base}/")
    assert page.get_by_text("Incident added").is_visible()
    history = page.locator("ul.history")
    assert student["last_name"] in history.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "2-teacher-dashboard.png"), full_page=True)
    teacher.close()

    platform.mail.wait_for(lambda m: "Cause for Concern" in m.get_payload(decode=True)
                           .decode(errors="replace") and "Tom Teacher" in
                           m.get_payload(decode=True).decode(errors="replace"))

    # --- the DSL -----------------------------------------------------------------------
    dsl = browser.new_context()
    page = dsl.new_page()
    _login(page, base, DSL_EMAIL)
    page.get_by_role("link", name="Elevate your access").first.click()
    page.get_by_label("Authenticator code").fill(fresh_totp(dsl_totp_secret()))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    assert page.get_by_role("heading", name="Quick student search").is_visible()
    row = page.locator("table.alerts tbody tr", has_text=student["last_name"]).filter(
        has_text="Tom Teacher").first
    assert "Cause for Concern" in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "3-dsl-dashboard-alert.png"), full_page=True)
    row.get_by_role("link", name="Incident").click()
    page.wait_for_url(re.compile(r".*/students/.*highlight=.*"))
    highlighted = page.locator("article.incident.highlight")
    assert marker in highlighted.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "4-dsl-chronology-highlight.png"), full_page=True)
    highlighted.get_by_role("button", name="Mark as read").click()
    page.goto(f"{base}/")
    assert page.locator("table.alerts tbody tr", has_text=student["last_name"]).filter(
        has_text="Tom Teacher").count() == 0

    page.goto(f"{base}/reporting")
    cell = page.locator("table tbody tr", has_text="Cause for Concern").first.locator("td.num")
    assert int(cell.inner_text()) >= 1
    assert page.locator("svg[role=img]").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "5-dsl-reporting.png"), full_page=True)
    dsl.close()
