"""Event consumers: records' categories, incidents and monitoring build the read model.

records.action.created is not consumed: it carries no categories. When an action adds
categories to its incident, records publishes records.incident.updated (change
"categories") with the incident's whole category list, which is what reports count.
"""

from __future__ import annotations

import logging

from haven.records.v1 import records_pb2
from services.reporting import read_model
from services.reporting.models import EVENTS
from shared.db import Database, utcnow
from shared.events import Consumer

log = logging.getLogger(__name__)


def _school_of(envelope, message_school: str) -> str | None:
    """The envelope's school, if the payload agrees (an event never writes another school)."""
    if not envelope.school_id:
        return None
    if message_school and message_school != envelope.school_id:
        log.warning("%s %s: payload school differs from the envelope's; ignored",
                    envelope.type, envelope.id)
        return None
    return envelope.school_id


def _when(envelope):
    return envelope.occurred_at.ToDatetime() if envelope.HasField("occurred_at") else None


def _time(message, name: str, default=None):
    return getattr(message, name).ToDatetime() if message.HasField(name) else default


def _refs(categories) -> list[read_model.CategoryRef]:
    return [read_model.CategoryRef(id=c.id, name=c.name, parent_id=c.parent_id)
            for c in categories]


def build_consumers(db: Database) -> list[Consumer]:
    # One queue for all: records publishes them in order from one outbox, and one consumer
    # keeps that order (a category is usually described before its first incident). The
    # read model copes with any order all the same (read_model.py).
    consumer = Consumer(service="reporting", name="read_model", db=db, inbox=EVENTS.inbox)

    @consumer.on("records.category.upserted", records_pb2.CategoryUpserted)
    def category_upserted(session, envelope, message: records_pb2.CategoryUpserted) -> None:
        school = _school_of(envelope, message.school_id)
        if school is None or not message.category_id:
            return
        read_model.upsert_category(
            session,
            school_id=school,
            category_id=message.category_id,
            name=message.name,
            parent_id=message.parent_id,
            colour=message.colour,
            enabled=message.enabled,
            deleted=message.deleted,
            source_at=_when(envelope),
        )

    @consumer.on("records.category.merged", records_pb2.CategoryMerged)
    def category_merged(session, envelope, message: records_pb2.CategoryMerged) -> None:
        school = _school_of(envelope, message.school_id)
        if school is None:
            return
        read_model.merge_category(
            session,
            school_id=school,
            source_id=message.source_category_id,
            target_id=message.target_category_id,
            at=_when(envelope),
        )

    @consumer.on("records.incident.created", records_pb2.IncidentCreated)
    def incident_created(session, envelope, message: records_pb2.IncidentCreated) -> None:
        school = _school_of(envelope, message.school_id)
        if school is None or not message.incident_id:
            return
        when = _when(envelope) or utcnow()
        read_model.record_incident(
            session,
            school_id=school,
            incident_id=message.incident_id,
            student_id=message.student_id,
            occurred_at=_time(message, "occurred_at", when),
            status=message.status,
            created_by=message.created_by,
            categories=_refs(message.categories),
            recorded_at=_time(message, "created_at", when),
            assigned_to=message.assigned_to,
            link_group_id=message.link_group_id,
        )

    @consumer.on("records.incident.updated", records_pb2.IncidentUpdated)
    def incident_updated(session, envelope, message: records_pb2.IncidentUpdated) -> None:
        school = _school_of(envelope, message.school_id)
        if school is None or not message.incident_id:
            return
        when = _when(envelope) or utcnow()
        read_model.apply_incident_state(
            session,
            school_id=school,
            incident_id=message.incident_id,
            state=read_model.IncidentState(
                student_id=message.student_id,
                occurred_at=_time(message, "occurred_at", when),
                status=message.status,
                categories=_refs(message.categories),
                assigned_to=message.assigned_to,
                deleted=message.deleted,
                merged_into_id=message.merged_into_incident_id,
                version=message.version or 1,
                at=_time(message, "updated_at", when),
            ),
        )

    @consumer.on("records.monitoring.changed", records_pb2.MonitoringChanged)
    def monitoring_changed(session, envelope, message: records_pb2.MonitoringChanged) -> None:
        school = _school_of(envelope, message.school_id)
        if school is None or not message.span_id or not message.category_id:
            return
        read_model.record_monitoring_span(
            session,
            school_id=school,
            span_id=message.span_id,
            student_id=message.student_id,
            category_id=message.category_id,
            started_at=_time(message, "started_at", _when(envelope) or utcnow()),
            ended_at=_time(message, "ended_at"),
        )

    return [consumer]
