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
TOTP_DEVICE_REFUSED = "totp_device_refused"  # a wrong code while setting one up
SECURITY_KEY_ADDED = "security_key_added"
SECURITY_KEY_REFUSED = "security_key_refused"
SECURITY_KEY_REMOVED = "security_key_removed"
SECOND_FACTORS_REMOVED = "second_factors_removed"  # by an admin, for a lost phone
PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 - an event name
PASSWORD_RESET_UNKNOWN_EMAIL = "password_reset_unknown_email"  # noqa: S105
PASSWORD_RESET_THROTTLED = "password_reset_throttled"  # noqa: S105
PASSWORD_RESET_REFUSED = "password_reset_refused"  # noqa: S105 - a used or expired link
SCHOOL_SWITCHED = "school_switched"
SCHOOL_SWITCH_REFUSED = "school_switch_refused"
ADMIN_REFUSED = "admin_refused"  # an administration request refused (rights, another school)
USER_CHANGED = "user_changed"  # an admin changed a user (detail says what)
TOKEN_ISSUED = "token_issued"  # noqa: S105 - an event name (OAuth2 client credentials)
TOKEN_REFUSED = "token_refused"  # noqa: S105 - an event name
INTEGRATION_CREATED = "integration_created"
INTEGRATION_REVOKED = "integration_revoked"

FACTOR_PASSWORD = "password"  # noqa: S105 - a factor name
FACTOR_TOTP = "totp"
FACTOR_SECURITY_KEY = "security_key"


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


LIMIT_DEFAULT = 50
LIMIT_MAX = 500


def entries(
    session: Session,
    *,
    school_id: str,
    account_id: str = "",
    unknown_emails: bool = False,
    limit: int = 0,
    before: dt.datetime | None = None,
) -> list[SecurityLogEntry]:
    """A school's security log, newest first: one person's entries, or attempts made with
    emails that match no account (``unknown_emails``), or everything."""
    limit = LIMIT_DEFAULT if not limit or limit < 0 else min(limit, LIMIT_MAX)
    query = (
        select(SecurityLogEntry)
        .where(SecurityLogEntry.school_id == school_id)
        .order_by(SecurityLogEntry.at.desc(), SecurityLogEntry.id)
        .limit(limit)
    )
    if account_id:
        query = query.where(SecurityLogEntry.account_id == account_id)
    if unknown_emails:
        query = query.where(SecurityLogEntry.account_id.is_(None))
    if before is not None:
        query = query.where(SecurityLogEntry.at < before)
    return list(session.scalars(query))
