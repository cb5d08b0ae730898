"""The school settings identity owns (Admin > Settings): the email domain whitelist, whether
accounts missing from the MIS extracts are disabled, legal or preferred names for users, and
the idle timeout (minutes) that the UI's blank screen and the server-side session follow.

A school without a row has the defaults (no whitelist, nothing disabled, preferred names,
15 minutes).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.identity.models import SchoolSettings
from shared.errors import InvalidArgument

DEFAULT_IDLE_MINUTES = 15
MIN_IDLE_MINUTES = 1
MAX_IDLE_MINUTES = 240
MAX_DOMAINS = 20
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Settings:
    school_id: str
    email_domains: tuple[str, ...] = ()
    disable_missing_from_mis: bool = False
    use_legal_names: bool = False
    idle_timeout_minutes: int = DEFAULT_IDLE_MINUTES

    def email_allowed(self, email: str) -> bool:
        if not self.email_domains:
            return True
        return email.rpartition("@")[2].lower() in self.email_domains


def _of(row: SchoolSettings | None, school_id: str) -> Settings:
    if row is None:
        return Settings(school_id=school_id)
    return Settings(
        school_id=school_id,
        email_domains=tuple(row.email_domains or ()),
        disable_missing_from_mis=bool(row.disable_missing_from_mis),
        use_legal_names=bool(row.use_legal_names),
        idle_timeout_minutes=row.idle_timeout_minutes or DEFAULT_IDLE_MINUTES,
    )


def get(session: Session, school_id: str) -> Settings:
    return _of(session.get(SchoolSettings, school_id), school_id)


def clean_domains(values: Iterable[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for value in values:
        domain = (value or "").strip().lower().lstrip("@")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise InvalidArgument(
                f"{value!r} is not an email domain (for example school.org.uk).",
                field="email_domains",
            )
        if domain not in cleaned:
            cleaned.append(domain)
    if len(cleaned) > MAX_DOMAINS:
        raise InvalidArgument(f"List at most {MAX_DOMAINS} email domains.",
                              field="email_domains")
    return tuple(sorted(cleaned))


def update(
    session: Session,
    *,
    school_id: str,
    email_domains: Iterable[str],
    disable_missing_from_mis: bool,
    use_legal_names: bool,
    idle_timeout_minutes: int,
    now: dt.datetime,
    actor: str,
) -> tuple[Settings, Settings]:
    """Replace every setting; returns (before, after)."""
    domains = clean_domains(email_domains)
    if not MIN_IDLE_MINUTES <= idle_timeout_minutes <= MAX_IDLE_MINUTES:
        raise InvalidArgument(
            f"The idle timeout is between {MIN_IDLE_MINUTES} and {MAX_IDLE_MINUTES} minutes.",
            field="idle_timeout_minutes",
        )
    row = session.get(SchoolSettings, school_id)
    before = _of(row, school_id)
    if row is None:
        row = SchoolSettings(school_id=school_id)
        session.add(row)
    row.email_domains = list(domains)
    row.disable_missing_from_mis = disable_missing_from_mis
    row.use_legal_names = use_legal_names
    row.idle_timeout_minutes = idle_timeout_minutes
    row.updated_at = now
    row.updated_by = actor
    session.flush()
    return before, _of(row, school_id)


def require_allowed_email(settings: Settings, email: str) -> None:
    if not settings.email_allowed(email):
        allowed = ", ".join(settings.email_domains)
        raise InvalidArgument(
            f"This school only accepts email addresses at {allowed}.", field="email"
        )


def session_idle(settings: Settings, *, ceiling: dt.timedelta, floor: dt.timedelta
                 ) -> dt.timedelta:
    """How long a session of this school may sit unused: the school's idle timeout, never
    longer than the deployment's ceiling, never shorter than ``floor`` (a token's life plus
    a margin, so a user who is busy in the UI is never logged out between refreshes)."""
    wanted = dt.timedelta(minutes=settings.idle_timeout_minutes)
    return max(floor, min(wanted, ceiling))
