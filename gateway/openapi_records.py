"""The OpenAPI description of records' /api/v1 routes beyond the foundation's
(``gateway.api.records``), merged into ``gateway.openapi`` by ``extend(PATHS, SCHEMAS)``.
It also widens two foundation entries: adding an incident takes linked students, an
assignee, alert groups and agencies; one incident is answered with its actions and options."""

from __future__ import annotations

from typing import Any

INT32_MAX = 2**31 - 1  # the proto fields these numbers travel in
INT63_MAX = 2**63 - 1


def extend(paths: dict[str, Any], schemas: dict[str, Any]) -> None:  # noqa: PLR0915 - a table
    from gateway import openapi as o  # the helpers (called while gateway.openapi loads)

    s, ns, arr, obj, ref, op, js = (o._string, o._nullable_string, o._array, o._object, o._ref,
                                    o._op, o._json)
    pp, q = o._path_param, o._query
    boolean, integer = {"type": "boolean"}, {"type": "integer", "minimum": 0}
    when = ns(format="date-time")
    day = ns("ISO date", format="date")
    strings = arr(s())
    ident = s("identifier (UUID)", minLength=1, maxLength=100)
    address = obj({"line1": s(), "line2": s(), "town": s(), "county": s(), "postcode": s()})
    student_id, incident_id, action_id = (pp("student_id", "student id"),
                                          pp("incident_id", "incident id"),
                                          pp("action_id", "action id"))
    from_to = [q("from", "ISO date (inclusive)", {"type": "string", "format": "date"}),
               q("to", "ISO date (inclusive)", {"type": "string", "format": "date"})]
    reads = ("401", "403", "404", "503")
    changes = ("401", "403", "404", "409", "422", "503")

    # ---- widen the foundation's shapes ----
    schemas["CreateIncidentRequest"]["properties"].update({
        "linked_student_ids": arr(ident, "the incident is copied to each of these students",
                                  maxItems=50),
        "monitor_linked_students": {"type": "boolean", "description":
                                    "monitor the linked students under its categories"},
        "assigned_to": ns("account id of a key holder (email + My Assigned until closed)",
                          maxLength=100),
        "alert_group_ids": arr(ident, "alert groups to alert", maxItems=50),
        "agency_ids": arr(ident, "agencies involved", maxItems=100),
    })
    paths["/categories"]["get"].setdefault("parameters", []).append(
        q("include_disabled", "also disabled categories (admin lists)",
          {"type": "boolean", "default": False}))
    paths["/categories"]["get"]["responses"].update(o._errors("400"))

    schemas.update({
        "Agency": obj({"id": s(), "name": s(), "enabled": boolean}, ["id", "name"]),
        "AgencyList": obj({"agencies": arr(ref("Agency"))}, ["agencies"]),
        "CategoryDetail": obj({
            "id": s(), "name": s(), "parent_id": ns(), "parent_name": ns(),
            "colour": s(pattern="^[0-9a-f]{6}$"), "enabled": boolean, "can_add": boolean,
            "can_view": boolean, "position": {"type": "integer"},
        }, ["id", "name", "enabled"]),
        "Action": obj({
            "id": s(), "incident_id": s(), "student_id": s(),
            "text": s("empty for a deleted action (its history has it)"),
            "categories": arr(ref("Category"), "categories this action added to the incident"),
            "agencies": arr(ref("Agency")), "occurred_at": when, "created_at": when,
            "updated_at": when, "created_by": s(), "created_by_name": s(),
            "version": {"type": "integer", "minimum": 1}, "deleted": boolean,
            "deleted_reason": ns(), "deleted_by_name": ns(), "deleted_at": when,
            "merged_from_number": {"type": ["integer", "null"],
                                   "description": "the incident number it had before a merge"},
            "alerted_account_ids": strings,
            "alert_warnings": arr(s(), "alerted colleagues who could not normally view it"),
        }, ["id", "incident_id", "text", "deleted"]),
        "ActionList": obj({"actions": arr(ref("Action"))}, ["actions"]),
        "LinkedStudent": obj({"student_id": s(), "name": s(), "tutor_group": s(),
                              "incident_id": ns("that student's copy")}, ["student_id"]),
        "IncidentDetail": obj({
            "id": s(), "student_id": s(), "student_name": s(),
            "text": s("empty for a deleted incident (its history has it)"),
            "categories": arr(ref("Category")), "occurred_at": when, "created_at": when,
            "updated_at": when, "created_by": s(), "created_by_name": s(), "status": s(),
            "number": {"type": ["integer", "null"],
                       "description": "the school's incident number (for merging)"},
            "pinned": boolean, "deleted": boolean, "deleted_reason": ns(),
            "deleted_by_name": ns(), "deleted_at": when,
            "version": {"type": "integer", "minimum": 1}, "assigned_to": ns(),
            "assigned_to_name": ns(), "agencies": arr(ref("Agency")),
            "linked_students": arr(ref("LinkedStudent")),
            "actions": arr(ref("Action"), "its actions (oldest first)"),
            "action_count": integer,
            "can_edit": {"type": "boolean",
                         "description": "the caller may edit, delete, merge and split"},
            "alerted_account_ids": strings,
            "alert_warnings": arr(s(), "alerted colleagues who could not normally view it"),
        }, ["id", "student_id", "categories", "status", "deleted", "actions"]),
        "RecordVersion": obj({
            "version": {"type": "integer"},
            "change": s(enum=["created", "edited", "deleted", "restored", "merged", "split"]),
            "text": s(), "occurred_at": when, "status": ns(),
            "categories": arr(ref("Category")), "agencies": arr(ref("Agency")),
            "assigned_to": ns(), "reason": ns(), "changed_by": s(), "changed_by_name": s(),
            "changed_at": when,
        }, ["version", "change", "text"]),
        "RecordHistory": obj({"versions": arr(ref("RecordVersion"), "oldest first")},
                             ["versions"]),
        "StudentDetail": obj({
            "id": s(), "display_name": s(), "first_name": s(), "last_name": s(),
            "preferred_name": s(), "upn": s(), "year_group": s(), "tutor_group": s(),
            "date_of_birth": day, "archived": boolean, "monitored_category_ids": strings,
            "gender": ns(), "upn_temporary": boolean, "admission_number": ns(),
            "middle_names": ns(), "preferred_last_name": ns(), "ethnicity": ns(),
            "religion": ns(), "first_language": ns(), "sen_status": ns(),
            "pupil_premium": boolean, "fsm": boolean, "eal": boolean, "looked_after": boolean,
            "admission_date": day, "date_of_arrival": day, "leaving_date": day,
            "address": address, "medical_conditions": strings,
            "mis_linked": {"type": "boolean",
                           "description": "false once unlinked (or added by hand)"},
            "groups": arr(obj({"id": s(), "name": s(), "kind": s(enum=["tutor", "year"])})),
        }, ["id", "display_name"]),
        "StudentProfile": obj({
            "student": ref("StudentDetail"), "summary": s(),
            "monitored_categories": arr(ref("Category")),
            "agencies": arr(obj({"id": s(), "name": s(), "enabled": boolean,
                                 "manual": {"type": "boolean", "description":
                                            "flagged by hand (else from incidents)"}})),
            "keywords": strings,
            "links": arr(obj({"id": ns(), "student_id": s(), "name": s(), "tutor_group": s(),
                              "label": s(), "source": s(enum=["mis", "manual"])})),
            "alert_staff": arr(obj({"account_id": s(), "name": s()})),
            "incidents_by_category": arr(obj({"category_id": s(), "name": s(),
                                              "colour": s(), "count": integer})),
            "incidents_by_month": arr(obj({"month": s("YYYY-MM"), "count": integer})),
            "incident_count": integer,
        }, ["student", "monitored_categories", "links", "incidents_by_category",
            "incidents_by_month"]),
        "UpdateStudentInformationRequest": obj({
            "summary": s("the summary line of the overview", maxLength=500),
            "keywords": arr(s(maxLength=60), maxItems=30),
            "agency_ids": arr(ident, "agencies flagged by hand", maxItems=100),
            "alert_account_ids": arr(ident, "staff alerted about every incident of this "
                                            "student", maxItems=200),
            "links": arr(obj({"student_id": ident, "label": s(maxLength=40)}, ["student_id"],
                             closed=True), "the manual links, as they should be", maxItems=100),
            "monitored_category_ids": arr(ident, "the categories the student is monitored "
                                                 "under (of those the caller may see)",
                                          maxItems=200),
            "group_ids": arr(ident, "groups of a student added by hand (admin)", maxItems=50),
        }, description="only the fields sent change", closed=True),
        "Contact": obj({
            "id": s(), "student_id": s(), "title": s(), "first_name": s(), "last_name": s(),
            "relationship": s(), "parental_responsibility": boolean, "priority": integer,
            "phones": strings, "email": s(), "address": address,
            "source": s(enum=["mis", "manual"]), "notes": s(),
        }, ["id", "source"]),
        "ContactList": obj({"contacts": arr(ref("Contact"))}, ["contacts"]),
        "NewContact": obj({
            "title": s(maxLength=20), "first_name": s(maxLength=100),
            "last_name": s(maxLength=100), "relationship": s(maxLength=60),
            "parental_responsibility": boolean,
            "priority": {"type": "integer", "minimum": 0, "maximum": 99},
            "phones": arr(s(maxLength=40), maxItems=5), "email": s(maxLength=200),
            "address": obj({k: s(maxLength=200) for k in
                            ("line1", "line2", "town", "county", "postcode")}, closed=True),
            "notes": s(maxLength=2000),
        }, closed=True),
        "AttendanceLine": obj({"sessions": integer, "percent": {"type": "number"}},
                              ["sessions", "percent"]),
        "Attendance": obj({
            "from_date": s(format="date"), "to_date": s(format="date"),
            **{name: ref("AttendanceLine") for name in (
                "overall", "present", "approved_educational_activity", "authorised_absences",
                "unauthorised_absences", "possible", "lates_before_registers_closed",
                "lates_after_registers_closed", "unexplained_absences")},
            "marks": arr(obj({"date": s(format="date"), "session": s(enum=["AM", "PM"]),
                              "code": s(), "meaning": s(), "minutes_late": integer}),
                         "oldest first"),
        }, ["from_date", "to_date", "overall", "possible", "marks"]),
        "MonitoringSpan": obj({
            "id": s(), "category": ref("CategoryDetail"), "started_at": when,
            "ended_at": ns("null while still monitored", format="date-time"),
            "duration_seconds": integer,
            "source": s("incident, manual, bulk, linked, merge"), "started_by": s(),
            "ended_by": ns(),
        }, ["id", "category", "started_at", "duration_seconds"]),
        "MonitoringHistory": obj({"spans": arr(ref("MonitoringSpan"), "newest start first")},
                                 ["spans"]),
        "UpdateMonitoringRequest": obj({
            "student_ids": arr(ident, minItems=1, maxItems=500),
            "category_id": s("the category (not for wipe_all)", maxLength=100),
            "operation": s(enum=["add", "remove", "wipe_all"]),
            "start_date": s("ISO date monitoring starts (add); default now", maxLength=10),
        }, ["student_ids", "operation"], closed=True),
        "UpdateMonitoringResponse": obj({"started": integer, "ended": integer},
                                        ["started", "ended"]),
        "AuditEntry": obj({
            "id": s(), "account_id": s(), "account_name": s(), "student_id": ns(),
            "action": s("what, e.g. incident.viewed, access.denied"), "detail": s(),
            "client_ip": s(), "at": when,
        }, ["id", "action", "at"]),
        "AuditList": obj({"entries": arr(ref("AuditEntry"), "newest first")}, ["entries"]),
        "UpdateIncidentRequest": obj({
            "text": s(minLength=1, maxLength=100_000),
            "occurred_at": s("ISO 8601 date-time (school time without an offset)",
                             format="date-time"),
            "category_ids": arr(ident, minItems=1, maxItems=100),
            "agency_ids": arr(ident, maxItems=100),
            "status": s(enum=["active", "closed"]),
            "assigned_to": ns("a key holder's account id; null or empty: nobody",
                              maxLength=100),
            "expected_version": {"type": "integer", "minimum": 0, "maximum": INT32_MAX,
                                 "description": "refuse (409) if someone saved another "
                                                "version meanwhile"},
        }, description="text, occurred_at, category_ids and agency_ids need the edit "
                       "permission; status and assigned_to any elevated viewer",
            closed=True),
        "DeleteRequest": obj({"reason": s("why it is deleted", minLength=1, maxLength=1000)},
                             ["reason"], closed=True),
        "PinRequest": obj({"pinned": boolean}, ["pinned"], closed=True),
        "MergeIncidentRequest": obj({
            "target_number": {"type": "integer", "minimum": 1, "maximum": INT63_MAX,
                              "description": "number of the incident to merge into"},
            "target_incident_id": s(maxLength=100),
        }, description="one of the two", closed=True),
        "AddAlertsRequest": obj({
            "account_ids": arr(ident, maxItems=500), "alert_group_ids": arr(ident, maxItems=50),
            "incident_recipients": {"type": "boolean", "description":
                                    "(actions) alert those alerted to the incident"},
        }, closed=True),
        "AddAlertsResponse": obj({"alerted_account_ids": strings,
                                  "alert_warnings": arr(s(), "of them, those who could not "
                                                             "normally view it")},
                                 ["alerted_account_ids", "alert_warnings"]),
        "AddLinkedStudentsRequest": obj({
            "student_ids": arr(ident, minItems=1, maxItems=50),
            "monitor": {"type": "boolean",
                        "description": "monitor them under the incident's categories"},
        }, ["student_ids"], closed=True),
        "IncidentPrint": obj({"incident": ref("IncidentDetail"),
                              "student": ref("StudentDetail"), "printed_by_name": s(),
                              "printed_at": when}, ["incident", "student"]),
        "CreateActionRequest": obj({
            "text": s("what was done", minLength=1, maxLength=100_000),
            "category_ids": arr(ident, "extra categories shown against the incident",
                                maxItems=100),
            "agency_ids": arr(ident, maxItems=100),
            "occurred_at": s("ISO 8601 date-time; omitted means now", format="date-time"),
            "alert_account_ids": arr(ident, maxItems=500),
            "alert_group_ids": arr(ident, maxItems=50),
            "alert_incident_recipients": {"type": "boolean", "description":
                                          "also alert those alerted to the incident"},
            "copy_to_linked_students": {"type": "boolean", "description":
                                        "add it to the linked students' copies too"},
            "request_id": s("idempotency key", maxLength=100),
        }, ["text"], closed=True),
        "UpdateActionRequest": obj({
            "text": s(minLength=1, maxLength=100_000),
            "occurred_at": s(format="date-time"), "agency_ids": arr(ident, maxItems=100),
            "expected_version": {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
        }, closed=True),
        "SplitActionRequest": obj({
            "category_ids": arr(ident, "categories of the new incident; empty: the "
                                       "incident's own", maxItems=100),
        }, closed=True),
        "Permission": obj({
            "user_group_id": s(), "user_group_name": s(), "category_id": s(),
            "view_students": boolean, "view_incidents": boolean, "add_incidents": boolean,
        }, ["user_group_id", "category_id"]),
        "PermissionList": obj({"permissions": arr(ref("Permission"))}, ["permissions"]),
        "PermissionInput": obj({
            "user_group_id": ident, "view_students": boolean, "view_incidents": boolean,
            "add_incidents": boolean,
        }, ["user_group_id"], closed=True),
        "SetCategoryPermissionsRequest": obj({
            "permissions": arr(ref("PermissionInput"), minItems=1, maxItems=200)},
            ["permissions"], closed=True),
        "CreateCategoryRequest": obj({
            "name": s(minLength=1, maxLength=100),
            "colour": s("hex colour", pattern="^#?[0-9a-fA-F]{6}$", maxLength=7),
            "parent_id": ns("the parent of a sub-category", maxLength=100),
            "permissions": arr(ref("PermissionInput"), maxItems=200),
        }, ["name"], closed=True),
        "UpdateCategoryRequest": obj({
            "name": s("renaming applies to every past incident", minLength=1, maxLength=100),
            "colour": s(pattern="^#?[0-9a-fA-F]{6}$", maxLength=7),
            "position": {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
            "permissions": arr(ref("PermissionInput"), maxItems=200),
            "enabled": {"type": "boolean", "description": "a disabled category takes no new "
                                                          "incidents"},
        }, closed=True),
        "DeleteCategoryResponse": obj({
            "deleted": boolean,
            "disabled": {"type": "boolean", "description": "in use: disabled instead"},
        }, ["deleted", "disabled"]),
        "MergeCategoryRequest": obj({"target_category_id": ident}, ["target_category_id"],
                                    closed=True),
        "MergeCategoryResponse": obj({"incidents_moved": integer, "monitoring_moved": integer,
                                      "target": ref("CategoryDetail")},
                                     ["incidents_moved", "monitoring_moved", "target"]),
        "CreateAgencyRequest": obj({"name": s(minLength=1, maxLength=100)}, ["name"],
                                   closed=True),
        "UpdateAgencyRequest": obj({"name": s("renaming applies to every past record",
                                              minLength=1, maxLength=100),
                                    "enabled": boolean}, closed=True),
        "Group": obj({
            "id": s(), "name": s(), "kind": s(enum=["tutor", "year"]), "mis_id": ns(),
            "active": boolean, "is_new": {"type": "boolean", "description":
                                          "appeared in an import; nobody set its access yet"},
            "student_count": integer, "access_account_ids": strings,
            "access_user_group_ids": strings,
        }, ["id", "name", "kind"]),
        "GroupList": obj({"groups": arr(ref("Group")), "new_group_count": integer},
                         ["groups"]),
        "GroupAccessRequest": obj({"account_ids": arr(ident, maxItems=2000),
                                   "user_group_ids": arr(ident, maxItems=200)}, closed=True),
    })

    detail = js("IncidentDetail", "The incident, with its actions")
    paths["/incidents/{incident_id}"]["get"]["responses"]["200"] = detail
    paths["/incidents"]["post"]["responses"]["201"]["content"] = detail["content"]

    paths.update({
        "/students/{student_id}/profile": {"get": op(
            "getStudentProfile", "The Overview tab: details, summary, monitored categories, "
            "agencies, keywords, links, incidents by category and per month", "200",
            js("StudentProfile", "The profile"), tag="students", errors=reads,
            params=[student_id,
                    q("timeline_from", "ISO date (default six months ago)",
                      {"type": "string", "format": "date"}),
                    q("timeline_to", "ISO date (default today)",
                      {"type": "string", "format": "date"})])},
        "/students/{student_id}/information": {"patch": op(
            "updateStudentInformation", "\"Edit information\": only the fields sent change",
            "200", js("StudentProfile", "The profile as it now is"), tag="students",
            body="UpdateStudentInformationRequest", errors=changes, params=[student_id])},
        "/students/{student_id}/contacts": {
            "get": op("listContacts", "A student's contacts (from the MIS and added here)",
                      "200", js("ContactList", "Contacts"), tag="students", errors=reads,
                      params=[student_id]),
            "post": op("addContact", "Add a contact (e.g. a social worker)", "201",
                       js("Contact", "Added"), tag="students", body="NewContact",
                       errors=changes, params=[student_id])},
        "/students/{student_id}/attendance": {"get": op(
            "getAttendance", "Attendance statistics (sessions and % of possible) and marks",
            "200", js("Attendance", "Attendance"), tag="students", errors=reads,
            params=[student_id, *from_to])},
        "/students/{student_id}/monitoring": {"get": op(
            "getMonitoringHistory", "Every start and end of the student's monitoring", "200",
            js("MonitoringHistory", "Spans, newest first"), tag="monitoring", errors=reads,
            params=[student_id])},
        "/students/{student_id}/monitoring.csv": {"get": op(
            "getMonitoringHistoryCsv", "The monitoring history as CSV", "200",
            {"description": "CSV file",
             "content": {"text/csv": {"schema": {"type": "string"}}}},
            tag="monitoring", errors=reads, params=[student_id])},
        "/students/{student_id}/audit": {"get": op(
            "listStudentAudit", "Audit report: every view and change of the student's records",
            "200", js("AuditList", "Entries"), tag="students", errors=reads,
            params=[student_id, *from_to, o._LIMIT])},
        "/monitoring": {"post": op(
            "updateMonitoring", "Bulk \"Update Categories\": add or remove a category (from a "
            "start date), or wipe all, for the chosen students", "200",
            js("UpdateMonitoringResponse", "How many spans started and ended"),
            tag="monitoring", body="UpdateMonitoringRequest", errors=changes)},
        "/incidents/{incident_id}": {
            **paths["/incidents/{incident_id}"],
            "patch": op("updateIncident", "Edit an incident (a new version; the old ones are "
                        "kept), or change its status or assignee", "200", detail,
                        tag="incidents", body="UpdateIncidentRequest", errors=changes,
                        params=[incident_id])},
        "/incidents/{incident_id}/delete": {"post": op(
            "deleteIncident", "Delete with a reason (editors still see a marker)", "200",
            detail, tag="incidents", body="DeleteRequest", errors=changes,
            params=[incident_id])},
        "/incidents/{incident_id}/restore": {"post": op(
            "restoreIncident", "Restore a deleted incident", "200", detail, tag="incidents",
            errors=changes, params=[incident_id])},
        "/incidents/{incident_id}/pin": {"post": op(
            "pinIncident", "Pin to (or unpin from) the top of the chronology", "200", detail,
            tag="incidents", body="PinRequest", errors=changes, params=[incident_id])},
        "/incidents/{incident_id}/history": {"get": op(
            "getIncidentHistory", "Every version of the incident (edit permission)", "200",
            js("RecordHistory", "Versions"), tag="incidents", errors=reads,
            params=[incident_id])},
        "/incidents/{incident_id}/merge-preview": {"get": op(
            "previewIncidentMerge", "The incident a merge would go into, by its number",
            "200", detail, tag="incidents", errors=("401", "403", "404", "409", "422", "503"),
            params=[incident_id, {**q("target_number", "number of the incident to merge "
                                                       "into", {"type": "integer",
                                                                "minimum": 1,
                                                                "maximum": INT63_MAX}),
                                  "required": True}])},
        "/incidents/{incident_id}/merge": {"post": op(
            "mergeIncident", "The incident becomes an action of the target; answers the target",
            "200", detail, tag="incidents", body="MergeIncidentRequest", errors=changes,
            params=[incident_id])},
        "/incidents/{incident_id}/alerts": {"post": op(
            "addIncidentAlerts", "Alert more colleagues to the incident", "200",
            js("AddAlertsResponse", "Who was newly alerted"), tag="incidents",
            body="AddAlertsRequest", errors=changes, params=[incident_id])},
        "/incidents/{incident_id}/linked-students": {"post": op(
            "addLinkedStudents", "Link more students (the incident is copied to each)", "200",
            detail, tag="incidents", body="AddLinkedStudentsRequest", errors=changes,
            params=[incident_id])},
        "/incidents/{incident_id}/print": {"get": op(
            "getIncidentPrint", "What the print view shows (one incident and its actions)",
            "200", js("IncidentPrint", "Print data"), tag="incidents", errors=reads,
            params=[incident_id])},
        "/incidents/{incident_id}/print.pdf": {"get": op(
            "getIncidentPrintPdf", "The print view as an A4 PDF (one incident and its "
            "actions; a download, never cached)", "200",
            {"description": "PDF file",
             "headers": {"Content-Disposition": {
                 "schema": {"type": "string"},
                 "description": 'attachment; filename="incident-<number>-<date>.pdf"'}},
             "content": {"application/pdf": {"schema": {"type": "string",
                                                        "format": "binary"}}}},
            tag="incidents", errors=reads, params=[incident_id])},
        "/incidents/{incident_id}/actions": {"post": op(
            "createAction", "Add an action to an incident", "201",
            {**js("Action", "Added (or the one added earlier with this request_id)"),
             "headers": {"Location": {"schema": {"type": "string"},
                                      "description": "URL of the incident"}}},
            tag="actions", body="CreateActionRequest", errors=changes, params=[incident_id])},
        "/actions/{action_id}": {"patch": op(
            "updateAction", "Edit an action (a new version; the old ones are kept)", "200",
            js("Action", "The action"), tag="actions", body="UpdateActionRequest",
            errors=changes, params=[action_id])},
        "/actions/{action_id}/delete": {"post": op(
            "deleteAction", "Delete an action with a reason", "200", js("Action", "Deleted"),
            tag="actions", body="DeleteRequest", errors=changes, params=[action_id])},
        "/actions/{action_id}/restore": {"post": op(
            "restoreAction", "Restore a deleted action", "200", js("Action", "Restored"),
            tag="actions", errors=changes, params=[action_id])},
        "/actions/{action_id}/history": {"get": op(
            "getActionHistory", "Every version of the action (edit permission)", "200",
            js("RecordHistory", "Versions"), tag="actions", errors=reads, params=[action_id])},
        "/actions/{action_id}/split": {"post": op(
            "splitAction", "The action becomes an incident of its own", "201",
            {**js("IncidentDetail", "The new incident"),
             "headers": {"Location": {"schema": {"type": "string"},
                                      "description": "URL of the new incident"}}},
            tag="actions", body="SplitActionRequest", errors=changes, params=[action_id])},
        "/actions/{action_id}/copy-to-linked": {"post": op(
            "copyActionToLinkedIncidents", "\"Add to linked incidents\" where missing", "200",
            js("ActionList", "The copies made"), tag="actions", errors=changes,
            params=[action_id])},
        "/actions/{action_id}/alerts": {"post": op(
            "addActionAlerts", "Alert more colleagues to an action", "200",
            js("AddAlertsResponse", "Who was newly alerted"), tag="actions",
            body="AddAlertsRequest", errors=changes, params=[action_id])},
        "/me/assigned": {"get": op(
            "listMyAssigned", "Open incidents assigned to the caller (full access)", "200",
            js("IncidentList", "Assigned incidents"), tag="incidents",
            errors=("401", "403", "503"))},
        "/categories/{category_id}": {
            "patch": op("updateCategory", "Rename, recolour, reorder, set permissions, "
                        "enable or disable (admin)", "200",
                        js("CategoryDetail", "The category"), tag="admin",
                        body="UpdateCategoryRequest", errors=changes,
                        params=[pp("category_id", "category id")]),
            "delete": op("deleteCategory", "Delete when unused, otherwise disable (admin)",
                         "200", js("DeleteCategoryResponse", "What happened"), tag="admin",
                         errors=changes, params=[pp("category_id", "category id")])},
        "/categories/{category_id}/merge": {"post": op(
            "mergeCategory", "Merge into another category: irreversible (admin)", "200",
            js("MergeCategoryResponse", "What moved"), tag="admin",
            body="MergeCategoryRequest", errors=changes,
            params=[pp("category_id", "category id (the one that goes)")])},
        "/categories/{category_id}/permissions": {
            "get": op("listCategoryPermissions", "Per user group: view students, view "
                      "incidents, add incidents (admin)", "200",
                      js("PermissionList", "Permissions"), tag="admin", errors=reads,
                      params=[pp("category_id", "category id")]),
            "put": op("setCategoryPermissions", "Set user groups' permissions (admin)", "200",
                      js("PermissionList", "Permissions as they now are"), tag="admin",
                      body="SetCategoryPermissionsRequest", errors=changes,
                      params=[pp("category_id", "category id")])},
        "/agencies": {
            "get": op("listAgencies", "Agencies", "200", js("AgencyList", "Agencies"),
                      tag="incidents", errors=("401", "403", "503"),
                      params=[q("include_disabled", "also disabled agencies",
                                {"type": "boolean", "default": False})]),
            "post": op("createAgency", "Add an agency (admin)", "201",
                       js("Agency", "Added"), tag="admin", body="CreateAgencyRequest",
                       errors=changes)},
        "/agencies/{agency_id}": {"patch": op(
            "updateAgency", "Rename, disable or enable an agency (admin)", "200",
            js("Agency", "The agency"), tag="admin", body="UpdateAgencyRequest",
            errors=changes, params=[pp("agency_id", "agency id")])},
        "/groups": {"get": op(
            "listGroups", "Tutor and year groups (with access lists for admins)", "200",
            js("GroupList", "Groups"), tag="students", errors=("401", "403", "503"),
            params=[q("kind", "tutor or year", {"type": "string", "enum": ["tutor", "year"]}),
                    q("include_inactive", "also groups no longer in the MIS",
                      {"type": "boolean", "default": False})])},
        "/groups/{group_id}/access": {"put": op(
            "setGroupAccess", "Who may see the students of a class (admin)", "200",
            js("Group", "The group"), tag="admin", body="GroupAccessRequest", errors=changes,
            params=[pp("group_id", "group id")])},
    })
    paths["/categories"]["post"] = op(
        "createCategory", "Add a category or sub-category (admin)", "201",
        js("CategoryDetail", "Added"), tag="admin", body="CreateCategoryRequest",
        errors=changes)
