"""The same records on PostgreSQL: migrations match the models, the domain behaves the same,
and two concurrent submissions of one request make one incident."""

from __future__ import annotations

import threading

import pytest

from services.records import chronology as reading
from services.records import students
from services.records.app import MIGRATIONS
from services.records.audit import unit_of_work
from services.records.models import EVENTS, AuditEntry, Incident, Student
from services.records.seed import seed_demo
from services.records.tests.factories import build_world
from services.records.tests.test_incidents import SECRET, create
from services.records.tests.test_migrations import no_drift
from shared.context import acting_as
from shared.db import Database, run_migrations
from shared.errors import PermissionDenied
from shared.events import Outbox
from shared.testing import postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url():
    with postgres_database("haven_records") as url:
        run_migrations(url, MIGRATIONS)
        yield url


@pytest.fixture()
def pg_world(pg_url, tokens):
    db = Database(pg_url)
    yield build_world(db, tokens)
    db.dispose()


def test_migrations_match_the_models_on_postgres(pg_url):
    assert no_drift(pg_url) == []


def test_search_and_incident_and_chronology_on_postgres(pg_world):
    w = pg_world
    with acting_as(w.dsl()), unit_of_work(w.db, "student.search") as s:
        found = students.search_students(s, query="GREENW")
    assert [c.first_name for c in found] == ["Hannah", "Matthew"]
    view = create(w, w.teacher())
    assert view.incident.text == SECRET
    with acting_as(w.dsl()), unit_of_work(w.db, "student.chronology") as s:
        chronology = reading.get_chronology(s, w.a.students["hannah"])
    assert [v.incident.id for v in chronology.incidents] == [view.incident.id]
    with pytest.raises(PermissionDenied), acting_as(w.teacher()), unit_of_work(
        w.db, "student.chronology"
    ) as s:
        reading.get_chronology(s, w.a.students["hannah"])
    assert w.count(AuditEntry, action="access.denied", account_id=w.a.teacher) == 1


def test_two_concurrent_submissions_of_one_request_make_one_incident(pg_world):
    w = pg_world
    barrier = threading.Barrier(4)
    results, errors = [], []

    def submit():
        try:
            barrier.wait(5)
            results.append(create(w, w.teacher(), request_id="double-click").incident.id)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 4
    assert w.count(Incident, created_by=w.a.teacher) == 1


def test_seed_on_postgres_is_idempotent(pg_url):
    db = Database(pg_url)
    try:
        first = seed_demo(db, Outbox(EVENTS.outbox))
        second = seed_demo(db, Outbox(EVENTS.outbox))
    finally:
        db.dispose()
    assert first == {"categories": 16, "category_permissions": 48, "agencies": 7}
    assert second == {"categories": 0, "category_permissions": 0, "agencies": 0}
    assert Student.__tablename__ == "students"


def test_the_issue_features_on_postgres(pg_world):
    """MIS events, class restrictions, linked copies, actions, merge, category merge, bulk
    monitoring and the profile: the SQL that differs most between dialects."""
    from services.records import (
        actions,
        categories,
        editing,
        groups,
        monitoring,
        profile,
        settings,
    )
    from services.records.tests import factories as f

    w = pg_world
    a = w.a

    def run(claims, fn, *args, **kw):
        with acting_as(claims), unit_of_work(w.db, fn.__name__) as s:
            return fn(s, *args, **kw)

    w.mis.handle(f.mis_group(a.id, "G-8B", "8B", "tutor", ["hannah", "matthew"]))
    w.mis.handle(f.contacts(a.id, "hannah", [{"mis_id": "P1", "first_name": "Jo"}]))
    w.mis.handle(f.contacts(a.id, "matthew", [{"mis_id": "P1", "first_name": "Jo"}]))
    w.mis.handle(f.attendance(a.id, "hannah", [("2026-09-08", "AM", "/")]))
    w.mis.handle(f.student_upserted(a.id, "M-1", "Rio", "Park", medical_conditions=["Asthma"]))
    run(w.dsl(), settings.update_settings, update=["restrict_access_by"],
        restrict_access_by="tutor")
    (eight_b,) = [g for g in run(w.dsl(), groups.list_groups)[0] if g.group.name == "8B"]
    run(w.dsl(), groups.set_group_access, group_id=eight_b.group.id,
        user_group_ids=[a.dsl_group])
    found = run(w.dsl(), students.search_students, query="green")
    assert [c.first_name for c in found] == ["Hannah", "Matthew"]

    main = create(w, w.dsl(), linked_student_ids=[a.students["matthew"]],
                  alert_account_ids=[a.pastoral]).incident
    dup = create(w, w.teacher(), alert_account_ids=[]).incident
    act = run(w.dsl(), actions.create_action, w.events, incident_id=dup.id, text="Rang home.",
              category_ids=[a.categories["Behaviour"]], copy_to_linked_students=True)
    merged = run(w.dsl(), editing.merge_incident, w.events, incident_id=dup.id,
                 target_number=main.number)
    assert {x.action.id for x in merged.actions} >= {act.action.id}
    chron = run(w.dsl(), reading.get_chronology, a.students["hannah"], include_actions=True)
    assert [v.incident.id for v in chron.incidents] == [main.id]
    assert len(chron.incidents[0].actions) == 2
    p = run(w.dsl(), profile.get_profile, a.students["hannah"])
    assert [link.label for link in p.links] == ["sibling"] and p.incident_count == 1
    run(w.dsl(), monitoring.update_monitoring, w.events,
        student_ids=[a.students["hannah"]], operation="wipe_all")
    target, moved, _ = run(w.dsl(), categories.merge_category, w.events,
                           source_category_id=a.categories["Behaviour"],
                           target_category_id=a.categories["Bullying"])
    assert moved == 0 and target.category.name == "Bullying"  # main already had Bullying
    history = run(w.dsl(), monitoring.monitoring_history, a.students["hannah"])
    assert {s.category.category.name for s in history.spans} == {"Bullying"}


def test_concurrent_incidents_get_distinct_numbers(pg_world):
    w = pg_world
    barrier = threading.Barrier(4)
    numbers, errors = [], []

    def submit():
        try:
            barrier.wait(5)
            numbers.append(create(w, w.teacher(), alert_account_ids=[]).incident.number)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(set(numbers)) == 4


def test_upgrading_a_database_with_rows_on_postgres():
    from services.records.tests.test_migrations import upgrade_with_rows_from_before

    with postgres_database("haven_records_upgrade") as url:
        got = upgrade_with_rows_from_before(url)
    assert got == {"numbers": [("i1", 1), ("i2", 2)], "counter": [("A:incident", 2)],
                   "students": [("s1",)], "linked": 1}


def test_chronology_pages_on_postgres_cover_everything_once_in_order(pg_world):
    """Keyset paging with ties and pinned entries gives the same order as one big page."""
    from services.records.tests.test_chronology_paging import _make_25

    w = pg_world
    hannah = w.a.students["hannah"]
    ids = _make_25(w)

    def page(token: str, size: int):
        with acting_as(w.dsl()), unit_of_work(w.db, "student.chronology") as s:
            return reading.get_chronology(s, hannah, limit=size, page_token=token)

    whole = [v.incident.id for v in page("", 1000).incidents]
    assert sorted(whole) == sorted(ids) and len(whole) == 25
    seen, token = [], ""
    while True:
        got = page(token, 7)
        seen += [v.incident.id for v in got.incidents]
        token = got.next_page_token
        if not token:
            break
    assert seen == whole
