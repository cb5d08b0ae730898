"""Alerts: the caller's unread alerts, and marking them read.

An alert tells its recipient which student, which categories, who raised it and when; its
incident opens for the recipient while the alert is unread (see incidents.py). Marking read is
the recipient's own act: nobody can see or mark another person's alerts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import category_rights
from services.records.categories import CategoryView, view_of
from services.records.models import Alert, Incident
from shared.context import current_claims
from shared.db import utcnow
from shared.errors import InvalidArgument, NotFound

MAX_ALERTS = 500


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    incident: Incident
    categories: list[CategoryView]

    @property
    def student_name(self) -> str:
        return self.incident.student.display_name


def list_alerts(session: Session, *, limit: int = MAX_ALERTS) -> list[AlertView]:
    """The caller's unread alerts, newest first."""
    claims = current_claims()
    rows = session.scalars(
        select(Alert)
        .where(
            Alert.school_id == claims.school_id,
            Alert.recipient_account_id == claims.account_id,
            Alert.read_at.is_(None),
        )
        .order_by(Alert.created_at.desc(), Alert.id)
        .limit(max(1, min(limit, MAX_ALERTS)))
    ).all()
    rights = category_rights(session, claims)
    return [
        AlertView(alert=a, incident=a.incident,
                  categories=[view_of(c, rights) for c in a.incident.categories])
        for a in rows
    ]


def mark_alert_read(session: Session, *, alert_id: str = "", incident_id: str = "") -> int:
    """Mark one of the caller's alerts read (or all of theirs for one incident).

    Idempotent: marking an alert already read changes nothing. Returns how many changed.
    """
    claims = current_claims()
    alert_id = (alert_id or "").strip()
    incident_id = (incident_id or "").strip()
    if not alert_id and not incident_id:
        raise InvalidArgument("Say which alert to mark read.", field="alert_id")
    query = select(Alert).where(
        Alert.school_id == claims.school_id, Alert.recipient_account_id == claims.account_id
    )
    if alert_id:
        query = query.where(Alert.id == alert_id)
    else:
        query = query.where(Alert.incident_id == incident_id)
    mine = list(session.scalars(query))
    if not mine:
        raise audit.refuse(NotFound("No such alert."),
                           detail=f"alert {alert_id[:40]!r} incident {incident_id[:40]!r}")
    now = utcnow()
    changed = 0
    for alert in mine:
        if alert.read_at is None:
            alert.read_at = now
            changed += 1
            audit.record(session, "alert.read", student_id=alert.incident.student_id,
                         detail=f"alert {alert.id} incident {alert.incident_id}")
    return changed
