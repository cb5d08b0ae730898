"""records' /api/v1 routes: every one answers as gateway/openapi_records.py says (checked
against the schemas), sends the service what the body said, and refuses bad bodies before
calling anything."""

from __future__ import annotations

import pytest

from gateway.openapi import API_PREFIX as P
from gateway.openapi import DOCUMENT
from gateway.tests.fakes import AVA, BEN, CAT_BULLYING, CAT_CP, CAT_CYBER, DSL, DSL_GROUP, TUTOR
from gateway.tests.fakes_records import AG_CAMHS, AG_POLICE, ALERT_GROUP, G_7A
from gateway.tests.test_api import _auth, _login, dsl_token, teacher_token  # noqa: F401
from gateway.tests.test_openapi import _check

RECORDS_PATHS = [p for p in DOCUMENT["paths"] if any(x in p for x in (
    "/profile", "/information", "/contacts", "/attendance", "/monitoring", "/audit",
    "/actions", "/delete", "/restore", "/pin", "/history", "/merge", "/alerts",
    "/linked-students", "/print", "/assigned", "/agencies", "/groups", "/permissions"))]


@pytest.fixture()
def full(dsl_token):  # noqa: F811 - the fixture imported above
    return _auth(dsl_token)


def _incident(platform, text="Concern", student=AVA, cats=(CAT_CP,)):
    return platform.records.add_incident(student_id=student, text=text, category_ids=cats,
                                         author=TUTOR)


def test_the_records_routes_are_documented():
    assert len(RECORDS_PATHS) >= 25
    props = DOCUMENT["components"]["schemas"]["CreateIncidentRequest"]["properties"]
    assert {"linked_student_ids", "assigned_to", "alert_group_ids", "agency_ids"} <= set(props)


def test_student_routes_match_their_schemas(client, platform, full):
    _incident(platform)
    r = client.get(f"{P}/students/{AVA}/profile?timeline_from=2025-09-01", headers=full)
    _check(r, f"{P}/students/{{student_id}}/profile", "get")
    assert r.json["incident_count"] == 1 and r.json["student"]["display_name"] == "Ava Smith"
    assert platform.records.called("GetStudentProfile")[-1].request.timeline_from == "2025-09-01"
    bad = client.get(f"{P}/students/{AVA}/profile?timeline_from=soon", headers=full)
    _check(bad, f"{P}/students/{{student_id}}/profile", "get")
    assert bad.status_code == 400

    r = client.patch(f"{P}/students/{AVA}/information", headers=full, json={
        "summary": "Known to social care", "keywords": ["allergy"],
        "links": [{"student_id": BEN, "label": "cousin"}], "monitored_category_ids": [CAT_CP]})
    _check(r, f"{P}/students/{{student_id}}/information", "patch")
    req = platform.records.called("UpdateStudentInformation")[-1].request
    assert set(req.update) == {"summary", "keywords", "links", "monitored_categories"}
    assert r.json["summary"] == "Known to social care" and r.json["links"][0]["label"] == "cousin"
    empty = client.patch(f"{P}/students/{AVA}/information", headers=full, json={})
    assert empty.status_code == 400
    unknown = client.patch(f"{P}/students/{AVA}/information", headers=full, json={"x": 1})
    _check(unknown, f"{P}/students/{{student_id}}/information", "patch")
    assert unknown.status_code == 400 and "'x' is not known" in unknown.json["error"]["message"]

    r = client.post(f"{P}/students/{AVA}/contacts", headers=full, json={
        "first_name": "Jo", "last_name": "Bloggs", "relationship": "Social worker",
        "phones": ["01234 567890"], "address": {"postcode": "AB1 2CD"}})
    _check(r, f"{P}/students/{{student_id}}/contacts", "post")
    assert r.status_code == 201 and r.json["source"] == "manual"
    r = client.get(f"{P}/students/{AVA}/contacts", headers=full)
    _check(r, f"{P}/students/{{student_id}}/contacts", "get")
    assert r.json["contacts"][0]["address"]["postcode"] == "AB1 2CD"

    r = client.get(f"{P}/students/{AVA}/attendance?from=2025-09-01", headers=full)
    _check(r, f"{P}/students/{{student_id}}/attendance", "get")
    assert r.json["possible"] == {"sessions": 3, "percent": 100.0}

    r = client.post(f"{P}/monitoring", headers=full, json={
        "student_ids": [AVA, BEN], "category_id": CAT_BULLYING, "operation": "add",
        "start_date": "2026-01-10"})
    _check(r, f"{P}/monitoring", "post")
    assert r.json == {"started": 2, "ended": 0}
    bad = client.post(f"{P}/monitoring", headers=full, json={"student_ids": [],
                                                             "operation": "add"})
    _check(bad, f"{P}/monitoring", "post")
    assert bad.status_code == 400
    r = client.get(f"{P}/students/{AVA}/monitoring", headers=full)
    _check(r, f"{P}/students/{{student_id}}/monitoring", "get")
    assert r.json["spans"][0]["ended_at"] is None
    csv = client.get(f"{P}/students/{AVA}/monitoring.csv", headers=full)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"

    r = client.get(f"{P}/students/{AVA}/audit?limit=5", headers=full)
    _check(r, f"{P}/students/{{student_id}}/audit", "get")
    assert r.json["entries"] and len(r.json["entries"]) <= 5


