"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

The request-body schemas here are also what the API validates JSON bodies against
(``gateway.api.validation``), so the document and the behaviour cannot drift apart; a test
checks that every route under /api/v1 is described and every description has a route.
"""

from __future__ import annotations

import copy
from typing import Any

API_PREFIX = "/api/v1"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **extra) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _nullable_string(description: str = "", **extra) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"], **extra}
    if description:
        schema["description"] = description
    return schema


def _array(items: dict[str, Any], description: str = "", **extra) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items, **extra}
    if description:
        schema["description"] = description
    return schema


def _object(properties: dict[str, Any], required: list[str] | None = None,
            description: str = "", closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


_ID = _string("identifier (UUID)")
_REQUIRED_ID = _string("identifier (UUID)", minLength=1, maxLength=100)

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _object({
        "error": _object({
            "code": _string("machine-readable code, e.g. invalid_argument, not_found"),
            "message": _string("what went wrong, safe to show to a user"),
        }, ["code", "message"]),
    }, ["error"]),
    # ---- authentication ----
    "LoginRequest": _object({
        "email": _string("the staff member's email address", minLength=1, maxLength=320),
        "password": _string(minLength=1, maxLength=1024),
    }, ["email", "password"], closed=True),
    "LoginResponse": _object({
        "access_token": _string("JWT to send as 'Authorization: Bearer <token>'"),
        "token_type": _string(enum=["Bearer"]),
        "expires_in": {"type": "integer", "description": "seconds until the token expires"},
        "session_id": _string("identity session; refresh, elevate and log out with it"),
        "can_elevate": {"type": "boolean",
                        "description": "a second factor can raise this session to full access"},
    }, ["access_token", "token_type", "expires_in", "session_id"]),
    "ElevateRequest": _object({
        "session_id": _REQUIRED_ID,
        "code": _string("6-digit code from the authenticator app", minLength=1, maxLength=16),
    }, ["session_id", "code"], closed=True),
    "SessionRequest": _object({"session_id": _REQUIRED_ID}, ["session_id"], closed=True),
    "TokenResponse": _object({
        "access_token": _string(),
        "token_type": _string(enum=["Bearer"]),
        "expires_in": {"type": "integer"},
        "session_id": _string("the session secret to use from now on (elevation replaces it)"),
    }, ["access_token", "token_type", "expires_in"]),
    "Me": _object({
        "account_id": _ID, "session_id": _string(), "school_id": _ID,
        "user_group_id": _string(), "name": _string(),
        "access": _string("full once a key holder has used a second factor",
                          enum=["full", "restricted"]),
        "acr": _string(enum=["pwd", "mfa"]),
        "permissions": _array(_string(), "system permissions of the user group in force"),
    }, ["account_id", "school_id", "access", "permissions"]),
    # ---- records ----
    "Student": _object({
        "id": _ID, "upn": _string("unique pupil number (may be empty)"),
        "first_name": _string(), "last_name": _string(), "preferred_name": _string(),
        "display_name": _string("preferred (or first) name and last name"),
        "year_group": _string(), "tutor_group": _string(),
        "date_of_birth": _nullable_string("ISO date; null for restricted access", format="date"),
        "archived": {"type": "boolean"},
        "monitored_category_ids": _array(_string()),
    }, ["id", "display_name"]),
    "StudentList": _object({"students": _array(_ref("Student"))}, ["students"]),
    "Category": _object({
        "id": _ID, "name": _string(), "parent_id": _nullable_string("parent category"),
        "colour": _string("hex colour without '#'", pattern="^[0-9a-f]{6}$"),
        "enabled": {"type": "boolean"},
        "can_add": {"type": "boolean", "description": "the caller may add incidents to it"},
        "can_view": {"type": "boolean", "description": "the caller may view its incidents"},
    }, ["id", "name"]),
    "CategoryList": _object({"categories": _array(_ref("Category"))}, ["categories"]),
    "Staff": _object({
        "account_id": _ID, "display_name": _string(), "email": _string(),
        "user_group_id": _string(), "user_group_name": _string(),
        "key_holder": {"type": "boolean"},
    }, ["account_id", "display_name"]),
    "StaffList": _object({"staff": _array(_ref("Staff"))}, ["staff"]),
    "CreateIncidentRequest": _object({
        "student_id": _REQUIRED_ID,
        "text": _string("what happened"),
        "category_ids": _array(_string(minLength=1, maxLength=100),
                               "at least one category the caller may add to", maxItems=100),
        "occurred_at": _string("ISO 8601 date-time; without an offset it is school time; "
                               "omitted means now", format="date-time"),
        "status": _string(enum=["active", "closed"], default="active"),
        "alert_account_ids": _array(_string(minLength=1, maxLength=100),
                                    "staff to alert", maxItems=500),
        "request_id": _string("idempotency key: repeating a request with the same key "
                              "creates one incident", maxLength=100),
    }, ["student_id", "text", "category_ids"], closed=True),
    "Incident": _object({
        "id": _ID, "student_id": _ID, "student_name": _string(), "text": _string(),
        "categories": _array(_ref("Category")),
        "occurred_at": _nullable_string(format="date-time"),
        "created_at": _nullable_string(format="date-time"),
        "created_by": _string(), "created_by_name": _string(),
        "status": _string(), "alerted_account_ids": _array(_string()),
    }, ["id", "student_id", "categories", "status"]),
    "IncidentList": _object({"incidents": _array(_ref("Incident"))}, ["incidents"]),
    "Chronology": _object({
        "student": _ref("Student"),
        "incidents": _array(_ref("Incident"), "pinned first, then newest first"),
        "page_token": _nullable_string(
            "which page this is (the page_token that serves it again); null for the first"),
        "next_page_token": _nullable_string(
            "pass as page_token for the older entries; null on the last page"),
    }, ["student", "incidents"]),
    "Alert": _object({
        "id": _ID, "incident_id": _ID, "student_id": _ID, "student_name": _string(),
        "raised_by_name": _string(), "categories": _array(_ref("Category")),
        "created_at": _nullable_string(format="date-time"),
        "kind": _string(enum=["incident", "action"]),
    }, ["id", "incident_id", "categories"]),
    "AlertList": _object({"alerts": _array(_ref("Alert"))}, ["alerts"]),
    # ---- reporting ----
    "CategoryCount": _object({
        "category_id": _ID, "name": _string(), "parent_id": _nullable_string(),
        "incidents": {"type": "integer", "minimum": 0},
    }, ["category_id", "name", "incidents"]),
    "Overview": _object({
        "from": _nullable_string("start of the range asked for", format="date-time"),
        "to": _nullable_string("end of the range asked for (exclusive)", format="date-time"),
        "total_incidents": {"type": "integer", "minimum": 0},
        "categories": _array(_ref("CategoryCount")),
    }, ["total_incidents", "categories"]),
}

_ERRORS = {
    "400": ("BadRequest", "The request is malformed (a field is missing or has the wrong type)"),
    "401": ("Unauthenticated", "No valid access token"),
    "403": ("Forbidden", "The caller may not do this"),
    "404": ("NotFound", "No such item (in the caller's school)"),
    "409": ("Conflict", "Not possible in the item's current state"),
    "422": ("Unprocessable", "Well-formed but refused by the service (message says why)"),
    "429": ("TooManyRequests", "Too many attempts; wait and retry"),
    "503": ("Unavailable", "A part of Haven is not answering; retry shortly"),
}
RESPONSES = {
    name: {"description": text,
           "content": {"application/json": {"schema": _ref("Error")}}}
    for name, text in _ERRORS.values()
}


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema_name)}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def _op(op_id: str, summary: str, ok: str, ok_response: dict[str, Any], *,
        tag: str, errors: tuple[str, ...] = ("401", "503"), body: str | None = None,
        params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag],
                          "responses": {ok: ok_response, **_errors(*errors)}}
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
        op["responses"].update(_errors("400"))
    if params:
        op["parameters"] = params
        if any(p["in"] == "query" for p in params):
            op["responses"].update(_errors("400"))
    if public:
        op["security"] = []
    return op


_NO_CONTENT = {"description": "Done"}
_LIMIT = _query("limit", "at most this many (1-200)",
                {"type": "integer", "minimum": 1, "maximum": 200})

PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {"get": _op(
        "getOpenApi", "This document", "200",
        {"description": "OpenAPI 3.1 document", "content": {"application/json": {}}},
        tag="meta", errors=(), public=True)},
    "/auth/login": {"post": _op(
        "login", "Log in with email and password (restricted access until elevated)", "200",
        _json("LoginResponse", "Logged in"), tag="auth", body="LoginRequest",
        errors=("401", "403", "422", "429", "503"), public=True)},
    "/auth/elevate": {"post": _op(
        "elevate", "Raise a session to full access with an authenticator code", "200",
        _json("TokenResponse", "A new access token with full access"), tag="auth",
        body="ElevateRequest", errors=("401", "403", "422", "429", "503"), public=True)},
    "/auth/refresh": {"post": _op(
        "refresh", "A new access token for a live session", "200",
        _json("TokenResponse", "A new access token"), tag="auth", body="SessionRequest",
        errors=("401", "503"), public=True)},
    "/auth/logout": {"post": _op(
        "logout", "End a session", "204", _NO_CONTENT, tag="auth", body="SessionRequest",
        errors=("401", "503"), public=True)},
    "/me": {"get": _op("getMe", "Who the access token belongs to", "200",
                       _json("Me", "The token's claims"), tag="auth")},
    "/me/history": {"get": _op(
        "listMyHistory", "Incidents the caller added in the last 7 days", "200",
        _json("IncidentList", "Newest first"), tag="incidents", errors=("401", "403", "503"))},
    "/students": {"get": _op(
        "searchStudents", "Find students by any part of a name", "200",
        _json("StudentList", "Matching students"), tag="students",
        errors=("401", "403", "503"),
        params=[_query("q", "part of a name", {"type": "string", "maxLength": 100}),
                _query("include_archived", "include students who have left",
                       {"type": "boolean", "default": False}),
                _LIMIT])},
    "/students/{student_id}": {"get": _op(
        "getStudent", "One student", "200", _json("Student", "The student"),
        tag="students", errors=("401", "403", "404", "503"),
        params=[_path_param("student_id", "student id")])},
    "/students/{student_id}/chronology": {"get": _op(
        "getChronology", "A student's incidents, newest first (full access)", "200",
        _json("Chronology", "The chronology"), tag="students",
        errors=("400", "401", "403", "404", "422", "503"),
        params=[_path_param("student_id", "student id"), _LIMIT,
                _query("page_token", "next_page_token of the previous page (opaque)",
                       {"type": "string", "maxLength": 1000}),
                _query("highlight", "an incident to open on: without page_token, the page "
                       "holding it is served (the first page if the caller may not see it)",
                       {"type": "string", "format": "uuid"})])},
    "/categories": {"get": _op(
        "listCategories", "Incident categories, with what the caller may do in each", "200",
        _json("CategoryList", "All categories"), tag="incidents")},
    "/staff": {"get": _op(
        "listStaff", "Staff of the caller's school (to alert them)", "200",
        _json("StaffList", "Matching staff"), tag="staff", errors=("401", "403", "503"),
        params=[_query("q", "part of a name or email", {"type": "string", "maxLength": 100}),
                _LIMIT])},
    "/incidents": {"post": _op(
        "createIncident", "Add an incident to a student's chronology", "201",
        {**_json("Incident", "Created (or the one created earlier with this request_id)"),
         "headers": {"Location": {"schema": {"type": "string"},
                                  "description": "URL of the incident"}}},
        tag="incidents", body="CreateIncidentRequest",
        errors=("401", "403", "404", "409", "422", "503"))},
    "/incidents/{incident_id}": {"get": _op(
        "getIncident", "One incident", "200", _json("Incident", "The incident"),
        tag="incidents", errors=("401", "403", "404", "503"),
        params=[_path_param("incident_id", "incident id")])},
    "/alerts": {"get": _op(
        "listAlerts", "The caller's unread alerts", "200",
        _json("AlertList", "Unread alerts, newest first"), tag="alerts")},
    "/alerts/{alert_id}/read": {"post": _op(
        "markAlertRead", "Mark an alert as read (it leaves the list)", "204", _NO_CONTENT,
        tag="alerts", errors=("401", "403", "404", "503"),
        params=[_path_param("alert_id", "alert id")])},
    "/reporting/overview": {"get": _op(
        "getReportingOverview", "Incidents per category over a period", "200",
        _json("Overview", "Counts per category"), tag="reporting",
        errors=("401", "403", "503"),
        params=[_query("from", "ISO 8601 date or date-time (default: 12 months ago)",
                       {"type": "string"}),
                _query("to", "ISO 8601 date (inclusive) or date-time (default: now)",
                       {"type": "string"})])},
}

from gateway.openapi_identity import extend as _extend_identity  # noqa: E402 - identity's routes

_extend_identity(PATHS, SCHEMAS)

from gateway.openapi_mis import extend as _extend_mis  # noqa: E402 - the MIS import's routes

_extend_mis(PATHS, SCHEMAS)

from gateway.openapi_records import extend as _extend_records  # noqa: E402 - records' routes

_extend_records(PATHS, SCHEMAS)

from gateway.openapi_integrations import extend as _extend_integrations  # noqa: E402

_extend_integrations(PATHS, SCHEMAS)


def build_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Haven API",
            "version": "1.0.0",
            "description": (
                "Safeguarding records for schools. Log in (POST /auth/login) to get an access "
                "token and send it as 'Authorization: Bearer <token>'. Key holders raise a "
                "session to full access with POST /auth/elevate. Errors are "
                "{\"error\": {\"code\", \"message\"}}."),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": t} for t in
                 ("auth", "students", "incidents", "alerts", "staff", "reporting", "mis",
                  "integrations", "meta")],
        "paths": {API_PREFIX + path: item for path, item in copy.deepcopy(PATHS).items()},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"}},
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
        },
    }


DOCUMENT = build_document()
