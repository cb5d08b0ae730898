"""Event consumers: identity's accounts become recipients; records' alerts become deliveries.

Handlers run inside the consumer's transaction (with the inbox row) and only write rows;
the email itself is sent later by the sender, never from here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event as sa_event

from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2
from services.notifications import deliveries, recipients
from services.notifications.models import EVENTS
from shared.db import Database, utcnow
from shared.events import Consumer

log = logging.getLogger(__name__)


def _occurred_at(envelope):
    if envelope.HasField("occurred_at"):
        return envelope.occurred_at.ToDatetime()
    return None


def _same_school(envelope, message_school: str) -> bool:
    if message_school and envelope.school_id and message_school != envelope.school_id:
        log.warning("%s %s: payload school differs from the envelope's; ignored",
                    envelope.type, envelope.id)
        return False
    return bool(envelope.school_id or message_school)


def build_consumers(
    db: Database, *, public_url: str, on_delivery: Callable[[], None] | None = None
) -> list[Consumer]:
    accounts = Consumer(service="notifications", name="recipients", db=db, inbox=EVENTS.inbox)
    alerts = Consumer(service="notifications", name="alerts", db=db, inbox=EVENTS.inbox)

    @accounts.on("identity.account.upserted", identity_pb2.AccountUpserted)
    def account_upserted(session, envelope, message: identity_pb2.AccountUpserted) -> None:
        if not _same_school(envelope, message.school_id) or not message.account_id:
            return
        recipients.upsert_recipient(
            session,
            school_id=envelope.school_id or message.school_id,
            account_id=message.account_id,
            email=message.email,
            display_name=message.display_name,
            active=message.active,
            source_at=_occurred_at(envelope),
        )

    @alerts.on("records.alert.raised", records_pb2.AlertRaised)
    def alert_raised(session, envelope, message: records_pb2.AlertRaised) -> None:
        if not envelope.school_id or not _same_school(envelope, message.school_id):
            return
        row = deliveries.record_alert(
            session,
            event_id=envelope.id,
            school_id=envelope.school_id,
            alert_id=message.alert_id,
            recipient_account_id=message.recipient_account_id,
            raised_by_name=message.raised_by_name,
            category_names=[c.name for c in message.categories],
            kind=message.kind,
            incident_id=message.incident_id,
            public_url=public_url,
            now=utcnow(),
        )
        if row is not None and row.status == deliveries.PENDING and on_delivery is not None:
            sa_event.listen(session, "after_commit", lambda _s: on_delivery(), once=True)

    return [accounts, alerts]
