"""The issue's list of bad input and denials, through the gRPC API: each refused with a clear
status and message, nothing written, and the attempt audited."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
from sqlalchemy import func, select

from haven.records.v1 import records_pb2 as pb
from services.records.models import (
    Action,
    Alert,
    AuditEntry,
    Incident,
    Monitoring,
    RecordVersion,
)
from services.records.tests import factories as f
from shared.testing import FULL_PERMISSIONS

Code = grpc.StatusCode
NO_UNGROUPED = tuple(p for p in FULL_PERMISSIONS if p != "view_students_without_group")


def written(world) -> dict[str, int]:
    """Everything a refused request must not have changed (refusals are audited apart)."""
    out = {m.__tablename__: world.count(m) for m in (Incident, Action, Alert, Monitoring,
                                                      RecordVersion)}
    out["events"] = len(world.outbox_bodies())
    with world.db.read() as s:
        out["audit (not refusals)"] = s.execute(
            select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action.not_in(["access.denied", "request.rejected"]))
            .execution_options(all_schools=True)).scalar_one()
    return out


def refusals(world, account_id: str) -> list[tuple[str, str | None]]:
    with world.db.read() as s:
        return [(r.action, r.student_id) for r in s.scalars(
            select(AuditEntry).where(
                AuditEntry.account_id == account_id,
                AuditEntry.action.in_(["access.denied", "request.rejected"]))
            .order_by(AuditEntry.at).execution_options(all_schools=True))]


def incident_request(world, **kw) -> pb.CreateIncidentRequest:
    a = world.a
    args = {"student_id": a.students["hannah"], "text": "Pushed in the corridor.",
            "category_ids": [a.categories["Bullying"]], "alert_account_ids": [a.dsl]}
    args.update(kw)
    return pb.CreateIncidentRequest(**args)


def ahead(days: float):
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=days))
    return ts


@pytest.mark.parametrize(("case", "code", "words", "audited"), [
    ("a student of another school", Code.NOT_FOUND, "No such student", "access.denied"),
    ("a category the user cannot add to", Code.PERMISSION_DENIED, "Legal Action",
     "access.denied"),
    ("empty text", Code.INVALID_ARGUMENT, "Describe what happened", "request.rejected"),
    ("a date beyond today + 1 day", Code.INVALID_ARGUMENT, "future", "request.rejected"),
    ("a linked student of another school", Code.NOT_FOUND, "No such linked student",
     "access.denied"),
])
def test_bad_incidents_are_refused_and_audited(served, case, code, words, audited):
    w = served.world
    a = w.a
    request = {
        "a student of another school": incident_request(w, student_id=w.b.students["hannah"]),
        "a category the user cannot add to": incident_request(
            w, category_ids=[a.categories["Legal Action"]]),
        "empty text": incident_request(w, text="   "),
        "a date beyond today + 1 day": incident_request(w, occurred_at=ahead(1.5)),
        "a linked student of another school": incident_request(
            w, linked_student_ids=[w.b.students["hannah"]]),
    }[case]
    before = written(w)
    got, message = served.refused("CreateIncident", request, w.teacher())
    assert got == code and words in message
    assert written(w) == before
    assert [action for action, _ in refusals(w, a.teacher)] == [audited]


def test_a_linked_student_outside_the_callers_classes(served):
    w = served.world
    a = w.a
    restrict(served)
    tina = w.keyholder(TINA, a.pastoral_group, permissions=NO_UNGROUPED, name="Tina")
    before = written(w)
    got, message = served.refused("CreateIncident", incident_request(
        w, category_ids=[a.categories["Behaviour"]],
        linked_student_ids=[a.students["danielle"]]), tina)
    assert got == Code.PERMISSION_DENIED and "class" in message
    assert written(w) == before
    assert refusals(w, TINA) == [("access.denied", a.students["danielle"])]


def test_editing_or_deleting_without_the_permission(served):
    w = served.world
    a = w.a
    made = served.call("CreateIncident", incident_request(w), w.teacher())
    action = served.call("CreateAction", pb.CreateActionRequest(
        incident_id=made.id, text="Rang home."), w.dsl())
    no_edit = w.keyholder(a.pastoral, a.pastoral_group, permissions=(
        "view_student_list", "view_student_details", "add_incidents",
        "view_students_without_group"))
    before = written(w)
    attempts = [
        ("UpdateIncident", pb.UpdateIncidentRequest(incident_id=made.id, update=["text"],
                                                    text="Changed")),
        ("DeleteIncident", pb.DeleteIncidentRequest(incident_id=made.id, reason="wrong")),
        ("UpdateAction", pb.UpdateActionRequest(action_id=action.id, update=["text"],
                                                text="Changed")),
        ("DeleteAction", pb.DeleteActionRequest(action_id=action.id, reason="wrong")),
        ("MergeIncident", pb.MergeIncidentRequest(incident_id=made.id, target_number=1)),
        ("SplitAction", pb.SplitActionRequest(action_id=action.id)),
        ("GetRecordHistory", pb.GetRecordHistoryRequest(incident_id=made.id)),
    ]
    for method, request in attempts:
        got, message = served.refused(method, request, no_edit)
        assert got == Code.PERMISSION_DENIED, method
        assert "edit" in message, (method, message)
    assert written(w) == before
    assert [x for x, _ in refusals(w, a.pastoral)] == ["access.denied"] * len(attempts)
    # A restricted colleague (the author) gets the same answer.
    got, _ = served.refused("DeleteIncident", pb.DeleteIncidentRequest(
        incident_id=made.id, reason="mine"), w.teacher())
    assert got == Code.PERMISSION_DENIED
    assert served.call("GetIncident", pb.GetIncidentRequest(incident_id=made.id),
                       w.dsl()).text == "Pushed in the corridor."


def test_a_restricted_user_cannot_open_an_incident_after_marking_it_read(served):
    w = served.world
    a = w.a
    made = served.call("CreateIncident", incident_request(w, alert_account_ids=[a.teacher2]),
                       w.dsl())
    tess = w.teacher(second=True)
    assert served.call("GetIncident", pb.GetIncidentRequest(incident_id=made.id), tess).text
    served.call("MarkAlertRead", pb.MarkAlertReadRequest(incident_id=made.id), tess)
    before = written(w)
    got, message = served.refused("GetIncident", pb.GetIncidentRequest(incident_id=made.id),
                                  tess)
    assert got == Code.PERMISSION_DENIED and "may not open" in message
    got, _ = served.refused("CreateAction", pb.CreateActionRequest(
        incident_id=made.id, text="Late follow-up"), tess)
    assert got == Code.PERMISSION_DENIED
    assert written(w) == before
    assert refusals(w, a.teacher2) == [("access.denied", a.students["hannah"])] * 2


TINA = str(uuid.uuid4())


def restrict(served):
    """5B: Hannah and Matthew; 6A: Danielle. Tina (a key-holder teacher) may see 5B only."""
    w = served.world
    a = w.a
    w.mis.handle(f.mis_group(a.id, "G-5B", "5B", "tutor", ["hannah", "matthew"]))
    w.mis.handle(f.mis_group(a.id, "G-6A", "6A", "tutor", ["danielle"]))
    w.consumer.handle(f.account_event(a.id, TINA, "Tina Tutor", a.pastoral_group,
                                      key_holder=True))
    dsl = w.dsl()
    served.call("UpdateSchoolSettings", pb.UpdateSchoolSettingsRequest(
        settings=pb.SchoolSettings(restrict_access_by="tutor"), update=["restrict_access_by"]),
        dsl)
    groups = {g.name: g.id for g in served.call("ListGroups", pb.ListGroupsRequest(),
                                                dsl).groups}
    served.call("SetGroupAccess", pb.SetGroupAccessRequest(group_id=groups["5B"],
                                                           account_ids=[TINA]), dsl)
    return groups


def test_a_teacher_restricted_to_5b_opening_a_6a_student_by_url_or_api(served):
    w = served.world
    a = w.a
    made = served.call("CreateIncident", incident_request(
        w, student_id=a.students["danielle"], category_ids=[a.categories["Behaviour"]],
        alert_account_ids=[]), w.dsl())
    restrict(served)
    tina = w.keyholder(TINA, a.pastoral_group, permissions=NO_UNGROUPED, name="Tina")
    danielle = a.students["danielle"]
    before = written(w)
    attempts = [
        ("GetStudent", pb.GetStudentRequest(student_id=danielle)),
        ("GetStudentProfile", pb.GetStudentProfileRequest(student_id=danielle)),
        ("GetChronology", pb.GetChronologyRequest(student_id=danielle)),
        ("GetAttendance", pb.GetAttendanceRequest(student_id=danielle)),
        ("ListContacts", pb.ListContactsRequest(student_id=danielle)),
        ("GetMonitoringHistory", pb.GetMonitoringHistoryRequest(student_id=danielle)),
        ("ListAuditEntries", pb.ListAuditEntriesRequest(student_id=danielle)),
        ("GetIncident", pb.GetIncidentRequest(incident_id=made.id)),
        ("CreateIncident", incident_request(w, student_id=danielle,
                                            category_ids=[a.categories["Behaviour"]])),
    ]
    for method, request in attempts:
        got, message = served.refused(method, request, tina)
        assert got == Code.PERMISSION_DENIED, method
        assert "class" in message or "may not open" in message, (method, message)
    assert written(w) == before
    assert refusals(w, TINA) == [("access.denied", danielle)] * len(attempts)
    # Her own class opens.
    hannah = served.call("GetStudentProfile", pb.GetStudentProfileRequest(
        student_id=a.students["hannah"]), tina)
    assert hannah.student.first_name == "Hannah"
    found = served.call("SearchStudents", pb.SearchStudentsRequest(), tina).students
    assert [s.first_name for s in found] == ["Hannah", "Matthew"]
