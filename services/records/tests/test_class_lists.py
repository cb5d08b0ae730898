"""The dashboard's lists (class register, monitored students, category, keyword), class
restrictions, Admin > Add Student."""

from __future__ import annotations

import uuid

import pytest

from services.records import access, chronology, editing, groups, profile, settings, students
from services.records.audit import unit_of_work
from services.records.models import AuditEntry, GroupMembership, Student
from services.records.tests import factories as f
from services.records.tests.test_incidents import create
from shared.context import acting_as
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from shared.testing import FULL_PERMISSIONS

NO_UNGROUPED = tuple(p for p in FULL_PERMISSIONS if p != "view_students_without_group")
NO_ADMIN = tuple(p for p in FULL_PERMISSIONS if p != "administration")


def run(world, claims, fn, *args, **kw):
    with acting_as(claims), unit_of_work(world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def names(cards):
    return [c.first_name for c in cards]


def with_groups(world):
    """8B: Hannah and Matthew; 7A: Danielle; Year 8: Hannah, Matthew; the leaver: none."""
    a = world.a
    world.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", ["hannah", "matthew"]))
    world.mis.handle(f.mis_group(a.id, "G-7A", "7A", "tutor", ["danielle"]))
    world.mis.handle(f.mis_group(a.id, "G-Y8", "Year 8", "year", ["hannah", "matthew"]))
    listed, _ = run(world, world.dsl(), groups.list_groups)
    return {g.group.name: g.group.id for g in listed}


def test_a_class_register_notes_monitored_categories(world):
    a = world.a
    ids = with_groups(world)
    create(world, world.teacher(), category_ids=[a.categories["Bullying"]])
    register = run(world, world.dsl(), students.search_students, group_id=ids["8B"])
    assert names(register) == ["Hannah", "Matthew"]
    assert register[0].monitored_category_ids == [a.categories["Bullying"]]
    assert register[1].monitored_category_ids == []
    assert names(run(world, world.dsl(), students.search_students, group_id=ids["8B"],
                     query="matt")) == ["Matthew"]
    with pytest.raises(NotFound):
        run(world, world.dsl(), students.search_students, group_id=str(uuid.uuid4()))
    assert world.count(AuditEntry, action="students.listed", account_id=a.dsl) == 2


def test_monitored_students_and_by_category(world):
    a = world.a
    create(world, world.teacher(), category_ids=[a.categories["Child Protection"]])
    create(world, world.teacher(), student_id=a.students["danielle"],
           category_ids=[a.categories["Behaviour"]])
    create(world, world.teacher(), student_id=a.students["matthew"],
           category_ids=[a.categories["Attendance"]])
    assert names(run(world, world.dsl(), students.search_students, monitored_only=True)) == [
        "Danielle", "Hannah", "Matthew"]
    # Pastoral may see students monitored for Behaviour and Bullying only.
    assert names(run(world, world.pastoral(), students.search_students,
                     monitored_only=True)) == ["Danielle"]
    assert names(run(world, world.dsl(), students.search_students,
                     category_id=a.categories["Child Protection"])) == ["Hannah"]
    with pytest.raises(PermissionDenied):
        run(world, world.pastoral(), students.search_students,
            category_id=a.categories["Child Protection"])
    assert world.count(AuditEntry, action="access.denied", account_id=a.pastoral) == 1


def test_a_category_filter_includes_its_sub_categories(world):
    a = world.a
    # Monitoring under Legal Action (a sub-category of Attendance) by hand.
    run(world, world.dsl(), profile.update_information, world.events,
        student_id=a.students["matthew"], update=["monitored_categories"],
        monitored_category_ids=[a.categories["Legal Action"]])
    assert names(run(world, world.dsl(), students.search_students,
                     category_id=a.categories["Attendance"])) == ["Matthew"]


def test_keywords_are_searchable(world):
    a = world.a
    run(world, world.dsl(), profile.update_information, world.events,
        student_id=a.students["danielle"], update=["keywords"], keywords=["Allergy", "glasses"])
    assert names(run(world, world.dsl(), students.search_students, keyword="ALLERGY")) == [
        "Danielle"]


def test_restricted_callers_cannot_browse_lists(world):
    ids = with_groups(world)
    for kw in ({"group_id": ids["8B"]}, {"monitored_only": True}, {"keyword": "x"}):
        with pytest.raises(PermissionDenied):
            run(world, world.teacher(), students.search_students, query="hannah", **kw)


def test_ungrouped_students_need_the_permission(world):
    a = world.a
    with_groups(world)
    reader = world.keyholder(a.pastoral, a.pastoral_group, permissions=NO_UNGROUPED)
    found = run(world, reader, students.search_students, query="", include_archived=True)
    assert names(found) == ["Danielle", "Hannah", "Matthew"]  # the leaver has no group
    assert "Oliver" in names(run(world, world.dsl(), students.search_students,
                                 include_archived=True))


# ---- class restrictions -------------------------------------------------------------------------


def restrict_to_tutor_groups(world, ids, *, grant_8b_to: str):
    a = world.a
    run(world, world.dsl(), settings.update_settings, update=["restrict_access_by"],
        restrict_access_by="tutor")
    run(world, world.dsl(), groups.set_group_access, group_id=ids["8B"],
        account_ids=[grant_8b_to, a.dsl])
    run(world, world.dsl(), groups.set_group_access, group_id=ids["7A"],
        user_group_ids=[a.dsl_group])


def test_a_teacher_restricted_to_8b_sees_only_8b(world):
    a = world.a
    ids = with_groups(world)
    incident = create(world, world.teacher(), student_id=a.students["danielle"],
                      category_ids=[a.categories["Behaviour"]], alert_account_ids=[])
    tina_id = str(uuid.uuid4())
    world.consumer.handle(f.account_event(a.id, tina_id, "Tina Tutor", a.pastoral_group,
                                          key_holder=True))
    restrict_to_tutor_groups(world, ids, grant_8b_to=tina_id)
    tina = world.keyholder(tina_id, a.pastoral_group, permissions=NO_UNGROUPED)

    assert names(run(world, tina, students.search_students)) == ["Hannah", "Matthew"]
    assert names(run(world, tina, students.search_students, group_id=ids["7A"])) == []
    danielle = a.students["danielle"]
    refusals = [
        (students.get_student, (danielle,), {}),
        (chronology.get_chronology, (danielle,), {}),
        (profile.get_profile, (danielle,), {}),
        (chronology.get_incident, (incident.incident.id,), {}),
    ]
    for fn, args, kw in refusals:
        with pytest.raises(PermissionDenied) as refused:
            run(world, tina, fn, *args, **kw)
        assert "class" in refused.value.message or "open" in refused.value.message
    assert world.count(AuditEntry, action="access.denied", account_id=tina_id,
                       student_id=danielle) == 4
    assert world.count(AuditEntry, action="student.viewed", account_id=tina_id) == 0
    # The DSL's group was granted 7A; the DSL's account 8B.
    assert names(run(world, world.dsl(), students.search_students, include_archived=True)) == [
        "Danielle", "Oliver", "Hannah", "Matthew"]
    scope = run(world, tina, access.get_access_scope)
    assert scope.restrict_access_by == "tutor" and scope.visible_group_ids == [ids["8B"]]


def test_restricted_teacher_cannot_link_a_student_outside_their_classes(world):
    a = world.a
    ids = with_groups(world)
    tina_id = str(uuid.uuid4())
    world.consumer.handle(f.account_event(a.id, tina_id, "Tina Tutor", a.pastoral_group,
                                          key_holder=True))
    restrict_to_tutor_groups(world, ids, grant_8b_to=tina_id)
    tina = world.keyholder(tina_id, a.pastoral_group, permissions=NO_UNGROUPED)
    with pytest.raises(PermissionDenied):
        create(world, tina, category_ids=[a.categories["Behaviour"]], alert_account_ids=[],
               linked_student_ids=[a.students["danielle"]])
    view = create(world, tina, category_ids=[a.categories["Behaviour"]], alert_account_ids=[],
                  linked_student_ids=[a.students["matthew"]])
    assert [s.name for s in view.linked_students] == ["Matt Greenwood"]


def test_an_alert_about_a_pupil_outside_ones_classes_opens_the_incident_not_the_record(world):
    """Tina (8B only, an editor) is alerted about Danielle (7A): she may read that incident,
    but not print Danielle's full record, rewrite or delete it, or drop Danielle's links."""
    a = world.a
    ids = with_groups(world)
    tina_id = str(uuid.uuid4())
    world.consumer.handle(f.account_event(a.id, tina_id, "Tina Tutor", a.pastoral_group,
                                          key_holder=True))
    hannah, danielle = a.students["hannah"], a.students["danielle"]
    run(world, world.dsl(), profile.update_information, world.events, student_id=hannah,
        update=["links"], links=[profile.LinkInput(danielle, "cousin"),
                                 profile.LinkInput(a.students["matthew"], "friend")])
    restrict_to_tutor_groups(world, ids, grant_8b_to=tina_id)
    tina = world.keyholder(tina_id, a.pastoral_group, permissions=NO_UNGROUPED)
    assert access.can_edit_records(tina)
    incident = create(world, world.teacher(), student_id=danielle,
                      category_ids=[a.categories["Behaviour"]], alert_account_ids=[tina_id])
    incident_id = incident.incident.id

    assert run(world, tina, chronology.get_incident, incident_id).text  # the alert opens it
    printed = run(world, tina, chronology.get_incident_print, incident_id)
    assert printed.student.restricted and not printed.student.upn
    assert not printed.student.date_of_birth
    for fn, kw in ((editing.update_incident, {"update_fields": ["text"], "text": "Rewritten"}),
                   (editing.delete_incident, {"reason": "not mine"})):
        with pytest.raises(PermissionDenied):
            run(world, tina, fn, world.events, incident_id=incident_id, **kw)
    assert run(world, world.dsl(), chronology.get_incident, incident_id).text == (
        incident.incident.text)
    assert world.count(AuditEntry, action="access.denied", account_id=tina_id,
                       student_id=danielle) >= 2
    # The DSL's print shows the whole card.
    assert not run(world, world.dsl(), chronology.get_incident_print, incident_id
                   ).student.restricted

    # Tina saves Hannah's information: the link to Danielle, hidden from her, stays.
    run(world, tina, profile.update_information, world.events, student_id=hannah,
        update=["links", "summary"], summary="Walks home alone.",
        links=[profile.LinkInput(a.students["matthew"], "friend")])
    links = run(world, world.dsl(), profile.get_profile, hannah).links
    assert sorted((link.label, link.name.split()[0]) for link in links
                  if link.source == "manual") == [("cousin", "Dani"), ("friend", "Matt")]


def test_new_classes_are_flagged_for_admins_while_restrictions_are_on(world):
    a = world.a
    ids = with_groups(world)
    _, new = run(world, world.dsl(), groups.list_groups)
    assert new == 0  # restrictions off: no notice
    run(world, world.dsl(), settings.update_settings, update=["restrict_access_by"],
        restrict_access_by="tutor")
    _, new = run(world, world.dsl(), groups.list_groups)
    assert new == 2
    run(world, world.dsl(), groups.set_group_access, group_id=ids["8B"], account_ids=[a.dsl])
    listed, new = run(world, world.dsl(), groups.list_groups, kind="tutor")
    assert new == 1
    by_name = {g.group.name: g for g in listed}
    assert by_name["8B"].access_account_ids == [a.dsl] and by_name["8B"].student_count == 2
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), groups.set_group_access, group_id=ids["7A"],
            account_ids=["nobody"])
    with pytest.raises(PermissionDenied):
        run(world, world.keyholder(a.pastoral, a.pastoral_group, permissions=NO_ADMIN),
            groups.set_group_access,
            group_id=ids["7A"], account_ids=[a.dsl])


