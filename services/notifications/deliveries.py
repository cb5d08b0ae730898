"""Deliveries: the log of every email this service was asked to send, and its state machine.

    pending --claim--> sending --accepted--> sent
       ^                  |
       +----error---------+ (after max attempts, or a permanent refusal: failed)
    skipped: never sent (unknown or inactive recipient, a link that expired, an unusable
             event), with the reason.

A delivery is created by an event handler (in the consumer's transaction, so at most one per
event) and sent by the sender (``sender.py``), which commits "sending" before it hands the
message to the mail transport and "sent" after. A password email's body holds its secret
link only until the delivery is settled (sent, failed or skipped); see ``links.py``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from services.notifications import links, templates
from services.notifications.models import Delivery, Recipient
from services.notifications.recipients import find_recipient
from shared.context import current_claims
from shared.errors import InvalidArgument, PermissionDenied

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)

ALERT, ASSIGNED, WELCOME, PASSWORD_RESET = "alert", "assigned", "welcome", "password_reset"
# Sent to the address their event named (not a recipient looked up in the directory); their
# body holds a secret link, hidden once the delivery is settled.
SECRET_KINDS = (WELCOME, PASSWORD_RESET)

# Delivery ids are uuid5(this namespace, event id): the same event always names the same row.
DELIVERY_NAMESPACE = uuid.UUID("6f1d6a57-3b0e-4c35-9a55-1d0c2f6b8e01")


def delivery_id_for(event_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, event_id))


def _cap(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def address_of(recipient: Recipient) -> str:
    """Where a school's emails to this recipient go: its alert address, else its login one."""
    return (recipient.alert_email or recipient.email).strip()


def _why_not(recipient: Recipient | None) -> str:
    if recipient is None:
        return "The recipient is not a known account of this school."
    if not recipient.active:
        return "The recipient's account is not active."
    if "@" not in address_of(recipient):
        return "The recipient has no email address."
    return ""


def _already_recorded(session: Session, event_id: str) -> bool:
    return session.get(Delivery, delivery_id_for(event_id)) is not None


def _to_recipient(
    session: Session,
    *,
    event_id: str,
    school_id: str,
    kind: str,
    recipient_account_id: str,
    render: Callable[[str], templates.RenderedEmail],
    now: dt.datetime,
    alert_id: str | None = None,
    skip_reason: str = "",
) -> Delivery:
    """A delivery to a recipient of the school (``render(recipient name)``), or a skipped one
    with the reason when the recipient cannot be mailed."""
    recipient = find_recipient(session, school_id=school_id, account_id=recipient_account_id)
    email = render(recipient.display_name if recipient else "")
    reason = skip_reason or _why_not(recipient)
    row = Delivery(
        id=delivery_id_for(event_id),
        school_id=school_id,
        event_id=event_id,
        kind=kind,
        alert_id=alert_id or None,
        recipient_account_id=recipient_account_id,
        recipient=address_of(recipient) if recipient else "",
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
    reason: str = "",
) -> Delivery | None:
    """Queue the alert email for one colleague (or record why it is skipped).

    Returns None when this alert already has a delivery (a redelivered or republished event).
    """
    if _already_recorded(session, event_id):
        return None
    if alert_id and session.scalars(
        select(Delivery.id).where(Delivery.school_id == school_id, Delivery.alert_id == alert_id)
    ).first():
        return None
    return _to_recipient(
        session, event_id=event_id, school_id=school_id, kind=ALERT, alert_id=alert_id,
        recipient_account_id=recipient_account_id, now=now,
        render=lambda name: templates.alert_email(
            recipient_name=name, raised_by_name=raised_by_name, category_names=category_names,
            kind=kind, incident_id=incident_id, public_url=public_url, reason=reason,
        ),
    )


def record_assignment(
    session: Session,
    *,
    event_id: str,
    school_id: str,
    incident_id: str,
    assigned_to: str,
    assigned_by: str,
    assigned_by_name: str,
    category_names: list[str],
    public_url: str,
    now: dt.datetime,
) -> Delivery | None:
    """Queue "<who> assigned you an incident" for the assignee (None: already recorded).

    ``assigned_by`` is the account that assigned it (the event's actor): someone who assigns
    an incident to themselves gets a skipped delivery, not an email.
    """
    if _already_recorded(session, event_id):
        return None
    return _to_recipient(
        session, event_id=event_id, school_id=school_id, kind=ASSIGNED,
        recipient_account_id=assigned_to, now=now,
        skip_reason="They assigned it to themselves." if assigned_by == assigned_to else "",
        render=lambda name: templates.assignment_email(
            recipient_name=name, assigned_by_name=assigned_by_name,
            category_names=category_names, incident_id=incident_id, public_url=public_url,
        ),
    )


class DeliveryNotRecorded(Exception):
    """The database refused a password email's row; the event will be retried.

    Raised instead of the database error, whose text would carry the statement's parameters,
    and so the secret link, into the logs.
    """


