"""The same records on PostgreSQL: migrations match the models, the domain behaves the same,
and two concurrent submissions of one request make one incident."""

from __future__ import annotations

import threading

import pytest

from services.records import incidents, students
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
        chronology = incidents.get_chronology(s, w.a.students["hannah"])
    assert [v.incident.id for v in chronology.incidents] == [view.incident.id]
    with pytest.raises(PermissionDenied), acting_as(w.teacher()), unit_of_work(
        w.db, "student.chronology"
    ) as s:
        incidents.get_chronology(s, w.a.students["hannah"])
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
    assert first["students"] == 202 and second == {
        "categories": 0, "category_permissions": 0, "students": 0}
    assert Student.__tablename__ == "students"
