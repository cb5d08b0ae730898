"""Admin > Categories, Agencies, Settings; monitoring in bulk and its history; the audit trail
per student and per user."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.records import agencies, audit, categories, monitoring, settings
from services.records import chronology as reading
from services.records.audit import unit_of_work
from services.records.categories import PermissionInput
from services.records.models import (
    AuditEntry,
    Category,
    CategoryPermission,
    IncidentCategory,
    Monitoring,
)
from services.records.tests.test_incidents import create
from shared.context import RequestInfo, acting_as
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied


def run(world, claims, fn, *args, **kw):
    with acting_as(claims, RequestInfo(client_ip="192.0.2.44")), unit_of_work(
            world.db, fn.__name__) as s:
        return fn(s, *args, **kw)


def cat(world, claims, fn, **kw):
    return run(world, claims, fn, world.events, **kw)


# ---- categories ---------------------------------------------------------------------------------


def test_add_a_sub_category_with_group_permissions(world):
    a = world.a
    made = cat(world, world.dsl(), categories.create_category, name="Online Safety",
               colour="#E91E63", parent_id=a.categories["Child Protection"], permissions=[
                   PermissionInput(user_group_id=a.dsl_group, view_students=True,
                                   view_incidents=True, add_incidents=True),
                   PermissionInput(user_group_id=a.teachers_group, add_incidents=True)])
    assert made.category.colour == "e91e63" and made.category.parent_id == a.categories[
        "Child Protection"]
    lines = run(world, world.dsl(), categories.list_permissions, category_id=made.category.id)
    assert [(x.user_group_name, x.permission.add_incidents, x.permission.view_incidents)
            for x in lines] == [("DSL", True, True), ("Teachers", True, False)]
    listed = [v.category.name for v in run(world, world.teacher(), categories.list_categories)]
    assert listed.index("Online Safety") == listed.index("Child Protection") + 1
    keys = [k for k, _ in world.outbox()]
    assert keys[-1] == "records.category.upserted"
    with pytest.raises(Conflict):
        cat(world, world.dsl(), categories.create_category, name="online safety",
            parent_id=a.categories["Child Protection"])
    with pytest.raises(InvalidArgument):  # no sub-sub-categories
        cat(world, world.dsl(), categories.create_category, name="Deeper",
            parent_id=made.category.id)
    with pytest.raises(InvalidArgument):
        cat(world, world.dsl(), categories.create_category, name="X", colour="red")
    with pytest.raises(InvalidArgument):
        cat(world, world.dsl(), categories.create_category, name="X", permissions=[
            PermissionInput(user_group_id=str(uuid.uuid4()), add_incidents=True)])


def test_only_admins_manage_categories(world):
    for claims in (world.teacher(), world.dsl_without_key()):
        with pytest.raises(PermissionDenied):
            cat(world, claims, categories.create_category, name="Sneaky")
    assert world.count(AuditEntry, action="access.denied") == 2
    assert world.count(Category, name="Sneaky") == 0


def test_a_rename_applies_to_history(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    cat(world, world.dsl(), categories.update_category, category_id=a.categories["Bullying"],
        update=["name", "colour"], name="Bullying & Friendship", colour="00ff00")
    view = run(world, world.dsl(), reading.get_incident, incident.id)
    assert [c.category.name for c in view.categories] == ["Bullying & Friendship"]
    with pytest.raises(InvalidArgument):
        cat(world, world.dsl(), categories.update_category,
            category_id=a.categories["Bullying"], update=["shape"])


def test_delete_when_unused_else_disable_and_enable_again(world):
    a = world.a
    create(world, world.teacher(), category_ids=[a.categories["Behaviour"]])
    assert cat(world, world.dsl(), categories.delete_category,
               category_id=a.categories["Behaviour"]) == (False, True)
    with world.db.read() as s:
        assert not s.get(Category, a.categories["Behaviour"]).enabled
    with pytest.raises(InvalidArgument):  # no new incidents in it
        create(world, world.teacher(), category_ids=[a.categories["Behaviour"]])
    cat(world, world.dsl(), categories.set_category_enabled,
        category_id=a.categories["Behaviour"], enabled=True)
    create(world, world.teacher(), category_ids=[a.categories["Behaviour"]])
    assert cat(world, world.dsl(), categories.delete_category,
               category_id=a.categories["Old Category"]) == (True, False)
    assert world.count(Category, id=a.categories["Old Category"]) == 0
    assert world.count(CategoryPermission, category_id=a.categories["Old Category"]) == 0
    (_, gone) = [(k, e) for k, e in world.outbox() if k == "records.category.upserted"][-1]
    assert gone.deleted and gone.category_id == a.categories["Old Category"]
    # A parent with sub-categories is in use.
    assert cat(world, world.dsl(), categories.delete_category,
               category_id=a.categories["Attendance"]) == (False, True)
    with pytest.raises(NotFound):
        cat(world, world.dsl(), categories.delete_category, category_id=str(uuid.uuid4()))


def test_merge_moves_incidents_and_monitoring_and_is_irreversible(world):
    a = world.a
    both = create(world, world.teacher(), category_ids=[a.categories["Behaviour"],
                                                        a.categories["Bullying"]]).incident
    only = create(world, world.teacher(), student_id=a.students["matthew"],
                  category_ids=[a.categories["Behaviour"]]).incident
    target, moved, spans = cat(world, world.dsl(), categories.merge_category,
                               source_category_id=a.categories["Behaviour"],
                               target_category_id=a.categories["Bullying"])
    assert target.category.name == "Bullying" and moved == 1 and spans == 2
    assert world.count(Category, id=a.categories["Behaviour"]) == 0
    with world.db.read() as s:
        cats = {(r.incident_id, r.category_id) for r in s.scalars(select(IncidentCategory))}
        open_spans = [(m.student_id, m.category_id) for m in s.scalars(
            select(Monitoring).where(Monitoring.ended_at.is_(None)))]
    assert cats == {(both.id, a.categories["Bullying"]), (only.id, a.categories["Bullying"])}
    assert sorted(open_spans) == sorted([(a.students["hannah"], a.categories["Bullying"]),
                                         (a.students["matthew"], a.categories["Bullying"])])
    merged = [e for k, e in world.outbox() if k == "records.category.merged"]
    assert [(e.source_category_id, e.target_category_id) for e in merged] == [
        (a.categories["Behaviour"], a.categories["Bullying"])]
    with pytest.raises(InvalidArgument):
        cat(world, world.dsl(), categories.merge_category,
            source_category_id=a.categories["Bullying"],
            target_category_id=a.categories["Bullying"])
    with pytest.raises(InvalidArgument):  # into its own sub-category
        cat(world, world.dsl(), categories.merge_category,
            source_category_id=a.categories["Attendance"],
            target_category_id=a.categories["Legal Action"])


def test_permissions_per_user_group(world):
    a = world.a
    run(world, world.dsl(), categories.set_permissions, [
        PermissionInput(user_group_id=a.teachers_group, category_id=a.categories["Bullying"],
                        view_students=True, view_incidents=True, add_incidents=True)])
    lines = run(world, world.dsl(), categories.list_permissions, user_group_id=a.teachers_group)
    bullying = [x for x in lines if x.permission.category_id == a.categories["Bullying"]]
    assert bullying[0].permission.view_incidents
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), categories.list_permissions)


# ---- agencies and settings ----------------------------------------------------------------------


def test_agencies_admin(world):
    police = run(world, world.dsl(), agencies.create_agency, name="Police")
    with pytest.raises(Conflict):
        run(world, world.dsl(), agencies.create_agency, name="police")
    run(world, world.dsl(), agencies.rename_agency, agency_id=police.id, name="Police Service")
    run(world, world.dsl(), agencies.set_agency_enabled, agency_id=police.id, enabled=False)
    assert run(world, world.teacher(), agencies.list_agencies) == []
    assert [x.name for x in run(world, world.dsl(), agencies.list_agencies,
                                include_disabled=True)] == ["Police Service"]
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), agencies.create_agency, name="CAMHS")
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), agencies.create_agency, name=" ")


def test_settings(world):
    assert run(world, world.teacher(), settings.get_settings) == settings.Settings()
    changed = run(world, world.dsl(), settings.update_settings,
                  update=["enforce_alert", "academic_year_start", "academic_year_end"],
                  enforce_alert=True, academic_year_start="2026-09-03",
                  academic_year_end="2027-07-22")
    assert changed.enforce_alert and changed.academic_year_start.isoformat() == "2026-09-03"
    for kw in ({"update": ["restrict_access_by"], "restrict_access_by": "house"},
               {"update": ["colour"]},
               {"update": ["academic_year_start"], "academic_year_start": "2030-01-01"}):
        with pytest.raises(InvalidArgument):
            run(world, world.dsl(), settings.update_settings, **kw)
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), settings.update_settings, update=["enforce_alert"],
            enforce_alert=False)


# ---- monitoring ---------------------------------------------------------------------------------


def test_bulk_update_categories(world):
    a = world.a
    people = [a.students["hannah"], a.students["matthew"]]
    started, ended = run(world, world.dsl(), monitoring.update_monitoring, world.events,
                         student_ids=people, category_id=a.categories["Bullying"],
                         operation="add", start_date="2026-09-01")
    assert (started, ended) == (2, 0)
    with world.db.read() as s:
        starts = {m.started_at.date().isoformat() for m in s.scalars(select(Monitoring))}
    assert starts == {"2026-09-01"}
    assert run(world, world.dsl(), monitoring.update_monitoring, world.events,
               student_ids=people, category_id=a.categories["Bullying"],
               operation="add") == (0, 0)  # already monitored
    run(world, world.dsl(), monitoring.update_monitoring, world.events,
        student_ids=[a.students["hannah"]], category_id=a.categories["Behaviour"],
        operation="add")
    assert run(world, world.dsl(), monitoring.update_monitoring, world.events,
               student_ids=[a.students["matthew"]], category_id=a.categories["Bullying"],
               operation="remove") == (0, 1)
    assert run(world, world.dsl(), monitoring.update_monitoring, world.events,
               student_ids=people, operation="wipe_all") == (0, 2)
    assert world.count(Monitoring) == 3  # every span kept
    assert world.count(AuditEntry, action="monitoring.bulk.add") == 5


@pytest.mark.parametrize(("kw", "error"), [
    ({"operation": "shuffle"}, InvalidArgument),
    ({"student_ids": []}, InvalidArgument),
    ({"category_id": ""}, InvalidArgument),
    ({"start_date": "2099-01-01"}, InvalidArgument),
    ({"start_date": "yesterday"}, InvalidArgument),
    ({"student_ids": ["nobody"]}, NotFound),
])
def test_bulk_update_refusals_change_nothing(world, kw, error):
    a = world.a
    args = {"student_ids": [a.students["hannah"]], "category_id": a.categories["Bullying"],
            "operation": "add"} | kw
    with pytest.raises(error):
        run(world, world.dsl(), monitoring.update_monitoring, world.events, **args)
    assert world.count(Monitoring) == 0


def test_bulk_needs_the_category_right(world):
    a = world.a
    with pytest.raises(PermissionDenied):
        run(world, world.pastoral(), monitoring.update_monitoring, world.events,
            student_ids=[a.students["hannah"]], category_id=a.categories["Child Protection"],
            operation="add")
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), monitoring.update_monitoring, world.events,
            student_ids=[a.students["hannah"]], category_id=a.categories["Bullying"],
            operation="add")


def test_monitoring_history_with_durations_and_csv(world):
    a = world.a
    create(world, world.teacher(), category_ids=[a.categories["Bullying"],
                                                 a.categories["Child Protection"]])
    run(world, world.dsl(), monitoring.update_monitoring, world.events,
        student_ids=[a.students["hannah"]], category_id=a.categories["Bullying"],
        operation="remove")
    history = run(world, world.dsl(), monitoring.monitoring_history, a.students["hannah"])
    assert {(s.category.category.name, s.span.ended_at is None) for s in history.spans} == {
        ("Bullying", False), ("Child Protection", True)}
    assert history.csv.splitlines()[0] == (
        "Category,Parent category,Started,Ended,Duration (days)")
    assert len(history.csv.splitlines()) == 3
    seen = run(world, world.pastoral(), monitoring.monitoring_history, a.students["hannah"])
    assert [s.category.category.name for s in seen.spans] == ["Bullying"]
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), monitoring.monitoring_history, a.students["hannah"])


# ---- the audit trail ----------------------------------------------------------------------------


def test_audit_per_student_and_per_user(world):
    a = world.a
    incident = create(world, world.teacher()).incident
    run(world, world.dsl(), reading.get_incident, incident.id)
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), reading.get_chronology, a.students["hannah"])
    lines = run(world, world.dsl(), audit.list_entries, student_id=a.students["hannah"])
    assert [x.entry.action for x in lines] == ["access.denied", "incident.viewed",
                                               "incident.created"]
    assert {x.account_name for x in lines} == {"Dana Lead", "Tom Teacher"}
    assert {x.entry.client_ip for x in lines if x.entry.account_id == a.dsl} == {"192.0.2.44"}
    by_user = run(world, world.dsl(), audit.list_entries, account_id=a.teacher)
    assert {x.entry.action for x in by_user} == {"incident.created", "access.denied"}
    with pytest.raises(PermissionDenied):
        run(world, world.teacher(), audit.list_entries, account_id=a.dsl)
    with pytest.raises(InvalidArgument):
        run(world, world.dsl(), audit.list_entries)
    assert world.count(AuditEntry, action="audit.viewed") == 2
