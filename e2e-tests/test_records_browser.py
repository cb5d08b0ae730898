"""Records' journeys in headless Chromium against the distributed platform:

1. the DSL adds an incident with a linked student, an assignee and an alert (and is warned
   that the colleague alerted could not normally view it);
2. the DSL reads an alerted incident, adds an action, merges two duplicates, edits one and
   views its history, deletes it and restores it;
3. bulk monitoring from a class register ("Update Categories"), seen in the register and
   in a student's Monitoring History;
4. a restricted teacher's day: an alert, opening the incident, adding an action before
   marking it read, My History, and not being able to open it again.

One elevated DSL browser session serves journeys 1-3 (a TOTP code is never accepted twice,
so every elevation costs a fresh 30-second step)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from journey import (
    DSL_EMAIL,
    PASSWORD,
    TEACHER_EMAIL,
    Api,
    create_incident,
    dsl_totp_secret,
    fresh_totp,
)

SCREENSHOTS = Path(os.environ.get("HAVEN_SCREENSHOTS", "/tmp/haven-screenshots"))
TEACHER_ACCOUNT = "00000000-0000-4000-8000-000000000103"
TUTOR_ACCOUNT = "00000000-0000-4000-8000-000000000104"
DSL_ACCOUNT = "00000000-0000-4000-8000-000000000102"


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"records-{name}.png"), full_page=True)


def _login(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


@pytest.fixture(scope="module")
def dsl(platform, browser):
    """The DSL, logged in and elevated once for the module's journeys."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    base = platform.base_url
    _login(page, base, DSL_EMAIL)
    page.goto(f"{base}/elevate")
    page.get_by_label("Authenticator code").fill(fresh_totp(dsl_totp_secret()))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    assert page.locator(".access-badge.access-full").is_visible()
    yield page
    context.close()


@pytest.fixture(scope="module")
def roll(platform):
    """Students of the demo school (by tutor group), read through the API as a teacher."""
    api = Api(platform.base_url)
    assert api.login(TEACHER_EMAIL).status_code == 200
    found: dict[str, list[dict]] = {}
    for q in ("a", "e", "o"):
        for s in api.get("/students", q=q, limit=200).json()["students"]:
            found.setdefault(s["tutor_group"], [])
            if all(x["id"] != s["id"] for x in found[s["tutor_group"]]):
                found[s["tutor_group"]].append(s)
    return found


def _name(student: dict) -> str:
    return f"{student.get('preferred_name') or student['first_name']} {student['last_name']}"


