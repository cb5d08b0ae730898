"""Event consumers: identity's accounts become recipients; records' alerts and assignments,
and identity's password links, become deliveries.

Handlers run inside the consumer's transaction (with the inbox row) and only write rows;
the email itself is sent later by the sender, never from here. A password link is never
logged (not even its path).
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
    passwords = Consumer(service="notifications", name="passwords", db=db, inbox=EVENTS.inbox)

    def wake_after_commit(session, row) -> None:
        if row is not None and row.status == deliveries.PENDING and on_delivery is not None:
            sa_event.listen(session, "after_commit", lambda _s: on_delivery(), once=True)

    @accounts.on("identity.account.upserted", identity_pb2.AccountUpserted)
    def account_upserted(session, envelope, message: identity_pb2.AccountUpserted) -> None:
        if not _same_school(envelope, message.school_id) or not message.account_id:
            return
        recipients.upsert_recipient(
            session,
            school_id=envelope.school_id or message.school_id,
            account_id=message.account_id,
            email=message.email,
            alert_email=message.alert_email,
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
            reason=message.reason,
            public_url=public_url,
            now=utcnow(),
        )
        wake_after_commit(session, row)

    @alerts.on("records.incident.assigned", records_pb2.IncidentAssigned)
    def incident_assigned(session, envelope, message: records_pb2.IncidentAssigned) -> None:
        if not envelope.school_id or not _same_school(envelope, message.school_id):
            return
        if not message.assigned_to:  # unassigned: nobody to tell
            return
        row = deliveries.record_assignment(
            session,
            event_id=envelope.id,
            school_id=envelope.school_id,
            incident_id=message.incident_id,
            assigned_to=message.assigned_to,
            assigned_by=envelope.actor,
            assigned_by_name=message.assigned_by_name,
            category_names=[c.name for c in message.categories],
            public_url=public_url,
            now=utcnow(),
        )
        wake_after_commit(session, row)

    @passwords.on("identity.password_reset.requested", identity_pb2.PasswordResetRequested)
    def password_reset_requested(session, envelope,
                                 message: identity_pb2.PasswordResetRequested) -> None:
        if not envelope.school_id or not _same_school(envelope, message.school_id):
            return
        row = deliveries.record_password_link(
            session,
            event_id=envelope.id,
            school_id=envelope.school_id,
            account_id=message.account_id,
            email=message.email,
            display_name=message.display_name,
            school_name=message.school_name,
            reset_url_path=message.reset_url_path,
            expires_at=(
                message.expires_at.ToDatetime() if message.HasField("expires_at") else None
            ),
            time_zone=message.time_zone,
            welcome=message.welcome,
            public_url=public_url,
            now=utcnow(),
        )
        if row is not None:
            log.info("%s email queued as delivery %s (%s)", row.kind, row.id, row.status)
        wake_after_commit(session, row)

    return [accounts, alerts, passwords]
