"""The MIS import journey in headless Chromium against the distributed platform: the admin
elevates with a TOTP code, uploads a CTF of 30 pupils (made by datagen, with surnames found
nowhere else) in Admin > Imports, checks what the file says about itself, starts the import,
watches the progress bar reach the end, and then finds those pupils with the dashboard's
quick student search (mis_import's events have reached records). The demo school's own
pupils came in earlier the same way, through the MIS feed imported when it was seeded."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

import pytest
from journey import PASSWORD, fresh_totp

from datagen import ctf_bytes, generate_school

SCREENSHOTS = Path(os.environ.get("HAVEN_SCREENSHOTS", "/tmp/haven-screenshots"))
ADMIN_EMAIL = "admin@demo.haven.test"
PREFIX = "Zephyr"  # no demo pupil's name contains it
ENDINGS = ("brook", "dale", "field", "ford", "gate", "ham", "hurst", "ley", "mere", "moor",
           "ridge", "shaw", "stone", "thorpe", "ton", "wick", "wood", "worth", "bury", "combe",
           "cott", "den", "fell", "garth", "holme", "ing", "leigh", "stow", "well", "by")
PUPILS = len(ENDINGS)


def admin_totp_secret() -> str:
    from services.identity.seed import DEMO_TOTP_SECRETS

    return DEMO_TOTP_SECRETS[ADMIN_EMAIL]


@pytest.fixture(scope="module")
def ctf_file(tmp_path_factory) -> tuple[Path, list[str]]:
    """A CTF of 30 pupils on roll this year, each with a surname of its own."""
    yesterday = dt.date.today() - dt.timedelta(days=1)
    start_year = yesterday.year if yesterday.month >= 9 else yesterday.year - 1
    school = generate_school(seed=29, pupils=PUPILS, start_year=start_year,
                             attendance_through=yesterday)
    surnames = []
    for pupil, ending in zip(school.pupils, ENDINGS, strict=True):
        pupil.legal_last_name = pupil.preferred_last_name = PREFIX + ending
        surnames.append(pupil.legal_last_name)
    path = tmp_path_factory.mktemp("ctf") / "haven-demo-academy.xml"
    path.write_bytes(ctf_bytes(school))
    return path, surnames


@pytest.fixture(scope="module")
def padded_ctf_file(ctf_file) -> Path:
    """The same CTF grown past 7 MB with whitespace between pupils: it reaches mis_import in
    three chunks (gRPC messages stop at 4 MB)."""
    path, _ = ctf_file
    data = path.read_bytes().replace(b"<CTFpupilData>\n", b"<CTFpupilData>\n" +
                                     (b" " * 1023 + b"\n") * (7 * 1024), 1)
    padded = path.with_name("haven-demo-academy-again.xml")
    padded.write_bytes(data)
    return padded


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def _wait_for_the_end(page, platform) -> list[tuple[str | None, str]]:
    """Watch the run page until the poller has reloaded it with the finished run."""
    seen: list[tuple[str | None, str]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            bar = page.locator("#run-progress-bar")
            status = page.locator(".js-status .run-status").inner_text(timeout=2000)
            seen.append((bar.get_attribute("value", timeout=2000), status))
            # The poller reloads the page once the run ends: the server's page of a finished
            # run has no Refresh link.
            reloaded = page.locator("a.js-refresh").count() == 0
        except Exception:  # caught mid-reload
            page.wait_for_load_state()
            continue
        if status in ("Succeeded", "Failed", "Interrupted") and reloaded:
            break
        time.sleep(0.25)
    assert seen and seen[-1] == ("100", "Succeeded"), (
        seen[-5:], platform.procs["mis_import-worker"].tail(60), platform.logs())
    return seen


def test_admin_imports_a_ctf_and_finds_its_pupils(platform, browser, ctf_file,
                                                   padded_ctf_file):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = platform.base_url
    path, surnames = ctf_file
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # --- log in and elevate ---------------------------------------------------------------
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="Elevate your access").first.click()
    page.get_by_label("Authenticator code").fill(fresh_totp(admin_totp_secret()))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    assert page.get_by_role("heading", name="Quick student search").is_visible()
    # The demo school's pupils arrived through its MIS feed at seeding: the light is green.
    assert page.locator(".import-health").get_attribute("data-health") == "green"
    _shot(page, "mis-1-dashboard-before.png")

    # --- Admin > Imports: upload and check -------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Imports").click()
    page.wait_for_url(f"{base}/admin/imports")
    page.get_by_label("File", exact=True).set_input_files(str(path))
    _shot(page, "mis-2-imports-upload.png")
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r".*/admin/imports/uploads/.+"))
    details = page.locator("table.source-details").inner_text()
    assert "Common Transfer File" in details and "25.0" in details
    assert "Haven Demo Academy" in details and "823 / 4001" in details
    assert page.locator("dd.estimated").inner_text() == str(PUPILS)
    _shot(page, "mis-3-imports-check.png")

    # --- start, and watch the progress bar reach the end ------------------------------------
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/progress") else None)
    page.get_by_role("button", name="Start the import").click()
    page.wait_for_url(re.compile(r".*/admin/imports/runs/[^/?]+$"))
    assert page.get_by_role("link", name="Refresh").is_visible()  # without JS: reload by hand
    _shot(page, "mis-4a-import-run-started.png")
    seen = _wait_for_the_end(page, platform)
    assert polls, "the page's poller (static/js/imports.js) never asked for the progress"
    print(f"progress seen: {sorted(set(seen), key=seen.index)}; {len(polls)} polls")
    assert page.locator(".progress-text").inner_text().startswith(f"{PUPILS} of {PUPILS}")
    assert page.locator("td.count-created").inner_text() == str(PUPILS)
    assert page.locator("td.count-rejected").inner_text() == "0"
    assert page.get_by_role("link", name="Refresh").count() == 0
    _shot(page, "mis-4-import-run-finished.png")

    # --- the pupils, through the dashboard's quick student search -----------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    assert page.locator(".import-health").get_attribute("data-health") == "green"
    found = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page.goto(f"{base}/")
        page.get_by_label("Student name").fill(PREFIX)
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(r".*/students\?q=.*"))
        found = page.locator("main").inner_text()
        if all(name in found for name in surnames):
            break
        time.sleep(1)
    missing = [name for name in surnames if name not in found]
    assert not missing, (f"records does not list {len(missing)} imported pupils, e.g. "
                         f"{missing[:3]}; it must consume mis.student.upserted")
    _shot(page, "mis-5-quick-search-pupils.png")

    # --- the same pupils again, in a file of over 7 MB: three chunks, nothing changes ----------
    page.goto(f"{base}/admin/imports")
    page.get_by_label("File", exact=True).set_input_files(str(padded_ctf_file))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r".*/admin/imports/uploads/.+"), timeout=60000)
    assert re.fullmatch(r"7\.\d MB", page.locator("dl.facts dd").nth(2).inner_text())
    assert page.locator("dd.estimated").inner_text() == str(PUPILS)
    page.get_by_role("button", name="Start the import").click()
    page.wait_for_url(re.compile(r".*/admin/imports/runs/[^/?]+$"))
    _wait_for_the_end(page, platform)
    assert page.locator("td.count-unchanged").inner_text() == str(PUPILS)
    assert page.locator("td.count-created").inner_text() == "0"
    page.get_by_role("link", name="History").click()
    assert page.locator("table.import-runs tbody tr").count() == 3  # and the seeded feed
    _shot(page, "mis-6-import-history.png")
    assert not [p for p in problems if "Content Security Policy" in p], problems
    context.close()
