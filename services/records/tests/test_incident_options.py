"""Adding an incident with everything the form offers: linked students, assignment, alert
groups, the school's "at least one alert" setting, warnings, agencies, automatic alerts."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.records import agencies, alerts, chronology, editing, incidents, profile, settings
from services.records.audit import unit_of_work
from services.records.models import Alert, AuditEntry, Incident, Monitoring, RecordVersion
from services.records.tests import factories as f
from services.records.tests.test_incidents import counts, create
from shared.context import acting_as
from shared.errors import InvalidArgument, PermissionDenied


def run(world, claims, fn, *args, **kw):
    with acting_as(claims), unit_of_work(world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def alerted(world, account_id):
    with world.db.read() as s:
        return [(a.incident_id, a.reason) for a in s.scalars(
            select(Alert).where(Alert.recipient_account_id == account_id).order_by(
                Alert.created_at))]


def test_linked_students_get_a_copy_each_and_may_be_monitored(world):
    a = world.a
    view = create(world, world.teacher(), linked_student_ids=[
        a.students["matthew"], a.students["danielle"], a.students["hannah"]],
        monitor_linked_students=True)
    i = view.incident
    assert i.link_group_id and [s.name for s in view.linked_students] == [
        "Matt Greenwood", "Dani Bradshaw"]
    with world.db.read() as s:
        copies = list(s.scalars(select(Incident).where(Incident.link_group_id == i.link_group_id)))
        numbers = sorted(c.number for c in copies)
        texts = {c.text for c in copies}
    assert len(copies) == 3 and numbers == [1, 2, 3]
    assert texts == {i.text}
    for key in ("hannah", "matthew", "danielle"):
        assert world.count(Monitoring, student_id=a.students[key]) == 1
    assert world.count(AuditEntry, action="incident.created") == 3
    assert world.count(RecordVersion, change="created") == 3
    # The chosen colleague is alerted once, to the main incident.
    assert alerted(world, a.dsl) == [(i.id, "chosen")]
    # Without "monitor", linked students are not monitored.
    create(world, world.teacher(), category_ids=[a.categories["Behaviour"]],
           linked_student_ids=[a.students["matthew"]])
    assert world.count(Monitoring, student_id=a.students["matthew"]) == 1


def test_a_linked_student_of_another_school_is_refused_and_nothing_is_written(world):
    before = counts(world)
    with pytest.raises(Exception) as refused:
        create(world, world.teacher(), linked_student_ids=[world.b.students["hannah"]])
    assert refused.value.code == "not_found"
    assert counts(world) == before


def test_assigned_to_a_key_holder_until_closed(world):
    a = world.a
    view = create(world, world.teacher(), assigned_to=a.dsl)
    assert view.incident.assigned_to == a.dsl and view.incident.assigned_to_name == "Dana Lead"
    events = [k for k, _ in world.outbox()]
    assert "records.incident.assigned" in events
    mine = run(world, world.dsl(), incidents.list_my_assigned)
    assert [v.incident.id for v in mine] == [view.incident.id]
    assert run(world, world.dsl_without_key(), incidents.list_my_assigned) == []
    # The assignee closes it: it leaves My Assigned.
    run(world, world.dsl(), editing.update_incident, world.events,
        incident_id=view.incident.id, update_fields=["status"], status="closed")
    assert run(world, world.dsl(), incidents.list_my_assigned) == []
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), assigned_to=a.teacher2)  # not a key holder
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), assigned_to=a.leaver)


def test_the_assignee_may_open_it_even_without_the_category(world):
    a = world.a
    view = create(world, world.teacher(), category_ids=[a.categories["Child Protection"]],
                  assigned_to=a.pastoral, alert_account_ids=[])
    opened = run(world, world.pastoral(), chronology.get_incident, view.incident.id)
    assert opened.incident.id == view.incident.id


def test_alert_groups_expand_to_their_active_members(world):
    a = world.a
    gid = str(uuid.uuid4())
    world.consumer.handle(f.alert_group_event(a.id, gid, "Safeguarding team",
                                              [a.dsl, a.pastoral, a.leaver, a.teacher]))
    listed = run(world, world.teacher(), alerts.list_alert_groups)
    assert [g.name for g in listed] == ["Safeguarding team"]
    view = create(world, world.teacher(), alert_account_ids=[a.dsl], alert_group_ids=[gid])
    assert view.alerted_account_ids == [a.dsl, a.pastoral]  # not the leaver, not the author
    assert alerted(world, a.pastoral) == [(view.incident.id, "group")]
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), alert_group_ids=[str(uuid.uuid4())])
    world.consumer.handle(f.alert_group_event(a.id, gid, "Safeguarding team", [],
                                              deleted=True))
    assert run(world, world.teacher(), alerts.list_alert_groups) == []
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), alert_group_ids=[gid])


def test_the_school_may_insist_on_at_least_one_alert(world):
    a = world.a
    run(world, world.dsl(), settings.update_settings, update=["enforce_alert"],
        enforce_alert=True)
    before = counts(world)
    with pytest.raises(InvalidArgument) as refused:
        create(world, world.teacher(), alert_account_ids=[])
    assert "alert" in refused.value.message
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), alert_account_ids=[a.teacher])  # only the author
    assert counts(world) == before
    assert create(world, world.teacher()).alerted_account_ids == [a.dsl]


def test_warned_about_colleagues_who_could_not_normally_view_it(world):
    a = world.a
    view = create(world, world.teacher(), category_ids=[a.categories["Child Protection"]],
                  alert_account_ids=[a.dsl, a.pastoral, a.teacher2])
    assert view.alert_warnings == [a.pastoral, a.teacher2]
    checked = run(world, world.teacher(), alerts.check_recipients,
                  student_id=a.students["hannah"],
                  category_ids=[a.categories["Bullying"]],
                  account_ids=[a.dsl, a.pastoral, a.teacher2])
    assert [(r.name, r.can_view) for r in checked] == [
        ("Dana Lead", True), ("Pat Pastoral", True), ("Tess Tutor", False)]
    # ...and they can read it through their alert all the same.
    opened = run(world, world.teacher(second=True), chronology.get_incident, view.incident.id)
    assert opened.alert_unread


def test_agencies_involved(world):
    police = run(world, world.dsl(), agencies.create_agency, name="Police")
    camhs = run(world, world.dsl(), agencies.create_agency, name="CAMHS")
    view = create(world, world.teacher(), agency_ids=[police.id, camhs.id, police.id])
    assert [x.name for x in view.agencies] == ["Police", "CAMHS"]
    run(world, world.dsl(), agencies.set_agency_enabled, agency_id=camhs.id, enabled=False)
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), agency_ids=[camhs.id])
    with pytest.raises(InvalidArgument):
        create(world, world.teacher(), agency_ids=[str(uuid.uuid4())])
    # Renamed: every past incident shows the new name.
    run(world, world.dsl(), agencies.rename_agency, agency_id=police.id, name="Police (WYP)")
    again = run(world, world.dsl(), chronology.get_incident, view.incident.id)
    assert [x.name for x in again.agencies] == ["Police (WYP)", "CAMHS"]
    assert world.count(Incident) == 1


def test_automatic_alerts_per_student_and_per_user(world):
    a = world.a
    hannah = a.students["hannah"]
    run(world, world.dsl(), profile.update_information, world.events, student_id=hannah,
        update=["alert_staff"], alert_account_ids=[a.pastoral])
    world.mis.handle(f.mis_group(a.id, "G-7A", "7A", "tutor", ["danielle"]))
    with world.db.read() as s:
        from services.records.models import StudentGroup

        seven_a = s.scalars(select(StudentGroup.id).where(StudentGroup.name == "7A")).one()
    run(world, world.dsl(), alerts.set_automatic_alerts, account_id=a.teacher2,
        category_ids=[a.categories["Attendance"]], student_ids=[a.students["matthew"]],
        group_ids=[seven_a])
    rules = run(world, world.dsl(), alerts.get_automatic_alerts, a.teacher2)
    assert (rules.category_ids, rules.student_ids, rules.group_ids) == (
        [a.categories["Attendance"]], [a.students["matthew"]], [seven_a])

    first = create(world, world.teacher(), alert_account_ids=[]).incident  # about Hannah
    assert alerted(world, a.pastoral) == [(first.id, "automatic")]
    # A rule on a parent category covers its sub-categories.
    legal = create(world, world.dsl(), category_ids=[a.categories["Legal Action"]],
                   alert_account_ids=[]).incident
    about_matthew = create(world, world.teacher(), student_id=a.students["matthew"],
                           alert_account_ids=[]).incident
    about_danielle = create(world, world.teacher(), student_id=a.students["danielle"],
                            alert_account_ids=[]).incident
    assert [i for i, _ in alerted(world, a.teacher2)] == [legal.id, about_matthew.id,
                                                           about_danielle.id]
    # Only admins set other people's rules.
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), alerts.set_automatic_alerts, account_id=a.teacher,
            category_ids=[a.categories["Bullying"]])
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), alerts.set_automatic_alerts, account_id=a.teacher2,
            student_ids=[world.b.students["hannah"]])


def test_an_admin_clears_a_users_alerts_between_two_dates(world):
    a = world.a
    for _ in range(3):
        create(world, world.teacher())
    from shared.db import utcnow

    today = utcnow().date().isoformat()
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), alerts.clear_user_alerts, account_id=a.dsl,
            from_date=today, to_date=today)
    assert run(world, world.dsl(), alerts.clear_user_alerts, account_id=a.dsl,
               from_date="2020-01-01", to_date="2020-12-31") == 0
    assert run(world, world.dsl(), alerts.clear_user_alerts, account_id=a.dsl,
               from_date=today, to_date=today) == 3
    assert run(world, world.dsl(), alerts.list_alerts) == []
    assert world.count(Alert, recipient_account_id=a.dsl) == 3  # kept, marked cleared
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), alerts.clear_user_alerts, account_id=a.dsl,
            from_date="2026-02-01", to_date="2026-01-01")
    assert world.count(AuditEntry, action="alerts.cleared") == 2


def test_a_restricted_teachers_day(world):
    """Adds an incident and an action, sees both in My History, reads an alert, adds an action
    to it, marks it read, and cannot open it again."""
    from services.records import actions

    a = world.a
    tom = world.teacher()
    mine = create(world, tom, alert_account_ids=[a.dsl]).incident
    run(world, tom, actions.create_action, world.events, incident_id=mine.id,
        text="Spoke to Hannah's form tutor.")
    history, own_actions = run(world, tom, incidents.my_history)
    assert [v.incident.id for v in history] == [mine.id]
    assert [x.action.text for x in own_actions] == ["Spoke to Hannah's form tutor."]
    theirs = create(world, world.dsl(), student_id=a.students["matthew"],
                    alert_account_ids=[a.teacher]).incident
    (alert,) = run(world, tom, alerts.list_alerts)
    assert alert.incident.id == theirs.id
    run(world, tom, actions.create_action, world.events, incident_id=theirs.id,
        text="Checked in with Matthew at break.")
    run(world, tom, alerts.mark_alert_read, alert_id=alert.alert.id)
    with pytest.raises(PermissionDenied):
        run(world, tom, chronology.get_incident, theirs.id)
    with pytest.raises(PermissionDenied):
        run(world, tom, actions.create_action, world.events, incident_id=theirs.id,
            text="One more")
