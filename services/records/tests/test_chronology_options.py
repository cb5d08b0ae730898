"""Actions and the chronology's options: show all actions, pins, edit + history, delete +
restore, merge, split, add to linked incidents, alerts and linked students after the fact,
the print view."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from services.records import actions, alerts, editing, versions
from services.records import chronology as reading
from services.records.audit import unit_of_work
from services.records.models import Action, Alert, AuditEntry, Incident, Monitoring
from services.records.tests.test_incidents import create
from shared.context import acting_as
from shared.db import utcnow
from shared.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from shared.testing import FULL_PERMISSIONS


def run(world, claims, fn, *args, **kw):
    with acting_as(claims), unit_of_work(world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def act(world, claims, incident_id, text="Rang home; mum will come in tomorrow.", **kw):
    return run(world, claims, actions.create_action, world.events, incident_id=incident_id,
               text=text, **kw)


def chron(world, claims, key="hannah", **kw):
    return run(world, claims, reading.get_chronology, world.a.students[key], **kw)


def ago(days):
    return utcnow() - dt.timedelta(days=days)


# ---- actions ------------------------------------------------------------------------------------


def test_an_action_with_categories_agencies_and_alerts(world):
    from services.records import agencies

    a = world.a
    nurse = run(world, world.dsl(), agencies.create_agency, name="School Nurse")
    incident = create(world, world.teacher(), alert_account_ids=[a.dsl, a.pastoral]).incident
    action = act(world, world.dsl(), incident.id, category_ids=[a.categories["Child Protection"]],
                 agency_ids=[nurse.id], alert_account_ids=[a.teacher2],
                 alert_incident_recipients=True, occurred_at=ago(1))
    assert action.action.created_by_name == "Dana Lead"
    assert [c.category.name for c in action.categories] == ["Child Protection"]
    assert [x.name for x in action.agencies] == ["School Nurse"]
    # The DSL wrote it, so is not alerted; the incident's other recipient and Tess are.
    assert action.alerted_account_ids == [a.teacher2, a.pastoral]
    assert action.alert_warnings == [a.teacher2]  # Pastoral may view Bullying
    view = run(world, world.dsl(), reading.get_incident, incident.id)
    assert [c.category.name for c in view.categories] == ["Bullying", "Child Protection"]
    assert [x.action.id for x in view.actions] == [action.action.id]
    assert world.count(Monitoring, category_id=a.categories["Child Protection"]) == 1
    keys = [k for k, _ in world.outbox()]
    assert "records.action.created" in keys and "records.incident.updated" in keys
    with world.db.read() as s:
        reasons = {(x.recipient_account_id, x.kind, x.reason) for x in s.scalars(
            select(Alert).where(Alert.action_id == action.action.id))}
    assert reasons == {(a.teacher2, "action", "chosen"),
                       (a.pastoral, "action", "incident_recipients")}


def test_a_retried_action_is_made_once(world):
    incident = create(world, world.teacher()).incident
    first = act(world, world.teacher(), incident.id, request_id="act-1")
    again = act(world, world.teacher(), incident.id, request_id="act-1")
    assert again.action.id == first.action.id and world.count(Action) == 1


@pytest.mark.parametrize(("kw", "error"), [
    ({"text": " "}, InvalidArgument),
    ({"occurred_at": dt.datetime(2099, 1, 1)}, InvalidArgument),
    ({"category_ids": ["nope"]}, InvalidArgument),
    ({"alert_account_ids": ["nobody"]}, InvalidArgument),
])
def test_bad_actions_change_nothing(world, kw, error):
    incident = create(world, world.teacher()).incident
    with pytest.raises(error):
        act(world, world.teacher(), incident.id, **kw)
    assert world.count(Action) == 0


def test_actions_copied_to_linked_students_now_or_later(world):
    a = world.a
    view = create(world, world.dsl(), linked_student_ids=[a.students["matthew"]],
                  alert_account_ids=[])
    copied = act(world, world.dsl(), view.incident.id, copy_to_linked_students=True)
    later = act(world, world.dsl(), view.incident.id, text="Second action, not copied yet.")
    matthew = chron(world, world.dsl(), "matthew", include_actions=True).incidents[0]
    assert [x.action.text for x in matthew.actions] == [copied.action.text]
    made = run(world, world.dsl(), actions.copy_to_linked_incidents, world.events,
               later.action.id)
    assert len(made) == 1
    assert run(world, world.dsl(), actions.copy_to_linked_incidents, world.events,
               later.action.id) == []  # already there
    matthew = chron(world, world.dsl(), "matthew", include_actions=True).incidents[0]
    assert len(matthew.actions) == 2
    lonely = create(world, world.dsl(), alert_account_ids=[]).incident
    one = act(world, world.dsl(), lonely.id)
    with pytest.raises(FailedPrecondition):
        run(world, world.dsl(), actions.copy_to_linked_incidents, world.events, one.action.id)


# ---- the chronology -----------------------------------------------------------------------------


def test_show_all_actions_parent_categories_and_pins(world):
    a = world.a
    old = create(world, world.dsl(), text="old", occurred_at=ago(30),
                 category_ids=[a.categories["Legal Action"]], alert_account_ids=[]).incident
    new = create(world, world.dsl(), text="new", occurred_at=ago(1),
                 alert_account_ids=[]).incident
    act(world, world.dsl(), old.id)
    act(world, world.dsl(), old.id, text="And another.")
    plain = chron(world, world.dsl())
    assert [v.incident.id for v in plain.incidents] == [new.id, old.id]
    assert plain.incidents[1].actions == [] and plain.incidents[1].action_count == 2
    full = chron(world, world.dsl(), include_actions=True)
    assert [x.action.text for x in full.incidents[1].actions][1] == "And another."
    legal = full.incidents[1].categories[0]
    assert (legal.category.name, legal.parent_name) == ("Legal Action", "Attendance")
    run(world, world.dsl(), editing.pin_incident, incident_id=old.id, pinned=True)
    pinned = chron(world, world.dsl())
    assert [v.incident.id for v in pinned.incidents] == [old.id, new.id]
    assert pinned.incidents[0].incident.pinned
    run(world, world.dsl(), editing.pin_incident, incident_id=old.id, pinned=False)
    assert [v.incident.id for v in chron(world, world.dsl()).incidents] == [new.id, old.id]
    with pytest.raises(PermissionDenied):  # the author, reading through My History
        run(world, world.teacher(), editing.pin_incident, incident_id=old.id, pinned=True)


# ---- edit and history ---------------------------------------------------------------------------


def test_edit_keeps_every_version(world):
    a = world.a
    incident = create(world, world.teacher(), text="First words.").incident
    edited = run(world, world.dsl(), editing.update_incident, world.events,
                 incident_id=incident.id, update_fields=["text", "category_ids"],
                 text="Better words.", category_ids=[a.categories["Behaviour"]],
                 expected_version=1)
    assert edited.incident.text == "Better words." and edited.incident.version == 2
    assert [c.category.name for c in edited.categories] == ["Behaviour"]
    with pytest.raises(Conflict):
        run(world, world.dsl(), editing.update_incident, world.events,
            incident_id=incident.id, update_fields=["text"], text="Stale", expected_version=1)
    history = run(world, world.dsl(), versions.history, incident_id=incident.id)
    assert [(h.version.version, h.version.change, h.version.state["text"]) for h in history] == [
        (1, "created", "First words."), (2, "edited", "Better words.")]
    assert [c.category.name for c in history[0].categories] == ["Bullying"]
    assert history[1].version.changed_by_name == "Dana Lead"
    # Nothing changed: no new version.
    run(world, world.dsl(), editing.update_incident, world.events, incident_id=incident.id,
        update_fields=["text"], text="Better words.")
    assert len(run(world, world.dsl(), versions.history, incident_id=incident.id)) == 2


def test_editing_needs_the_edit_permission(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    no_edit = world.keyholder(a.dsl, a.dsl_group, permissions=(
        "view_student_list", "view_student_details", "add_incidents",
        "view_students_without_group"))
    # Administration alone is not the right to rewrite records.
    admin_only = world.keyholder(a.dsl, a.dsl_group, permissions=tuple(
        p for p in FULL_PERMISSIONS if p != "edit_incidents"))
    for claims in (world.teacher(), no_edit, admin_only, world.dsl_without_key()):
        with pytest.raises((PermissionDenied, NotFound)):
            run(world, claims, editing.update_incident, world.events, incident_id=incident.id,
                update_fields=["text"], text="Hijacked")
        with pytest.raises((PermissionDenied, NotFound)):
            run(world, claims, editing.delete_incident, world.events, incident_id=incident.id,
                reason="no")
        with pytest.raises(PermissionDenied):
            run(world, claims, versions.history, incident_id=incident.id)
    with world.db.read() as s:
        assert s.get(Incident, incident.id).text == incident.text
    edit_only = world.keyholder(a.dsl, a.dsl_group, permissions=(
        "view_student_details", "view_students_without_group", "edit_incidents"))
    done = run(world, edit_only, editing.update_incident, world.events,
               incident_id=incident.id, update_fields=["text"], text="Fixed a typo.")
    assert done.incident.text == "Fixed a typo."


def test_edit_an_action_and_its_history(world):
    incident = create(world, world.teacher()).incident
    action = act(world, world.teacher(), incident.id, text="Called mum.")
    run(world, world.dsl(), editing.update_action, action_id=action.action.id,
        update_fields=["text"], text="Called mum at 4pm.")
    history = run(world, world.dsl(), versions.history, action_id=action.action.id)
    assert [h.version.state["text"] for h in history] == ["Called mum.", "Called mum at 4pm."]


# ---- delete and restore -------------------------------------------------------------------------


def test_delete_with_a_reason_and_restore(world):
    a = world.a
    incident = create(world, world.teacher(), alert_account_ids=[a.dsl, a.pastoral]).incident
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), editing.delete_incident, world.events,
            incident_id=incident.id, reason="  ")
    run(world, world.dsl(), editing.delete_incident, world.events, incident_id=incident.id,
        reason="Entered against the wrong pupil")
    # Others: as if it never existed.
    no_edit = world.keyholder(a.pastoral, a.pastoral_group, permissions=(
        "view_student_list", "view_student_details", "add_incidents",
        "view_students_without_group"))
    assert chron(world, no_edit).incidents == []
    with pytest.raises(NotFound):
        run(world, no_edit, reading.get_incident, incident.id)
    assert run(world, no_edit, alerts.list_alerts) == []  # its alert left the dashboard
    # Editors: a marker, with the reason, no text.
    (marker,) = chron(world, world.dsl()).incidents
    assert marker.deleted and marker.text == "" and marker.incident.deleted_reason == (
        "Entered against the wrong pupil")
    run(world, world.dsl(), editing.restore_incident, world.events, incident_id=incident.id)
    (back,) = chron(world, no_edit).incidents
    assert back.text == incident.text
    history = run(world, world.dsl(), versions.history, incident_id=incident.id)
    assert [h.version.change for h in history] == ["created", "deleted", "restored"]
    assert history[1].version.reason == "Entered against the wrong pupil"
    assert world.count(AuditEntry, action="incident.deleted") == 1
    assert world.count(AuditEntry, action="incident.restored") == 1


def test_delete_and_restore_an_action(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    action = act(world, world.teacher(), incident.id)
    run(world, world.dsl(), editing.delete_action, action_id=action.action.id, reason="dup")
    no_edit = world.keyholder(a.pastoral, a.pastoral_group, permissions=(
        "view_student_list", "view_student_details", "add_incidents",
        "view_students_without_group"))
    assert chron(world, no_edit, include_actions=True).incidents[0].actions == []
    marker = chron(world, world.dsl(), include_actions=True).incidents[0].actions[0]
    assert marker.deleted and marker.text == ""
    run(world, world.dsl(), editing.restore_action, action_id=action.action.id)
    assert len(chron(world, no_edit, include_actions=True).incidents[0].actions) == 1


# ---- merge and split ----------------------------------------------------------------------------


def test_merge_a_duplicate_into_another_by_its_number(world):
    a = world.a
    main = create(world, world.teacher(), text="Hannah upset at lunch.", occurred_at=ago(2),
                  alert_account_ids=[]).incident
    dup = create(world, world.teacher(second=True), text="Hannah crying at lunch (dup).",
                 category_ids=[a.categories["Behaviour"]], alert_account_ids=[a.dsl]).incident
    dup_action = act(world, world.dsl(), dup.id, text="Spoke to Hannah.")
    preview = run(world, world.dsl(), editing.preview_merge, incident_id=dup.id,
                  target_number=main.number)
    assert preview.incident.id == main.id and preview.text == "Hannah upset at lunch."
    assert world.count(Action, incident_id=main.id) == 0  # a preview changes nothing
    merged = run(world, world.dsl(), editing.merge_incident, world.events, incident_id=dup.id,
                 target_number=main.number)
    assert merged.incident.id == main.id
    texts = [(x.action.text, x.action.created_by_name, x.action.merged_from_number)
             for x in merged.actions]
    assert ("Hannah crying at lunch (dup).", "Tess Tutor", dup.number) in texts
    assert ("Spoke to Hannah.", "Dana Lead", None) in texts
    assert {c.category.name for c in merged.categories} == {"Bullying", "Behaviour"}
    assert [v.incident.id for v in chron(world, world.dsl()).incidents] == [main.id]
    with pytest.raises(NotFound) as gone:
        run(world, world.dsl(), reading.get_incident, dup.id)
    assert str(main.number) in gone.value.message
    # The DSL's alert now leads to the main incident.
    (alert,) = run(world, world.dsl(), alerts.list_alerts)
    assert alert.incident.id == main.id and alert.alert.kind == "action"
    assert dup_action.action.id in [x.action.id for x in merged.actions]


def test_merge_refusals(world):
    a = world.a
    one = create(world, world.dsl(), alert_account_ids=[]).incident
    other_student = create(world, world.dsl(), student_id=a.students["matthew"],
                           alert_account_ids=[]).incident
    for number, error in ((one.number, InvalidArgument), (other_student.number, InvalidArgument),
                          (9999, NotFound), (0, InvalidArgument)):
        with pytest.raises(error):
            run(world, world.dsl(), editing.merge_incident, world.events, incident_id=one.id,
                target_number=number)
    no_edit = world.keyholder(a.dsl, a.dsl_group, permissions=(
        "view_student_list", "view_student_details", "add_incidents",
        "view_students_without_group"))
    two = create(world, world.dsl(), alert_account_ids=[]).incident
    with pytest.raises(PermissionDenied):
        run(world, no_edit, editing.merge_incident, world.events, incident_id=two.id,
            target_number=one.number)
    assert world.count(Action) == 0


def test_split_an_action_out_as_an_incident(world):
    a = world.a
    incident = create(world, world.teacher(), alert_account_ids=[a.teacher2]).incident
    action = act(world, world.teacher(second=True), incident.id, occurred_at=ago(1),
                 text="Disclosed something new about home.", alert_account_ids=[a.dsl])
    new = run(world, world.dsl(), editing.split_action, world.events,
              action_id=action.action.id, category_ids=[a.categories["Child Protection"]])
    assert new.incident.text == "Disclosed something new about home."
    assert new.incident.created_by_name == "Tess Tutor"
    assert [c.category.name for c in new.categories] == ["Child Protection"]
    assert new.incident.number == incident.number + 1
    listed = chron(world, world.dsl(), include_actions=True)
    assert [v.incident.id for v in listed.incidents] == [incident.id, new.incident.id]
    old = next(v for v in listed.incidents if v.incident.id == incident.id)
    assert old.actions == []
    (alert,) = run(world, world.dsl(), alerts.list_alerts)
    assert alert.incident.id == new.incident.id
    # Without categories: the incident's own.
    second = act(world, world.dsl(), incident.id, text="Another.")
    split = run(world, world.dsl(), editing.split_action, world.events,
                action_id=second.action.id)
    assert [c.category.name for c in split.categories] == ["Bullying"]


# ---- after the fact -----------------------------------------------------------------------------


def test_add_alerts_and_linked_students_after_the_fact(world):
    a = world.a
    incident = create(world, world.teacher(), alert_account_ids=[]).incident
    alerted, warnings = run(world, world.dsl(), editing.add_alerts, world.events,
                            incident_id=incident.id, account_ids=[a.pastoral, a.teacher2])
    assert alerted == [a.pastoral, a.teacher2] and warnings == [a.teacher2]
    again, _ = run(world, world.dsl(), editing.add_alerts, world.events,
                   incident_id=incident.id, account_ids=[a.pastoral])
    assert again == []  # already has an unread alert for it
    linked = run(world, world.dsl(), editing.add_linked_students, world.events,
                 incident_id=incident.id, student_ids=[a.students["danielle"]], monitor=True)
    assert [s.name for s in linked.linked_students] == ["Dani Bradshaw"]
    copy = chron(world, world.dsl(), "danielle").incidents[0]
    assert copy.incident.text == incident.text and copy.incident.created_by_name == "Tom Teacher"
    assert world.count(Monitoring, student_id=a.students["danielle"]) == 1
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), editing.add_alerts, world.events, incident_id=incident.id,
            account_ids=[a.dsl])


def test_the_print_view_data(world):
    incident = create(world, world.teacher(), alert_account_ids=[]).incident
    act(world, world.dsl(), incident.id)
    printed = run(world, world.dsl(), reading.get_incident_print, incident.id)
    assert printed.incident.incident.id == incident.id and len(printed.incident.actions) == 1
    assert printed.student.upn == "" and printed.student.first_name == "Hannah"
    assert printed.printed_by_name == "Dana Lead"
    assert world.count(AuditEntry, action="incident.printed") == 1
