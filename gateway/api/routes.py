"""/api/v1: JSON over bearer tokens. Every route is described in gateway/openapi.py."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from gateway.api.validation import InvalidBody, validate_body
from gateway.backends import backends, call, client_ip, user_agent
from gateway.errors import json_error
from gateway.openapi import DOCUMENT
from gateway.present import (
    alert_json,
    category_count_json,
    category_json,
    incident_json,
    parse_instant,
    staff_json,
    student_json,
    timestamp,
)
from gateway.present_records import incident_detail_json
from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2
from haven.reporting.v1 import reporting_pb2
from shared.errors import Unauthenticated

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Routes that need no access token (identity checks what they carry).
PUBLIC_ENDPOINTS = {"api.openapi", "api.login", "api.elevate", "api.refresh", "api.logout"}
# The only routes an integration's token (access "integration", OAuth2 client credentials)
# reaches; the service behind each checks the token's scope and school. Every other route
# answers 403 (DESIGN.md §1: integrations push what their scope names and read nothing).
INTEGRATION_ENDPOINTS = {
    "api.add_integration_concern",  # scope incidents:add (gateway.api.integrations)
    "api.mis_submit_feed", "api.mis_submit_feed_part",  # scope mis.import (gateway.api.mis)
    "api.mis_get_run", "api.mis_list_rejections",  # the feed's own run (mis_import checks)
}
MAX_LIMIT = 200
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
BEARER = "Bearer"  # the token_type of OAuth2 bearer tokens


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return json_error(exc.status, exc.message, exc.code)


@bp.errorhandler(InvalidBody)
def _invalid_body(exc: InvalidBody):
    return json_error(400, exc.message, "invalid_request")


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@bp.before_request
def _authenticate():
    token = _bearer()
    g.token = token
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not token:
        return json_error(401, "Send an access token: 'Authorization: Bearer <token>'.")
    try:
        g.claims = backends().verifier.verify(token)
    except Unauthenticated:
        return json_error(401, "The access token is not valid or has expired.")
    if g.claims.access == "integration" and request.endpoint not in INTEGRATION_ENDPOINTS:
        return json_error(403, "An integration's token is only for what its scope names.",
                          "permission_denied")
    return None


def _body(schema: str) -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidBody("Send a JSON object with 'Content-Type: application/json'.")
    return validate_body(data, schema)


def _bool_arg(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ApiError(400, f"Query parameter '{name}' must be true or false.", "invalid_request")


def _limit_arg(default: int) -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ApiError(400, f"Query parameter 'limit' must be a whole number from 1 to "
                            f"{MAX_LIMIT}.", "invalid_request")
    return value


def _text_arg(name: str, max_length: int = 100) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise ApiError(400, f"Query parameter '{name}' is too long (at most {max_length}).",
                       "invalid_request")
    return value


def _instant(body: dict[str, Any], name: str):
    """The body's ISO date-time field as a Timestamp (school time without an offset)."""
    try:
        return timestamp(parse_instant(body[name], _zone()))
    except (ValueError, OverflowError):
        raise InvalidBody(f"Field '{name}' is not a date-time Haven can record.", name) from None


def _zone():
    return current_app.config["HAVEN_CONFIG"].zone


def _no_content() -> Response:
    return Response(status=204)


# ---- meta ----

@bp.get("/openapi.json")
def openapi():
    return jsonify(DOCUMENT)


# ---- auth ----

@bp.post("/auth/login")
def login():
    body = _body("LoginRequest")
    reply = call("identity", "Login", identity_pb2.LoginRequest(
        email=body["email"].strip(), password=body["password"], client_ip=client_ip(),
        user_agent=user_agent()), token="")
    return jsonify(access_token=reply.access_token, token_type=BEARER,
                   expires_in=int(reply.expires_in), session_id=reply.session_id,
                   can_elevate=reply.can_elevate)


@bp.post("/auth/elevate")
def elevate():
    body = _body("ElevateRequest")
    reply = call("identity", "Elevate", identity_pb2.ElevateRequest(
        session_id=body["session_id"], totp_code=body["code"].replace(" ", ""),
        client_ip=client_ip(), user_agent=user_agent()))
    # Elevation rotates the session secret (no session fixation): the old one stops working.
    return jsonify(access_token=reply.access_token, token_type=BEARER,
                   expires_in=int(reply.expires_in),
                   session_id=reply.session_id or body["session_id"])


@bp.post("/auth/refresh")
def refresh():
    body = _body("SessionRequest")
    reply = call("identity", "RefreshSession",
                 identity_pb2.RefreshSessionRequest(session_id=body["session_id"]))
    return jsonify(access_token=reply.access_token, token_type=BEARER,
                   expires_in=int(reply.expires_in))


@bp.post("/auth/logout")
def logout():
    body = _body("SessionRequest")
    call("identity", "Logout", identity_pb2.LogoutRequest(session_id=body["session_id"]))
    return _no_content()


