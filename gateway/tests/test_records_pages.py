"""Records pages: the dashboard's filters and My Assigned, class registers and bulk "Update
Categories", the student's profile tabs and "Edit information", the incident form's
additions (linked students, assignee, alert groups, agencies, who could not view it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gateway.tests.conftest import csrf, csrf_from
from gateway.tests.fakes import (
    AVA,
    BEN,
    CAT_BULLYING,
    CAT_CP,
    CAT_CYBER,
    DSL,
    TEACHER,
    TUTOR,
)
from gateway.tests.fakes_records import (
    AG_CAMHS,
    AG_OLD,
    AG_POLICE,
    ALERT_GROUP,
    G_7A,
    G_NEW,
    G_Y7,
)

_REQUEST_ID = re.compile(r'name="request_id" value="([0-9a-f-]{36})"')


# ---- dashboard and lists ------------------------------------------------------------------

def test_full_access_dashboard_has_filters_and_my_assigned(dsl, platform):
    incident = platform.records.add_incident(student_id=AVA, text="Assigned to me",
                                             category_ids=[CAT_CP], author=TUTOR)
    incident.assigned_to, incident.assigned_to_name = DSL.account_id, DSL.name
    html = dsl.get("/").get_data(as_text=True)
    assert 'name="monitored"' in html and 'name="archived"' in html
    assert "Filter by group" in html and f'<option value="{G_7A}">7A</option>' in html
    assert "Year groups" in html
    assert "Monitored by category" in html and f'href="/students?category={CAT_CP}"' in html
    assert "My Assigned" in html
    assert f'href="/students/{AVA}?highlight={incident.id}#incident-{incident.id}"' in html
    assert "new class" not in html  # restrictions are off


def test_new_class_notice_for_admins_while_restrictions_are_on(dsl, platform):
    platform.records.settings.restrict_access_by = "tutor"
    html = dsl.get("/").get_data(as_text=True)
    assert "1 new class has appeared in the import" in html
    assert 'href="/admin/groups"' in html


def test_restricted_dashboard_has_no_filters_and_history_includes_actions(teacher, platform):
    incident = platform.records.add_incident(student_id=BEN, text="Mine", category_ids=[CAT_CP],
                                             author=TEACHER)
    incident.actions.add(id="act-1", incident_id=incident.id, created_by=TEACHER.account_id,
                         text="Rang home")
    html = teacher.get("/").get_data(as_text=True)
    assert "Filter by group" not in html and "My Assigned" not in html
    assert "Actions you added" in html
    assert f'href="/incidents/{incident.id}">Ben Jones</a>' in html
    assert not platform.records.called("ListGroups")


def test_class_register_lists_monitored_categories_and_offers_update_categories(dsl, platform):
    platform.records.students[AVA].monitored_category_ids.append(CAT_CP)
    html = dsl.get(f"/students?group={G_7A}").get_data(as_text=True)
    assert "Class register: 7A" in html
    assert 'class="lozenge c-b91c1c">Child protection</li>' in html
    call = platform.records.called("SearchStudents")[-1].request
    assert call.group_id == G_7A and call.limit == 1000
    assert "Update Categories" in html
    html = dsl.get(f"/students?group={G_7A}&select=1").get_data(as_text=True)
    assert f'name="student_ids" value="{AVA}"' in html and "Continue" in html


def test_monitored_and_category_lists(dsl, platform):
    dsl.get("/students?monitored=1&archived=1")
    req = platform.records.called("SearchStudents")[-1].request
    assert req.monitored_only and req.include_archived
    html = dsl.get(f"/students?category={CAT_CP}").get_data(as_text=True)
    assert "Monitored for Child protection" in html
    assert platform.records.called("SearchStudents")[-1].request.category_id == CAT_CP


def test_restricted_users_cannot_list_classes(teacher, platform):
    teacher.get(f"/students?group={G_7A}&monitored=1")
    assert platform.records.called("SearchStudents") == []


def test_bulk_update_categories_two_steps(dsl, platform):
    token = csrf(dsl, "/")
    page = dsl.post("/students/update-categories", data={
        "csrf_token": token, "student_ids": [AVA, BEN], "back": f"/students?group={G_7A}"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "For 2 selected student(s)" in html
    assert f'<option value="{CAT_CYBER}"' in html and "Bullying: Online bullying" in html
    done = dsl.post("/students/update-categories", data={
        "csrf_token": token, "student_ids": [AVA, BEN], "back": f"/students?group={G_7A}",
        "apply": "1", "operation": "add", "category_id": CAT_BULLYING,
        "start_date": "2026-01-10"})
    assert done.status_code == 302 and done.headers["Location"] == f"/students?group={G_7A}"
    req = platform.records.called("UpdateMonitoring")[-1].request
    assert list(req.student_ids) == [AVA, BEN] and req.operation == "add"
    assert req.category_id == CAT_BULLYING and req.start_date == "2026-01-10"
    assert "monitoring started 2 time(s)" in dsl.get("/").get_data(as_text=True)
    dsl.post("/students/update-categories", data={
        "csrf_token": token, "student_ids": [AVA], "apply": "1", "operation": "wipe_all",
        "category_id": CAT_BULLYING})
    req = platform.records.called("UpdateMonitoring")[-1].request
    assert req.operation == "wipe_all" and req.category_id == "" and req.start_date == ""


def test_bulk_update_problems_are_caught_before_calling(dsl, platform):
    token = csrf(dsl, "/")
    none = dsl.post("/students/update-categories", data={"csrf_token": token, "back": "/x"})
    assert none.status_code == 302 and none.headers["Location"] == "/x"
    page = dsl.post("/students/update-categories", data={
        "csrf_token": token, "student_ids": [AVA], "apply": "1", "operation": "add"})
    assert "Choose a category." in page.get_data(as_text=True)
    assert not platform.records.called("UpdateMonitoring")


# ---- the profile tabs ---------------------------------------------------------------------

def test_overview_has_details_charts_and_tabs(dsl, platform):
    platform.records.add_incident(student_id=AVA, text="One", category_ids=[CAT_CP],
                                  author=TUTOR, occurred_at=datetime(2026, 1, 5, tzinfo=UTC))
    platform.records.add_incident(student_id=AVA, text="Two", category_ids=[CAT_BULLYING],
                                  author=TUTOR, occurred_at=datetime(2026, 2, 5, tzinfo=UTC))
    platform.records.info[AVA] = {"summary": "Social worker: J. Bloggs 01234 567890",
                                  "keywords": ["allergy"], "agency_ids": [AG_POLICE],
                                  "alert": [DSL.account_id], "links": [(BEN, "cousin")]}
    response = dsl.get(f"/students/{AVA}/overview?from=2025-09-01&to=2026-02-28")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for tab in ("Overview", "Incidents", "Contact Details", "Attendance", "Audit Report",
                "Monitoring History"):
        assert f">{tab}</a>" in html
    assert 'aria-current="page" href="/students/' in html
    assert "Social worker: J. Bloggs" in html and "allergy" in html and "Police" in html
    assert "Cousin</span> – <a href=\"/students/" in html and "Ben Jones" in html
    assert "Edit information" in html
    # the pie (two slices) and the timeline, drawn as SVG with colours from the sheet
    assert html.count('<path class="slice c-') == 2
    assert 'class="slice c-b91c1c"' in html and "Child protection: <strong>1</strong>" in html
    assert '<rect class="bar"' in html and "Jan 26" in html
    assert "<script" not in html.split("<main")[1] and "style=" not in html
    req = platform.records.called("GetStudentProfile")[-1].request
    assert (req.timeline_from, req.timeline_to) == ("2025-09-01", "2026-02-28")
    dsl.get(f"/students/{AVA}/overview?months=12")
    req = platform.records.called("GetStudentProfile")[-1].request
    assert req.timeline_from.endswith("-01") and req.timeline_to


def test_colour_sheet_also_fills_svg():
    from gateway.app import create_app

    app = create_app({"secret_key": "x", "TESTING": True})
    css = app.test_client().get("/colours.css?c=b91c1c").get_data(as_text=True)
    assert "fill:#b91c1c" in css


def test_overview_is_refused_for_restricted_access(teacher):
    assert teacher.get(f"/students/{AVA}/overview").status_code == 403


def test_edit_information_saves_every_part(dsl, platform):
    platform.records.info[AVA] = {"summary": "", "keywords": [], "agency_ids": [],
                                  "alert": [], "links": [(BEN, "cousin")]}
    platform.records.students[AVA].mis_linked = True
    html = dsl.get(f"/students/{AVA}/edit").get_data(as_text=True)
    assert "Alert staff members" in html and "Monitoring options" in html
    assert 'name="link_student_id" value="' + BEN + '"' in html
    assert f'value="{AG_OLD}"' not in html  # disabled agency
    assert "Danger zone" in html  # admins may unlink a student from the MIS
    token = csrf_from(html)
    found = dsl.post(f"/students/{AVA}/edit", data={
        "csrf_token": token, "intent": "find_link", "link_query": "cara", "summary": "typed",
        "link_student_id": [BEN], "link_label": ["cousin"]})
    page = found.get_data(as_text=True)
    assert "Link Cara" not in page  # archived students are not offered
    assert 'value="typed"' in page  # what was typed is kept
    assert not platform.records.called("UpdateStudentInformation")
    saved = dsl.post(f"/students/{AVA}/edit", data={
        "csrf_token": token, "summary": "Known to social care", "keywords": "allergy, glasses,",
        "agency_ids": [AG_CAMHS], "alert_account_ids": [DSL.account_id],
        "monitored_category_ids": [CAT_CP], "link_student_id": [BEN],
        "link_label": ["cousin"], "remove_link": [BEN]})
    assert saved.status_code == 302 and saved.headers["Location"] == f"/students/{AVA}/overview"
    req = platform.records.called("UpdateStudentInformation")[-1].request
    assert set(req.update) == {"summary", "keywords", "agencies", "alert_staff", "links",
                               "monitored_categories"}
    assert req.summary == "Known to social care" and list(req.keywords) == ["allergy", "glasses"]
    assert list(req.agency_ids) == [AG_CAMHS] and list(req.alert_account_ids) == [DSL.account_id]
    assert list(req.monitored_category_ids) == [CAT_CP] and list(req.links) == []


def test_edit_information_adds_a_link_and_shows_a_refusal(dsl, platform):
    token = csrf(dsl, f"/students/{AVA}/edit")
    dsl.post(f"/students/{AVA}/edit", data={"csrf_token": token, "new_link_ids": [BEN],
                                            "new_link_label": "friend"})
    links = platform.records.called("UpdateStudentInformation")[-1].request.links
    assert [(x.student_id, x.label) for x in links] == [(BEN, "friend")]
    response = dsl.post(f"/students/{AVA}/edit", data={"csrf_token": token, "summary": "x" * 400})
    assert response.status_code == 200 and "The summary is too long." in response.get_data(
        as_text=True)


def test_groups_of_a_student_added_by_hand_are_edited_by_an_admin(dsl, platform):
    platform.records.students[AVA].mis_linked = True
    html = dsl.get(f"/students/{AVA}/edit").get_data(as_text=True)
    assert 'name="group_ids"' not in html  # the MIS sets this student's groups
    token = csrf_from(html)
    dsl.post(f"/students/{AVA}/edit", data={"csrf_token": token, "group_ids": [G_NEW]})
    assert "groups" not in platform.records.called("UpdateStudentInformation")[-1].request.update
    platform.records.students[AVA].mis_linked = False  # added by hand (or unlinked)
    platform.records.students[AVA].groups.add(id=G_7A, name="7A", kind="tutor")
    html = dsl.get(f"/students/{AVA}/edit").get_data(as_text=True)
    assert "Groups" in html and f'value="{G_NEW}"' in html
    assert f'name="group_ids" value="{G_7A}" checked' in html  # the groups they are in now
    saved = dsl.post(f"/students/{AVA}/edit", data={"csrf_token": token,
                                                    "group_ids": [G_NEW, G_Y7]})
    assert saved.status_code == 302
    req = platform.records.called("UpdateStudentInformation")[-1].request
    assert "groups" in req.update and set(req.group_ids) == {G_NEW, G_Y7}
    assert {g.name for g in platform.records.students[AVA].groups} == {"12Z", "Year 7"}
    # An unknown group is refused with the service's reason, and nothing changes.
    refused = dsl.post(f"/students/{AVA}/edit", data={
        "csrf_token": token, "group_ids": ["00000000-0000-4000-8000-00000000dead"]})
    assert refused.status_code == 200 and "Unknown group." in refused.get_data(as_text=True)
    assert {g.name for g in platform.records.students[AVA].groups} == {"12Z", "Year 7"}


def test_unlink_from_mis_needs_the_confirmation(dsl, platform):
    token = csrf(dsl, f"/students/{AVA}/edit")
    dsl.post(f"/students/{AVA}/unlink", data={"csrf_token": token})
    assert not platform.records.called("UnlinkStudentFromMis")
    dsl.post(f"/students/{AVA}/unlink", data={"csrf_token": token, "confirm": "1"})
    assert platform.records.called("UnlinkStudentFromMis")[-1].request.student_id == AVA


def test_contacts_list_and_add(dsl, platform):
    html = dsl.get(f"/students/{AVA}/contacts").get_data(as_text=True)
    assert "No contacts." in html and "Add contact" in html
    token = csrf(dsl, f"/students/{AVA}/contacts/new")
    bad = dsl.post(f"/students/{AVA}/contacts/new", data={"csrf_token": token})
    assert bad.status_code == 422 and "Give the contact a name." in bad.get_data(as_text=True)
    done = dsl.post(f"/students/{AVA}/contacts/new", data={
        "csrf_token": token, "first_name": "Jo", "last_name": "Bloggs",
        "relationship": "Social worker", "phones": "01234 567890\n07700 900000",
        "email": "jo@example.org", "priority": "3", "postcode": "AB1 2CD"})
    assert done.status_code == 302
    req = platform.records.called("AddContact")[-1].request
    assert req.contact.last_name == "Bloggs" and list(req.contact.phones) == [
        "01234 567890", "07700 900000"]
    assert req.contact.priority == 3 and req.contact.address.postcode == "AB1 2CD"
    html = dsl.get(f"/students/{AVA}/contacts").get_data(as_text=True)
    assert "Jo Bloggs" in html and "Social worker" in html and "Added here" in html


def test_attendance_table_and_calendar(dsl, platform):
    html = dsl.get(f"/students/{AVA}/attendance?from=2025-09-01&to=2026-01-31").get_data(
        as_text=True)
    assert "Possible attendances" in html and "Lates before registers closed" in html
    assert "66.67%" in html and "100.00%" in html
    assert "January 2026" in html and 'class="mark mark-unauthorised"' in html
    assert "12 min late" in html
    req = platform.records.called("GetAttendance")[-1].request
    assert (req.from_date, req.to_date) == ("2025-09-01", "2026-01-31")


def test_audit_report_lists_views(dsl, platform):
    dsl.get(f"/students/{AVA}")
    html = dsl.get(f"/students/{AVA}/audit").get_data(as_text=True)
    assert "Viewed the incidents" in html and "Dana Lead" in html and "127.0.0.1" in html
    assert platform.records.called("ListAuditEntries")[-1].request.student_id == AVA


def test_monitoring_history_table_timeline_and_csv(dsl, platform):
    token = csrf(dsl, "/")
    dsl.post("/students/update-categories", data={
        "csrf_token": token, "student_ids": [AVA], "apply": "1", "operation": "add",
        "category_id": CAT_CP, "start_date": "2025-12-01"})
    html = dsl.get(f"/students/{AVA}/monitoring").get_data(as_text=True)
    assert "Monitored now for: Child protection." in html
    assert "Still monitored" in html and "Update Categories" in html
    assert '<rect class="span-bar c-b91c1c open"' in html
    assert "Download history as CSV" in html
    csv = dsl.get(f"/students/{AVA}/monitoring.csv")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    assert csv.get_data(as_text=True).startswith("Category,Parent category")
    assert "Since monitoring began" in dsl.get(
        f"/students/{AVA}/monitoring?months=all").get_data(as_text=True)


# ---- the incident form --------------------------------------------------------------------

def _open_form(client, student=AVA):
    html = client.get(f"/incidents/new?student={student}").get_data(as_text=True)
    return html, {"csrf_token": csrf_from(html), "request_id": _REQUEST_ID.search(html).group(1),
                  "student_id": student}


def test_form_offers_linking_assignee_alert_groups_and_agencies(dsl, platform):
    html, _ = _open_form(dsl)
    assert "Linked students" in html and "Find students" in html
    assert "Monitor the linked students" in html
    assert "Assign to" in html and f'<option value="{DSL.account_id}"' in html
    assert "Safeguarding team" in html and f'value="{ALERT_GROUP}"' in html
    assert "Police" in html and "CAMHS" in html and "Old agency" not in html
    assert f'data-reveals="subs-category_ids-{CAT_BULLYING}"' in html
    assert 'data-alert-check="/incidents/alert-check"' in html


def test_find_students_to_link_keeps_what_was_typed(teacher, platform):
    _, form = _open_form(teacher)
    response = teacher.post(f"/incidents/new?student={AVA}", data={
        **form, "text": "Keep me", "category_ids": [CAT_CP], "intent": "find_linked",
        "link_query": "ben", "occurred_date": "2026-03-02", "occurred_time": "10:00"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Link Ben Jones" in html
    assert "Keep me</textarea>" in html and f'value="{CAT_CP}" checked' in html
    assert not platform.records.called("CreateIncident")


def test_check_who_is_alerted_shows_who_could_not_view_it(teacher, platform):
    _, form = _open_form(teacher)
    response = teacher.post(f"/incidents/new?student={AVA}", data={
        **form, "text": "x", "category_ids": [CAT_CP], "intent": "check_alerts",
        "alert_account_ids": [DSL.account_id, TUTOR.account_id]})
    html = response.get_data(as_text=True)
    assert '<li class="can-view">Dana Lead</li>' in html
    assert '<li class="cannot-view">Tess Tutor — could not normally view it</li>' in html
    req = platform.records.called("CheckAlertRecipients")[-1].request
    assert req.student_id == AVA and list(req.category_ids) == [CAT_CP]


def test_alert_check_json_for_the_script(dsl, platform):
    body = dsl.get(f"/incidents/alert-check?student={AVA}&category_ids={CAT_CP}"
                   f"&account_ids={TUTOR.account_id}&alert_group_ids={ALERT_GROUP}").json
    assert body == {"recipients": [
        {"account_id": TUTOR.account_id, "name": "Tess Tutor", "can_view": False,
         "active": True},
        {"account_id": DSL.account_id, "name": "Dana Lead", "can_view": True, "active": True}]}
    assert dsl.get("/incidents/alert-check").json == {"recipients": []}
    assert dsl.get(f"/incidents/alert-check?student={AVA}").json == {"recipients": []}


def test_add_incident_with_linked_student_assignee_groups_and_agencies(dsl, platform):
    _, form = _open_form(dsl)
    response = dsl.post(f"/incidents/new?student={AVA}", data={
        **form, "text": "Ava and Ben were fighting", "category_ids": [CAT_BULLYING],
        "occurred_date": "2026-03-02", "occurred_time": "12:15", "status": "active",
        "linked_student_ids": [BEN], "monitor_linked": "1", "assigned_to": DSL.account_id,
        "alert_account_ids": [TUTOR.account_id], "alert_group_ids": [ALERT_GROUP],
        "agency_ids": [AG_POLICE]})
    assert response.status_code == 302
    req = platform.records.called("CreateIncident")[-1].request
    assert list(req.linked_student_ids) == [BEN] and req.monitor_linked_students
    assert req.assigned_to == DSL.account_id and list(req.alert_group_ids) == [ALERT_GROUP]
    assert list(req.agency_ids) == [AG_POLICE]
    page = dsl.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not normally view this incident: Tess Tutor." in page
    assert "Linked:" in page and "Ben Jones (8B)" in page and "Agencies:" in page
    assert CAT_BULLYING in platform.records.students[BEN].monitored_category_ids


def test_enforced_alert_refusal_keeps_the_form(dsl, platform):
    platform.records.settings.enforce_alert = True
    _, form = _open_form(dsl)
    response = dsl.post(f"/incidents/new?student={AVA}", data={
        **form, "text": "No alert", "category_ids": [CAT_CP], "occurred_date": "2026-03-02",
        "occurred_time": "09:00"})
    assert response.status_code == 422
    assert "Alert at least one colleague." in response.get_data(as_text=True)


def test_refusals_of_records_are_shown_with_their_message(dsl, platform):
    from shared import errors

    _, form = _open_form(dsl)
    response = dsl.post(f"/incidents/new?student={AVA}", data={
        **form, "text": "Linked", "category_ids": [CAT_CP], "occurred_date": "2026-03-02",
        "occurred_time": "09:00", "linked_student_ids": ["not-visible"]})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "You cannot link a student you cannot see." in html and "Linked</textarea>" in html
    denied = errors.PermissionDenied("Your class permissions do not include this student.")
    platform.records.fail("GetStudentProfile", denied)
    page = dsl.get(f"/students/{BEN}/overview")
    assert page.status_code == 403
    assert "Your class permissions do not include this student." in page.get_data(as_text=True)
    api = dsl.get(f"/api/v1/students/{BEN}/profile")  # no bearer token: the API says so
    assert api.status_code == 401


def test_a_contacts_priority_that_is_not_a_small_number_counts_as_none(dsl, platform):
    token = csrf(dsl, f"/students/{AVA}/contacts/new")
    for raw in ("²", "99999999999999"):
        done = dsl.post(f"/students/{AVA}/contacts/new", data={
            "csrf_token": token, "first_name": "Jo", "last_name": "Bloggs", "priority": raw})
        assert done.status_code == 302
        assert platform.records.called("AddContact")[-1].request.contact.priority == 0