class DeliveryConflict(DeliveryNotRecorded):
    """Another delivery of the same link committed meanwhile."""


def record_password_link(
    session: Session,
    *,
    event_id: str,
    school_id: str,
    account_id: str,
    email: str,
    display_name: str,
    school_name: str,
    reset_url_path: str,
    expires_at: dt.datetime | None,
    time_zone: str,
    welcome: bool,
    public_url: str,
    now: dt.datetime,
) -> Delivery | None:
    """Queue a first-password (``welcome``) or password-reset email to the address the event
    names, which need not be a recipient yet (a new account's own event may come later).

    None when this link already has a delivery. The link is in the body only; the reason,
    logs and the delivery log never show it.
    """
    if _already_recorded(session, event_id):
        return None
    key = links.link_key(reset_url_path) if reset_url_path else None
    if key and session.scalars(
        select(Delivery.id).where(Delivery.school_id == school_id, Delivery.dedupe_key == key)
    ).first():
        return None
    link = links.password_link(public_url, reset_url_path)
    address = email.strip()
    email_ = templates.password_link_email(
        recipient_name=display_name, school_name=school_name, link=link or "",
        expires_at=expires_at, time_zone=time_zone, welcome=welcome,
    )
    reason = ""
    if link is None:
        reason = "The event carried no usable link."
    elif "@" not in address:
        reason = "The event named no email address."
    elif expires_at is not None and expires_at <= now:
        reason = "The link had expired before it could be sent."
    row = Delivery(
        id=delivery_id_for(event_id),
        school_id=school_id,
        event_id=event_id,
        kind=WELCOME if welcome else PASSWORD_RESET,
        dedupe_key=key,
        recipient_account_id=account_id,
        recipient=address,
        recipient_name=" ".join(display_name.split()),
        subject=email_.subject,
        body="" if reason else email_.body,
        status=SKIPPED if reason else PENDING,
        reason=reason,
        attempts=0,
        next_attempt_at=None if reason else now,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DeliveryConflict(
            f"delivery {row.id}: another delivery of this link was recorded meanwhile"
        ) from None
    except StatementError as exc:
        cause = type(getattr(exc, "orig", None) or exc).__name__
        raise DeliveryNotRecorded(f"delivery {row.id} was not recorded ({cause})") from None
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


def _settle_secret(row: Delivery) -> None:
    """A settled delivery keeps no secret: its password link is hidden from the body."""
    if row.kind in SECRET_KINDS and row.body:
        row.body = links.hide_links(row.body)


def _skip(session: Session, row: Delivery, reason: str) -> None:
    row.status = SKIPPED
    row.reason = reason
    row.next_attempt_at = None
    _settle_secret(row)
    session.flush()


def claim_next(session: Session, *, now: dt.datetime, lock: bool) -> OutgoingEmail | None:
    """Take the oldest due pending delivery and mark it "sending" (commit before sending).

    ``lock``: use SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL), so several senders never
    take the same row. A recipient of the school is looked up again: an account deactivated
    since the alert gets nothing, and a changed address is used. A password link goes to the
    address its event named, unless it has expired meanwhile.
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
        if row.expires_at is not None and row.expires_at <= now:
            _skip(session, row, "The link had expired before it could be sent.")
            continue
        if row.kind not in SECRET_KINDS:
            recipient = find_recipient(
                session, school_id=row.school_id, account_id=row.recipient_account_id
            )
            if _why_not(recipient):
                _skip(session, row, "The recipient's account is no longer active.")
                continue
            row.recipient = address_of(recipient)
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
    row = session.get(Delivery, delivery_id)
    if row is None or row.status not in (SENDING, PENDING):
        return
    row.status = SENT
    row.sent_at = now
    row.reason = ""
    row.next_attempt_at = None
    _settle_secret(row)


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
    row.reason = _cap(links.hide_links(error))
    if permanent or row.attempts >= max_attempts:
        row.status = FAILED
        row.next_attempt_at = None
        _settle_secret(row)
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
    for row in session.scalars(
        select(Delivery).where(*stale, Delivery.attempts >= max_attempts,
                               Delivery.kind.in_(SECRET_KINDS))
    ):
        _settle_secret(row)
    session.flush()
    gave_up = session.execute(
        update(Delivery)
        .where(*stale, Delivery.attempts >= max_attempts)
        .values(status=FAILED, reason="The sender stopped while sending, too many times.")
        .execution_options(synchronize_session=False)
    ).rowcount
    retried = session.execute(
        update(Delivery)
        .where(*stale)
        .values(
            status=PENDING,
            next_attempt_at=now,
            reason="The sender stopped while sending; sending again with the same Message-ID.",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return (gave_up or 0) + (retried or 0)


def next_due_at(session: Session) -> dt.datetime | None:
    return session.execute(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.status == PENDING)
    ).scalar_one_or_none()


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: n for status, n in rows}

