"""The issue's journeys through the records gRPC API (what the gateway's pages will call):
add an incident with a linked student and an alert; the DSL reads, adds an action, merges two
duplicates, edits and views the history, deletes and restores; bulk monitoring; a restricted
teacher's day; and the admin pages' calls."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from haven.records.v1 import records_pb2 as pb
from services.records.tests import factories as f

Code = grpc.StatusCode


def ts(days_ago: float):
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago))
    return t


def test_linked_student_alert_read_action_merge_edit_delete_restore(served):
    w, call = served.world, served.call
    a = w.a
    teacher, dsl = w.teacher(), w.dsl()
    hannah, matthew = a.students["hannah"], a.students["matthew"]

    # A teacher adds an incident about Hannah with Matthew linked, alerting the DSL.
    first = call("CreateIncident", pb.CreateIncidentRequest(
        student_id=hannah, text="Hannah and Matthew were left at the gate at 5pm.",
        category_ids=[a.categories["Child Protection"]], linked_student_ids=[matthew],
        monitor_linked_students=True, alert_account_ids=[a.dsl], assigned_to=a.dsl,
        occurred_at=ts(0.1), request_id=str(uuid.uuid4())), teacher)
    assert first.number == 1 and first.assigned_to_name == "Dana Lead"
    assert [(s.name, s.tutor_group) for s in first.linked_students] == [("Matt Greenwood", "8B")]
    assert first.alerted_account_ids == [a.dsl] and not first.alert_warnings
    # The same concern, logged again by a colleague (a duplicate).
    dup = call("CreateIncident", pb.CreateIncidentRequest(
        student_id=hannah, text="Parents late again to collect.",
        category_ids=[a.categories["Behaviour"]], alert_account_ids=[a.dsl]),
        w.teacher(second=True))

    # The DSL sees the alerts, reads the chronology, adds an action copied to Matthew.
    listed = call("ListAlerts", pb.ListAlertsRequest(), dsl).alerts
    assert {x.incident_id for x in listed} == {first.id, dup.id}
    assert {x.reason for x in listed} == {"chosen"}
    assigned = call("ListMyAssigned", pb.ListMyAssignedRequest(), dsl).incidents
    assert {i.student_id for i in assigned} == {hannah, matthew}  # the linked copy too
    chron = call("GetChronology", pb.GetChronologyRequest(student_id=hannah,
                                                          include_actions=True), dsl)
    assert [i.id for i in chron.incidents] == [dup.id, first.id]
    assert chron.incidents[0].can_edit and chron.incidents[0].alert_unread
    action = call("CreateAction", pb.CreateActionRequest(
        incident_id=first.id, text="Called mum; arranged a meeting.",
        copy_to_linked_students=True, alert_incident_recipients=True,
        alert_account_ids=[a.pastoral]), dsl)
    assert action.alerted_account_ids == [a.pastoral] and action.alert_warnings == [a.pastoral]
    matthew_chron = call("GetChronology", pb.GetChronologyRequest(
        student_id=matthew, include_actions=True), dsl)
    assert [x.text for x in matthew_chron.incidents[0].actions] == [
        "Called mum; arranged a meeting."]
    call("MarkAlertRead", pb.MarkAlertReadRequest(incident_id=first.id), dsl)

    # Merge the duplicate into the first, after a preview.
    preview = call("PreviewIncidentMerge", pb.PreviewIncidentMergeRequest(
        incident_id=dup.id, target_number=first.number), dsl)
    assert preview.id == first.id and len(preview.actions) == 1
    merged = call("MergeIncident", pb.MergeIncidentRequest(incident_id=dup.id,
                                                           target_number=first.number), dsl)
    assert sorted(x.merged_from_number for x in merged.actions) == [0, dup.number]
    assert {c.name for c in merged.categories} == {"Child Protection", "Behaviour"}
    code, message = served.refused("GetIncident", pb.GetIncidentRequest(incident_id=dup.id), dsl)
    assert code == Code.NOT_FOUND and f"merged into incident {first.number}" in message

    # Edit and view the history.
    edited = call("UpdateIncident", pb.UpdateIncidentRequest(
        incident_id=first.id, update=["text", "status"], expected_version=1, status="closed",
        text="Hannah and Matthew were left at the school gate until 5.15pm."), dsl)
    assert edited.version == 2 and edited.status == "closed" and edited.updated_at.seconds
    assert [i.student_id for i in call("ListMyAssigned", pb.ListMyAssignedRequest(),
                                       dsl).incidents] == [matthew]
    history = call("GetRecordHistory", pb.GetRecordHistoryRequest(incident_id=first.id),
                   dsl).versions
    assert [(v.version, v.change, v.status) for v in history] == [
        (1, "created", "active"), (2, "edited", "closed")]
    assert history[0].text.startswith("Hannah and Matthew were left at the gate")
    assert [c.name for c in history[0].categories] == ["Child Protection"]

    # Delete with a reason, then restore.
    deleted = call("DeleteIncident", pb.DeleteIncidentRequest(
        incident_id=first.id, reason="Logged against the wrong family"), dsl)
    assert deleted.deleted and deleted.text == "" and deleted.deleted_by_name == "Dana Lead"
    marker = call("GetChronology", pb.GetChronologyRequest(student_id=hannah), dsl).incidents
    assert [(i.id, i.deleted, i.deleted_reason) for i in marker] == [
        (first.id, True, "Logged against the wrong family")]
    restored = call("RestoreIncident", pb.RestoreIncidentRequest(incident_id=first.id), dsl)
    assert not restored.deleted and restored.version == 4
    pinned = call("PinIncident", pb.PinIncidentRequest(incident_id=first.id, pinned=True), dsl)
    assert pinned.pinned

    # Actions: edit, delete, restore, split one out.
    act_id = action.id
    call("UpdateAction", pb.UpdateActionRequest(action_id=act_id, update=["text"],
                                                text="Called mum; meeting on Friday."), dsl)
    assert call("DeleteAction", pb.DeleteActionRequest(action_id=act_id, reason="dup"),
                dsl).deleted
    assert not call("RestoreAction", pb.RestoreActionRequest(action_id=act_id), dsl).deleted
    assert [v.change for v in call("GetRecordHistory", pb.GetRecordHistoryRequest(
        action_id=act_id), dsl).versions] == ["created", "edited", "deleted", "restored"]
    split = call("SplitAction", pb.SplitActionRequest(
        action_id=act_id, category_ids=[a.categories["Bullying"]]), dsl)
    assert split.text == "Called mum; meeting on Friday." and split.number == 4

    # The print view's data.
    printed = call("GetIncidentPrint", pb.GetIncidentPrintRequest(incident_id=first.id), dsl)
    assert printed.incident.id == first.id and printed.student.first_name == "Hannah"
    assert printed.printed_by_name == "Dana Lead" and printed.printed_at.seconds

    # Alerts and linked students after the fact.
    added = call("AddAlerts", pb.AddAlertsRequest(incident_id=first.id,
                                                  account_ids=[a.teacher2]), dsl)
    assert list(added.alerted_account_ids) == [a.teacher2]
    linked = call("AddLinkedStudents", pb.AddLinkedStudentsRequest(
        incident_id=first.id, student_ids=[a.students["danielle"]]), dsl)
    assert len(linked.linked_students) == 2
    copied = call("CopyActionToLinkedIncidents", pb.CopyActionToLinkedIncidentsRequest(
        action_id=merged.actions[0].id), dsl).actions
    assert len(copied) == 2  # Matthew's and Danielle's copies lacked the merged action

    audit = call("ListAuditEntries", pb.ListAuditEntriesRequest(student_id=hannah), dsl).entries
    assert {"incident.created", "incident.merged", "incident.edited", "incident.deleted",
            "incident.restored", "action.split"} <= {e.action for e in audit}
    assert {e.client_ip for e in audit} == {"198.51.100.7"}


def test_bulk_monitoring_and_the_monitoring_history(served):
    w, call = served.world, served.call
    a = w.a
    dsl = w.dsl()
    w.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", ["hannah", "matthew"]))
    groups = {g.name: g for g in call("ListGroups", pb.ListGroupsRequest(), dsl).groups}
    register = call("SearchStudents", pb.SearchStudentsRequest(
        group_id=groups["8B"].id, limit=500), dsl).students
    assert [s.first_name for s in register] == ["Hannah", "Matthew"]
    done = call("UpdateMonitoring", pb.UpdateMonitoringRequest(
        student_ids=[s.id for s in register], category_id=a.categories["Bullying"],
        operation="add",
        start_date=(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)).isoformat()), dsl)
    assert (done.started, done.ended) == (2, 0)
    monitored = call("SearchStudents", pb.SearchStudentsRequest(
        category_id=a.categories["Bullying"]), dsl).students
    assert [list(s.monitored_category_ids) for s in monitored] == [[a.categories["Bullying"]]] * 2
    call("UpdateMonitoring", pb.UpdateMonitoringRequest(
        student_ids=[register[0].id], operation="wipe_all"), dsl)
    history = call("GetMonitoringHistory", pb.GetMonitoringHistoryRequest(
        student_id=register[0].id), dsl)
    (span,) = history.spans
    assert span.category.name == "Bullying" and span.HasField("ended_at")
    assert 9 * 86400 < span.duration_seconds < 12 * 86400 and span.source == "bulk"
    assert history.csv.count("\n") == 2
    assert call("SearchStudents", pb.SearchStudentsRequest(monitored_only=True),
                dsl).students[0].first_name == "Matthew"


def test_a_restricted_teachers_day(served):
    w, call = served.world, served.call
    a = w.a
    tom = w.teacher()
    found = call("SearchStudents", pb.SearchStudentsRequest(query="dani"), tom).students
    assert [(s.first_name, s.upn, s.date_of_birth) for s in found] == [("Danielle", "", "")]
    mine = call("CreateIncident", pb.CreateIncidentRequest(
        student_id=found[0].id, text="Danielle said she had no breakfast.",
        category_ids=[a.categories["Behaviour"]], alert_account_ids=[a.dsl]), tom)
    call("CreateAction", pb.CreateActionRequest(incident_id=mine.id,
                                                text="Gave her toast at break."), tom)
    history = call("ListMyHistory", pb.ListMyHistoryRequest(), tom)
    assert [i.id for i in history.incidents] == [mine.id]
    assert [x.text for x in history.actions] == ["Gave her toast at break."]
    theirs = call("CreateIncident", pb.CreateIncidentRequest(
        student_id=a.students["hannah"], text="Please keep an eye on Hannah today.",
        category_ids=[a.categories["Bullying"]], alert_account_ids=[a.teacher]), w.dsl())
    (alert,) = call("ListAlerts", pb.ListAlertsRequest(), tom).alerts
    assert alert.incident_id == theirs.id and alert.raised_by_name == "Dana Lead"
    read = call("GetIncident", pb.GetIncidentRequest(incident_id=theirs.id), tom)
    assert read.text == "Please keep an eye on Hannah today." and not read.can_edit
    call("CreateAction", pb.CreateActionRequest(incident_id=theirs.id,
                                                text="She was fine in my lesson."), tom)
    call("MarkAlertRead", pb.MarkAlertReadRequest(alert_id=alert.id), tom)
    code, _ = served.refused("GetIncident", pb.GetIncidentRequest(incident_id=theirs.id), tom)
    assert code == Code.PERMISSION_DENIED
    for method, request in (
            ("GetChronology", pb.GetChronologyRequest(student_id=a.students["hannah"])),
            ("GetStudentProfile", pb.GetStudentProfileRequest(student_id=a.students["hannah"])),
            ("SearchStudents", pb.SearchStudentsRequest(monitored_only=True)),
            ("ListGroups", pb.ListGroupsRequest())):
        assert served.refused(method, request, tom)[0] == Code.PERMISSION_DENIED, method
    assert call("ListMyAssigned", pb.ListMyAssignedRequest(), tom).incidents == []
    scope = call("GetAccessScope", pb.GetAccessScopeRequest(), tom)
    assert not scope.full_access and not scope.viewable_category_ids


def test_the_admin_pages(served):
    w, call = served.world, served.call
    a = w.a
    dsl = w.dsl()
    # Categories
    made = call("CreateCategory", pb.CreateCategoryRequest(
        name="Online Safety", colour="3f51b5", permissions=[pb.CategoryPermission(
            user_group_id=a.dsl_group, view_students=True, view_incidents=True,
            add_incidents=True)]), dsl)
    assert made.can_add and made.can_view
    renamed = call("UpdateCategory", pb.UpdateCategoryRequest(
        category_id=made.id, update=["name"], name="E-Safety"), dsl)
    assert renamed.name == "E-Safety"
    perms = call("SetCategoryPermissions", pb.SetCategoryPermissionsRequest(permissions=[
        pb.CategoryPermission(user_group_id=a.teachers_group, category_id=made.id,
                              add_incidents=True)]), dsl).permissions
    assert any(p.category_id == made.id and p.user_group_name == "Teachers" for p in perms)
    listed = call("ListCategoryPermissions", pb.ListCategoryPermissionsRequest(
        category_id=made.id), dsl).permissions
    assert [p.user_group_name for p in listed] == ["DSL", "Teachers"]
    assert not call("SetCategoryEnabled", pb.SetCategoryEnabledRequest(
        category_id=made.id, enabled=False), dsl).enabled
    assert call("DeleteCategory", pb.DeleteCategoryRequest(category_id=made.id), dsl).deleted
    merged = call("MergeCategory", pb.MergeCategoryRequest(
        source_category_id=a.categories["Old Category"],
        target_category_id=a.categories["Behaviour"]), dsl)
    assert merged.target.name == "Behaviour" and merged.incidents_moved == 0
    cats = call("ListCategories", pb.ListCategoriesRequest(include_disabled=True), dsl)
    legal = next(c for c in cats.categories if c.name == "Legal Action")
    assert legal.parent_name == "Attendance"
    # Agencies
    police = call("CreateAgency", pb.CreateAgencyRequest(name="Police"), dsl)
    call("UpdateAgency", pb.UpdateAgencyRequest(agency_id=police.id, name="Police (WYP)"), dsl)
    call("SetAgencyEnabled", pb.SetAgencyEnabledRequest(agency_id=police.id, enabled=False),
         dsl)
    assert call("ListAgencies", pb.ListAgenciesRequest(), dsl).agencies == []
    assert [x.name for x in call("ListAgencies", pb.ListAgenciesRequest(
        include_disabled=True), dsl).agencies] == ["Police (WYP)"]
    # Settings and groups
    s = call("UpdateSchoolSettings", pb.UpdateSchoolSettingsRequest(
        settings=pb.SchoolSettings(enforce_alert=True, academic_year_start="2026-09-02",
                                   academic_year_end="2027-07-21"),
        update=["enforce_alert", "academic_year_start", "academic_year_end"]), dsl)
    assert s.enforce_alert and s.academic_year_end == "2027-07-21"
    assert call("GetSchoolSettings", pb.GetSchoolSettingsRequest(), w.teacher()).enforce_alert
    group = call("CreateGroup", pb.CreateGroupRequest(name="Nurture", kind="tutor"), dsl)
    group = call("SetGroupAccess", pb.SetGroupAccessRequest(
        group_id=group.id, user_group_ids=[a.pastoral_group]), dsl)
    assert list(group.access_user_group_ids) == [a.pastoral_group]
    # Students
    added = call("AddStudent", pb.AddStudentRequest(
        first_name="Ruby", last_name="Nowak", date_of_birth="2012-03-04", gender="F",
        group_ids=[group.id]), dsl)
    assert not added.mis_linked and [g.name for g in added.groups] == ["Nurture"]
    hannah = a.students["hannah"]
    unlinked = call("UnlinkStudentFromMis", pb.UnlinkStudentFromMisRequest(student_id=hannah),
                    dsl)
    assert not unlinked.mis_linked
    profile = call("UpdateStudentInformation", pb.UpdateStudentInformationRequest(
        student_id=hannah, update=["summary", "keywords", "links", "alert_staff"],
        summary="Lives with grandparents.", keywords=["Young carer"],
        links=[pb.LinkInput(student_id=added.id, label="cousin")],
        alert_account_ids=[a.pastoral]), dsl)
    assert profile.summary == "Lives with grandparents." and list(profile.keywords) == [
        "young carer"]
    assert [(x.name, x.label, x.source) for x in profile.links] == [
        ("Ruby Nowak", "cousin", "manual")]
    assert [x.name for x in profile.alert_staff] == ["Pat Pastoral"]
    again = call("GetStudentProfile", pb.GetStudentProfileRequest(student_id=hannah), dsl)
    assert again.student.summary == "Lives with grandparents." and len(
        again.incidents_by_month) == 6
    contact = call("AddContact", pb.AddContactRequest(student_id=hannah, contact=pb.Contact(
        first_name="Sam", last_name="Okoro", relationship="Social worker",
        phones=["0113 496 0001"], address=pb.Address(town="Leeds"))), dsl)
    assert contact.source == "manual" and contact.address.town == "Leeds"
    assert [c.first_name for c in call("ListContacts", pb.ListContactsRequest(
        student_id=hannah), dsl).contacts] == ["Sam"]
    today = dt.datetime.now(dt.UTC).date()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    w.mis.handle(f.attendance(a.id, "matthew", [(yesterday, "AM", "/"), (yesterday, "PM", "N")]))
    att = call("GetAttendance", pb.GetAttendanceRequest(
        student_id=a.students["matthew"], from_date=(today - dt.timedelta(days=7)).isoformat()),
        dsl)
    assert (att.present.sessions, att.unauthorised_absences.sessions,
            att.unexplained_absences.percent, att.possible.sessions) == (1, 1, 50.0, 2)
    assert [m.meaning for m in att.marks] == ["present", "unauthorised"]
    # Automatic alerts and clearing
    rules = call("SetAutomaticAlerts", pb.SetAutomaticAlertsRequest(alerts=pb.AutomaticAlerts(
        account_id=a.teacher2, category_ids=[a.categories["Bullying"]])), dsl)
    assert list(rules.category_ids) == [a.categories["Bullying"]]
    assert list(call("GetAutomaticAlerts", pb.GetAutomaticAlertsRequest(
        account_id=a.teacher2), dsl).category_ids) == [a.categories["Bullying"]]
    w.consumer.handle(f.alert_group_event(a.id, "ag-1", "DSLs", [a.dsl, a.pastoral]))
    assert [g.name for g in call("ListAlertGroups", pb.ListAlertGroupsRequest(),
                                 w.teacher()).alert_groups] == ["DSLs"]
    checked = call("CheckAlertRecipients", pb.CheckAlertRecipientsRequest(
        student_id=hannah, category_ids=[a.categories["Child Protection"]],
        alert_group_ids=["ag-1"]), w.teacher()).recipients
    assert [(r.name, r.can_view) for r in checked] == [("Dana Lead", True),
                                                      ("Pat Pastoral", False)]
    call("CreateIncident", pb.CreateIncidentRequest(
        student_id=hannah, text="x", category_ids=[a.categories["Bullying"]],
        alert_group_ids=["ag-1"]), w.teacher())
    today_s = today.isoformat()
    cleared = call("ClearUserAlerts", pb.ClearUserAlertsRequest(
        account_id=a.pastoral, from_date=today_s, to_date=today_s), dsl)
    assert cleared.cleared == 1  # the group's alert (the automatic one went to Tess)
    user_audit = call("ListAuditEntries", pb.ListAuditEntriesRequest(account_id=a.dsl), dsl)
    assert "alerts.cleared" in {e.action for e in user_audit.entries}
    scope = call("GetAccessScope", pb.GetAccessScopeRequest(), dsl)
    assert scope.full_access and scope.can_edit_incidents and scope.view_students_without_group
