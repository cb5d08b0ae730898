"""Reporting overview: incidents per category in a window, for what the caller may see.

Who may see what is decided by records (category permissions per user group); this module
asks through an ``AccessScopeSource`` and counts only incidents in the viewable categories.
The counting is one GROUP BY in the database, plus one COUNT(DISTINCT) for the total (an
incident in two categories counts once there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, distinct, false, func, or_, select, true
from sqlalchemy.orm import Session

from services.reporting.models import ReportCategory, ReportIncident, ReportIncidentCategory
from shared.context import current_claims
from shared.db import utcnow
from shared.errors import InvalidArgument, PermissionDenied


@dataclass(frozen=True)
class AccessScope:
    full_access: bool
    viewable_category_ids: frozenset[str]


class AccessScopeSource(Protocol):
    def access_scope(self) -> AccessScope:
        """What the current caller may see (asked of records with the caller's token)."""


class AccessScopeUnavailable(Exception):
    """Records could not say what the caller may see; the overview cannot be answered now."""


@dataclass(frozen=True)
class CategoryCount:
    category_id: str
    name: str
    parent_id: str
    colour: str
    enabled: bool
    incidents: int


@dataclass(frozen=True)
class Overview:
    categories: list[CategoryCount]
    total_incidents: int
    start: dt.datetime
    end: dt.datetime


def a_year_before(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def resolve_window(
    start: dt.datetime | None, end: dt.datetime | None, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in naive UTC; unset end is now, unset start a year before end."""
    end = end or now
    start = start or a_year_before(end)
    if start >= end:
        raise InvalidArgument("The start of the period must be before its end.", field="from")
    return start, end


def get_overview(
    session: Session,
    *,
    scope_source: AccessScopeSource,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Overview:
    claims = current_claims()
    if not claims.full_access:
        raise PermissionDenied("Reports need elevated access.")
    if not claims.has("run_reports"):
        raise PermissionDenied("Your user group may not run reports.")
    start, end = resolve_window(start, end, now=now or utcnow())
    scope = scope_source.access_scope()
    if not scope.full_access:
        raise PermissionDenied("Reports need elevated access.")
    viewable = sorted(scope.viewable_category_ids)
    if not viewable:
        return Overview(categories=[], total_incidents=0, start=start, end=end)

    school = claims.school_id
    c, ic, i = ReportCategory, ReportIncidentCategory, ReportIncident
    # deleted incidents, and incidents merged into another (now its actions), are not counted
    counted = (i.deleted == false(), i.merged_into_id == "")
    incidents = func.count(i.id)
    per_category = (
        select(c.id, c.name, c.parent_id, c.colour, c.enabled, incidents.label("incidents"))
        .select_from(c)
        .outerjoin(ic, and_(ic.school_id == c.school_id, ic.category_id == c.id))
        .outerjoin(
            i,
            and_(
                i.school_id == ic.school_id,
                i.id == ic.incident_id,
                i.occurred_at >= start,
                i.occurred_at < end,
                *counted,
            ),
        )
        .where(c.school_id == school, c.id.in_(viewable), c.deleted == false())
        .group_by(c.id, c.name, c.parent_id, c.colour, c.enabled)
        # enabled categories always (with 0); disabled ones only where they have incidents
        .having(or_(c.enabled == true(), incidents > 0))
        .order_by(c.name, c.id)
    )
    total = (
        select(func.count(distinct(i.id)))
        .select_from(i)
        .join(ic, and_(ic.school_id == i.school_id, ic.incident_id == i.id))
        .where(
            i.school_id == school,
            i.occurred_at >= start,
            i.occurred_at < end,
            *counted,
            ic.category_id.in_(viewable),
        )
    )
    categories = [
        CategoryCount(
            category_id=row.id,
            name=row.name,
            parent_id=row.parent_id,
            colour=row.colour,
            enabled=bool(row.enabled),
            incidents=int(row.incidents),
        )
        for row in session.execute(per_category)
    ]
    return Overview(
        categories=categories,
        total_incidents=int(session.execute(total).scalar_one()),
        start=start,
        end=end,
    )
