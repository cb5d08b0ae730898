"""Event consumers: records' categories and incidents build the read model."""

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


def build_consumers(db: Database) -> list[Consumer]:
    # One queue for both: records publishes them in order from one outbox, and one consumer
    # keeps that order (a category is usually described before its first incident).
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
            source_at=_when(envelope),
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
            occurred_at=(
                message.occurred_at.ToDatetime() if message.HasField("occurred_at") else when
            ),
            status=message.status,
            created_by=message.created_by,
            categories=[
                read_model.CategoryRef(id=c.id, name=c.name, parent_id=c.parent_id)
                for c in message.categories
            ],
            recorded_at=(
                message.created_at.ToDatetime() if message.HasField("created_at") else when
            ),
        )

    return [consumer]
