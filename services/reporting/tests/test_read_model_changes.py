"""The read model stays true as records changes: incident edits, deletion and restore,
merges of incidents and of categories, deleted categories, monitoring spans. Every event is
idempotent and an older one arriving late changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from haven.records.v1 import records_pb2
from services.reporting.models import (
    ReportCategory,
    ReportIncident,
    ReportIncidentCategory,
    ReportMonitoringSpan,
)

SCHOOL = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
T0 = dt.datetime(2026, 3, 2, 9, 0)
MIN = dt.timedelta(minutes=1)


def rows(h, model, **where):
    with h.spec.db.read() as s:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        found = list(s.scalars(query))
        s.expunge_all()
        return found


def incident(h, incident_id) -> ReportIncident:
    [row] = rows(h, ReportIncident, id=incident_id)
    return row


def categories_of(h, incident_id) -> set[str]:
    return {r.category_id for r in rows(h, ReportIncidentCategory, incident_id=incident_id)}


def test_edits_change_categories_time_status_and_assignee(harness):
    a, b = harness.category(SCHOOL, "Attendance"), harness.category(SCHOOL, "Behaviour")
    iid = harness.incident(SCHOOL, [a], T0, created_at=T0)
    harness.update(SCHOOL, iid, [b], T0 - 60 * MIN, version=2, updated_at=T0 + MIN,
                   status="closed", assigned_to="dana")
    row = incident(harness, iid)
    assert (row.occurred_at, row.status, row.assigned_to, row.version) == (
        T0 - 60 * MIN, "closed", "dana", 2)
    assert categories_of(harness, iid) == {b}
    # an action adds a category: same version, a later updated_at
    harness.update(SCHOOL, iid, [b, a], T0 - 60 * MIN, version=2, updated_at=T0 + 2 * MIN,
                   status="closed", assigned_to="dana", change="categories")
    assert categories_of(harness, iid) == {a, b}


def test_older_states_arriving_late_change_nothing(harness):
    a, b, c = (harness.category(SCHOOL, n) for n in ("A", "B", "C"))
    iid = harness.incident(SCHOOL, [a], T0, created_at=T0)
    harness.update(SCHOOL, iid, [c], T0, version=3, updated_at=T0 + 3 * MIN)
    harness.update(SCHOOL, iid, [b], T0, version=2, updated_at=T0 + 2 * MIN)  # late
    harness.update(SCHOOL, iid, [b], T0, version=3, updated_at=T0 + MIN)  # same version, older
    harness.incident(SCHOOL, [a], T0, incident_id=iid, created_at=T0)  # republished creation
    assert categories_of(harness, iid) == {c}
    assert incident(harness, iid).version == 3


def test_an_update_before_its_creation_keeps_the_newer_state_and_takes_the_facts(harness):
    a, b = harness.category(SCHOOL, "A"), harness.category(SCHOOL, "B")
    iid, student, author = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    harness.update(SCHOOL, iid, [b], T0, version=2, updated_at=T0 + MIN, student_id=student,
                   status="closed")
    harness.incident(SCHOOL, [a], T0, incident_id=iid, created_at=T0, created_by=author,
                     student_id=student)
    row = incident(harness, iid)
    assert (row.status, row.created_by, row.recorded_at, row.student_id) == (
        "closed", author, T0, student)
    assert categories_of(harness, iid) == {b}


def test_deletion_restore_and_incident_merges_are_kept(harness):
    a = harness.category(SCHOOL, "A")
    iid = harness.incident(SCHOOL, [a], T0, created_at=T0)
    target = harness.incident(SCHOOL, [a], T0, created_at=T0)
    harness.update(SCHOOL, iid, [a], T0, version=2, updated_at=T0 + MIN, deleted=True,
                   change="deleted")
    assert incident(harness, iid).deleted is True
    assert categories_of(harness, iid) == {a}  # kept, so a restore brings the counts back
    harness.update(SCHOOL, iid, [a], T0, version=3, updated_at=T0 + 2 * MIN, change="restored")
    assert incident(harness, iid).deleted is False
    harness.update(SCHOOL, iid, [a], T0, version=2, updated_at=T0 + MIN, deleted=True)  # late
    assert incident(harness, iid).deleted is False
    harness.update(SCHOOL, iid, [a], T0, version=4, updated_at=T0 + 3 * MIN, merged_into=target,
                   change="merged")
    assert incident(harness, iid).merged_into_id == target


def test_action_created_is_not_consumed_it_carries_no_categories(harness):
    assert "records.action.created" not in harness.spec.consumers[0].bindings
    assert set(records_pb2.ActionCreated.DESCRIPTOR.fields_by_name) == {
        "action_id", "incident_id", "school_id", "student_id", "created_by", "occurred_at",
        "created_at",
    }


def test_a_category_merge_moves_incidents_and_spans_and_redirects_late_events(harness):
    src, dst = harness.category(SCHOOL, "Old name"), harness.category(SCHOOL, "Target")
    only_src = harness.incident(SCHOOL, [src], T0)
    both = harness.incident(SCHOOL, [src, dst], T0)
    harness.span(SCHOOL, "span-1", "student-1", src, T0)
    body = harness.handle("records.category.merged", records_pb2.CategoryMerged(
        school_id=SCHOOL, source_category_id=src, target_category_id=dst), school_id=SCHOOL)
    harness.spec.consumers[0].handle(body)  # redelivered
    harness.merge(SCHOOL, src, dst)  # republished
    assert categories_of(harness, only_src) == {dst}
    assert categories_of(harness, both) == {dst}
    assert [s.category_id for s in rows(harness, ReportMonitoringSpan)] == [dst]
    [source] = rows(harness, ReportCategory, id=src)
    assert (source.deleted, source.merged_into_id) == (True, dst)
    # records then says the source is gone; an older description arriving late revives nothing
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=src, school_id=SCHOOL, name="Old name", deleted=True), school_id=SCHOOL)
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=src, school_id=SCHOOL, name="Old name", enabled=True), school_id=SCHOOL,
        occurred_at=T0 - 600 * MIN)
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=src, school_id=SCHOOL, name="Renamed", enabled=True), school_id=SCHOOL)
    [source] = rows(harness, ReportCategory, id=src)
    assert (source.deleted, source.enabled, source.merged_into_id) == (True, False, dst)
    # a late event still naming the source files under the target
    late = harness.incident(SCHOOL, [src], T0)
    harness.update(SCHOOL, both, [src], T0, version=5, updated_at=T0 + MIN)
    harness.span(SCHOOL, "span-2", "student-2", src, T0)
    assert categories_of(harness, late) == categories_of(harness, both) == {dst}
    assert {s.category_id for s in rows(harness, ReportMonitoringSpan)} == {dst}


def test_chained_merges_lead_to_the_last_target(harness):
    a, b, c = (harness.category(SCHOOL, n) for n in ("A", "B", "C"))
    harness.merge(SCHOOL, a, b)
    harness.merge(SCHOOL, b, c)
    iid = harness.incident(SCHOOL, [a], T0)
    assert categories_of(harness, iid) == {c}
    assert {r.id: r.merged_into_id for r in rows(harness, ReportCategory)} == {
        a: c, b: c, c: ""}
    harness.merge(SCHOOL, c, a)  # would be a cycle (records never does this): ignored
    assert categories_of(harness, iid) == {c}


def test_a_merge_that_arrives_before_its_categories_are_described(harness):
    src, dst = str(uuid.uuid4()), str(uuid.uuid4())
    harness.merge(SCHOOL, src, dst)
    harness.category(SCHOOL, "Target", category_id=dst)
    iid = harness.incident(SCHOOL, [src], T0, names={src: "Source"})
    assert categories_of(harness, iid) == {dst}
    [target] = rows(harness, ReportCategory, id=dst)
    assert (target.name, target.deleted) == ("Target", False)


def test_a_deleted_category_is_a_tombstone(harness):
    cid = harness.category(SCHOOL, "Unused")
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=cid, school_id=SCHOOL, name="Unused", enabled=False, deleted=True),
        school_id=SCHOOL)
    harness.handle("records.category.upserted", records_pb2.CategoryUpserted(
        category_id=cid, school_id=SCHOOL, name="Unused", enabled=True), school_id=SCHOOL,
        occurred_at=T0)  # an older description, late
    [row] = rows(harness, ReportCategory, id=cid)
    assert (row.deleted, row.enabled) == (True, False)


def test_monitoring_spans_start_and_end_in_any_order(harness):
    cat = harness.category(SCHOOL, "Bullying")
    student = str(uuid.uuid4())
    body = harness.span(SCHOOL, "s1", student, cat, T0)
    harness.spec.consumers[0].handle(body)  # redelivered
    [span] = rows(harness, ReportMonitoringSpan)
    assert (span.student_id, span.category_id, span.started_at, span.ended_at) == (
        student, cat, T0, None)
    harness.span(SCHOOL, "s1", student, cat, T0, T0 + 90 * MIN)
    harness.span(SCHOOL, "s1", student, cat, T0)  # the start, republished late
    [span] = rows(harness, ReportMonitoringSpan)
    assert span.ended_at == T0 + 90 * MIN
    # the end arriving before the start
    harness.span(SCHOOL, "s2", student, cat, T0, T0 + MIN)
    harness.span(SCHOOL, "s2", student, cat, T0)
    assert [s.ended_at for s in rows(harness, ReportMonitoringSpan, id="s2")] == [T0 + MIN]
    # a payload naming another school than its envelope writes nothing
    msg = records_pb2.MonitoringChanged(span_id="s3", school_id=OTHER, student_id=student,
                                        category_id=cat)
    harness.handle("records.monitoring.changed", msg, school_id=SCHOOL)
    assert {s.id for s in rows(harness, ReportMonitoringSpan)} == {"s1", "s2"}
