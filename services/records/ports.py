"""What the domain needs from the outside, as interfaces (implemented in events.py).

Domain modules never import the generated protobuf code; they announce facts through this
port, inside their own transaction, and ``events.OutboxEvents`` turns them into outbox rows.
None of these facts ever carries the text of an incident or action.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from services.records.models import Action, Alert, Category, Incident, Monitoring


class RecordsEvents(Protocol):
    def category_upserted(self, session: Session, category: Category, *,
                          deleted: bool = False) -> None:
        """records.category.upserted"""

    def category_merged(self, session: Session, school_id: str, source_id: str,
                        target_id: str) -> None:
        """records.category.merged"""

    def incident_created(
        self, session: Session, incident: Incident, categories: list[Category]
    ) -> None:
        """records.incident.created (never the text)"""

    def incident_updated(
        self, session: Session, incident: Incident, categories: list[Category], change: str
    ) -> None:
        """records.incident.updated (never the text)"""

    def incident_assigned(
        self, session: Session, incident: Incident, categories: list[Category],
        assigned_by_name: str,
    ) -> None:
        """records.incident.assigned (never the text nor the student's name)"""

    def action_created(self, session: Session, action: Action) -> None:
        """records.action.created (never the text)"""

    def alert_raised(
        self, session: Session, alert: Alert, incident: Incident, categories: list[Category]
    ) -> None:
        """records.alert.raised (never the text nor the student's name)"""

    def monitoring_changed(self, session: Session, span: Monitoring) -> None:
        """records.monitoring.changed"""
