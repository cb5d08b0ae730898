"""/api/v1 for records beyond the foundation's routes: a student's profile, "Edit
information", contacts, attendance, monitoring (history and bulk updates) and audit; the
options of incidents and actions (edit, history, delete, restore, pin, merge, split, alerts,
linked students, print data, adding actions); My Assigned; and the admin of categories,
agencies and class access. Registered on the API blueprint of ``gateway.api.routes`` (same
bearer-token check and JSON errors); described in ``gateway.openapi_records``."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify, request, url_for

from gateway.api.routes import ApiError, _body, _bool_arg, _instant, _limit_arg, _zone, bp
from gateway.api.validation import InvalidBody
from gateway.backends import call
from gateway.pdf import download_headers, incident_pdf
from gateway.present import incident_json, iso
from gateway.present_records import (
    action_json,
    agency_json,
    attendance_json,
    audit_json,
    category_full_json,
    contact_json,
    group_json,
    incident_detail_json,
    permission_json,
    profile_json,
    span_json,
    student_detail_json,
    version_json,
)
from haven.records.v1 import records_pb2

MAX_AUDIT = 1000


def _date_arg(name: str) -> str:
    raw = request.args.get(name, "").strip()
    if not raw:
        return ""
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ApiError(400, f"Query parameter '{name}' must be an ISO date (YYYY-MM-DD).",
                       "invalid_request") from None


def _created(payload: dict[str, Any], location: str) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# ---- students ----

@bp.get("/students/<student_id>/profile")
def student_profile(student_id: str):
    reply = call("records", "GetStudentProfile", records_pb2.GetStudentProfileRequest(
        student_id=student_id, timeline_from=_date_arg("timeline_from"),
        timeline_to=_date_arg("timeline_to")))
    return jsonify(profile_json(reply))


INFORMATION_FIELDS = {
    "summary": "summary", "keywords": "keywords", "agency_ids": "agencies",
    "alert_account_ids": "alert_staff", "links": "links",
    "monitored_category_ids": "monitored_categories", "group_ids": "groups",
}


@bp.patch("/students/<student_id>/information")
def update_student_information(student_id: str):
    body = _body("UpdateStudentInformationRequest")
    update = [part for field, part in INFORMATION_FIELDS.items() if field in body]
    if not update:
        raise InvalidBody("Send at least one of: " + ", ".join(INFORMATION_FIELDS) + ".")
    req = records_pb2.UpdateStudentInformationRequest(
        student_id=student_id, update=update, summary=body.get("summary", ""),
        keywords=body.get("keywords", []), agency_ids=body.get("agency_ids", []),
        alert_account_ids=body.get("alert_account_ids", []),
        links=[records_pb2.LinkInput(student_id=link["student_id"], label=link.get("label", ""))
               for link in body.get("links", [])],
        monitored_category_ids=body.get("monitored_category_ids", []),
        group_ids=body.get("group_ids", []))
    return jsonify(profile_json(call("records", "UpdateStudentInformation", req)))


@bp.get("/students/<student_id>/contacts")
def list_contacts(student_id: str):
    reply = call("records", "ListContacts", records_pb2.ListContactsRequest(student_id=student_id))
    return jsonify(contacts=[contact_json(c) for c in reply.contacts])


@bp.post("/students/<student_id>/contacts")
def add_contact(student_id: str):
    body = _body("NewContact")
    address = body.get("address", {})
    contact = records_pb2.Contact(
        title=body.get("title", ""), first_name=body.get("first_name", ""),
        last_name=body.get("last_name", ""), relationship=body.get("relationship", ""),
        parental_responsibility=body.get("parental_responsibility", False),
        priority=body.get("priority", 0), phones=body.get("phones", []),
        email=body.get("email", ""), notes=body.get("notes", ""),
        address=records_pb2.Address(**{k: address.get(k, "") for k in (
            "line1", "line2", "town", "county", "postcode")}))
    made = call("records", "AddContact", records_pb2.AddContactRequest(student_id=student_id,
                                                                       contact=contact))
    return _created(contact_json(made), url_for("api.list_contacts", student_id=student_id))


@bp.get("/students/<student_id>/attendance")
def attendance(student_id: str):
    reply = call("records", "GetAttendance", records_pb2.GetAttendanceRequest(
        student_id=student_id, from_date=_date_arg("from"), to_date=_date_arg("to")))
    return jsonify(attendance_json(reply))


@bp.get("/students/<student_id>/monitoring")
def monitoring_history(student_id: str):
    reply = call("records", "GetMonitoringHistory",
                 records_pb2.GetMonitoringHistoryRequest(student_id=student_id))
    return jsonify(spans=[span_json(s) for s in reply.spans])


@bp.get("/students/<student_id>/monitoring.csv")
def monitoring_csv(student_id: str):
    reply = call("records", "GetMonitoringHistory",
                 records_pb2.GetMonitoringHistoryRequest(student_id=student_id))
    return Response(reply.csv, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="monitoring-history.csv"'})


@bp.get("/students/<student_id>/audit")
def student_audit(student_id: str):
    reply = call("records", "ListAuditEntries", records_pb2.ListAuditEntriesRequest(
        student_id=student_id, from_date=_date_arg("from"), to_date=_date_arg("to"),
        limit=_limit_arg(200)))
    return jsonify(entries=[audit_json(e) for e in reply.entries])


@bp.post("/monitoring")
def update_monitoring():
    body = _body("UpdateMonitoringRequest")
    reply = call("records", "UpdateMonitoring", records_pb2.UpdateMonitoringRequest(
        student_ids=body["student_ids"], category_id=body.get("category_id", ""),
        operation=body["operation"], start_date=body.get("start_date", "")))
    return jsonify(started=int(reply.started), ended=int(reply.ended))


# ---- incidents ----

def _incident_reply(incident) -> Response:
    return jsonify(incident_detail_json(incident))


UPDATABLE = ("text", "occurred_at", "category_ids", "agency_ids", "status", "assigned_to")


@bp.patch("/incidents/<incident_id>")
def update_incident(incident_id: str):
    body = _body("UpdateIncidentRequest")
    update = [name for name in UPDATABLE if name in body]
    if not update:
        raise InvalidBody("Send at least one of: " + ", ".join(UPDATABLE) + ".")
    req = records_pb2.UpdateIncidentRequest(
        incident_id=incident_id, update=update, text=body.get("text", ""),
        category_ids=body.get("category_ids", []), agency_ids=body.get("agency_ids", []),
        status=body.get("status", ""), assigned_to=body.get("assigned_to") or "",
        expected_version=body.get("expected_version", 0))
    if "occurred_at" in body:
        req.occurred_at.CopyFrom(_instant(body, "occurred_at"))
    return _incident_reply(call("records", "UpdateIncident", req))


@bp.post("/incidents/<incident_id>/delete")
def delete_incident(incident_id: str):
    body = _body("DeleteRequest")
    return _incident_reply(call("records", "DeleteIncident", records_pb2.DeleteIncidentRequest(
        incident_id=incident_id, reason=body["reason"])))


@bp.post("/incidents/<incident_id>/restore")
def restore_incident(incident_id: str):
    return _incident_reply(call("records", "RestoreIncident",
                                records_pb2.RestoreIncidentRequest(incident_id=incident_id)))


@bp.post("/incidents/<incident_id>/pin")
def pin_incident(incident_id: str):
    body = _body("PinRequest")
    return _incident_reply(call("records", "PinIncident", records_pb2.PinIncidentRequest(
        incident_id=incident_id, pinned=body["pinned"])))


@bp.get("/incidents/<incident_id>/history")
def incident_history(incident_id: str):
    reply = call("records", "GetRecordHistory",
                 records_pb2.GetRecordHistoryRequest(incident_id=incident_id))
    return jsonify(versions=[version_json(v) for v in reply.versions])


@bp.get("/incidents/<incident_id>/merge-preview")
def merge_preview(incident_id: str):
    raw = request.args.get("target_number", "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        raise ApiError(400, "Query parameter 'target_number' must be an incident number.",
                       "invalid_request")
    return _incident_reply(call("records", "PreviewIncidentMerge",
                                records_pb2.PreviewIncidentMergeRequest(
                                    incident_id=incident_id, target_number=int(raw))))


@bp.post("/incidents/<incident_id>/merge")
def merge_incident(incident_id: str):
    body = _body("MergeIncidentRequest")
    if not (body.get("target_number") or body.get("target_incident_id")):
        raise InvalidBody("Send 'target_number' or 'target_incident_id'.")
    return _incident_reply(call("records", "MergeIncident", records_pb2.MergeIncidentRequest(
        incident_id=incident_id, target_number=body.get("target_number", 0),
        target_incident_id=body.get("target_incident_id", ""))))


def _alerts(*, incident_id: str = "", action_id: str = "") -> Response:
    body = _body("AddAlertsRequest")
    reply = call("records", "AddAlerts", records_pb2.AddAlertsRequest(
        incident_id=incident_id, action_id=action_id, account_ids=body.get("account_ids", []),
        alert_group_ids=body.get("alert_group_ids", []),
        incident_recipients=body.get("incident_recipients", False)))
    return jsonify(alerted_account_ids=list(reply.alerted_account_ids),
                   alert_warnings=list(reply.alert_warnings))


@bp.post("/incidents/<incident_id>/alerts")
def incident_alerts(incident_id: str):
    return _alerts(incident_id=incident_id)


@bp.post("/incidents/<incident_id>/linked-students")
def add_linked_students(incident_id: str):
    body = _body("AddLinkedStudentsRequest")
    req = records_pb2.AddLinkedStudentsRequest(
        incident_id=incident_id, student_ids=body["student_ids"],
        monitor=body.get("monitor", False))
    return _incident_reply(call("records", "AddLinkedStudents", req))


@bp.get("/incidents/<incident_id>/print")
def incident_print(incident_id: str):
    reply = call("records", "GetIncidentPrint",
                 records_pb2.GetIncidentPrintRequest(incident_id=incident_id))
    return jsonify(incident=incident_detail_json(reply.incident),
                   student=student_detail_json(reply.student),
                   printed_by_name=reply.printed_by_name, printed_at=iso(reply.printed_at))


@bp.get("/incidents/<incident_id>/print.pdf")
def incident_print_pdf(incident_id: str):
    reply = call("records", "GetIncidentPrint",
                 records_pb2.GetIncidentPrintRequest(incident_id=incident_id))
    return Response(incident_pdf(reply, zone=_zone()), mimetype="application/pdf",
                    headers=download_headers(reply, _zone()))


@bp.post("/incidents/<incident_id>/actions")
def create_action(incident_id: str):
    body = _body("CreateActionRequest")
    req = records_pb2.CreateActionRequest(
        incident_id=incident_id, text=body["text"], category_ids=body.get("category_ids", []),
        agency_ids=body.get("agency_ids", []),
        alert_account_ids=body.get("alert_account_ids", []),
        alert_group_ids=body.get("alert_group_ids", []),
        alert_incident_recipients=body.get("alert_incident_recipients", False),
        copy_to_linked_students=body.get("copy_to_linked_students", False),
        request_id=body.get("request_id", ""))
    if body.get("occurred_at"):
        req.occurred_at.CopyFrom(_instant(body, "occurred_at"))
    action = call("records", "CreateAction", req)
    return _created(action_json(action), url_for("api.get_incident",
                                                 incident_id=action.incident_id or incident_id))


# ---- actions ----

@bp.patch("/actions/<action_id>")
def update_action(action_id: str):
    body = _body("UpdateActionRequest")
    update = [name for name in ("text", "occurred_at", "agency_ids") if name in body]
    if not update:
        raise InvalidBody("Send at least one of: text, occurred_at, agency_ids.")
    req = records_pb2.UpdateActionRequest(
        action_id=action_id, update=update, text=body.get("text", ""),
        agency_ids=body.get("agency_ids", []), expected_version=body.get("expected_version", 0))
    if "occurred_at" in body:
        req.occurred_at.CopyFrom(_instant(body, "occurred_at"))
    return jsonify(action_json(call("records", "UpdateAction", req)))


@bp.post("/actions/<action_id>/delete")
def delete_action(action_id: str):
    body = _body("DeleteRequest")
    return jsonify(action_json(call("records", "DeleteAction", records_pb2.DeleteActionRequest(
        action_id=action_id, reason=body["reason"]))))


@bp.post("/actions/<action_id>/restore")
def restore_action(action_id: str):
    return jsonify(action_json(call("records", "RestoreAction",
                                    records_pb2.RestoreActionRequest(action_id=action_id))))


@bp.get("/actions/<action_id>/history")
def action_history(action_id: str):
    reply = call("records", "GetRecordHistory",
                 records_pb2.GetRecordHistoryRequest(action_id=action_id))
    return jsonify(versions=[version_json(v) for v in reply.versions])


@bp.post("/actions/<action_id>/split")
def split_action(action_id: str):
    body = _body("SplitActionRequest")
    incident = call("records", "SplitAction", records_pb2.SplitActionRequest(
        action_id=action_id, category_ids=body.get("category_ids", [])))
    return _created(incident_detail_json(incident),
                    url_for("api.get_incident", incident_id=incident.id))


@bp.post("/actions/<action_id>/copy-to-linked")
def copy_action(action_id: str):
    reply = call("records", "CopyActionToLinkedIncidents",
                 records_pb2.CopyActionToLinkedIncidentsRequest(action_id=action_id))
    return jsonify(actions=[action_json(a) for a in reply.actions])


@bp.post("/actions/<action_id>/alerts")
def action_alerts(action_id: str):
    return _alerts(action_id=action_id)


@bp.get("/me/assigned")
def my_assigned():
    reply = call("records", "ListMyAssigned", records_pb2.ListMyAssignedRequest())
    return jsonify(incidents=[incident_json(i) for i in reply.incidents])


# ---- categories, agencies, groups (admin) ----

def _permissions(items: list[dict[str, Any]], category_id: str = ""):
    return [records_pb2.CategoryPermission(
        user_group_id=p["user_group_id"], category_id=category_id or p.get("category_id", ""),
        view_students=p.get("view_students", False), view_incidents=p.get("view_incidents", False),
        add_incidents=p.get("add_incidents", False)) for p in items]


@bp.post("/categories")
def create_category():
    body = _body("CreateCategoryRequest")
    made = call("records", "CreateCategory", records_pb2.CreateCategoryRequest(
        name=body["name"], colour=body.get("colour", "").lstrip("#"),
        parent_id=body.get("parent_id") or "",
        permissions=_permissions(body.get("permissions", []))))
    return _created(category_full_json(made), url_for("api.categories"))


@bp.patch("/categories/<category_id>")
def update_category(category_id: str):
    body = _body("UpdateCategoryRequest")
    update = [n for n in ("name", "colour", "position", "permissions") if n in body]
    category = None
    if update:
        category = call("records", "UpdateCategory", records_pb2.UpdateCategoryRequest(
            category_id=category_id, update=update, name=body.get("name", ""),
            colour=body.get("colour", "").lstrip("#"), position=body.get("position", 0),
            permissions=_permissions(body.get("permissions", []), category_id)))
    if "enabled" in body:
        category = call("records", "SetCategoryEnabled", records_pb2.SetCategoryEnabledRequest(
            category_id=category_id, enabled=body["enabled"]))
    if category is None:
        raise InvalidBody("Send at least one of: name, colour, position, permissions, enabled.")
    return jsonify(category_full_json(category))


@bp.delete("/categories/<category_id>")
def delete_category(category_id: str):
    reply = call("records", "DeleteCategory",
                 records_pb2.DeleteCategoryRequest(category_id=category_id))
    return jsonify(deleted=reply.deleted, disabled=reply.disabled)


@bp.post("/categories/<category_id>/merge")
def merge_category(category_id: str):
    body = _body("MergeCategoryRequest")
    reply = call("records", "MergeCategory", records_pb2.MergeCategoryRequest(
        source_category_id=category_id, target_category_id=body["target_category_id"]))
    return jsonify(incidents_moved=int(reply.incidents_moved),
                   monitoring_moved=int(reply.monitoring_moved),
                   target=category_full_json(reply.target))


@bp.get("/categories/<category_id>/permissions")
def category_permissions(category_id: str):
    reply = call("records", "ListCategoryPermissions",
                 records_pb2.ListCategoryPermissionsRequest(category_id=category_id))
    return jsonify(permissions=[permission_json(p) for p in reply.permissions])


@bp.put("/categories/<category_id>/permissions")
def set_category_permissions(category_id: str):
    body = _body("SetCategoryPermissionsRequest")
    reply = call("records", "SetCategoryPermissions", records_pb2.SetCategoryPermissionsRequest(
        permissions=_permissions(body["permissions"], category_id)))
    return jsonify(permissions=[permission_json(p) for p in reply.permissions])


@bp.get("/agencies")
def list_agencies():
    reply = call("records", "ListAgencies", records_pb2.ListAgenciesRequest(
        include_disabled=_bool_arg("include_disabled")))
    return jsonify(agencies=[agency_json(a) for a in reply.agencies])


@bp.post("/agencies")
def create_agency():
    body = _body("CreateAgencyRequest")
    made = call("records", "CreateAgency", records_pb2.CreateAgencyRequest(name=body["name"]))
    return _created(agency_json(made), url_for("api.list_agencies"))


@bp.patch("/agencies/<agency_id>")
def update_agency(agency_id: str):
    body = _body("UpdateAgencyRequest")
    agency = None
    if "name" in body:
        agency = call("records", "UpdateAgency", records_pb2.UpdateAgencyRequest(
            agency_id=agency_id, name=body["name"]))
    if "enabled" in body:
        agency = call("records", "SetAgencyEnabled", records_pb2.SetAgencyEnabledRequest(
            agency_id=agency_id, enabled=body["enabled"]))
    if agency is None:
        raise InvalidBody("Send 'name' or 'enabled'.")
    return jsonify(agency_json(agency))


@bp.get("/groups")
def list_groups():
    kind = request.args.get("kind", "").strip()
    if kind not in ("", "tutor", "year"):
        raise ApiError(400, "Query parameter 'kind' must be tutor or year.", "invalid_request")
    reply = call("records", "ListGroups", records_pb2.ListGroupsRequest(
        kind=kind, include_inactive=_bool_arg("include_inactive")))
    return jsonify(groups=[group_json(g) for g in reply.groups],
                   new_group_count=int(reply.new_group_count))


@bp.put("/groups/<group_id>/access")
def set_group_access(group_id: str):
    body = _body("GroupAccessRequest")
    reply = call("records", "SetGroupAccess", records_pb2.SetGroupAccessRequest(
        group_id=group_id, account_ids=body.get("account_ids", []),
        user_group_ids=body.get("user_group_ids", [])))
    return jsonify(group_json(reply))