@bp.get("/me")
def me():
    c = g.claims
    return jsonify(account_id=c.account_id, session_id=c.session_id, school_id=c.school_id,
                   user_group_id=c.user_group_id, name=c.name, access=c.access, acr=c.acr,
                   permissions=sorted(c.permissions))


@bp.get("/me/history")
def my_history():
    reply = call("records", "ListMyHistory", records_pb2.ListMyHistoryRequest())
    return jsonify(incidents=[incident_json(i) for i in reply.incidents])


# ---- students ----

@bp.get("/students")
def search_students():
    reply = call("records", "SearchStudents", records_pb2.SearchStudentsRequest(
        query=_text_arg("q"), include_archived=_bool_arg("include_archived"),
        limit=_limit_arg(50)))
    return jsonify(students=[student_json(s) for s in reply.students])


@bp.get("/students/<student_id>")
def get_student(student_id: str):
    student = call("records", "GetStudent", records_pb2.GetStudentRequest(student_id=student_id))
    return jsonify(student_json(student))


@bp.get("/students/<student_id>/chronology")
def chronology(student_id: str):
    highlight = _text_arg("highlight", 36)
    if highlight and not _UUID.match(highlight):
        raise ApiError(400, "Query parameter 'highlight' must be an incident id.",
                       "invalid_request")
    reply = call("records", "GetChronology", records_pb2.GetChronologyRequest(
        student_id=student_id, limit=_limit_arg(MAX_LIMIT),
        page_token=_text_arg("page_token", 1000), highlight_incident_id=highlight))
    return jsonify(student=student_json(reply.student),
                   incidents=[incident_json(i) for i in reply.incidents],
                   page_token=reply.page_token or None,
                   next_page_token=reply.next_page_token or None)


# ---- categories, staff ----

@bp.get("/categories")
def categories():
    reply = call("records", "ListCategories", records_pb2.ListCategoriesRequest(
        include_disabled=_bool_arg("include_disabled")))
    return jsonify(categories=[category_json(c) for c in reply.categories])


@bp.get("/staff")
def staff():
    reply = call("identity", "ListStaff", identity_pb2.ListStaffRequest(
        query=_text_arg("q"), limit=_limit_arg(MAX_LIMIT)))
    return jsonify(staff=[staff_json(s) for s in reply.staff])


# ---- incidents, alerts ----

@bp.post("/incidents")
def create_incident():
    body = _body("CreateIncidentRequest")
    req = records_pb2.CreateIncidentRequest(
        student_id=body["student_id"], text=body["text"], category_ids=body["category_ids"],
        status=body.get("status", "active"),
        alert_account_ids=body.get("alert_account_ids", []),
        request_id=body.get("request_id", ""),
        # records' additions (documented in gateway/openapi_records.py)
        linked_student_ids=body.get("linked_student_ids", []),
        monitor_linked_students=body.get("monitor_linked_students", False),
        assigned_to=body.get("assigned_to") or "", alert_group_ids=body.get("alert_group_ids", []),
        agency_ids=body.get("agency_ids", []),
    )
    if body.get("occurred_at"):
        req.occurred_at.CopyFrom(_instant(body, "occurred_at"))
    incident = call("records", "CreateIncident", req)
    response = jsonify(incident_detail_json(incident))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_incident", incident_id=incident.id)
    return response


@bp.get("/incidents/<incident_id>")
def get_incident(incident_id: str):
    incident = call("records", "GetIncident",
                    records_pb2.GetIncidentRequest(incident_id=incident_id))
    return jsonify(incident_detail_json(incident))


@bp.get("/alerts")
def alerts():
    reply = call("records", "ListAlerts", records_pb2.ListAlertsRequest())
    return jsonify(alerts=[alert_json(a) for a in reply.alerts])


@bp.post("/alerts/<alert_id>/read")
def mark_alert_read(alert_id: str):
    call("records", "MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id=alert_id))
    return _no_content()


# ---- reporting ----

@bp.get("/reporting/overview")
def reporting_overview():
    bounds: dict[str, Any] = {}
    for name in ("from", "to"):
        raw = request.args.get(name, "").strip()
        if not raw:
            continue
        try:
            bounds[name] = parse_instant(raw, _zone(), end_of_day=(name == "to"))
            timestamp(bounds[name])  # within the range a timestamp can carry
        except ValueError:
            raise ApiError(400, f"Query parameter '{name}' must be an ISO 8601 date or "
                                "date-time.", "invalid_request") from None
    if "from" in bounds and "to" in bounds and bounds["from"] > bounds["to"]:
        raise ApiError(400, "Query parameter 'from' is after 'to'.", "invalid_request")
    req = reporting_pb2.GetOverviewRequest(**{k: timestamp(v) for k, v in bounds.items()})
    reply = call("reporting", "GetOverview", req)
    return jsonify({
        "from": bounds["from"].strftime("%Y-%m-%dT%H:%M:%SZ") if "from" in bounds else None,
        "to": bounds["to"].strftime("%Y-%m-%dT%H:%M:%SZ") if "to" in bounds else None,
        "total_incidents": int(reply.total_incidents),
        "categories": [category_count_json(c) for c in reply.categories],
    })
