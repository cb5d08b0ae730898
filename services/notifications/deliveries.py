"""Deliveries: the log of every email this service was asked to send, and its state machine.

    pending --claim--> sending --accepted--> sent
       ^                  |
       +----error---------+ (after max attempts, or a permanent refusal: failed)
    skipped: never sent (unknown or inactive recipient), with the reason.

A delivery is created by an event handler (in the consumer's transaction, so at most one per
event) and sent by the sender (``sender.py``), which commits "sending" before it hands the
message to the mail transport and "sent" after.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.notifications import templates
from services.notifications.models import Delivery
from services.notifications.recipients import find_recipient
from shared.context import current_claims
from shared.errors import InvalidArgument, PermissionDenied

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)

# Delivery ids are uuid5(this namespace, event id): the same event always names the same row.
DELIVERY_NAMESPACE = uuid.UUID("6f1d6a57-3b0e-4c35-9a55-1d0c2f6b8e01")


def delivery_id_for(event_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, event_id))


def _cap(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_alert(
    session: Session,
    *,
    event_id: str,
    school_id: str,
    alert_id: str,
    recipient_account_id: str,
    raised_by_name: str,
    category_names: list[str],
    kind: str,
    incident_id: str,
    public_url: str,
    now: dt.datetime,
) -> Delivery | None:
    """Queue the alert email for one colleague (or record why it is skipped).

    Returns None when this alert already has a delivery (a redelivered or republished event).
    """
    delivery_id = delivery_id_for(event_id)
    if session.get(Delivery, delivery_id) is not None:
        return None
    if alert_id and session.scalars(
        select(Delivery.id).where(Delivery.school_id == school_id, Delivery.alert_id == alert_id)
    ).first():
        return None
    recipient = find_recipient(session, school_id=school_id, account_id=recipient_account_id)
    email = templates.alert_email(
        recipient_name=recipient.display_name if recipient else "",
        raised_by_name=raised_by_name,
        category_names=category_names,
        kind=kind,
        incident_id=incident_id,
        public_url=public_url,
    )
    reason = ""
    if recipient is None:
        reason = "The recipient is not a known account of this school."
    elif not recipient.active:
        reason = "The recipient's account is not active."
    elif "@" not in recipient.email:
        reason = "The recipient has no email address."
    row = Delivery(
        id=delivery_id,
        school_id=school_id,
        event_id=event_id,
        kind="alert",
        alert_id=alert_id or None,
        recipient_account_id=recipient_account_id,
        recipient=recipient.email if recipient else "",
        recipient_name=recipient.display_name if recipient else "",
        subject=email.subject,
        body="" if reason else email.body,
        status=SKIPPED if reason else PENDING,
        reason=reason,
        attempts=0,
        next_attempt_at=None if reason else now,
        created_at=now,
    )
    session.add(row)
    return row


def list_deliveries(session: Session, *, limit: int = 100, status: str = "") -> list[Delivery]:
    claims = current_claims()
    if not claims.full_access:
        raise PermissionDenied("The delivery log needs elevated access.")
    if not claims.has("administration"):
        raise PermissionDenied("The delivery log is for administrators.")
    if status and status not in STATUSES:
        raise InvalidArgument(f"Unknown status {status!r}.", field="status")
    limit = max(1, min(limit or 100, 500))
    query = select(Delivery).where(Delivery.school_id == claims.school_id)
    if status:
        query = query.where(Delivery.status == status)
    return list(
        session.scalars(query.order_by(Delivery.created_at.desc(), Delivery.id).limit(limit))
    )


# ---- the sender's side ----


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: str
    school_id: str
    recipient: str
    recipient_name: str
    subject: str
    body: str
    attempt: int


def claim_next(session: Session, *, now: dt.datetime, lock: bool) -> OutgoingEmail | None:
    """Take the oldest due pending delivery and mark it "sending" (commit before sending).

    ``lock``: use SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL), so several senders never
    take the same row. The recipient is looked up again: an account deactivated since the
    alert gets nothing, and a changed address is used.
    """
    while True:
        query = (
            select(Delivery)
            .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.created_at)
            .limit(1)
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        row = session.scalars(query).first()
        if row is None:
            return None
        recipient = find_recipient(
            session, school_id=row.school_id, account_id=row.recipient_account_id
        )
        if recipient is None or not recipient.active or "@" not in recipient.email:
            row.status = SKIPPED
            row.reason = "The recipient's account is no longer active."
            row.next_attempt_at = None
            session.flush()
            continue
        row.recipient = recipient.email
        row.status = SENDING
        row.attempts += 1
        row.claimed_at = now
        row.next_attempt_at = None
        return OutgoingEmail(
            delivery_id=row.id,
            school_id=row.school_id,
            recipient=row.recipient,
            recipient_name=row.recipient_name,
            subject=row.subject,
            body=row.body,
            attempt=row.attempts,
        )


def mark_sent(session: Session, delivery_id: str, *, now: dt.datetime) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_((SENDING, PENDING)))
        .values(status=SENT, sent_at=now, reason="", next_attempt_at=None)
    )


def retry_delay(attempts: int, *, base: float, ceiling: float) -> float:
    return min(ceiling, base * (2 ** max(0, attempts - 1)))


def mark_attempt_failed(
    session: Session,
    delivery_id: str,
    *,
    now: dt.datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
    retry_seconds: float,
    retry_max_seconds: float,
) -> str:
    """Back to pending with a delay, or "failed" for good. Returns the new status."""
    row = session.get(Delivery, delivery_id)
    if row is None or row.status != SENDING:
        return row.status if row else ""
    row.reason = _cap(error)
    if permanent or row.attempts >= max_attempts:
        row.status = FAILED
        row.next_attempt_at = None
    else:
        row.status = PENDING
        delay = retry_delay(row.attempts, base=retry_seconds, ceiling=retry_max_seconds)
        row.next_attempt_at = now + dt.timedelta(seconds=delay)
    return row.status


def release_stale(
    session: Session, *, now: dt.datetime, lease_seconds: float, max_attempts: int
) -> int:
    """Deliveries left "sending" by a sender that stopped mid-send go back to pending.

    This is the one way an email can go out twice: the mail server accepted it but the
    sender stopped before committing "sent". The resend carries the same Message-ID.
    """
    cutoff = now - dt.timedelta(seconds=lease_seconds)
    stale = (Delivery.status == SENDING, Delivery.claimed_at < cutoff)
    gave_up = session.execute(
        update(Delivery)
        .where(*stale, Delivery.attempts >= max_attempts)
        .values(status=FAILED, reason="The sender stopped while sending, too many times.")
    ).rowcount
    retried = session.execute(
        update(Delivery)
        .where(*stale)
        .values(
            status=PENDING,
            next_attempt_at=now,
            reason="The sender stopped while sending; sending again with the same Message-ID.",
        )
    ).rowcount
    return (gave_up or 0) + (retried or 0)


def next_due_at(session: Session) -> dt.datetime | None:
    return session.execute(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.status == PENDING)
    ).scalar_one_or_none()


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: n for status, n in rows}

