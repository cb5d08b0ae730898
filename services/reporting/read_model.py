"""The read model: records' categories and incidents, applied idempotently from events.

Every function here is an upsert: applying the same event twice, or an older event after a
newer one, leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.reporting.models import ReportCategory, ReportIncident, ReportIncidentCategory


@dataclass(frozen=True)
class CategoryRef:
    id: str
    name: str
    parent_id: str = ""


def upsert_category(
    session: Session,
    *,
    school_id: str,
    category_id: str,
    name: str,
    parent_id: str,
    colour: str,
    enabled: bool,
    source_at: dt.datetime | None,
) -> ReportCategory:
    row = session.get(ReportCategory, (school_id, category_id))
    if row is None:
        row = ReportCategory(school_id=school_id, id=category_id)
        session.add(row)
    elif row.source_at is not None and source_at is not None and source_at < row.source_at:
        return row  # an older description arriving late
    row.name = name
    row.parent_id = parent_id
    row.colour = colour.lstrip("#")[:20]
    row.enabled = enabled
    row.source_at = source_at
    return row


def record_incident(
    session: Session,
    *,
    school_id: str,
    incident_id: str,
    student_id: str,
    occurred_at: dt.datetime,
    status: str,
    created_by: str,
    categories: list[CategoryRef],
    recorded_at: dt.datetime,
) -> ReportIncident:
    row = session.get(ReportIncident, (school_id, incident_id))
    if row is None:
        row = ReportIncident(school_id=school_id, id=incident_id)
        session.add(row)
    row.student_id = student_id
    row.occurred_at = occurred_at
    row.status = status or "active"
    row.created_by = created_by
    row.recorded_at = recorded_at

    wanted = {c.id: c for c in categories if c.id}
    for ref in wanted.values():
        # A category first seen in an incident (its own event not here yet): keep its name
        # until records.category.upserted describes it.
        if session.get(ReportCategory, (school_id, ref.id)) is None:
            session.add(ReportCategory(
                school_id=school_id, id=ref.id, name=ref.name, parent_id=ref.parent_id,
                colour="", enabled=True, source_at=None,
            ))
    have = set(session.scalars(
        select(ReportIncidentCategory.category_id).where(
            ReportIncidentCategory.school_id == school_id,
            ReportIncidentCategory.incident_id == incident_id,
        )
    ))
    session.flush()  # the incident row exists before its category rows point at it
    if have - wanted.keys():
        session.execute(
            delete(ReportIncidentCategory).where(
                ReportIncidentCategory.school_id == school_id,
                ReportIncidentCategory.incident_id == incident_id,
                ReportIncidentCategory.category_id.in_(have - wanted.keys()),
            )
        )
    for category_id in wanted.keys() - have:
        session.add(ReportIncidentCategory(
            school_id=school_id, incident_id=incident_id, category_id=category_id
        ))
    return row
