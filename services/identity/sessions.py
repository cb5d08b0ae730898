"""Login sessions: a random secret held by the client, idle and absolute timeouts, revocation.

The client (the gateway, in its cookie) holds a 256-bit random secret; the database keeps
only its SHA-256, so a copy of the database cannot be used to take over a session. The
session's ``id`` is a public handle carried in tokens as ``sid``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.identity.models import LoginSession
from shared.db import new_id

SESSION_ENDED = "Your session has ended. Please log in again."

REVOKED_LOGOUT = "logout"
REVOKED_IDLE = "idle_timeout"
REVOKED_MAX_AGE = "max_age"
REVOKED_PASSWORD = "password_changed"  # noqa: S105 - a reason
REVOKED_MEMBERSHIP = "membership_inactive"
REVOKED_SWITCHED = "switched_school"


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    max_age: dt.timedelta


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def open_session(
    session: Session,
    *,
    account_id: str,
    school_id: str,
    now: dt.datetime,
    client_ip: str = "",
    user_agent: str = "",
) -> tuple[LoginSession, str]:
    """A new session (acr=pwd); returns it and the secret to hand to the client."""
    secret = secrets.token_urlsafe(32)
    row = LoginSession(
        id=new_id(),
        secret_hash=hash_secret(secret),
        account_id=account_id,
        school_id=school_id,
        acr="pwd",
        created_at=now,
        last_seen_at=now,
        client_ip=client_ip[:64],
        user_agent=user_agent[:300],
    )
    session.add(row)
    session.flush()
    return row, secret


def find(session: Session, secret: str) -> LoginSession | None:
    if not secret or len(secret) > 200:
        return None
    return session.scalars(
        select(LoginSession).where(LoginSession.secret_hash == hash_secret(secret))
    ).first()


def find_for_logout(session: Session, secret: str) -> LoginSession | None:
    """The session a secret belongs to, or belonged to before elevation replaced it: an old
    secret can still end its session, never use it."""
    row = find(session, secret)
    if row is not None or not secret or len(secret) > 200:
        return row
    return session.scalars(
        select(LoginSession).where(LoginSession.previous_secret_hash == hash_secret(secret))
    ).first()


def rotate_secret(row: LoginSession) -> str:
    """A new secret for a session whose privileges just changed (session fixation: whoever
    knew the old secret does not get the new privileges). Returns the new secret."""
    secret = secrets.token_urlsafe(32)
    row.previous_secret_hash = row.secret_hash
    row.secret_hash = hash_secret(secret)
    return secret


def expiry_reason(row: LoginSession, *, now: dt.datetime, timeouts: Timeouts,
                  idle: dt.timedelta | None = None) -> str | None:
    """Why the session can no longer be used, or None while it is live. ``idle`` (the
    school's idle timeout) replaces ``timeouts.idle`` when given."""
    if row.revoked_at is not None:
        return row.revoked_reason or "revoked"
    if now - row.created_at > timeouts.max_age:
        return REVOKED_MAX_AGE
    if now - row.last_seen_at > (idle if idle is not None else timeouts.idle):
        return REVOKED_IDLE
    return None


def revoke(row: LoginSession, *, now: dt.datetime, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_reason = reason


def revoke_all(
    session: Session,
    *,
    account_id: str,
    now: dt.datetime,
    reason: str,
    school_id: str | None = None,
) -> int:
    query = update(LoginSession).where(
        LoginSession.account_id == account_id, LoginSession.revoked_at.is_(None)
    )
    if school_id is not None:
        query = query.where(LoginSession.school_id == school_id)
    return session.execute(
        query.values(revoked_at=now, revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    ).rowcount
