"""What the domain needs from the outside, as interfaces (implemented in events.py).

Domain modules never import the generated protobuf code; they announce facts through this
port, inside their own transaction, and ``events.OutboxEvents`` turns them into outbox rows.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from services.records.models import Alert, Category, Incident


class RecordsEvents(Protocol):
    def category_upserted(self, session: Session, category: Category) -> None:
        """records.category.upserted"""

    def incident_created(
        self, session: Session, incident: Incident, categories: list[Category]
    ) -> None:
        """records.incident.created (never the text)"""

    def alert_raised(
        self, session: Session, alert: Alert, incident: Incident, categories: list[Category]
    ) -> None:
        """records.alert.raised (never the text nor the student's name)"""
