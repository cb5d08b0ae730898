"""The chronology and the options of each entry: show all actions, toggle parent categories,
pinned first; edit with history, delete with a reason and restore, pin, print view, merge
with a preview, add alerts and linked students afterwards; actions (add, edit, delete,
restore, split, add to linked incidents); a restricted colleague's day."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gateway.tests.conftest import csrf, csrf_from, log_in
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
from gateway.tests.fakes_records import AG_CAMHS, AG_POLICE, ALERT_GROUP
from shared import errors


def _incident(platform, text="Bruise on the arm", student=AVA, cats=(CAT_CP,), author=TUTOR,
              when=datetime(2026, 2, 10, 14, 5, tzinfo=UTC), alert=()):
    return platform.records.add_incident(student_id=student, text=text, category_ids=cats,
                                         author=author, occurred_at=when, alert=alert)


def _action(platform, incident, text="Phoned home", author=TUTOR):
    return incident.actions.add(id=f"act-{len(incident.actions) + 1}-{incident.number}",
                                incident_id=incident.id, student_id=incident.student_id,
                                text=text, created_by=author.account_id,
                                created_by_name=author.name, version=1,
                                occurred_at=incident.occurred_at)


def test_chronology_options_pinned_first_and_numbers(dsl, platform):
    old = _incident(platform, "Older", when=datetime(2025, 11, 3, tzinfo=UTC))
    new = _incident(platform, "Newer", cats=(CAT_CYBER,))
    old.pinned = True
    html = dsl.get(f"/students/{AVA}").get_data(as_text=True)
    assert html.index("Older") < html.index("Newer")  # pinned on top
    assert f'id="incident-{old.id}" class="incident panel pinned"' in html
    assert f"#{old.number}" in html and "Pinned" in html
    assert ">Options <span" in html
    for label in ("Edit", "History", "Unpin", "Print view", "Add alerts", "Add linked students",
                  "Merge into another incident", "Delete", "Pin to the top"):
        assert f">{label}</" in html, label
    assert f'href="/incidents/{new.id}/actions/new"' in html
    # sub-categories alone by default; with parents on request
    assert '">Online bullying</li>' in html
    html = dsl.get(f"/students/{AVA}?parents=1").get_data(as_text=True)
    assert '">Bullying: Online bullying</li>' in html
    assert 'aria-pressed="true"' in html


def test_actions_shown_per_incident_or_all(dsl, platform):
    incident = _incident(platform)
    _action(platform, incident, "Phoned mum")
    html = dsl.get(f"/students/{AVA}").get_data(as_text=True)
    assert "Phoned mum" not in html and "Show actions (1)" in html
    assert not platform.records.called("GetChronology")[-1].request.include_actions
    html = dsl.get(f"/students/{AVA}?open={incident.id}").get_data(as_text=True)
    assert "Phoned mum" in html
    html = dsl.get(f"/students/{AVA}?actions=1").get_data(as_text=True)
    assert "Phoned mum" in html and "Hide actions" in html
    assert platform.records.called("GetChronology")[-1].request.include_actions


def test_non_editors_see_only_status_and_assignee(client, platform):
    platform.identity.accounts["reader@demo.haven.test"] = reader = _reader(platform)
    log_in(client, reader, elevate=True)
    _incident(platform)
    html = client.get(f"/students/{AVA}").get_data(as_text=True)
    assert ">Status and assignee</a>" in html
    assert ">Delete</a>" not in html and ">History</a>" not in html


def _reader(platform):
    from gateway.tests.fakes import Account

    # a key holder group of its own (unknown to the fake identity's groups: its own rights)
    return Account("00000000-0000-4000-8000-000000000109", "reader@demo.haven.test",
                   "Rita Reader", "00000000-0000-4000-8000-000000000199", "Readers", True,
                   ("view_student_list", "view_student_details", "add_incidents"))


def test_edit_keeps_history(dsl, platform):
    incident = _incident(platform, "Original text")
    html = dsl.get(f"/incidents/{incident.id}/edit").get_data(as_text=True)
    assert "Original text</textarea>" in html and 'value="2026-02-10"' in html
    assert 'value="14:05"' in html  # school time (GMT in February)
    token = csrf_from(html)
    same = dsl.post(f"/incidents/{incident.id}/edit", data={
        "csrf_token": token, "text": "Original text", "category_ids": [CAT_CP],
        "occurred_date": "2026-02-10", "occurred_time": "14:05", "status": "active"})
    assert same.status_code == 302 and not platform.records.called("UpdateIncident")
    done = dsl.post(f"/incidents/{incident.id}/edit", data={
        "csrf_token": token, "text": "Corrected text", "category_ids": [CAT_CP, CAT_BULLYING],
        "occurred_date": "2026-02-10", "occurred_time": "15:00", "status": "closed",
        "agency_ids": [AG_POLICE], "assigned_to": DSL.account_id})
    assert done.status_code == 302
    assert done.headers["Location"].startswith(f"/students/{AVA}?highlight={incident.id}")
    req = platform.records.called("UpdateIncident")[-1].request
    assert set(req.update) == {"text", "occurred_at", "category_ids", "agency_ids", "status",
                               "assigned_to"}
    assert req.expected_version == 1 and req.text == "Corrected text"
    assert req.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
    history = dsl.get(f"/incidents/{incident.id}/history").get_data(as_text=True)
    assert "Version 1" in history and "Edited" in history and "Corrected text" in history


def test_edit_conflict_and_empty_text_keep_the_form(dsl, platform):
    incident = _incident(platform)
    token = csrf(dsl, f"/incidents/{incident.id}/edit")
    empty = dsl.post(f"/incidents/{incident.id}/edit", data={
        "csrf_token": token, "text": " ", "category_ids": [CAT_CP],
        "occurred_date": "2026-02-10", "occurred_time": "14:05", "status": "active"})
    assert empty.status_code == 422 and "The incident needs its text." in empty.get_data(
        as_text=True)
    platform.records.fail("UpdateIncident", errors.Conflict("Someone else saved it meanwhile."))
    clash = dsl.post(f"/incidents/{incident.id}/edit", data={
        "csrf_token": token, "text": "My careful wording", "category_ids": [CAT_CP],
        "occurred_date": "2026-02-10", "occurred_time": "14:05", "status": "active"})
    html = clash.get_data(as_text=True)
    assert clash.status_code == 409 and "Someone else saved it meanwhile." in html
    assert "My careful wording</textarea>" in html


def test_delete_needs_a_reason_then_marker_with_history_and_restore(dsl, platform):
    incident = _incident(platform, "Duplicate by mistake")
    page = dsl.get(f"/incidents/{incident.id}/delete").get_data(as_text=True)
    assert "Reason for deleting" in page and "Duplicate by mistake" in page
    token = csrf_from(page)
    dsl.post(f"/incidents/{incident.id}/delete", data={"csrf_token": token, "reason": " "})
    assert not platform.records.called("DeleteIncident")
    done = dsl.post(f"/incidents/{incident.id}/delete", data={
        "csrf_token": token, "reason": "Entered twice"})
    assert done.status_code == 302
    html = dsl.get(f"/students/{AVA}").get_data(as_text=True)
    assert "Deleted incident" in html and "Reason: Entered twice" in html
    assert "Duplicate by mistake" not in html
    assert f'action="/incidents/{incident.id}/restore"' in html
    restored = dsl.post(f"/incidents/{incident.id}/restore", data={"csrf_token": token})
    assert restored.status_code == 302
    assert "Duplicate by mistake" in dsl.get(f"/students/{AVA}").get_data(as_text=True)


def test_pin_and_unpin(dsl, platform):
    incident = _incident(platform)
    token = csrf(dsl, f"/students/{AVA}")
    dsl.post(f"/incidents/{incident.id}/pin", data={"csrf_token": token, "pinned": "1"})
    assert platform.records.called("PinIncident")[-1].request.pinned
    assert incident.pinned
    dsl.post(f"/incidents/{incident.id}/pin", data={"csrf_token": token, "pinned": "0"})
    assert not incident.pinned


def test_print_view(dsl, platform):
    incident = _incident(platform, "Printable concern")
    _action(platform, incident, "Printed action")
    html = dsl.get(f"/incidents/{incident.id}/print").get_data(as_text=True)
    assert "Printable concern" in html and "Printed action" in html
    assert "Printed by Dana Lead" in html and "data-print" in html
    assert "<script src=" in html and "onclick" not in html


def test_merge_with_preview(dsl, platform):
    target = _incident(platform, "The first report")
    source = _incident(platform, "The same, reported again", author=DSL)
    other = _incident(platform, "Another pupil", student=BEN)
    page = dsl.get(f"/incidents/{source.id}/merge?number={target.number}").get_data(
        as_text=True)
    assert "It will become an action of:" in page and "The first report" in page
    refused = dsl.get(f"/incidents/{source.id}/merge?number={other.number}").get_data(
        as_text=True)
    assert "Both incidents must be about the same student." in refused
    missing = dsl.get(f"/incidents/{source.id}/merge?number=").get_data(as_text=True)
    assert "Enter the number of the incident" in missing
    token = csrf_from(page)
    done = dsl.post(f"/incidents/{source.id}/merge", data={"csrf_token": token,
                                                          "number": str(target.number)})
    assert done.status_code == 302
    assert f"highlight={target.id}" in done.headers["Location"]
    html = dsl.get(done.headers["Location"]).get_data(as_text=True)
    assert f"Merged: it is now an action of incident #{target.number}." in html
    assert f"Merged from incident #{source.number}" in html


def test_add_alerts_and_linked_students_afterwards(dsl, platform):
    incident = _incident(platform)
    page = dsl.get(f"/incidents/{incident.id}/alerts").get_data(as_text=True)
    assert "Alert colleagues to this incident" in page and "Safeguarding team" in page
    token = csrf_from(page)
    dsl.post(f"/incidents/{incident.id}/alerts", data={"csrf_token": token})
    assert not platform.records.called("AddAlerts")
    done = dsl.post(f"/incidents/{incident.id}/alerts", data={
        "csrf_token": token, "alert_account_ids": [TEACHER.account_id]})
    assert done.status_code == 302
    req = platform.records.called("AddAlerts")[-1].request
    assert req.incident_id == incident.id and list(req.account_ids) == [TEACHER.account_id]
    html = dsl.get(done.headers["Location"]).get_data(as_text=True)
    assert "1 colleague(s) alerted." in html and "Tom Teacher" in html
    found = dsl.get(f"/incidents/{incident.id}/links?q=ben").get_data(as_text=True)
    assert "Ben Jones" in found and "Ava Smith" not in found.split("Link students")[0][-300:]
    linked = dsl.post(f"/incidents/{incident.id}/links", data={
        "csrf_token": token, "student_ids": [BEN], "monitor": "1"})
    assert linked.status_code == 302
    req = platform.records.called("AddLinkedStudents")[-1].request
    assert list(req.student_ids) == [BEN] and req.monitor


def test_add_action_with_categories_agencies_alerts(dsl, platform):
    incident = _incident(platform, alert=[DSL.account_id])
    page = dsl.get(f"/incidents/{incident.id}/actions/new").get_data(as_text=True)
    assert "Action taken" in page and "Add incident alert recipients" in page
    assert "Add action to linked students" not in page  # nobody is linked
    token = csrf_from(page)
    rid = re.search(r'name="request_id" value="([0-9a-f-]{36})"', page).group(1)
    bad = dsl.post(f"/incidents/{incident.id}/actions/new", data={
        "csrf_token": token, "request_id": rid, "text": "",
        "occurred_date": "2026-03-02", "occurred_time": "10:00"})
    assert bad.status_code == 422 and "Write what was done" in bad.get_data(as_text=True)
    done = dsl.post(f"/incidents/{incident.id}/actions/new", data={
        "csrf_token": token, "request_id": rid, "text": "Referred to social care",
        "category_ids": [CAT_BULLYING], "agency_ids": [AG_CAMHS],
        "occurred_date": "2026-03-02", "occurred_time": "10:00",
        "alert_account_ids": [TUTOR.account_id], "alert_group_ids": [ALERT_GROUP],
        "incident_recipients": "1"})
    assert done.status_code == 302
    action = incident.actions[-1]
    assert done.headers["Location"].endswith(f"#action-{action.id}")
    req = platform.records.called("CreateAction")[-1].request
    assert req.text == "Referred to social care" and list(req.category_ids) == [CAT_BULLYING]
    assert list(req.agency_ids) == [AG_CAMHS] and req.alert_incident_recipients
    assert list(req.alert_group_ids) == [ALERT_GROUP] and req.request_id == rid
    html = dsl.get(done.headers["Location"]).get_data(as_text=True)
    assert "Referred to social care" in html and 'class="action highlight"' in html
    assert "could not normally view it: Tess Tutor" in html


def test_action_options_edit_history_delete_restore_split_copy(dsl, platform):
    incident = _incident(platform)
    platform.records.incidents[incident.id].linked_students.add(student_id=BEN, name="Ben Jones")
    token = csrf(dsl, "/")
    dsl.post(f"/incidents/{incident.id}/actions/new", data={
        "csrf_token": token, "text": "First action", "occurred_date": "2026-03-02",
        "occurred_time": "10:00"})
    action = incident.actions[-1]
    html = dsl.get(f"/students/{AVA}?open={incident.id}").get_data(as_text=True)
    for label in ("Split as incident", "Add to linked incidents"):
        assert label in html
    page = dsl.get(f"/incidents/{incident.id}/actions/{action.id}/edit").get_data(as_text=True)
    assert "First action</textarea>" in page
    dsl.post(f"/incidents/{incident.id}/actions/{action.id}/edit", data={
        "csrf_token": token, "text": "First action, corrected", "occurred_date": "2026-03-02",
        "occurred_time": "10:00", "agency_ids": [AG_POLICE]})
    req = platform.records.called("UpdateAction")[-1].request
    assert set(req.update) == {"text", "agency_ids"} and req.expected_version == 1
    history = dsl.get(f"/incidents/{incident.id}/actions/{action.id}/history").get_data(
        as_text=True)
    assert "History of an action on incident" in history and "corrected" in history
    dsl.post(f"/incidents/{incident.id}/actions/{action.id}/delete", data={
        "csrf_token": token, "reason": "Wrong pupil"})
    html = dsl.get(f"/students/{AVA}?actions=1").get_data(as_text=True)
    assert "Deleted action" in html and "Reason: Wrong pupil" in html
    dsl.post(f"/incidents/{incident.id}/actions/{action.id}/restore", data={"csrf_token": token})
    assert not incident.actions[-1].deleted
    split_page = dsl.get(f"/incidents/{incident.id}/actions/{action.id}/split").get_data(
        as_text=True)
    assert f'value="{CAT_CP}" checked' in split_page
    split = dsl.post(f"/incidents/{incident.id}/actions/{action.id}/split", data={
        "csrf_token": token, "category_ids": [CAT_BULLYING]})
    assert split.status_code == 302
    assert list(platform.records.called("SplitAction")[-1].request.category_ids) == [
        CAT_BULLYING]
    copy = dsl.post(f"/incidents/{incident.id}/actions/{action.id}/copy",
                    data={"csrf_token": token})
    assert copy.status_code == 302  # the action moved away: a refusal is flashed
    assert platform.records.called("CopyActionToLinkedIncidents")


def test_editing_refused_for_non_editor_is_shown(client, platform):
    platform.identity.accounts["reader@demo.haven.test"] = reader = _reader(platform)
    log_in(client, reader, elevate=True)
    incident = _incident(platform)
    token = csrf(client, "/")
    refused = client.post(f"/incidents/{incident.id}/delete", data={"csrf_token": token,
                                                                   "reason": "x"})
    assert "may not edit incidents" in refused.get_data(as_text=True)
    assert not incident.deleted
    assert client.get(f"/incidents/{incident.id}/history").status_code == 403


# ---- a restricted colleague's day ---------------------------------------------------------

def test_restricted_user_adds_an_action_before_marking_read_then_cannot_reopen(teacher,
                                                                                platform):
    incident = _incident(platform, "Please keep an eye on Ava", author=DSL,
                         alert=[TEACHER.account_id])
    alert_id = next(iter(platform.records.alerts))
    html = teacher.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Please keep an eye on Ava" in html and "Add action" in html
    assert "Add any actions first" in html
    form = teacher.get(f"/incidents/{incident.id}/actions/new").get_data(as_text=True)
    assert "Action taken" in form
    done = teacher.post(f"/incidents/{incident.id}/actions/new", data={
        "csrf_token": csrf_from(form), "text": "Spoke with Ava at break",
        "occurred_date": "2026-03-02", "occurred_time": "10:30"})
    assert done.status_code == 302 and done.headers["Location"] == f"/incidents/{incident.id}"
    html = teacher.get(done.headers["Location"]).get_data(as_text=True)
    assert "Spoke with Ava at break" in html and "Action added." in html
    teacher.post(f"/alerts/{alert_id}/read", data={"csrf_token": csrf_from(html), "next": "/"})
    again = teacher.get(f"/incidents/{incident.id}")
    assert again.status_code == 403
    page = teacher.get("/").get_data(as_text=True)
    assert "Actions you added" in page