def _incident_id(page) -> str:
    match = re.search(r"highlight=([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def _options(page, incident_id: str, item: str) -> None:
    article = page.locator(f"#incident-{incident_id}")
    article.locator("details.options > summary").first.click()
    article.locator(".menu").first.get_by_role("link", name=item, exact=True).click()


# ---- 1 --------------------------------------------------------------------------------------

def test_dsl_adds_an_incident_with_a_linked_student_and_an_alert(platform, dsl, roll):
    base = platform.base_url
    pupil, friend = roll["9C"][0], roll["9C"][1]
    marker = f"Records journey {uuid.uuid4().hex[:6]}: argument in the lunch queue"
    page = dsl
    page.goto(f"{base}/")
    page.get_by_label("Student name").fill(pupil["last_name"])
    page.get_by_role("button", name="Search").first.click()
    page.get_by_role("link", name=f"Add an incident for {_name(pupil)}").first.click()
    page.get_by_label("Incident", exact=True).fill(marker)
    page.locator("label.check", has_text="Cause for Concern").first.click()
    page.get_by_label("Find a student to link").fill(friend["last_name"])
    page.get_by_role("button", name="Find students").click()
    # the form came back with the text kept and the students found
    assert page.get_by_label("Incident", exact=True).input_value() == marker
    page.get_by_label(f"Link {_name(friend)}").first.check()
    page.get_by_label("Monitor the linked students under the same categories").check()
    page.get_by_label("Assign to").select_option(label="Dana Lead")
    page.get_by_label("Alert staff members").select_option(label="Tess Tutor (Teachers)")
    warning = page.locator(".recipients li.cannot-view")
    warning.wait_for()
    assert "Tess Tutor" in warning.inner_text()  # could not normally view it: in red
    page.locator("label.check", has_text="Police").first.click()
    _shot(page, "1a-add-incident-linked-alert")
    page.get_by_role("button", name="Add incident").click()
    page.wait_for_url(re.compile(r".*/students/.*highlight=.*"))
    incident_id = _incident_id(page)
    highlighted = page.locator("article.incident.highlight")
    text = highlighted.inner_text()
    assert marker in text and _name(friend) in text and "Police" in text
    assert "Assigned to Dana Lead" in text
    assert "could not normally view this incident: Tess Tutor" in page.locator(
        ".flashes").inner_text()
    _shot(page, "1b-chronology-with-linked-student")

    # the linked student has the copy, and is monitored under its category
    highlighted.get_by_role("link", name=re.compile(re.escape(_name(friend)))).click()
    page.wait_for_url(re.compile(rf".*/students/{friend['id']}.*"))
    assert marker in page.locator("article.incident.highlight").inner_text()
    page.get_by_role("link", name="Monitoring History").click()
    assert "Cause for Concern" in page.locator("table.monitoring").inner_text()
    # on the DSL's dashboard: My Assigned
    page.goto(f"{base}/")
    assigned = page.locator("table.assigned")
    assert _name(pupil) in assigned.inner_text()
    _shot(page, "1c-dashboard-my-assigned")
    platform.mail.wait_for(lambda m: "Tess" in str(m.get("To", "")) or "teacher2" in str(
        m.get("To", "")))
    assert incident_id


# ---- 2 --------------------------------------------------------------------------------------

def test_dsl_reads_acts_merges_edits_deletes_and_restores(platform, dsl, roll):
    base = platform.base_url
    pupil = roll["8A"][0]
    teacher = Api(base)
    assert teacher.login(TEACHER_EMAIL).status_code == 200
    tag = uuid.uuid4().hex[:6]
    bodies = [{"student_id": pupil["id"], "text": f"{tag} {who}: saw a bruise on the wrist",
               "category_ids": [], "alert_account_ids": [DSL_ACCOUNT],
               "request_id": str(uuid.uuid4())} for who in ("first report", "second report")]
    cats = {c["name"]: c["id"] for c in teacher.get("/categories").json()["categories"]}
    made = []
    for body in bodies:
        body["category_ids"] = [cats["Cause for Concern"]]
        r = create_incident(teacher, body)
        assert r.status_code == 201, r.text
        made.append(r.json())
    first, second = made

    page = dsl
    page.goto(f"{base}/")
    row = page.locator("table.alerts tbody tr", has_text=_name(pupil)).first
    row.get_by_role("link", name="Incident").click()
    page.wait_for_url(re.compile(r".*/students/.*highlight=.*"))
    article = page.locator("article.incident.highlight")
    article.get_by_role("button", name="Mark as read").first.click()
    page.wait_for_url(re.compile(r".*/students/.*"))

    # an action on the first report
    page.goto(f"{base}/students/{pupil['id']}?highlight={first['id']}")
    page.locator(f"#incident-{first['id']}").get_by_role("link", name="Add action").click()
    page.get_by_label("Action taken").fill(f"{tag}: spoke with the pupil and rang home")
    page.locator("label.check", has_text="Parental Contact").first.click()
    page.get_by_role("button", name="Add action").click()
    page.wait_for_url(re.compile(r".*#action-.*"))
    assert "spoke with the pupil" in page.locator(".action.highlight").inner_text()
    _shot(page, "2a-action-added")

    # merge the second report into the first (by its number, with a preview)
    number = page.locator(f"#incident-{first['id']} .incident-number").inner_text().lstrip("#")
    _options(page, second["id"], "Merge into another incident")
    page.get_by_label("Number of the incident to merge into").fill(number)
    page.get_by_role("button", name="Search").click()
    assert "first report" in page.locator(".merge-preview").inner_text()
    _shot(page, "2b-merge-preview")
    page.get_by_role("button", name="Merge").click()
    page.wait_for_url(re.compile(rf".*highlight={first['id']}.*"))
    merged = page.locator(f"#incident-{first['id']}").inner_text()
    assert "second report" in merged and "Merged from incident #" in merged
    assert page.locator(f"#incident-{second['id']}").count() == 0

    # edit, then the history
    _options(page, first["id"], "Edit")
    page.get_by_label("Incident", exact=True).fill(f"{tag} first report: saw a bruise on the "
                                                   "left wrist, about 3 cm")
    page.get_by_role("button", name="Save incident").click()
    page.wait_for_url(re.compile(rf".*highlight={first['id']}.*"))
    assert "about 3 cm" in page.locator(f"#incident-{first['id']}").inner_text()
    _options(page, first["id"], "History")
    versions = page.locator("ol.versions").inner_text()
    assert "Edited" in versions and "Created" in versions and "about 3 cm" in versions
    assert "saw a bruise on the wrist" in versions  # the earlier version is kept
    _shot(page, "2c-history")

    # delete with a reason, then restore
    page.goto(f"{base}/students/{pupil['id']}?highlight={first['id']}")
    _options(page, first["id"], "Delete")
    page.get_by_label("Reason for deleting").fill("Recorded on the wrong pupil")
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(rf".*highlight={first['id']}.*"))
    marker = page.locator(f"#incident-{first['id']}")
    assert "Deleted incident" in marker.inner_text()
    assert "Recorded on the wrong pupil" in marker.inner_text()
    assert "about 3 cm" not in marker.inner_text()
    _shot(page, "2d-deleted-marker")
    marker.get_by_role("button", name="Restore").click()
    page.wait_for_url(re.compile(rf".*highlight={first['id']}.*"))
    assert "about 3 cm" in page.locator(f"#incident-{first['id']}").inner_text()
    # nobody else sees deleted ones: the teacher's API view of the restored one is back
    assert teacher.get("/me/history").status_code == 200