def test_restricted_tokens_are_refused_by_records(client, teacher_token):  # noqa: F811
    r = client.get(f"{P}/students/{AVA}/profile", headers=_auth(teacher_token))
    _check(r, f"{P}/students/{{student_id}}/profile", "get")
    assert r.status_code == 403
    assert client.get(f"{P}/students/{AVA}/profile").status_code == 401


def test_incident_routes_match_their_schemas(client, platform, full):
    first = _incident(platform, "First report")
    second = _incident(platform, "Same again")
    r = client.post(f"{P}/incidents", headers=full, json={
        "student_id": AVA, "text": "Fight at lunch", "category_ids": [CAT_BULLYING],
        "linked_student_ids": [BEN], "monitor_linked_students": True,
        "assigned_to": DSL.account_id, "alert_group_ids": [ALERT_GROUP],
        "agency_ids": [AG_POLICE]})
    _check(r, f"{P}/incidents", "post")
    assert r.status_code == 201 and r.json["linked_students"][0]["student_id"] == BEN
    req = platform.records.called("CreateIncident")[-1].request
    assert req.assigned_to == DSL.account_id and list(req.agency_ids) == [AG_POLICE]
    new_id = r.json["id"]

    r = client.get(f"{P}/incidents/{new_id}", headers=full)
    _check(r, f"{P}/incidents/{{incident_id}}", "get")
    assert r.json["number"] and r.json["agencies"][0]["name"] == "Police"

    r = client.patch(f"{P}/incidents/{first.id}", headers=full, json={
        "text": "First report, corrected", "status": "closed", "expected_version": 1,
        "occurred_at": "2026-02-01T09:30:00"})
    _check(r, f"{P}/incidents/{{incident_id}}", "patch")
    req = platform.records.called("UpdateIncident")[-1].request
    assert set(req.update) == {"text", "status", "occurred_at"} and req.expected_version == 1
    assert r.json["version"] == 2 and r.json["status"] == "closed"
    bad = client.patch(f"{P}/incidents/{first.id}", headers=full, json={"status": "gone"})
    _check(bad, f"{P}/incidents/{{incident_id}}", "patch")
    assert bad.status_code == 400

    r = client.get(f"{P}/incidents/{first.id}/history", headers=full)
    _check(r, f"{P}/incidents/{{incident_id}}/history", "get")
    assert [v["change"] for v in r.json["versions"]] == ["edited"]

    r = client.post(f"{P}/incidents/{first.id}/pin", headers=full, json={"pinned": True})
    _check(r, f"{P}/incidents/{{incident_id}}/pin", "post")
    assert r.json["pinned"] is True

    r = client.post(f"{P}/incidents/{first.id}/alerts", headers=full,
                    json={"account_ids": [TUTOR.account_id]})
    _check(r, f"{P}/incidents/{{incident_id}}/alerts", "post")
    assert r.json == {"alerted_account_ids": [TUTOR.account_id],
                      "alert_warnings": [TUTOR.account_id]}

    r = client.post(f"{P}/incidents/{first.id}/linked-students", headers=full,
                    json={"student_ids": [BEN]})
    _check(r, f"{P}/incidents/{{incident_id}}/linked-students", "post")

    r = client.get(f"{P}/incidents/{first.id}/print", headers=full)
    _check(r, f"{P}/incidents/{{incident_id}}/print", "get")
    assert r.json["printed_by_name"] == "Dana Lead"

    r = client.get(f"{P}/incidents/{second.id}/merge-preview?target_number={first.number}",
                   headers=full)
    _check(r, f"{P}/incidents/{{incident_id}}/merge-preview", "get")
    assert r.json["id"] == first.id
    assert client.get(f"{P}/incidents/{second.id}/merge-preview",
                      headers=full).status_code == 400
    r = client.post(f"{P}/incidents/{second.id}/merge", headers=full,
                    json={"target_number": first.number})
    _check(r, f"{P}/incidents/{{incident_id}}/merge", "post")
    assert r.json["actions"][-1]["merged_from_number"] == second.number
    assert client.post(f"{P}/incidents/{first.id}/merge", headers=full,
                       json={}).status_code == 400

    r = client.post(f"{P}/incidents/{first.id}/delete", headers=full, json={"reason": ""})
    _check(r, f"{P}/incidents/{{incident_id}}/delete", "post")
    assert r.status_code == 400  # a reason is required
    r = client.post(f"{P}/incidents/{first.id}/delete", headers=full,
                    json={"reason": "Duplicate"})
    _check(r, f"{P}/incidents/{{incident_id}}/delete", "post")
    assert r.json["deleted"] is True and r.json["deleted_reason"] == "Duplicate"
    assert r.json["text"] == ""
    r = client.post(f"{P}/incidents/{first.id}/restore", headers=full)
    _check(r, f"{P}/incidents/{{incident_id}}/restore", "post")
    assert r.json["deleted"] is False

    r = client.get(f"{P}/me/assigned", headers=full)
    _check(r, f"{P}/me/assigned", "get")
    assert [i["id"] for i in r.json["incidents"]] == [new_id]


