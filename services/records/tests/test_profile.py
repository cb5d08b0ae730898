"""The student profile: overview, "Edit information", contacts, attendance."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from services.records import agencies, attendance, profile
from services.records.audit import unit_of_work
from services.records.models import AuditEntry, Monitoring, Student, StudentLink
from services.records.tests import factories as f
from services.records.tests.test_incidents import create
from shared.context import acting_as
from shared.db import utcnow
from shared.errors import InvalidArgument, NotFound, PermissionDenied


def run(world, claims, fn, *args, **kw):
    with acting_as(claims), unit_of_work(world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def agency(world, name):
    return run(world, world.dsl(), agencies.create_agency, name=name)


def update(world, claims, student_id, **kw):
    return run(world, claims, profile.update_information, world.events, student_id=student_id,
               **kw)


def test_the_overview(world):
    a = world.a
    hannah = a.students["hannah"]
    police, nurse = agency(world, "Police"), agency(world, "School Nurse")
    create(world, world.teacher(), category_ids=[a.categories["Bullying"]],
           agency_ids=[police.id])
    create(world, world.teacher(), category_ids=[a.categories["Bullying"],
                                                 a.categories["Child Protection"]])
    old = utcnow() - dt.timedelta(days=400)
    create(world, world.dsl(), category_ids=[a.categories["Behaviour"]], occurred_at=old)
    update(world, world.dsl(), hannah,
           update=["summary", "keywords", "agencies", "alert_staff", "links"],
           summary="Social worker: J. Doe, 0113 496 0000", keywords=["asthma", "Asthma"],
           agency_ids=[nurse.id], alert_account_ids=[a.pastoral],
           links=[profile.LinkInput(student_id=a.students["danielle"], label="friend")])
    p = run(world, world.dsl(), profile.get_profile, hannah)
    assert p.summary.startswith("Social worker") and p.keywords == ["asthma"]
    assert [(x.agency.name, x.manual) for x in p.agencies] == [("School Nurse", True),
                                                               ("Police", False)]
    assert p.alert_staff == [(a.pastoral, "Pat Pastoral")]
    assert [(link.name, link.label, link.source) for link in p.links] == [
        ("Dani Bradshaw", "friend", "manual")]
    assert {c.category.name for c in p.monitored} == {"Bullying", "Child Protection",
                                                      "Behaviour"}
    assert [(c.category.name, n) for c, n in p.by_category] == [
        ("Bullying", 2), ("Behaviour", 1), ("Child Protection", 1)]
    assert p.incident_count == 3
    assert len(p.by_month) == 6 and p.by_month[-1] == (utcnow().strftime("%Y-%m"), 2)
    # A manual link shows from both sides.
    other = run(world, world.dsl(), profile.get_profile, a.students["danielle"])
    assert [(link.name, link.label) for link in other.links] == [("Hannah Greenwood", "friend")]
    # Pastoral sees what its categories allow.
    seen = run(world, world.pastoral(), profile.get_profile, hannah)
    assert [c.category.name for c, _ in seen.by_category] == ["Bullying", "Behaviour"]
    assert {c.category.name for c in seen.monitored} == {"Bullying", "Behaviour"}
    longer = run(world, world.dsl(), profile.get_profile, hannah,
                 timeline_from=(old.date() - dt.timedelta(days=1)).isoformat())
    assert sum(n for _, n in longer.by_month) == 3
    assert world.count(AuditEntry, action="student.viewed", student_id=hannah) == 3
    assert world.count(AuditEntry, action="student.information.updated") == 1


def test_siblings_come_from_shared_mis_contacts(world):
    a = world.a
    mum = {"mis_id": "P-77", "first_name": "Jo", "last_name": "Greenwood",
           "relationship": "Mother"}
    world.mis.handle(f.contacts(a.id, "hannah", [mum]))
    world.mis.handle(f.contacts(a.id, "matthew", [mum]))
    world.mis.handle(f.contacts(a.id, "danielle", [{"mis_id": "P-78", "first_name": "X"}]))
    p = run(world, world.dsl(), profile.get_profile, a.students["hannah"])
    assert [(link.name, link.label, link.source) for link in p.links] == [
        ("Matt Greenwood", "sibling", "mis")]


def test_manual_monitoring_from_edit_information(world):
    a = world.a
    hannah = a.students["hannah"]
    update(world, world.dsl(), hannah, update=["monitored_categories"],
           monitored_category_ids=[a.categories["Bullying"], a.categories["Behaviour"]])
    assert world.count(Monitoring, student_id=hannah) == 2
    update(world, world.dsl(), hannah, update=["monitored_categories"],
           monitored_category_ids=[a.categories["Behaviour"]])
    with world.db.read() as s:
        spans = {(m.category_id, m.ended_at is None, m.source)
                 for m in s.scalars(select(Monitoring).where(Monitoring.student_id == hannah))}
    assert spans == {(a.categories["Bullying"], False, "manual"),
                     (a.categories["Behaviour"], True, "manual")}
    # Pastoral cannot monitor under Child Protection, and leaves it alone when editing.
    update(world, world.dsl(), hannah, update=["monitored_categories"],
           monitored_category_ids=[a.categories["Behaviour"], a.categories["Child Protection"]])
    with pytest.raises(PermissionDenied):
        update(world, world.pastoral(), hannah, update=["monitored_categories"],
               monitored_category_ids=[a.categories["Child Protection"]])
    update(world, world.pastoral(), hannah, update=["monitored_categories"],
           monitored_category_ids=[])
    with world.db.read() as s:
        open_now = {m.category_id for m in s.scalars(select(Monitoring).where(
            Monitoring.student_id == hannah, Monitoring.ended_at.is_(None)))}
    assert open_now == {a.categories["Child Protection"]}


@pytest.mark.parametrize(("kw", "error"), [
    ({"update": []}, InvalidArgument),
    ({"update": ["nickname"]}, InvalidArgument),
    ({"update": ["summary"], "summary": "x" * 1001}, InvalidArgument),
    ({"update": ["keywords"], "keywords": ["k" * 61]}, InvalidArgument),
    ({"update": ["agencies"], "agency_ids": ["nope"]}, InvalidArgument),
    ({"update": ["alert_staff"], "alert_account_ids": ["nobody"]}, InvalidArgument),
    ({"update": ["monitored_categories"], "monitored_category_ids": ["nope"]}, InvalidArgument),
    ({"update": ["groups"], "group_ids": []}, InvalidArgument),  # an MIS student's groups
])
def test_edit_information_refuses_bad_input(world, kw, error):
    hannah = world.a.students["hannah"]
    with pytest.raises(error):
        update(world, world.dsl(), hannah, **kw)
    assert world.count(AuditEntry, action="student.information.updated") == 0
    assert world.count(AuditEntry, action="request.rejected") == 1


def test_links_to_self_or_another_school_are_refused(world):
    hannah = world.a.students["hannah"]
    with pytest.raises(InvalidArgument):
        update(world, world.dsl(), hannah, update=["links"],
               links=[profile.LinkInput(student_id=hannah, label="me")])
    with pytest.raises(NotFound):
        update(world, world.dsl(), hannah, update=["links"],
               links=[profile.LinkInput(student_id=world.b.students["hannah"], label="x")])
    assert world.count(StudentLink) == 0


def test_the_profile_needs_elevated_access_and_details(world):
    hannah = world.a.students["hannah"]
    for claims in (world.teacher(), world.dsl_without_key()):
        with pytest.raises(PermissionDenied):
            run(world, claims, profile.get_profile, hannah)
    with pytest.raises(NotFound):
        run(world, world.dsl(world.b), profile.get_profile, hannah)
    assert world.count(AuditEntry, action="access.denied") == 3


# ---- contacts ----------------------------------------------------------------------------------


def test_contacts_from_the_mis_and_added_by_hand(world):
    a = world.a
    hannah = a.students["hannah"]
    world.mis.handle(f.contacts(a.id, "hannah", [
        {"mis_id": "P1", "first_name": "Jo", "last_name": "Greenwood", "relationship": "Mother",
         "priority": 1, "parental_responsibility": True, "phones": ["07700 900123"],
         "email": "jo@example.org"}]))
    added = run(world, world.dsl(), profile.add_contact, student_id=hannah, first_name="Sam",
                last_name="Okoro", relationship="Social worker", phones=["0113 496 0001"],
                email="sam.okoro@example.gov.uk", notes="Allocated 2026",
                address={"line1": "Civic Hall", "town": "Leeds"})
    assert added.source == "manual"
    listed = run(world, world.dsl(), profile.list_contacts, hannah)
    assert [(c.first_name, c.source) for c in listed] == [("Jo", "mis"), ("Sam", "manual")]
    assert listed[0].phones == ["07700 900123"] and listed[1].address["town"] == "Leeds"
    assert world.count(AuditEntry, action="contact.added", student_id=hannah) == 1
    assert world.count(AuditEntry, action="student.contacts.viewed", student_id=hannah) == 1
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), profile.add_contact, student_id=hannah, first_name="",
            last_name="")
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), profile.add_contact, student_id=hannah, first_name="A",
            email="not-an-email")
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), profile.list_contacts, hannah)


# ---- attendance --------------------------------------------------------------------------------


def test_attendance_statistics_as_in_section_8_5():
    codes = ["/"] * 100 + ["\\"] * 11 + ["L"] * 4 + ["V"] + ["I"] * 6 + ["M"] * 4 \
        + ["N"] * 2 + ["O"] * 3 + ["U"] * 3 + ["X"] * 5 + ["-"]
    s = attendance.statistics(codes)
    assert s.possible.sessions == 134
    assert (s.present.sessions, s.approved.sessions, s.authorised.sessions,
            s.unauthorised.sessions) == (115, 1, 10, 8)
    assert s.overall.sessions == 116 and s.overall.percent == round(100 * 116 / 134, 2)
    assert (s.lates_before.sessions, s.lates_after.sessions, s.unexplained.sessions) == (4, 3, 2)
    assert s.possible.percent == 100.0
    assert attendance.statistics([]).present.percent == 0.0
    assert [attendance.meaning(c) for c in ("/", "L", "B", "I", "U", "Z", "?")] == [
        "present", "late", "approved", "authorised", "unauthorised", "not_counted", "unknown"]


def test_a_students_attendance_this_year_and_the_marks(world):
    a = world.a
    today = utcnow().date()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    world.mis.handle(f.attendance(a.id, "hannah", [
        (days[0].isoformat(), "AM", "/"), (days[0].isoformat(), "PM", "L", 5),
        (days[1].isoformat(), "AM", "I"), (days[1].isoformat(), "PM", "U", 40),
        (days[2].isoformat(), "AM", "#"),
        ((today - dt.timedelta(days=800)).isoformat(), "AM", "N"),
    ]))
    result = run(world, world.dsl(), attendance.get_attendance, a.students["hannah"],
                 from_date=(today - dt.timedelta(days=30)).isoformat())
    assert [(m.date, m.session, m.code) for m in result.marks][:2] == [
        (days[0], "AM", "/"), (days[0], "PM", "L")]
    s = result.stats
    assert (s.possible.sessions, s.present.sessions, s.authorised.sessions,
            s.unauthorised.sessions, s.lates_before.sessions, s.lates_after.sessions) == (
        4, 2, 1, 1, 1, 1)
    assert s.overall.percent == 50.0
    default = run(world, world.dsl(), attendance.get_attendance, a.students["hannah"])
    assert default.to_date == today and default.from_date.month == 9
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), attendance.get_attendance, a.students["hannah"],
            from_date="2026-10-01", to_date="2026-09-01")
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), attendance.get_attendance, a.students["hannah"])
    assert world.count(AuditEntry, action="student.attendance.viewed") == 2


def test_profile_details_of_an_mis_student(world):
    a = world.a
    world.mis.handle(f.student_upserted(a.id, "M-5", "Amara", "Okafor", sen_status="E",
                                        pupil_premium=True, medical_conditions=["Epilepsy"]))
    with world.db.read() as s:
        sid = s.scalars(select(Student.id).where(Student.mis_id == "M-5")).one()
    p = run(world, world.dsl(), profile.get_profile, sid)
    assert p.student.details.sen_status == "E" and p.student.details.pupil_premium
    assert p.student.details.medical_conditions == ["Epilepsy"]