def test_admins_add_manual_groups(world):
    made = run(world, world.dsl(), groups.create_group, name="Nurture", kind="tutor")
    assert made.group.mis_id is None and not made.group.is_new
    with pytest.raises(Conflict):
        run(world, world.dsl(), groups.create_group, name="nurture", kind="tutor")
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), groups.create_group, name="House", kind="house")


# ---- Admin > Add Student ------------------------------------------------------------------------


def test_an_admin_adds_a_student_who_is_not_in_the_mis(world):
    ids = with_groups(world)
    card = run(world, world.dsl(), students.add_student, first_name=" Ruby ",
               last_name="Nowak", preferred_name="", date_of_birth="2012-03-04", gender="f",
               upn="G873412712003", year_group="Year 8", tutor_group="8B",
               group_ids=[ids["8B"]], request_id="form-1")
    assert card.first_name == "Ruby" and card.upn == "G873412712003" and card.gender == "F"
    assert card.details.source == "manual" and not card.details.mis_linked
    assert [g.name for g in card.groups] == ["8B"]
    again = run(world, world.dsl(), students.add_student, first_name="Ruby",
                last_name="Nowak", request_id="form-1")
    assert again.id == card.id
    assert world.count(Student, last_name="Nowak") == 1
    assert world.count(GroupMembership, student_id=card.id) == 1
    assert world.count(AuditEntry, action="student.added", student_id=card.id) == 1
    # The MIS never changes them, even with the same UPN.
    world.mis.handle(f.student_upserted(world.a.id, "M-99", "Rubie", "Nowak",
                                        upn="G873412712003"))
    with world.db.read() as s:
        assert s.get(Student, card.id).first_name == "Ruby"


