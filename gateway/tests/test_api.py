"""/api/v1 against the fakes: bearer tokens, JSON validation, round trips, JSON errors."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from gateway.tests.fakes import (
    AVA,
    BEN,
    CAT_BULLYING,
    CAT_CP,
    DSL,
    PASSWORD,
    TEACHER,
    TOTP,
    TUTOR,
)
from shared import errors


def _login(client, account=TEACHER):
    response = client.post("/api/v1/auth/login",
                           json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def dsl_token(client):
    login = _login(client, DSL)
    elevated = client.post("/api/v1/auth/elevate",
                           json={"session_id": login["session_id"], "code": TOTP},
                           headers=_auth(login["access_token"]))
    assert elevated.status_code == 200, elevated.json
    return elevated.json["access_token"]


@pytest.fixture()
def teacher_token(client):
    return _login(client, TEACHER)["access_token"]


def test_login_returns_a_bearer_token_and_session(client, platform):
    body = _login(client, DSL)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["session_id"] in platform.identity.sessions
    assert body["can_elevate"] is True
    me = client.get("/api/v1/me", headers=_auth(body["access_token"])).json
    assert me["account_id"] == DSL.account_id and me["access"] == "restricted"
    assert me["permissions"] == ["add_incidents"] and me["name"] == "Dana Lead"
    assert "Set-Cookie" not in client.get("/api/v1/me",
                                          headers=_auth(body["access_token"])).headers


def test_bad_login_is_401_json(client):
    response = client.post("/api/v1/auth/login",
                           json={"email": TEACHER.email, "password": "nope"})
    assert response.status_code == 401
    assert response.json == {"error": {"code": "unauthenticated",
                                       "message": "Email or password is incorrect."}}


def test_throttled_login_is_429(client, platform):
    platform.identity.throttled = True
    response = client.post("/api/v1/auth/login",
                           json={"email": TEACHER.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_requests"


def test_elevate_refresh_logout(client, platform):
    login = _login(client, DSL)
    sid = login["session_id"]
    bad = client.post("/api/v1/auth/elevate", json={"session_id": sid, "code": "999999"})
    assert bad.status_code == 422 and "not right" in bad.json["error"]["message"]
    good = client.post("/api/v1/auth/elevate", json={"session_id": sid, "code": "123 456"})
    assert good.status_code == 200
    me = client.get("/api/v1/me", headers=_auth(good.json["access_token"])).json
    assert me["access"] == "full" and me["acr"] == "mfa" and "run_reports" in me["permissions"]
    # Elevation gave the session a new secret: the old one no longer refreshes.
    assert good.json["session_id"] != sid
    assert client.post("/api/v1/auth/refresh", json={"session_id": sid}).status_code == 401
    sid = good.json["session_id"]
    refreshed = client.post("/api/v1/auth/refresh", json={"session_id": sid})
    assert refreshed.status_code == 200 and refreshed.json["expires_in"] == 300
    assert client.post("/api/v1/auth/logout", json={"session_id": sid}).status_code == 204
    ended = client.post("/api/v1/auth/refresh", json={"session_id": sid})
    assert ended.status_code == 401


def test_no_or_bad_token_is_401(client, platform):
    response = client.get("/api/v1/alerts")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = platform.tokens.__class__().token(school_id="x")
    assert client.get("/api/v1/alerts", headers=_auth(forged)).status_code == 401
    assert client.get("/api/v1/alerts", headers={"Authorization": "Basic abc"}).status_code == 401
    assert platform.records.called("ListAlerts") == []


def test_cookie_session_does_not_authenticate_the_api(teacher, platform):
    assert teacher.get("/api/v1/alerts").status_code == 401


def test_incident_and_alert_round_trip(client, platform, dsl_token, teacher_token):
    body = {"student_id": AVA, "text": "Ava arrived with a bruise on her arm.",
            "category_ids": [CAT_CP], "occurred_at": "2026-03-02T08:40:00",
            "status": "active", "alert_account_ids": [DSL.account_id],
            "request_id": "api-key-1"}
    created = client.post("/api/v1/incidents", json=body, headers=_auth(teacher_token))
    assert created.status_code == 201, created.json
    incident = created.json
    assert created.headers["Location"] == f"/api/v1/incidents/{incident['id']}"
    assert incident["student_id"] == AVA and incident["created_by_name"] == "Tom Teacher"
    assert incident["occurred_at"] == "2026-03-02T08:40:00Z"  # GMT: school time == UTC
    assert [c["id"] for c in incident["categories"]] == [CAT_CP]
    req = platform.records.called("CreateIncident")[-1]
    assert req.request.request_id == "api-key-1"
    assert list(req.request.alert_account_ids) == [DSL.account_id]
    assert req.metadata["authorization"] == f"Bearer {teacher_token}"
    again = client.post("/api/v1/incidents", json=body, headers=_auth(teacher_token))
    assert again.json["id"] == incident["id"] and len(platform.records.incidents) == 1

    alerts = client.get("/api/v1/alerts", headers=_auth(dsl_token)).json["alerts"]
    assert len(alerts) == 1 and alerts[0]["incident_id"] == incident["id"]
    assert alerts[0]["raised_by_name"] == "Tom Teacher" and alerts[0]["kind"] == "incident"
    got = client.get(f"/api/v1/incidents/{incident['id']}", headers=_auth(dsl_token))
    assert got.status_code == 200 and got.json["text"] == body["text"]
    read = client.post(f"/api/v1/alerts/{alerts[0]['id']}/read", headers=_auth(dsl_token))
    assert read.status_code == 204 and read.data == b""
    assert client.get("/api/v1/alerts", headers=_auth(dsl_token)).json == {"alerts": []}
    history = client.get("/api/v1/me/history", headers=_auth(teacher_token)).json
    assert [i["id"] for i in history["incidents"]] == [incident["id"]]


def test_occurred_at_with_offset_and_default(client, platform, teacher_token):
    base = {"student_id": BEN, "text": "x", "category_ids": [CAT_BULLYING]}
    client.post("/api/v1/incidents", json={**base, "occurred_at": "2026-07-01T10:00:00+01:00"},
                headers=_auth(teacher_token))
    req = platform.records.called("CreateIncident")[-1].request
    assert req.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    client.post("/api/v1/incidents", json=base, headers=_auth(teacher_token))
    req = platform.records.called("CreateIncident")[-1].request
    assert not req.HasField("occurred_at") and req.status == "active"


@pytest.mark.parametrize("body,field", [
    ({"text": "x", "category_ids": [CAT_CP]}, "student_id"),
    ({"student_id": AVA, "category_ids": [CAT_CP]}, "text"),
    ({"student_id": AVA, "text": "x"}, "category_ids"),
    ({"student_id": AVA, "text": "x", "category_ids": CAT_CP}, "category_ids"),
    ({"student_id": AVA, "text": "x", "category_ids": [1]}, "category_ids[0]"),
    ({"student_id": 7, "text": "x", "category_ids": [CAT_CP]}, "student_id"),
    ({"student_id": AVA, "text": ["x"], "category_ids": [CAT_CP]}, "text"),
    ({"student_id": AVA, "text": "x", "category_ids": [CAT_CP], "status": "open"}, "status"),
    ({"student_id": AVA, "text": "x", "category_ids": [CAT_CP], "occurred_at": "soon"},
     "occurred_at"),
    ({"student_id": AVA, "text": "x", "category_ids": [CAT_CP], "alert_account_ids": "me"},
     "alert_account_ids"),
    ({"student_id": AVA, "text": "x", "category_ids": [CAT_CP], "categories": []},
     "categories"),
    ({"student_id": "", "text": "x", "category_ids": [CAT_CP]}, "student_id"),
])
def test_bad_incident_json_is_400_naming_the_field_without_calling(client, platform,
                                                                   teacher_token, body, field):
    response = client.post("/api/v1/incidents", json=body, headers=_auth(teacher_token))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"
    assert f"'{field}'" in response.json["error"]["message"]
    assert platform.records.called("CreateIncident") == []


@pytest.mark.parametrize("data,content_type", [
    ("{not json", "application/json"),
    ('["a list"]', "application/json"),
    ('{"email": "a@b.c", "password": "x"}', "text/plain"),
    ("", "application/json"),
])
def test_unparseable_body_is_400_without_calling(client, platform, data, content_type):
    response = client.post("/api/v1/auth/login", data=data, content_type=content_type)
    assert response.status_code == 400
    assert "JSON object" in response.json["error"]["message"]
    assert platform.identity.called("Login") == []


def test_login_fields_are_checked(client, platform):
    response = client.post("/api/v1/auth/login", json={"email": TEACHER.email, "password": 5})
    assert response.status_code == 400 and "'password'" in response.json["error"]["message"]
    assert platform.identity.called("Login") == []


def test_service_errors_become_json_with_the_right_status(client, platform, teacher_token):
    body = {"student_id": AVA, "text": "x", "category_ids": [CAT_CP]}
    cases = [
        (errors.InvalidArgument("Text is too long."), 422, "invalid_argument"),
        (errors.PermissionDenied("Not in that category."), 403, "permission_denied"),
        (errors.NotFound("No such student."), 404, "not_found"),
        (errors.Conflict("Already there."), 409, "conflict"),
        (errors.FailedPrecondition("Archived student."), 409, "conflict"),
        (errors.TooManyRequests("Slow down."), 429, "too_many_requests"),
        ((grpc.StatusCode.UNAVAILABLE, "connection refused"), 503, "unavailable"),
        ((grpc.StatusCode.DEADLINE_EXCEEDED, "slow"), 503, "unavailable"),
        ((grpc.StatusCode.INTERNAL, "boom: secret detail"), 500, "internal"),
    ]
    for error, status, code in cases:
        platform.records.fail("CreateIncident", error)
        response = client.post("/api/v1/incidents", json=body, headers=_auth(teacher_token))
        assert response.status_code == status, (error, response.json)
        assert response.json["error"]["code"] == code
        if status in (422, 403, 404, 409, 429):
            assert response.json["error"]["message"] == error.message
        else:
            assert "secret" not in response.json["error"]["message"]
            assert "connection refused" not in response.json["error"]["message"]


def test_students_categories_staff(client, platform, dsl_token, teacher_token):
    found = client.get("/api/v1/students?q=smi&include_archived=true&limit=5",
                       headers=_auth(dsl_token))
    assert [s["display_name"] for s in found.json["students"]] == ["Ava Smith"]
    req = platform.records.called("SearchStudents")[-1].request
    assert req.include_archived and req.limit == 5 and req.query == "smi"
    restricted = client.get("/api/v1/students?q=ben", headers=_auth(teacher_token)).json
    assert restricted["students"][0]["date_of_birth"] is None
    student = client.get(f"/api/v1/students/{BEN}", headers=_auth(dsl_token)).json
    assert student["display_name"] == "Ben Jones" and student["date_of_birth"] == "2013-02-11"
    assert client.get("/api/v1/students/nobody", headers=_auth(dsl_token)).status_code == 404
    chronology = client.get(f"/api/v1/students/{AVA}/chronology", headers=_auth(dsl_token))
    assert chronology.status_code == 200 and chronology.json["incidents"] == []
    assert client.get(f"/api/v1/students/{AVA}/chronology",
                      headers=_auth(teacher_token)).status_code == 403
    cats = client.get("/api/v1/categories", headers=_auth(teacher_token)).json["categories"]
    assert {c["name"] for c in cats} >= {"Bullying", "Online bullying"}
    assert next(c for c in cats if c["name"] == "Online bullying")["parent_id"] == CAT_BULLYING
    staff = client.get("/api/v1/staff?q=tess", headers=_auth(teacher_token)).json["staff"]
    assert [s["account_id"] for s in staff] == [TUTOR.account_id]


@pytest.mark.parametrize("query", ["include_archived=maybe", "limit=0", "limit=abc",
                                   "limit=1000", "q=" + "x" * 101])
def test_bad_query_parameters_are_400(client, platform, dsl_token, query):
    response = client.get(f"/api/v1/students?{query}", headers=_auth(dsl_token))
    assert response.status_code == 400
    assert platform.records.called("SearchStudents") == []


def test_reporting_overview(client, platform, dsl_token, teacher_token):
    response = client.get("/api/v1/reporting/overview?from=2025-09-01&to=2026-02-28",
                          headers=_auth(dsl_token))
    assert response.status_code == 200
    body = response.json
    assert body["from"] == "2025-08-31T23:00:00Z" and body["to"] == "2026-03-01T00:00:00Z"
    assert body["total_incidents"] == 9
    assert {c["name"]: c["incidents"] for c in body["categories"]} == {
        "Bullying": 7, "Online bullying": 3, "Child protection": 2}
    unbounded = client.get("/api/v1/reporting/overview", headers=_auth(dsl_token)).json
    assert unbounded["from"] is None
    assert not platform.reporting.called("GetOverview")[-1].request.HasField("from")
    assert client.get("/api/v1/reporting/overview?from=last-week",
                      headers=_auth(dsl_token)).status_code == 400
    assert client.get("/api/v1/reporting/overview?from=2026-02-01&to=2026-01-01",
                      headers=_auth(dsl_token)).status_code == 400
    assert client.get("/api/v1/reporting/overview",
                      headers=_auth(teacher_token)).status_code == 403


def test_unknown_api_route_and_method_are_json(client, teacher_token):
    missing = client.get("/api/v1/nothing-here", headers=_auth(teacher_token))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/api/v1/alerts", headers=_auth(teacher_token))
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_api_forwards_client_address_and_agent(client, platform, teacher_token):
    client.get("/api/v1/alerts", headers={**_auth(teacher_token), "User-Agent": "MIS-sync/2"},
               environ_base={"REMOTE_ADDR": "10.1.2.3"})
    call = platform.records.called("ListAlerts")[-1]
    assert call.metadata["x-client-ip"] == "10.1.2.3"
    assert call.metadata["x-user-agent"] == "MIS-sync/2"


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=9999-12-31T23:59:59-23:00"])
def test_reporting_dates_out_of_range_are_400(client, platform, dsl_token, query):
    response = client.get(f"/api/v1/reporting/overview?{query}", headers=_auth(dsl_token))
    assert response.status_code == 400
    assert platform.reporting.called("GetOverview") == []


def test_occurred_at_out_of_range_is_400(client, platform, teacher_token):
    response = client.post("/api/v1/incidents", json={
        "student_id": AVA, "text": "x", "category_ids": [CAT_CP],
        "occurred_at": "0001-01-01T00:00:00+05:00"}, headers=_auth(teacher_token))
    assert response.status_code == 400
    assert "'occurred_at'" in response.json["error"]["message"]
    assert platform.records.called("CreateIncident") == []


def test_chronology_pages_with_page_token(client, platform, dsl_token):
    made = [platform.records.add_incident(
        student_id=AVA, text=f"Concern {n}", category_ids=[CAT_CP], author=TEACHER,
        occurred_at=datetime(2026, 1, 10 + n, 9, 0, tzinfo=UTC)) for n in range(3)]
    url = f"/api/v1/students/{AVA}/chronology"
    first = client.get(f"{url}?limit=2", headers=_auth(dsl_token)).json
    assert [i["id"] for i in first["incidents"]] == [made[2].id, made[1].id]
    assert first["next_page_token"]
    second = client.get(url, query_string={"limit": 2, "page_token": first["next_page_token"]},
                        headers=_auth(dsl_token)).json
    assert [i["id"] for i in second["incidents"]] == [made[0].id]
    assert second["next_page_token"] is None
    assert platform.records.called("GetChronology")[-1].request.page_token == \
        first["next_page_token"]
    bad = client.get(f"{url}?page_token=nonsense", headers=_auth(dsl_token))
    assert bad.status_code == 422 and bad.json["error"]["message"] == \
        "That page link is not valid."
    assert first["page_token"] is None


def test_chronology_opens_on_the_page_of_a_highlighted_incident(client, platform, dsl_token):
    made = [platform.records.add_incident(
        student_id=AVA, text=f"Concern {n}", category_ids=[CAT_CP], author=TEACHER,
        occurred_at=datetime(2026, 1, 10 + n, 9, 0, tzinfo=UTC)) for n in range(3)]
    url = f"/api/v1/students/{AVA}/chronology"
    page = client.get(url, query_string={"limit": 2, "highlight": made[0].id},
                      headers=_auth(dsl_token)).json
    assert [i["id"] for i in page["incidents"]] == [made[0].id]  # the older page
    assert page["page_token"] and page["next_page_token"] is None
    assert platform.records.called("GetChronology")[-1].request.highlight_incident_id == \
        made[0].id
    # The page it names serves it again.
    again = client.get(url, query_string={"limit": 2, "page_token": page["page_token"]},
                       headers=_auth(dsl_token)).json
    assert [i["id"] for i in again["incidents"]] == [made[0].id]
    # Not an id: refused before any call.
    calls = len(platform.records.called("GetChronology"))
    bad = client.get(url, query_string={"highlight": "1 OR 1=1"}, headers=_auth(dsl_token))
    assert bad.status_code == 400 and "'highlight'" in bad.json["error"]["message"]
    assert len(platform.records.called("GetChronology")) == calls
