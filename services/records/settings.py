"""The school's settings that records enforces (Admin > Settings, Admin > Calendar).

- ``enforce_alert``: an incident cannot be submitted without alerting someone;
- ``restrict_access_by``: class restrictions by "tutor" or "year" groups ("" = off);
- the academic year (dates; by default 1 September to 31 August), used for attendance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.records import audit
from services.records.models import SchoolSettings
from shared.context import current_claims
from shared.errors import InvalidArgument, PermissionDenied

RESTRICT_KINDS = ("", "tutor", "year")
FIELDS = ("enforce_alert", "restrict_access_by", "academic_year_start", "academic_year_end")


@dataclass(frozen=True)
class Settings:
    enforce_alert: bool = False
    restrict_access_by: str = ""
    academic_year_start: dt.date | None = None
    academic_year_end: dt.date | None = None


def settings_of(session: Session, school_id: str) -> Settings:
    row = session.get(SchoolSettings, school_id)
    if row is None or row.school_id != school_id:
        return Settings()
    return Settings(
        enforce_alert=row.enforce_alert,
        restrict_access_by=row.restrict_access_by or "",
        academic_year_start=row.academic_year_start,
        academic_year_end=row.academic_year_end,
    )


def academic_year(settings: Settings, today: dt.date) -> tuple[dt.date, dt.date]:
    """The academic year containing ``today`` (the school's dates when they contain it)."""
    start, end = settings.academic_year_start, settings.academic_year_end
    if start and end and start <= today <= end:
        return start, end
    first = today.year if today.month >= 9 else today.year - 1
    return dt.date(first, 9, 1), dt.date(first + 1, 8, 31)


def parse_date(value: str, field: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument("Dates look like 2026-09-01.", field=field) from None


def get_settings(session: Session) -> Settings:
    return settings_of(session, current_claims().school_id)


def update_settings(
    session: Session, *, update: Iterable[str], enforce_alert: bool = False,
    restrict_access_by: str = "", academic_year_start: str = "", academic_year_end: str = "",
) -> Settings:
    """Admin: change the named settings only."""
    claims = current_claims()
    if not (claims.full_access and claims.has("administration")):
        raise PermissionDenied("School settings are for administrators with elevated access.")
    names = [u.strip() for u in update if u.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown or not names:
        raise InvalidArgument(f"Say which settings to change ({', '.join(FIELDS)}).",
                              field="update")
    row = session.get(SchoolSettings, claims.school_id)
    if row is None:
        row = SchoolSettings(id=claims.school_id, school_id=claims.school_id,
                             enforce_alert=False, restrict_access_by="")
        session.add(row)
    if "enforce_alert" in names:
        row.enforce_alert = bool(enforce_alert)
    if "restrict_access_by" in names:
        kind = (restrict_access_by or "").strip().lower()
        if kind not in RESTRICT_KINDS:
            raise InvalidArgument("Restrict access by tutor or year groups, or not at all.",
                                  field="restrict_access_by")
        row.restrict_access_by = kind
    if "academic_year_start" in names:
        row.academic_year_start = parse_date(academic_year_start, "academic_year_start")
    if "academic_year_end" in names:
        row.academic_year_end = parse_date(academic_year_end, "academic_year_end")
    if (row.academic_year_start and row.academic_year_end
            and row.academic_year_end <= row.academic_year_start):
        raise InvalidArgument("The academic year ends after it starts.",
                              field="academic_year_end")
    session.flush()
    audit.record(session, "settings.updated", detail=", ".join(
        f"{n}={getattr(row, n)}" for n in names))
    return settings_of(session, claims.school_id)
