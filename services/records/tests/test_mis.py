"""The MIS import's events -> students, groups, contacts, attendance; "unlink from MIS"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.records import students
from services.records.audit import unit_of_work
from services.records.models import (
    AttendanceMark,
    Contact,
    GroupMembership,
    Student,
    StudentGroup,
)
from services.records.tests import factories as f
from shared.context import acting_as

T0 = dt.datetime(2026, 9, 10, 6, 0)


def later(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def student(world, mis_id: str, school=None) -> Student | None:
    school = school or world.a
    with world.db.read() as s:
        row = s.scalars(select(Student).where(Student.school_id == school.id,
                                              Student.mis_id == mis_id)).first()
        if row is not None:
            s.expunge(row)
        return row


def members(world, group_mis_id: str) -> list[tuple[str, str | None]]:
    with world.db.read() as s:
        group = s.scalars(select(StudentGroup).where(StudentGroup.mis_id == group_mis_id)).one()
        return sorted((m.student_mis_id or "", m.student_id) for m in s.scalars(
            select(GroupMembership).where(GroupMembership.group_id == group.id)))


def test_a_new_pupil_arrives_with_every_detail(world):
    a = world.a
    body = f.student_upserted(
        a.id, "M-1001", "Katherine", "Okafor", as_of=T0, upn="A873412725001",
        preferred_first_name="Kate", middle_names="Ada", gender="F", ethnicity="WBRI",
        sen_status="K", pupil_premium=True, fsm=True, eal=False, looked_after=True,
        year_group="Year 9", tutor_group="9C", admission_date="2024-09-02",
        date_of_arrival="2024-09-02", admission_number="007822",
        medical_conditions=["Asthma", " "],
        address=f.mis_import_pb2.Address(line1="1 High St", town="Leeds", postcode="LS1 1AA"),
    )
    world.mis.handle(body)
    world.mis.handle(body)  # redelivered: same state
    s = student(world, "M-1001")
    assert (s.first_name, s.preferred_name, s.last_name, s.middle_names) == (
        "Katherine", "Kate", "Okafor", "Ada")
    assert s.upn == "A873412725001" and s.sen_status == "K" and s.pupil_premium
    assert s.looked_after and s.fsm and not s.eal and s.year_group == "Year 9"
    assert s.medical_conditions == ["Asthma"]
    assert s.address == {"line1": "1 High St", "line2": "", "town": "Leeds", "county": "",
                         "postcode": "LS1 1AA"}
    assert s.admission_date == dt.date(2024, 9, 2) and s.mis_linked and not s.archived
    assert world.count(Student, mis_id="M-1001") == 1
    # The id is deterministic: the same event always makes the same student.
    from services.records.mis import mis_uuid

    assert s.id == mis_uuid(a.id, "student", "M-1001")


def test_updates_apply_in_order_and_an_older_statement_is_ignored(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-1", "Ava", "Smith", as_of=T0))
    world.mis.handle(f.student_upserted(a.id, "M-1", "Ava", "Smith-Jones", as_of=later(10),
                                        tutor_group="8C"))
    world.mis.handle(f.student_upserted(a.id, "M-1", "Ava", "Stale", as_of=later(5)))
    s = student(world, "M-1")
    assert (s.last_name, s.tutor_group) == ("Smith-Jones", "8C")


def test_matched_by_upn_when_the_mis_id_is_new(world):
    """A pupil added by hand with a UPN, later sent by a linked MIS... is left alone (added by
    hand = not linked); a re-admitted MIS pupil with a new MIS id is matched by UPN."""
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "OLD-7", "Ben", "Cole", upn="A873412725002",
                                        as_of=T0))
    world.mis.handle(f.student_upserted(a.id, "NEW-7", "Ben", "Cole", upn="A873412725002",
                                        as_of=later(1)))
    assert student(world, "OLD-7") is None
    assert student(world, "NEW-7").upn == "A873412725002"
    assert world.count(Student, upn="A873412725002") == 1
    # A temporary UPN never matches another pupil.
    world.mis.handle(f.student_upserted(a.id, "NEW-8", "Cara", "Cole", upn="A873412725002",
                                        upn_temporary=True, as_of=later(2)))
    assert student(world, "NEW-8").upn is None  # held by Ben: not taken
    assert student(world, "NEW-7").upn == "A873412725002"


def test_leavers_are_archived_never_deleted_and_come_back_when_readmitted(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-2", "Leo", "Hart", as_of=T0))
    world.mis.handle(f.student_archived(a.id, "M-2", reason="left", leaving_date="2026-07-20",
                                        as_of=later(1)))
    s = student(world, "M-2")
    assert s.archived and s.archive_reason == "left" and s.leaving_date == dt.date(2026, 7, 20)
    world.mis.handle(f.student_upserted(a.id, "M-2", "Leo", "Hart", as_of=later(0)))  # older
    assert student(world, "M-2").archived
    world.mis.handle(f.student_upserted(a.id, "M-2", "Leo", "Hart", as_of=later(60)))
    assert not student(world, "M-2").archived
    # A leaving date that has passed archives them too.
    world.mis.handle(f.student_upserted(a.id, "M-2", "Leo", "Hart", as_of=later(70),
                                        leaving_date="2026-09-01"))
    assert student(world, "M-2").archived
    world.mis.handle(f.student_archived(a.id, "nobody", as_of=later(80)))  # ignored


def test_archived_students_are_found_only_with_include_archived(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-3", "Zola", "Quinn", as_of=T0))
    world.mis.handle(f.student_archived(a.id, "M-3", as_of=later(1)))
    with acting_as(world.dsl()), unit_of_work(world.db, "search") as s:
        assert students.search_students(s, query="zola") == []
        found = students.search_students(s, query="zola", include_archived=True)
    assert [c.archived for c in found] == [True]


def test_unlinked_students_are_left_alone_by_imports(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-4", "Ivy", "Lane", as_of=T0))
    sid = student(world, "M-4").id
    with acting_as(world.dsl()), unit_of_work(world.db, "unlink") as s:
        card = students.unlink_from_mis(s, sid)
    assert card.details.mis_linked is False
    world.mis.handle(f.student_upserted(a.id, "M-4", "Ivy", "Renamed", as_of=later(5)))
    world.mis.handle(f.student_archived(a.id, "M-4", as_of=later(6)))
    world.mis.handle(f.contacts(a.id, "M-4", [{"mis_id": "C1", "first_name": "Mum"}],
                                as_of=later(7)))
    world.mis.handle(f.attendance(a.id, "M-4", [("2026-09-08", "AM", "/")], as_of=later(8)))
    world.mis.handle(f.mis_group(a.id, "G-9", "9A", "tutor", ["M-4"], as_of=later(9)))
    s = student(world, "M-4")
    assert s.last_name == "Lane" and not s.archived
    assert world.count(Contact, student_id=sid) == 0
    assert world.count(AttendanceMark, student_mis_id="M-4") == 0
    assert members(world, "G-9") == []


def test_groups_with_their_members_even_before_the_members_arrive(world):
    a = world.a
    world.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", ["M-10", "M-11"], as_of=T0))
    assert [m for m, sid in members(world, "G-8B")] == ["M-10", "M-11"]
    assert all(sid is None for _, sid in members(world, "G-8B"))
    world.mis.handle(f.student_upserted(a.id, "M-10", "Noah", "Fisher", as_of=T0))
    tied = dict(members(world, "G-8B"))
    assert tied["M-10"] == student(world, "M-10").id and tied["M-11"] is None
    # The next statement is the whole list: M-11 leaves the group, M-12 joins.
    world.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", ["M-10", "M-12"], as_of=later(1)))
    assert [m for m, _ in members(world, "G-8B")] == ["M-10", "M-12"]
    world.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", [], as_of=later(0)))  # stale
    assert len(members(world, "G-8B")) == 2
    with world.db.read() as s:
        group = s.scalars(select(StudentGroup).where(StudentGroup.mis_id == "G-8B")).one()
        assert group.is_new and group.kind == "tutor" and group.active
    world.mis.handle(f.mis_group(a.id, "G-X", "X", "house", ["M-10"], as_of=T0))  # unknown kind
    assert world.count(StudentGroup, mis_id="G-X") == 0


def test_contacts_replace_the_mis_list_and_keep_manual_ones(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-20", "Hannah", "Green", as_of=T0))
    sid = student(world, "M-20").id
    with world.db.transaction() as s:
        s.add(Contact(id="manual-1", school_id=a.id, student_id=sid, source="manual",
                      first_name="Sam", last_name="Social", relationship="Social worker"))
    world.mis.handle(f.contacts(a.id, "M-20", [
        {"mis_id": "P1", "first_name": "Jo", "last_name": "Green", "relationship": "Mother",
         "parental_responsibility": True, "priority": 1, "phones": ["07700 900123"]},
        {"mis_id": "P2", "first_name": "Al", "last_name": "Green", "relationship": "Father",
         "priority": 2},
    ], as_of=T0))
    world.mis.handle(f.contacts(a.id, "M-20", [
        {"mis_id": "P1", "first_name": "Jo", "last_name": "Green", "relationship": "Mother",
         "priority": 1},
    ], as_of=later(1)))
    world.mis.handle(f.contacts(a.id, "M-20", [], as_of=later(0)))  # stale
    with world.db.read() as s:
        rows = {(c.source, c.first_name) for c in s.scalars(
            select(Contact).where(Contact.student_id == sid))}
    assert rows == {("manual", "Sam"), ("mis", "Jo")}


def test_contacts_before_the_pupil_are_tied_to_them_later(world):
    a = world.a
    world.mis.handle(f.contacts(a.id, "M-21", [{"mis_id": "P9", "first_name": "Kim"}],
                                as_of=T0))
    world.mis.handle(f.student_upserted(a.id, "M-21", "Rio", "Park", as_of=T0))
    assert world.count(Contact, student_id=student(world, "M-21").id) == 1


def test_attendance_marks_upsert_by_session(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-30", "Finn", "Doyle", as_of=T0))
    sid = student(world, "M-30").id
    world.mis.handle(f.attendance(a.id, "M-30", [
        ("2026-09-08", "AM", "/"), ("2026-09-08", "PM", "N"), ("2026-09-09", "AM", "L", 10),
        ("bad-date", "AM", "/"), ("2026-09-09", "EV", "/"),
    ], as_of=T0))
    world.mis.handle(f.attendance(a.id, "M-30", [("2026-09-08", "PM", "I")], as_of=later(1)))
    world.mis.handle(f.attendance(a.id, "M-30", [("2026-09-08", "PM", "O")], as_of=later(0)))
    with world.db.read() as s:
        marks = {(m.date.isoformat(), m.session): (m.code, m.minutes_late, m.student_id)
                 for m in s.scalars(select(AttendanceMark))}
    assert marks == {("2026-09-08", "AM"): ("/", 0, sid), ("2026-09-08", "PM"): ("I", 0, sid),
                     ("2026-09-09", "AM"): ("L", 10, sid)}


def test_events_of_one_school_never_touch_another(world):
    world.mis.handle(f.student_upserted(world.b.id, "M-40", "Eli", "Moss", as_of=T0))
    assert student(world, "M-40", world.a) is None
    assert student(world, "M-40", world.b) is not None
    assert world.mis.bindings == ["mis.attendance.recorded", "mis.contact.upserted",
                                  "mis.group.upserted", "mis.student.archived",
                                  "mis.student.upserted"]


def test_a_record_saying_the_pupil_has_left_archives_them(world):
    world.mis.handle(f.student_upserted(world.a.id, "M-50", "Ada", "Moss", archived=True,
                                        as_of=T0))
    assert student(world, "M-50").archived
