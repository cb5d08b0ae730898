"""Reading: the chronology, opening one incident, alerts, my history, the access scope."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from services.records import access, alerts, categories, incidents
from services.records import chronology as reading
from services.records.audit import unit_of_work
from services.records.models import Alert, AuditEntry, Incident
from services.records.tests.test_incidents import create
from shared.context import acting_as
from shared.db import utcnow
from shared.errors import InvalidArgument, NotFound, PermissionDenied


def run(world, claims, fn, *args, **kw):
    with acting_as(claims), unit_of_work(world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def at(days_ago: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days_ago)


# ---- chronology -------------------------------------------------------------------------------


def test_chronology_is_newest_first_by_when_it_happened(world):
    a = world.a
    old = create(world, world.teacher(), text="first", occurred_at=at(30)).incident
    new = create(world, world.teacher(), text="second", occurred_at=at(1)).incident
    backdated = create(world, world.teacher(), text="third, backdated",
                       occurred_at=at(10)).incident
    create(world, world.teacher(), student_id=a.students["matthew"], text="someone else")
    chronology = run(world, world.dsl(), reading.get_chronology, a.students["hannah"])
    assert [v.incident.id for v in chronology.incidents] == [new.id, backdated.id, old.id]
    assert chronology.student.first_name == "Hannah"
    assert chronology.student.monitored_category_ids == [a.categories["Bullying"]]
    assert world.count(AuditEntry, action="student.chronology.viewed",
                       student_id=a.students["hannah"]) == 1
    limited = run(world, world.dsl(), reading.get_chronology, a.students["hannah"], limit=2)
    assert len(limited.incidents) == 2


def test_chronology_shows_only_incidents_in_categories_the_group_may_view(world):
    a = world.a
    hannah = a.students["hannah"]
    bullying = create(world, world.teacher(), category_ids=[a.categories["Bullying"]]).incident
    protection = create(world, world.teacher(),
                        category_ids=[a.categories["Child Protection"]]).incident
    both = create(world, world.teacher(), category_ids=[a.categories["Child Protection"],
                                                        a.categories["Behaviour"]]).incident
    seen = run(world, world.pastoral(), reading.get_chronology, hannah)
    assert {v.incident.id for v in seen.incidents} == {bullying.id, both.id}
    flags = {c.category.name: c.can_view for v in seen.incidents if v.incident.id == both.id
             for c in v.categories}
    assert flags == {"Child Protection": False, "Behaviour": True}
    # Pastoral may see students monitored for Behaviour and Bullying only.
    assert set(seen.student.monitored_category_ids) == {a.categories["Bullying"],
                                                        a.categories["Behaviour"]}
    everything = run(world, world.dsl(), reading.get_chronology, hannah)
    assert {v.incident.id for v in everything.incidents} == {bullying.id, protection.id, both.id}
    # Opening one incident follows the same rule.
    with pytest.raises(PermissionDenied):
        run(world, world.pastoral(), reading.get_incident, protection.id)


def test_restricted_callers_cannot_read_a_chronology_and_it_is_audited(world):
    a = world.a
    create(world, world.teacher())
    for claims in (world.teacher(), world.dsl_without_key()):
        with pytest.raises(PermissionDenied):
            run(world, claims, reading.get_chronology, a.students["hannah"])
    assert world.count(AuditEntry, action="access.denied", student_id=a.students["hannah"]) == 2
    assert world.count(AuditEntry, action="student.chronology.viewed") == 0


def test_no_chronology_of_another_schools_student(world):
    with pytest.raises(NotFound):
        run(world, world.dsl(), reading.get_chronology, world.b.students["hannah"])
    assert world.count(AuditEntry, action="access.denied", account_id=world.a.dsl) == 1


# ---- alerts and opening the alerted incident ------------------------------------------------


def test_the_dsl_sees_the_alert_and_marks_it_read(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    create(world, world.teacher(), alert_account_ids=[a.pastoral])
    (view,) = run(world, world.dsl(), alerts.list_alerts)
    assert view.incident.id == incident.id and view.student_name == "Hannah Greenwood"
    assert view.alert.raised_by_name == "Tom Teacher" and view.alert.kind == "incident"
    assert [c.category.name for c in view.categories] == ["Bullying"]
    opened = run(world, world.dsl(), reading.get_incident, incident.id)
    assert opened.alert_unread and opened.incident.text

    assert run(world, world.dsl(), alerts.mark_alert_read, alert_id=view.alert.id) == 1
    assert run(world, world.dsl(), alerts.list_alerts) == []
    assert run(world, world.dsl(), alerts.mark_alert_read, alert_id=view.alert.id) == 0
    assert world.count(AuditEntry, action="alert.read", account_id=a.dsl) == 1
    # Elevated, with the category's view permission: the incident stays readable.
    assert not run(world, world.dsl(), reading.get_incident, incident.id).alert_unread


def test_alerts_are_listed_newest_first(world):
    first = create(world, world.teacher(), text="one").incident
    second = create(world, world.teacher(), text="two").incident
    with world.db.transaction() as s:
        s.execute(update(Alert).where(Alert.incident_id == first.id)
                  .values(created_at=at(2)))
    listed = run(world, world.dsl(), alerts.list_alerts)
    assert [v.incident.id for v in listed] == [second.id, first.id]


def test_nobody_sees_or_marks_another_persons_alert(world):
    a = world.a
    create(world, world.teacher())
    (mine,) = run(world, world.dsl(), alerts.list_alerts)
    assert run(world, world.pastoral(), alerts.list_alerts) == []
    for claims in (world.pastoral(), world.teacher(), world.dsl(world.b)):
        with pytest.raises(NotFound):
            run(world, claims, alerts.mark_alert_read, alert_id=mine.alert.id)
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), alerts.mark_alert_read)
    assert world.count(Alert, recipient_account_id=a.dsl) == 1
    assert len(run(world, world.dsl(), alerts.list_alerts)) == 1
    assert world.count(AuditEntry, action="access.denied") == 3


def test_mark_read_by_incident(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    create(world, world.teacher(second=True), alert_account_ids=[a.dsl])
    assert run(world, world.dsl(), alerts.mark_alert_read, incident_id=incident.id) == 1
    assert len(run(world, world.dsl(), alerts.list_alerts)) == 1


def test_a_restricted_recipient_reads_the_incident_only_while_the_alert_is_unread(world):
    a = world.a
    incident = create(world, world.dsl(), alert_account_ids=[a.teacher2]).incident
    tess = world.teacher(second=True)
    (alert,) = run(world, tess, alerts.list_alerts)
    opened = run(world, tess, reading.get_incident, incident.id)
    assert opened.incident.text and opened.alert_unread
    run(world, tess, alerts.mark_alert_read, alert_id=alert.alert.id)
    with pytest.raises(PermissionDenied):
        run(world, tess, reading.get_incident, incident.id)
    # ...and a colleague who was never alerted could not open it at all.
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), reading.get_incident, incident.id)
    assert world.count(AuditEntry, action="incident.viewed", account_id=a.teacher2) == 1
    assert world.count(AuditEntry, action="access.denied", student_id=a.students["hannah"]) == 2


def test_the_author_can_open_their_incident_for_seven_days(world):
    incident = create(world, world.teacher(), alert_account_ids=[]).incident
    assert run(world, world.teacher(), reading.get_incident, incident.id).incident.text
    with world.db.transaction() as s:
        s.execute(update(Incident).values(created_at=at(8)))
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), reading.get_incident, incident.id)


def test_no_incident_of_another_school(world):
    incident = create(world, world.teacher()).incident
    with pytest.raises(NotFound):
        run(world, world.dsl(world.b), reading.get_incident, incident.id)


# ---- my history -----------------------------------------------------------------------------


def test_my_history_is_my_own_last_seven_days(world):
    mine = create(world, world.teacher(), text="mine").incident
    old = create(world, world.teacher(), text="old").incident
    create(world, world.teacher(second=True), text="theirs")
    with world.db.transaction() as s:
        s.execute(update(Incident).where(Incident.id == old.id).values(created_at=at(7.1)))
    history = run(world, world.teacher(), incidents.list_my_history)
    assert [v.incident.id for v in history] == [mine.id]


# ---- categories and access scope ---------------------------------------------------------------


def test_categories_with_what_the_group_may_do(world):
    a = world.a
    listed = run(world, world.teacher(), categories.list_categories)
    names = [v.category.name for v in listed]
    assert names == ["Behaviour", "Bullying", "Child Protection", "Attendance", "Legal Action"]
    flags = {v.category.name: (v.can_add, v.can_view) for v in listed}
    assert flags["Bullying"] == (True, False) and flags["Legal Action"] == (False, False)
    legal = next(v for v in listed if v.category.name == "Legal Action")
    assert legal.category.parent_id == a.categories["Attendance"]
    full = run(world, world.dsl(), categories.list_categories, include_disabled=True)
    assert [v.category.name for v in full][-1] == "Old Category"
    assert all(v.can_view for v in full)
    assert not next(v for v in full if v.category.name == "Old Category").can_add
    other = run(world, world.dsl(world.b), categories.list_categories)
    assert [v.category.name for v in other] == ["Bullying"]


def test_access_scope(world):
    a = world.a
    scope = run(world, world.pastoral(), access.get_access_scope)
    assert scope.full_access
    assert set(scope.viewable_category_ids) == {a.categories["Bullying"],
                                                a.categories["Behaviour"]}
    assert len(run(world, world.dsl(), access.get_access_scope).viewable_category_ids) == 6
    restricted = run(world, world.dsl_without_key(), access.get_access_scope)
    assert not restricted.full_access and restricted.viewable_category_ids == []