def test_action_routes_match_their_schemas(client, platform, full):
    incident = _incident(platform)
    r = client.post(f"{P}/incidents/{incident.id}/actions", headers=full, json={
        "text": "Phoned home", "category_ids": [CAT_BULLYING], "agency_ids": [AG_CAMHS],
        "alert_account_ids": [TUTOR.account_id], "occurred_at": "2026-03-02T10:00:00Z",
        "request_id": "req-1"})
    _check(r, f"{P}/incidents/{{incident_id}}/actions", "post")
    assert r.status_code == 201 and r.json["alert_warnings"] == [TUTOR.account_id]
    action_id = r.json["id"]
    again = client.post(f"{P}/incidents/{incident.id}/actions", headers=full, json={
        "text": "Phoned home", "request_id": "req-1"})
    assert again.json["id"] == action_id  # the same request adds one action
    bad = client.post(f"{P}/incidents/{incident.id}/actions", headers=full, json={"text": ""})
    _check(bad, f"{P}/incidents/{{incident_id}}/actions", "post")
    assert bad.status_code == 400

    r = client.patch(f"{P}/actions/{action_id}", headers=full, json={"text": "Phoned dad"})
    _check(r, f"{P}/actions/{{action_id}}", "patch")
    assert r.json["text"] == "Phoned dad" and r.json["version"] == 2
    r = client.get(f"{P}/actions/{action_id}/history", headers=full)
    _check(r, f"{P}/actions/{{action_id}}/history", "get")
    r = client.post(f"{P}/actions/{action_id}/alerts", headers=full,
                    json={"alert_group_ids": [ALERT_GROUP]})
    _check(r, f"{P}/actions/{{action_id}}/alerts", "post")
    r = client.post(f"{P}/actions/{action_id}/delete", headers=full, json={"reason": "Wrong"})
    _check(r, f"{P}/actions/{{action_id}}/delete", "post")
    assert r.json["deleted"] is True
    r = client.post(f"{P}/actions/{action_id}/restore", headers=full)
    _check(r, f"{P}/actions/{{action_id}}/restore", "post")
    r = client.post(f"{P}/actions/{action_id}/copy-to-linked", headers=full)
    _check(r, f"{P}/actions/{{action_id}}/copy-to-linked", "post")
    assert r.status_code == 409  # no linked students
    r = client.post(f"{P}/actions/{action_id}/split", headers=full,
                    json={"category_ids": [CAT_CP]})
    _check(r, f"{P}/actions/{{action_id}}/split", "post")
    assert r.status_code == 201 and r.json["text"] == "Phoned dad"
    assert r.headers["Location"].endswith(r.json["id"])