@pytest.mark.parametrize(("kw", "error"), [
    ({"first_name": ""}, InvalidArgument),
    ({"upn": "NOT-A-UPN"}, InvalidArgument),
    ({"date_of_birth": "2099-01-01"}, InvalidArgument),
    ({"date_of_birth": "17/05/2012"}, InvalidArgument),
    ({"gender": "Q"}, InvalidArgument),
    ({"group_ids": ["nope"]}, InvalidArgument),
])
def test_add_student_refuses_bad_input(world, kw, error):
    args = {"first_name": "Ada", "last_name": "Byrne"} | kw
    before = world.count(Student)
    with pytest.raises(error):
        run(world, world.dsl(), students.add_student, **args)
    assert world.count(Student) == before
    assert world.count(AuditEntry, action="request.rejected") == 1


def test_add_student_needs_an_admin_and_a_unique_upn(world):
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), students.add_student, first_name="A", last_name="B")
    run(world, world.dsl(), students.add_student, first_name="A", last_name="B",
        upn="W873412712004")
    with pytest.raises(Conflict):
        run(world, world.dsl(), students.add_student, first_name="C", last_name="D",
            upn="w873412712004")


def test_unlinking_needs_an_admin(world):
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), students.unlink_from_mis, world.a.students["hannah"])
    assert world.count(AuditEntry, action="access.denied") == 1


def test_incidents_about_archived_students_need_elevated_access(world):
    a = world.a
    leaver = a.students["leaver"]
    with pytest.raises(NotFound):
        create(world, world.teacher(), student_id=leaver)
    view = create(world, world.dsl(), student_id=leaver, alert_account_ids=[])
    assert view.incident.student_id == leaver
