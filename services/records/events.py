"""Events records publishes, built from the protos, written to the transactional outbox."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session

from haven.records.v1 import records_pb2
from services.records.models import Action, Alert, Category, Incident, Monitoring
from shared.context import optional_claims
from shared.events import Outbox

CATEGORY_UPSERTED = "records.category.upserted"
CATEGORY_MERGED = "records.category.merged"
INCIDENT_CREATED = "records.incident.created"
INCIDENT_UPDATED = "records.incident.updated"
INCIDENT_ASSIGNED = "records.incident.assigned"
ACTION_CREATED = "records.action.created"
ALERT_RAISED = "records.alert.raised"
MONITORING_CHANGED = "records.monitoring.changed"

# Routing key -> payload type, for anyone decoding records' outbox (tests, tools).
PAYLOADS = {
    CATEGORY_UPSERTED: records_pb2.CategoryUpserted,
    CATEGORY_MERGED: records_pb2.CategoryMerged,
    INCIDENT_CREATED: records_pb2.IncidentCreated,
    INCIDENT_UPDATED: records_pb2.IncidentUpdated,
    INCIDENT_ASSIGNED: records_pb2.IncidentAssigned,
    ACTION_CREATED: records_pb2.ActionCreated,
    ALERT_RAISED: records_pb2.AlertRaised,
    MONITORING_CHANGED: records_pb2.MonitoringChanged,
}


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)  # naive datetimes are UTC throughout Haven
    return ts


def category_ref(category: Category) -> records_pb2.CategoryRef:
    return records_pb2.CategoryRef(
        id=category.id, name=category.name, parent_id=category.parent_id or ""
    )


def category_upserted(category: Category, deleted: bool = False
                      ) -> records_pb2.CategoryUpserted:
    return records_pb2.CategoryUpserted(
        category_id=category.id,
        school_id=category.school_id,
        name=category.name,
        parent_id=category.parent_id or "",
        colour=category.colour,
        enabled=category.enabled and not deleted,
        deleted=deleted,
    )


def incident_created(incident: Incident, categories: list[Category]) -> records_pb2.IncidentCreated:
    """The facts reporting needs; the text never leaves the records database."""
    return records_pb2.IncidentCreated(
        incident_id=incident.id,
        school_id=incident.school_id,
        student_id=incident.student_id,
        categories=[category_ref(c) for c in categories],
        occurred_at=_ts(incident.occurred_at),
        created_by=incident.created_by,
        status=incident.status,
        created_at=_ts(incident.created_at),
        assigned_to=incident.assigned_to or "",
        link_group_id=incident.link_group_id or "",
    )


def incident_updated(incident: Incident, categories: list[Category], change: str
                     ) -> records_pb2.IncidentUpdated:
    msg = records_pb2.IncidentUpdated(
        incident_id=incident.id,
        school_id=incident.school_id,
        student_id=incident.student_id,
        categories=[category_ref(c) for c in categories],
        occurred_at=_ts(incident.occurred_at),
        status=incident.status,
        assigned_to=incident.assigned_to or "",
        deleted=incident.deleted_at is not None,
        merged_into_incident_id=incident.merged_into_id or "",
        version=incident.version or 1,
        change=change,
    )
    if incident.updated_at:
        msg.updated_at.CopyFrom(_ts(incident.updated_at))
    return msg


def alert_raised(
    alert: Alert, incident: Incident, categories: list[Category]
) -> records_pb2.AlertRaised:
    """Who raised it and the categories: enough for an email that carries nothing sensitive."""
    return records_pb2.AlertRaised(
        alert_id=alert.id,
        school_id=alert.school_id,
        recipient_account_id=alert.recipient_account_id,
        raised_by_name=alert.raised_by_name,
        categories=[category_ref(c) for c in categories],
        incident_id=incident.id,
        kind=alert.kind,
        action_id=alert.action_id or "",
        reason=alert.reason or "chosen",
    )


class OutboxEvents:
    """``ports.RecordsEvents`` over the transactional outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def category_upserted(self, session: Session, category: Category, *,
                          deleted: bool = False) -> None:
        self.outbox.add(session, CATEGORY_UPSERTED, category_upserted(category, deleted),
                        school_id=category.school_id, actor=_actor())

    def category_merged(self, session: Session, school_id: str, source_id: str,
                        target_id: str) -> None:
        self.outbox.add(session, CATEGORY_MERGED, records_pb2.CategoryMerged(
            school_id=school_id, source_category_id=source_id, target_category_id=target_id),
            school_id=school_id, actor=_actor())

    def incident_updated(
        self, session: Session, incident: Incident, categories: list[Category], change: str
    ) -> None:
        self.outbox.add(session, INCIDENT_UPDATED, incident_updated(incident, categories, change),
                        school_id=incident.school_id, actor=_actor())

    def incident_assigned(
        self, session: Session, incident: Incident, categories: list[Category],
        assigned_by_name: str,
    ) -> None:
        self.outbox.add(session, INCIDENT_ASSIGNED, records_pb2.IncidentAssigned(
            incident_id=incident.id, school_id=incident.school_id,
            assigned_to=incident.assigned_to or "", assigned_by_name=assigned_by_name,
            categories=[category_ref(c) for c in categories],
        ), school_id=incident.school_id, actor=_actor())

    def action_created(self, session: Session, action: Action) -> None:
        self.outbox.add(session, ACTION_CREATED, records_pb2.ActionCreated(
            action_id=action.id, incident_id=action.incident_id, school_id=action.school_id,
            student_id=action.student_id, created_by=action.created_by,
            occurred_at=_ts(action.occurred_at), created_at=_ts(action.created_at),
        ), school_id=action.school_id, actor=action.created_by)

    def monitoring_changed(self, session: Session, span: Monitoring) -> None:
        msg = records_pb2.MonitoringChanged(
            span_id=span.id, school_id=span.school_id, student_id=span.student_id,
            category_id=span.category_id, started_at=_ts(span.started_at))
        if span.ended_at is not None:
            msg.ended_at.CopyFrom(_ts(span.ended_at))
        self.outbox.add(session, MONITORING_CHANGED, msg, school_id=span.school_id,
                        actor=_actor())

    def incident_created(
        self, session: Session, incident: Incident, categories: list[Category]
    ) -> None:
        self.outbox.add(session, INCIDENT_CREATED, incident_created(incident, categories),
                        school_id=incident.school_id, actor=incident.created_by)

    def alert_raised(
        self, session: Session, alert: Alert, incident: Incident, categories: list[Category]
    ) -> None:
        self.outbox.add(session, ALERT_RAISED, alert_raised(alert, incident, categories),
                        school_id=alert.school_id, actor=alert.raised_by)


def _actor() -> str:
    claims = optional_claims()
    return claims.account_id if claims else "system:records"
