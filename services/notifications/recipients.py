"""Recipients: the staff accounts of each school that emails may go to.

Kept from identity's account events; this service never asks identity at send time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.models import Recipient


def upsert_recipient(
    session: Session,
    *,
    school_id: str,
    account_id: str,
    email: str,
    display_name: str,
    alert_email: str = "",
    active: bool,
    source_at: dt.datetime | None,
) -> Recipient:
    """Insert or update; an event older than the one already applied changes nothing."""
    row = session.get(Recipient, (school_id, account_id))
    if row is None:
        row = Recipient(school_id=school_id, account_id=account_id)
        session.add(row)
    elif row.source_at is not None and source_at is not None and source_at < row.source_at:
        return row
    row.email = email.strip()
    row.alert_email = alert_email.strip()
    row.display_name = display_name.strip()
    row.active = active
    row.source_at = source_at
    return row


def find_recipient(session: Session, *, school_id: str, account_id: str) -> Recipient | None:
    return session.scalars(
        select(Recipient).where(
            Recipient.school_id == school_id, Recipient.account_id == account_id
        )
    ).first()
