"""The security log: every login, elevation and logout, kept for admins and for throttling."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.identity.models import SecurityLogEntry

# Event names (the ``event`` column).
LOGIN_OK = "login_ok"
LOGIN_FAILED = "login_failed"
LOGIN_REFUSED = "login_refused"  # right password, but no active membership
LOGIN_THROTTLED = "login_throttled"
ELEVATE_OK = "elevate_ok"
ELEVATE_FAILED = "elevate_failed"
ELEVATE_THROTTLED = "elevate_throttled"
LOGOUT = "logout"
SESSION_EXPIRED = "session_expired"
PASSWORD_SET = "password_set"  # noqa: S105 - an event name
TOTP_DEVICE_ADDED = "totp_device_added"
TOTP_DEVICE_REMOVED = "totp_device_removed"

FACTOR_PASSWORD = "password"  # noqa: S105 - a factor name
FACTOR_TOTP = "totp"


def record(
    session: Session,
    *,
    event: str,
    at: dt.datetime,
    school_id: str | None = None,
    account_id: str | None = None,
    email: str = "",
    session_id: str | None = None,
    factor: str = "",
    client_ip: str = "",
    user_agent: str = "",
    detail: str = "",
) -> SecurityLogEntry:
    entry = SecurityLogEntry(
        school_id=school_id or "",
        account_id=account_id,
        email=email[:254],
        session_id=session_id,
        event=event,
        factor=factor,
        client_ip=client_ip[:64],
        user_agent=user_agent[:300],
        at=at,
        detail=detail[:300],
    )
    session.add(entry)
    return entry


def count_since(
    session: Session,
    *,
    event: str,
    since: dt.datetime,
    email: str | None = None,
    client_ip: str | None = None,
    account_id: str | None = None,
) -> int:
    """How many ``event`` entries since ``since`` match every given filter (across schools)."""
    query = (
        select(func.count())
        .select_from(SecurityLogEntry)
        .where(SecurityLogEntry.event == event, SecurityLogEntry.at > since)
        .execution_options(all_schools=True)
    )
    if email is not None:
        query = query.where(SecurityLogEntry.email == email)
    if client_ip is not None:
        query = query.where(SecurityLogEntry.client_ip == client_ip)
    if account_id is not None:
        query = query.where(SecurityLogEntry.account_id == account_id)
    return session.execute(query).scalar_one()


def last_at(session: Session, *, event: str, email: str) -> dt.datetime | None:
    return session.execute(
        select(func.max(SecurityLogEntry.at))
        .where(SecurityLogEntry.event == event, SecurityLogEntry.email == email)
        .execution_options(all_schools=True)
    ).scalar_one()
