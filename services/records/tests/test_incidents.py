"""Adding incidents: what is written, what is announced, and bad input that changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from services.records import incidents
from services.records.audit import unit_of_work
from services.records.models import (
    Alert,
    AuditEntry,
    Incident,
    IncidentCategory,
    Monitoring,
)
from shared.context import RequestInfo, acting_as
from shared.db import utcnow
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

SECRET = "Hannah said her uncle hurt her arm; bruise on the left wrist."


def create(world, claims, **overrides):
    a = world.a
    args = {
        "student_id": a.students["hannah"],
        "text": SECRET,
        "category_ids": [a.categories["Bullying"]],
        "alert_account_ids": [a.dsl],
    }
    args.update(overrides)
    with acting_as(claims, RequestInfo(client_ip="203.0.113.9")), unit_of_work(
        world.db, "incident.create"
    ) as s:
        return incidents.create_incident(s, world.events, **args)


def counts(world) -> dict[str, int]:
    return {
        "incidents": world.count(Incident),
        "categories": world.count(IncidentCategory),
        "alerts": world.count(Alert),
        "monitoring": world.count(Monitoring),
        "events": len(world.outbox_bodies()),
        "created": world.count(AuditEntry, action="incident.created"),
    }


def test_a_teacher_adds_an_incident_with_an_alert_and_monitoring(world):
    a = world.a
    before = len(world.outbox())
    view = create(world, world.teacher(), category_ids=[a.categories["Bullying"],
                                                        a.categories["Behaviour"]],
                  status="closed")
    i = view.incident
    assert i.text == SECRET and i.status == "closed"
    assert i.created_by == a.teacher and i.created_by_name == "Tom Teacher"
    assert [c.category.name for c in view.categories] == ["Bullying", "Behaviour"]
    assert abs((i.occurred_at - utcnow()).total_seconds()) < 5
    assert view.alerted_account_ids == [a.dsl]
    assert world.count(Alert, recipient_account_id=a.dsl) == 1
    assert world.count(Monitoring, student_id=a.students["hannah"]) == 2
    audit_rows = world.count(AuditEntry, action="incident.created", account_id=a.teacher)
    assert audit_rows == 1

    events = world.outbox()[before:]
    assert [k for k, _ in events] == ["records.incident.created", "records.monitoring.changed",
                                      "records.monitoring.changed", "records.alert.raised"]
    created, raised = events[0][1], events[3][1]
    spans = {e.category_id: e for _, e in events[1:3]}
    assert set(spans) == {a.categories["Bullying"], a.categories["Behaviour"]}
    assert not spans[a.categories["Bullying"]].HasField("ended_at")
    assert created.incident_id == i.id and created.student_id == a.students["hannah"]
    assert [c.name for c in created.categories] == ["Bullying", "Behaviour"]
    assert created.status == "closed" and created.school_id == a.id
    assert raised.recipient_account_id == a.dsl and raised.raised_by_name == "Tom Teacher"
    assert [c.name for c in raised.categories] == ["Bullying", "Behaviour"]
    assert raised.incident_id == i.id and raised.kind == "incident"
    # Events never carry the text, nor the student's name.
    for body in world.outbox_bodies():
        assert b"uncle" not in body and b"Hannah" not in body and b"Greenwood" not in body


def test_monitoring_starts_once_per_category(world):
    a = world.a
    create(world, world.teacher())
    create(world, world.teacher(), category_ids=[a.categories["Bullying"],
                                                 a.categories["Behaviour"]])
    assert world.count(Monitoring, category_id=a.categories["Bullying"]) == 1
    assert world.count(Monitoring, category_id=a.categories["Behaviour"]) == 1


def test_occurred_at_in_the_past_and_up_to_a_day_ahead(world):
    then = dt.datetime(2025, 10, 23, 15, 50, tzinfo=dt.UTC)
    assert create(world, world.dsl(), occurred_at=then).incident.occurred_at == dt.datetime(
        2025, 10, 23, 15, 50)
    soon = utcnow() + dt.timedelta(hours=20)
    assert create(world, world.dsl(), occurred_at=soon).incident.occurred_at == soon


def test_the_author_is_never_alerted_and_duplicates_collapse(world):
    a = world.a
    view = create(world, world.teacher(), alert_account_ids=[a.teacher, a.dsl, a.dsl, a.pastoral])
    assert view.alerted_account_ids == [a.dsl, a.pastoral]


def test_no_alerts_is_fine(world):
    view = create(world, world.teacher(), alert_account_ids=[])
    assert view.alerted_account_ids == []
    assert "records.alert.raised" not in [k for k, _ in world.outbox()]


@pytest.mark.parametrize(
    ("case", "error", "audit_action"),
    [
        ("empty text", InvalidArgument, "request.rejected"),
        ("text too long", InvalidArgument, "request.rejected"),
        ("no category", InvalidArgument, "request.rejected"),
        ("unknown category", InvalidArgument, "request.rejected"),
        ("another school's category", InvalidArgument, "request.rejected"),
        ("disabled category", InvalidArgument, "request.rejected"),
        ("forbidden category", PermissionDenied, "access.denied"),
        ("more than a day ahead", InvalidArgument, "request.rejected"),
        ("bad status", InvalidArgument, "request.rejected"),
        ("another school's student", NotFound, "access.denied"),
        ("unknown student", NotFound, "access.denied"),
        ("archived student", NotFound, "access.denied"),
        ("unknown alert recipient", InvalidArgument, "request.rejected"),
        ("another school's staff", InvalidArgument, "request.rejected"),
        ("inactive staff", InvalidArgument, "request.rejected"),
    ],
)
def test_bad_input_changes_nothing_and_is_audited(world, case, error, audit_action):
    a, b = world.a, world.b
    bad = {
        "empty text": {"text": "   \n "},
        "text too long": {"text": "x" * 20_001},
        "no category": {"category_ids": []},
        "unknown category": {"category_ids": ["no-such-category"]},
        "another school's category": {"category_ids": [b.categories["Bullying"]]},
        "disabled category": {"category_ids": [a.categories["Old Category"]]},
        "forbidden category": {"category_ids": [a.categories["Bullying"],
                                                a.categories["Legal Action"]]},
        "more than a day ahead": {"occurred_at": utcnow() + dt.timedelta(days=1, minutes=5)},
        "bad status": {"status": "pending"},
        "another school's student": {"student_id": b.students["hannah"]},
        "unknown student": {"student_id": "no-such-student"},
        "archived student": {"student_id": a.students["leaver"]},
        "unknown alert recipient": {"alert_account_ids": [a.dsl, "no-such-account"]},
        "another school's staff": {"alert_account_ids": [b.dsl]},
        "inactive staff": {"alert_account_ids": [a.leaver]},
    }[case]
    before = counts(world)
    with pytest.raises(error) as refused:
        create(world, world.teacher(), **bad)
    assert counts(world) == before
    if case == "forbidden category":
        assert "Legal Action" in refused.value.message
    rows = _audit_rows(world, world.a.teacher)
    assert [(r.action, r.client_ip) for r in rows] == [(audit_action, "203.0.113.9")]
    assert rows[0].detail.startswith("incident.create: ")
    if case in ("forbidden category",):
        assert rows[0].student_id == a.students["hannah"]


def _audit_rows(world, account_id):
    from sqlalchemy import select

    with world.db.read() as s:
        rows = list(s.scalars(select(AuditEntry).where(
            AuditEntry.account_id == account_id,
            AuditEntry.action.in_(["access.denied", "request.rejected"]),
        )))
        s.expunge_all()
        return rows


def test_a_caller_without_add_incidents_is_refused(world):
    reader = world.tokens.claims(school_id=world.a.id, access="full",
                                 permissions=("view_student_list",))
    with pytest.raises(PermissionDenied):
        create(world, reader)
    assert world.count(Incident) == 0


def test_a_retried_request_returns_the_first_incident(world):
    first = create(world, world.teacher(), request_id="form-123")
    before = counts(world)
    again = create(world, world.teacher(), request_id="form-123")
    assert again.incident.id == first.incident.id
    assert counts(world) == before
    # The same key from another person, or without a key, is a new incident.
    other = create(world, world.teacher(second=True), request_id="form-123")
    assert other.incident.id != first.incident.id
    assert create(world, world.teacher()).incident.id != first.incident.id
    assert world.count(Incident) == 3
    with pytest.raises(Conflict):
        create(world, world.teacher(), request_id="form-123",
               student_id=world.a.students["matthew"])


def test_a_concurrent_twin_is_caught_by_the_unique_key(world, monkeypatch):
    """Both twins passed the look-up; the second one's insert meets the first's row."""
    first = create(world, world.teacher(), request_id="twin")
    real = incidents._by_request_id
    calls = []

    def miss_first_time(session, claims, request_id):
        calls.append(request_id)
        return None if len(calls) == 1 else real(session, claims, request_id)

    monkeypatch.setattr(incidents, "_by_request_id", miss_first_time)
    before = counts(world)
    again = create(world, world.teacher(), request_id="twin")
    assert again.incident.id == first.incident.id
    assert counts(world) == before
    assert calls == ["twin", "twin"]
