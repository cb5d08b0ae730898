"""Records' events build the read model, idempotently and per school."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from haven.records.v1 import records_pb2
from services.reporting.models import ReportCategory, ReportIncident, ReportIncidentCategory
from shared.events import make_envelope
from shared.events.memory import MemoryTransport, reset_broker
from shared.service import start_worker

SCHOOL_A = str(uuid.uuid4())
SCHOOL_B = str(uuid.uuid4())
WHEN = dt.datetime(2026, 3, 2, 10, 30)


def rows(h, model):
    with h.spec.db.read() as s:
        found = list(s.scalars(select(model)))
        s.expunge_all()
        return found


def test_categories_upsert_and_ignore_late_older_events(harness):
    cid = str(uuid.uuid4())
    new = records_pb2.CategoryUpserted(category_id=cid, school_id=SCHOOL_A, name="Bullying",
                                       colour="#c0392b", enabled=True)
    old = records_pb2.CategoryUpserted(category_id=cid, school_id=SCHOOL_A, name="Old name",
                                       enabled=False)
    body = harness.handle("records.category.upserted", new, school_id=SCHOOL_A,
                          occurred_at=WHEN)
    harness.spec.consumers[0].handle(body)  # redelivered
    harness.handle("records.category.upserted", new, school_id=SCHOOL_A, occurred_at=WHEN)
    harness.handle("records.category.upserted", old, school_id=SCHOOL_A,
                   occurred_at=WHEN - dt.timedelta(hours=1))
    [row] = rows(harness, ReportCategory)
    assert (row.name, row.colour, row.enabled) == ("Bullying", "c0392b", True)
    renamed = records_pb2.CategoryUpserted(category_id=cid, school_id=SCHOOL_A, name="Bullying",
                                           enabled=False)
    harness.handle("records.category.upserted", renamed, school_id=SCHOOL_A,
                   occurred_at=WHEN + dt.timedelta(hours=1))
    [row] = rows(harness, ReportCategory)
    assert row.enabled is False


def test_incidents_are_recorded_once_with_their_categories(harness):
    a = harness.category(SCHOOL_A, "Attendance")
    b = harness.category(SCHOOL_A, "Behaviour")
    iid = str(uuid.uuid4())
    for _ in range(2):  # the same incident event twice (a new event id each time)
        harness.incident(SCHOOL_A, [a, b], WHEN, incident_id=iid)
    [incident] = rows(harness, ReportIncident)
    assert (incident.id, incident.school_id, incident.occurred_at) == (iid, SCHOOL_A, WHEN)
    assert sorted(r.category_id for r in rows(harness, ReportIncidentCategory)) == sorted([a, b])
    harness.incident(SCHOOL_A, [b], WHEN, incident_id=iid)  # corrected: now only in b
    assert [r.category_id for r in rows(harness, ReportIncidentCategory)] == [b]


def test_a_category_first_seen_in_an_incident_is_kept_until_described(harness):
    cid = str(uuid.uuid4())
    harness.incident(SCHOOL_A, [cid], WHEN, names={cid: "Online safety"})
    [row] = rows(harness, ReportCategory)
    assert (row.name, row.enabled, row.source_at) == ("Online safety", True, None)
    harness.category(SCHOOL_A, "E-safety", category_id=cid, enabled=False)
    harness.incident(SCHOOL_A, [cid], WHEN, names={cid: "stale name"})
    [row] = rows(harness, ReportCategory)
    assert (row.name, row.enabled) == ("E-safety", False)


def test_events_never_write_another_schools_rows(harness):
    cid = str(uuid.uuid4())
    harness.category(SCHOOL_A, "Bullying", category_id=cid)
    # the same category id in another school is another row
    harness.category(SCHOOL_B, "Other school's", category_id=cid)
    # a payload that names another school than its envelope is ignored
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=cid, school_id=SCHOOL_B, name="hijack"), school_id=SCHOOL_A)
    msg = records_pb2.IncidentCreated(incident_id=str(uuid.uuid4()), school_id=SCHOOL_B,
                                      categories=[records_pb2.CategoryRef(id=cid)])
    harness.handle("records.incident.created", msg, school_id=SCHOOL_A)
    names = {(r.school_id, r.name) for r in rows(harness, ReportCategory)}
    assert names == {(SCHOOL_A, "Bullying"), (SCHOOL_B, "Other school's")}
    assert rows(harness, ReportIncident) == []


def test_the_worker_consumes_from_the_bus(harness):
    reset_broker()
    running = start_worker(harness.spec)
    try:
        cid = str(uuid.uuid4())
        msg = records_pb2.CategoryUpserted(category_id=cid, school_id=SCHOOL_A, name="Bullying",
                                           enabled=True)
        env = make_envelope("records.category.upserted", msg, school_id=SCHOOL_A, actor="t")
        MemoryTransport().publish(env.type, env.SerializeToString(), message_id=env.id)
        assert [r.id for r in rows(harness, ReportCategory)] == [cid]
    finally:
        running.stop()
        reset_broker()
