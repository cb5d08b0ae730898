"""Events records publishes, built from the protos, written to the transactional outbox."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session

from haven.records.v1 import records_pb2
from services.records.models import Alert, Category, Incident
from shared.context import optional_claims
from shared.events import Outbox

CATEGORY_UPSERTED = "records.category.upserted"
INCIDENT_CREATED = "records.incident.created"
ALERT_RAISED = "records.alert.raised"


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)  # naive datetimes are UTC throughout Haven
    return ts


def category_ref(category: Category) -> records_pb2.CategoryRef:
    return records_pb2.CategoryRef(
        id=category.id, name=category.name, parent_id=category.parent_id or ""
    )


def category_upserted(category: Category) -> records_pb2.CategoryUpserted:
    return records_pb2.CategoryUpserted(
        category_id=category.id,
        school_id=category.school_id,
        name=category.name,
        parent_id=category.parent_id or "",
        colour=category.colour,
        enabled=category.enabled,
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
    )


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
    )


class OutboxEvents:
    """``ports.RecordsEvents`` over the transactional outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def category_upserted(self, session: Session, category: Category) -> None:
        self.outbox.add(session, CATEGORY_UPSERTED, category_upserted(category),
                        school_id=category.school_id, actor=_actor())

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