# ---- 3 --------------------------------------------------------------------------------------

def test_bulk_monitoring_from_a_class_register(platform, dsl, roll):
    base = platform.base_url
    page = dsl
    page.goto(f"{base}/")
    page.get_by_label("Filter by group").select_option(label="7B")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/students\?group=.*"))
    assert page.get_by_role("heading", name="Class register: 7B").is_visible()
    page.get_by_role("link", name="Update Categories").click()
    chosen = roll["7B"][:2]
    for s in chosen:
        page.get_by_label(f"Select {_name(s)}").check()
    _shot(page, "3a-register-select")
    page.get_by_role("button", name="Continue").click()
    assert "For 2 selected student(s)" in page.locator("main").inner_text()
    page.get_by_label("Add this category").check()
    page.get_by_label("Category", exact=True).select_option(label="Bullying")
    page.get_by_label("Start date").fill("2026-01-05")
    page.get_by_role("button", name="Update categories").click()
    page.wait_for_url(re.compile(r".*/students\?group=.*"))
    assert "monitoring started 2 time(s)" in page.locator(".flashes").inner_text()
    for s in chosen:
        row = page.locator("li.student-row", has_text=_name(s))
        assert "Bullying" in row.locator("ul.monitored").inner_text()
    _shot(page, "3b-register-monitored")

    # remove it again for one of them; the history keeps both ends
    page.get_by_role("link", name="Update Categories").click()
    page.get_by_label(f"Select {_name(chosen[0])}").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Remove this category").check()
    page.get_by_label("Category", exact=True).select_option(label="Bullying")
    page.get_by_role("button", name="Update categories").click()
    page.wait_for_url(re.compile(r".*/students\?group=.*"))
    assert "ended 1 time(s)" in page.locator(".flashes").inner_text()
    page.goto(f"{base}/students/{chosen[0]['id']}/monitoring")
    table = page.locator("table.monitoring").inner_text()
    assert "Bullying" in table and "Mon 5 Jan 2026" in table and "Still monitored" not in table
    assert page.locator("svg rect.span-bar").count() >= 1
    _shot(page, "3c-monitoring-history")
    page.goto(f"{base}/students/{chosen[1]['id']}/overview")
    assert "Bullying" in page.locator("table.student-details").inner_text()
    _shot(page, "3d-overview")


# ---- 4 --------------------------------------------------------------------------------------

def test_a_restricted_teachers_day(platform, browser, roll):
    base = platform.base_url
    pupil = roll["10D"][0]
    dsl_api = Api(base)  # adding an incident needs no elevation
    assert dsl_api.login(DSL_EMAIL).status_code == 200
    cats = {c["name"]: c["id"] for c in dsl_api.get("/categories").json()["categories"]}
    text = f"Day {uuid.uuid4().hex[:6]}: please watch for signs of tiredness in lessons"
    r = create_incident(dsl_api, {"student_id": pupil["id"], "text": text,
                                  "category_ids": [cats["Safeguarding"]],
                                  "alert_account_ids": [TEACHER_ACCOUNT],
                                  "request_id": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    incident_id = r.json()["id"]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _login(page, base, TEACHER_EMAIL)
    assert page.locator(".access-badge.access-restricted").is_visible()
    row = page.locator("table.alerts tbody tr", has_text=_name(pupil)).first
    assert "Dana Lead" in row.inner_text() and "Safeguarding" in row.inner_text()
    _shot(page, "4a-teacher-alerts")
    row.get_by_role("link", name="Incident").click()
    page.wait_for_url(f"{base}/incidents/{incident_id}")
    assert text in page.locator("article.incident").inner_text()
    page.get_by_role("link", name="Add action").click()
    page.get_by_label("Action taken").fill("Fell asleep in period 3; spoke to them after")
    page.get_by_role("button", name="Add action").click()
    page.wait_for_url(f"{base}/incidents/{incident_id}")
    assert "Fell asleep in period 3" in page.locator("ol.actions").inner_text()
    _shot(page, "4b-teacher-action-added")
    page.get_by_role("button", name="Mark as read").click()
    page.wait_for_url(f"{base}/")
    assert page.locator("table.alerts tbody tr", has_text=_name(pupil)).count() == 0
    history = page.locator("section", has=page.get_by_role("heading", name="My History"))
    assert "Actions you added" in history.inner_text()
    _shot(page, "4c-teacher-my-history")
    page.goto(f"{base}/incidents/{incident_id}")
    assert "Not allowed" in page.locator("main").inner_text() or "permission" in page.locator(
        "main").inner_text().lower()
    assert text not in page.content()
    _shot(page, "4d-teacher-cannot-reopen")
    context.close()