def test_admin_routes_match_their_schemas(client, platform, full):
    r = client.get(f"{P}/categories?include_disabled=true", headers=full)
    _check(r, f"{P}/categories", "get")
    assert any(not c["enabled"] for c in r.json["categories"])
    r = client.post(f"{P}/categories", headers=full, json={
        "name": "Name calling", "colour": "#aa3300", "parent_id": CAT_BULLYING,
        "permissions": [{"user_group_id": DSL_GROUP, "view_students": True,
                         "view_incidents": True, "add_incidents": True}]})
    _check(r, f"{P}/categories", "post")
    assert r.status_code == 201 and r.json["parent_name"] == "Bullying"
    new_id = r.json["id"]
    r = client.patch(f"{P}/categories/{new_id}", headers=full,
                     json={"name": "Name-calling", "enabled": False})
    _check(r, f"{P}/categories/{{category_id}}", "patch")
    assert r.json["name"] == "Name-calling" and r.json["enabled"] is False
    r = client.put(f"{P}/categories/{new_id}/permissions", headers=full, json={
        "permissions": [{"user_group_id": DSL_GROUP, "view_incidents": True}]})
    _check(r, f"{P}/categories/{{category_id}}/permissions", "put")
    r = client.get(f"{P}/categories/{new_id}/permissions", headers=full)
    _check(r, f"{P}/categories/{{category_id}}/permissions", "get")
    assert r.json["permissions"][0]["view_incidents"] is True
    r = client.post(f"{P}/categories/{CAT_CYBER}/merge", headers=full,
                    json={"target_category_id": CAT_BULLYING})
    _check(r, f"{P}/categories/{{category_id}}/merge", "post")
    assert r.json["target"]["id"] == CAT_BULLYING
    r = client.delete(f"{P}/categories/{new_id}", headers=full)
    _check(r, f"{P}/categories/{{category_id}}", "delete")
    assert r.json == {"deleted": True, "disabled": False}

    r = client.post(f"{P}/agencies", headers=full, json={"name": "Early Help"})
    _check(r, f"{P}/agencies", "post")
    agency_id = r.json["id"]
    r = client.patch(f"{P}/agencies/{agency_id}", headers=full,
                     json={"name": "Early Help Hub", "enabled": False})
    _check(r, f"{P}/agencies/{{agency_id}}", "patch")
    assert r.json == {"id": agency_id, "name": "Early Help Hub", "enabled": False}
    r = client.get(f"{P}/agencies?include_disabled=1", headers=full)
    _check(r, f"{P}/agencies", "get")
    assert len(r.json["agencies"]) == 4

    r = client.get(f"{P}/groups?kind=tutor", headers=full)
    _check(r, f"{P}/groups", "get")
    assert {g["kind"] for g in r.json["groups"]} == {"tutor"}
    assert client.get(f"{P}/groups?kind=house", headers=full).status_code == 400
    r = client.put(f"{P}/groups/{G_7A}/access", headers=full,
                   json={"user_group_ids": [DSL_GROUP]})
    _check(r, f"{P}/groups/{{group_id}}/access", "put")
    assert r.json["access_user_group_ids"] == [DSL_GROUP]


def test_admin_routes_refuse_non_admins(client, teacher_token):  # noqa: F811
    r = client.post(f"{P}/agencies", headers=_auth(teacher_token), json={"name": "X"})
    _check(r, f"{P}/agencies", "post")
    assert r.status_code == 403


def test_every_records_route_was_exercised_somewhere():
    """A reminder to test new routes: each documented records path appears in this file."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for path in RECORDS_PATHS:
        tail = path[len(P):].split("{")[0].rstrip("/") or path
        assert tail.split("/")[-1] in source, path
    assert _login and CAT_CP


def test_numbers_out_of_range_are_refused_not_crashed(client, platform, full):
    incident = _incident(platform)
    calls = len(platform.records.called("UpdateIncident"))
    for body in ({"text": "x", "expected_version": 2**40}, {"text": "x", "expected_version": -1}):
        r = client.patch(f"{P}/incidents/{incident.id}", headers=full, json=body)
        assert r.status_code == 400 and "expected_version" in r.json["error"]["message"], r.json
    assert len(platform.records.called("UpdateIncident")) == calls
    for raw in ("²", "99999999999999999999", "-3"):
        r = client.get(f"{P}/incidents/{incident.id}/merge-preview",
                       query_string={"target_number": raw}, headers=full)
        assert r.status_code == 400 and "target_number" in r.json["error"]["message"]
    r = client.post(f"{P}/incidents/{incident.id}/merge", headers=full,
                    json={"target_number": 2**64})
    assert r.status_code == 400
