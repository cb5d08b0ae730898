"""/api/v1/integrations/concerns against the fake records: an integration's token (scope
incidents:add) adds a concern and learns only its id; bad bodies are refused before records
is called; every other /api/v1 route refuses an integration's token (403)."""

from __future__ import annotations

import json

import pytest

from gateway.openapi import API_PREFIX as P
from gateway.openapi import DOCUMENT
from gateway.tests.fakes import AVA, BEN, CAT_CP, SCHOOL
from gateway.tests.test_api import _auth, dsl_token  # noqa: F401 - fixtures
from gateway.tests.test_openapi import _check

CLIENT = "11111111-2222-4333-8444-555555555555"
OTHER_SCHOOL = "00000000-0000-4000-8000-0000000000ff"
URL = f"{P}/integrations/concerns"
CONCERN = {"upn": "A123456789012", "text": "Searched for self-harm methods.",
           "category": "Child protection", "occurred_at": "2026-11-28T10:42:00Z"}


def _integration(platform, *, scope="incidents:add", school=SCHOOL) -> dict[str, str]:
    return _auth(platform.tokens.token(
        school_id=school, account_id=CLIENT, user_group_id="", access="integration",
        permissions=(), name="Smoothwall Monitor", scope=scope))


def _post(client, headers, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, data=data, headers=headers, content_type="application/json")


def test_the_route_is_documented():
    op = DOCUMENT["paths"][URL]["post"]
    assert op["tags"] == ["integrations"] and "incidents:add" in op["description"]
    assert {"200", "201", "400", "403", "404", "409", "422"} <= set(op["responses"])


def test_an_integration_adds_a_concern_and_gets_only_its_id(client, platform):
    response = _post(client, _integration(platform), {**CONCERN, "external_reference": "e-1"})
    assert response.status_code == 201, response.json
    _check(response, URL, "post")
    assert set(response.json) == {"id"}
    incident = platform.records.incidents[response.json["id"]]
    assert incident.student_id == AVA and incident.created_by == CLIENT
    assert incident.created_by_name == "Smoothwall Monitor"
    sent = platform.records.called("AddIntegrationConcern")[0].request
    assert (sent.upn, sent.category, sent.external_reference) == (
        "A123456789012", "Child protection", "e-1")
    assert sent.HasField("occurred_at")

    again = _post(client, _integration(platform), {**CONCERN, "external_reference": "e-1"})
    assert again.status_code == 200 and again.json == response.json
    _check(again, URL, "post")


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    ([1, 2], 400),
    ({"upn": "A123456789012", "text": "x"}, 400),  # no category
    ({**CONCERN, "student_id": AVA}, 400),  # unknown field
    ({**CONCERN, "mis_id": "S1"}, 400),  # both upn and mis_id
    ({"text": "x", "category": CAT_CP}, 400),  # neither
    ({**CONCERN, "occurred_at": "yesterday"}, 400),
    ({**CONCERN, "upn": "Z999999999999"}, 404),
    ({**CONCERN, "category": "Retired category"}, 422),
    ({**CONCERN, "text": "  "}, 422),
])
def test_bad_concerns_are_refused(client, platform, body, status):
    response = _post(client, _integration(platform), body)
    assert response.status_code == status, response.json
    _check(response, URL, "post")
    if status == 400:
        assert not platform.records.called("AddIntegrationConcern")


def test_wrong_scope_other_school_and_staff_are_refused(client, platform, dsl_token):  # noqa: F811
    for headers in (_integration(platform, scope="mis.import"), _auth(dsl_token)):
        response = _post(client, headers, CONCERN)
        assert response.status_code == 403, response.json
        _check(response, URL, "post")
    assert not platform.records.called("AddIntegrationConcern")
    other = _post(client, _integration(platform, school=OTHER_SCHOOL), CONCERN)
    assert other.status_code in (403, 404)
    assert _post(client, {}, CONCERN).status_code == 401


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/students?q=Ava"), ("get", f"/students/{AVA}"),
    ("get", f"/students/{AVA}/chronology"), ("get", f"/students/{BEN}/profile"),
    ("get", "/categories"), ("get", "/staff"), ("get", "/alerts"), ("get", "/me"),
    ("get", "/me/history"), ("post", "/incidents"), ("get", "/reporting/overview"),
    ("get", "/admin/integrations"), ("get", "/mis/health"), ("get", "/mis/runs"),
])
def test_every_other_route_refuses_an_integration_token(client, platform, method, path):
    for scope in ("incidents:add", "mis.import"):
        headers = _integration(platform, scope=scope)
        response = getattr(client, method)(P + path, headers=headers, json={})
        assert response.status_code == 403, (path, response.status_code)
        assert response.json["error"]["code"] == "permission_denied"
    assert not platform.records.calls and not platform.identity.called("ListStaff")
