"""The read model: records' categories, incidents and monitoring, applied from events.

Every function here is idempotent and tolerates events out of order: applying the same event
twice, or an older event after a newer one, leaves the same rows.

- Categories: the newest description wins (the envelope's ``occurred_at``); a deleted one
  stays as a tombstone; a merged one points at its target, and any category id an event
  names is followed to where it was merged (so a late event cannot put an incident or a span
  back under a category that no longer exists).
- Incidents: a state carries ``(version, at)`` (IncidentUpdated's version and updated_at; the
  creation is version 1 at its creation time; records adds categories from an action without
  a new version, only a later updated_at). A state older than the one applied changes nothing.
  The facts only the creation carries (author, when recorded, link group) are always taken
  from it, even when it arrives after an update.
- Monitoring spans: a span's end, once known, stays (records never reopens a span).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.reporting.models import (
    ReportCategory,
    ReportIncident,
    ReportIncidentCategory,
    ReportMonitoringSpan,
)

MAX_MERGE_HOPS = 32


@dataclass(frozen=True)
class CategoryRef:
    id: str
    name: str
    parent_id: str = ""


@dataclass(frozen=True)
class IncidentState:
    """What an incident event says the incident now is (never its text)."""

    student_id: str
    occurred_at: dt.datetime
    status: str
    categories: list[CategoryRef]
    assigned_to: str = ""
    deleted: bool = False
    merged_into_id: str = ""
    version: int = 1
    at: dt.datetime | None = None  # when it became so (updated_at; created_at for a new one)


# ---- categories ----


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
    deleted: bool = False,
) -> ReportCategory:
    row = session.get(ReportCategory, (school_id, category_id))
    if row is None:
        row = ReportCategory(school_id=school_id, id=category_id, merged_into_id="")
        session.add(row)
    elif row.source_at is not None and source_at is not None and source_at < row.source_at:
        return row  # an older description arriving late
    row.name = name
    row.parent_id = parent_id
    row.colour = colour.lstrip("#")[:20]
    row.deleted = deleted or bool(row.merged_into_id)  # a merge is irreversible
    row.enabled = enabled and not row.deleted
    row.source_at = source_at
    return row


def resolve_category(session: Session, school_id: str, category_id: str) -> str:
    """The category that now holds what was filed under ``category_id`` (itself unless merged)."""
    current = category_id
    for _ in range(MAX_MERGE_HOPS):
        target = session.scalar(
            select(ReportCategory.merged_into_id).where(
                ReportCategory.school_id == school_id, ReportCategory.id == current
            )
        )
        if not target or target == category_id:
            return current
        current = target
    return current


def _known_category(session: Session, school_id: str, ref: CategoryRef) -> str:
    """The id to file under (merges followed); a category first seen here (its own event not
    here yet) is kept with the name the event carried until records.category.upserted
    describes it."""
    category_id = resolve_category(session, school_id, ref.id)
    if session.get(ReportCategory, (school_id, category_id)) is None:
        session.add(ReportCategory(
            school_id=school_id, id=category_id, name=ref.name if category_id == ref.id else "",
            parent_id=ref.parent_id if category_id == ref.id else "", colour="", enabled=True,
            deleted=False, merged_into_id="", source_at=None,
        ))
        session.flush()
    return category_id


def merge_category(
    session: Session,
    *,
    school_id: str,
    source_id: str,
    target_id: str,
    at: dt.datetime | None,
) -> None:
    """records.category.merged: the source's incidents and monitoring spans now count under
    the target; the source is gone (a tombstone pointing at the target)."""
    if not source_id or not target_id or source_id == target_id:
        return
    target_id = resolve_category(session, school_id, target_id)
    if target_id == source_id:
        return  # would make a cycle; records never merges a category into itself
    source = session.get(ReportCategory, (school_id, source_id))
    if source is None:
        source = ReportCategory(school_id=school_id, id=source_id, name="", parent_id="",
                                colour="", source_at=at)
        session.add(source)
    source.merged_into_id = target_id
    source.deleted = True
    source.enabled = False
    if at is not None and (source.source_at is None or at > source.source_at):
        source.source_at = at
    # Categories merged into the source earlier now point straight at the target.
    session.execute(
        update(ReportCategory)
        .where(ReportCategory.school_id == school_id, ReportCategory.merged_into_id == source_id)
        .values(merged_into_id=target_id)
        .execution_options(synchronize_session=False)
    )
    ic = ReportIncidentCategory
    in_target = select(ic.incident_id).where(ic.school_id == school_id,
                                             ic.category_id == target_id)
    session.execute(
        delete(ic)
        .where(ic.school_id == school_id, ic.category_id == source_id,
               ic.incident_id.in_(in_target.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ic)
        .where(ic.school_id == school_id, ic.category_id == source_id)
        .values(category_id=target_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ReportMonitoringSpan)
        .where(ReportMonitoringSpan.school_id == school_id,
               ReportMonitoringSpan.category_id == source_id)
        .values(category_id=target_id)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


# ---- incidents ----


def _older(new: tuple[int, dt.datetime | None], have: tuple[int, dt.datetime | None]) -> bool:
    floor = dt.datetime.min
    return (new[0], new[1] or floor) < (have[0], have[1] or floor)


def _set_categories(
    session: Session, school_id: str, incident_id: str, categories: list[CategoryRef]
) -> None:
    wanted: set[str] = set()
    for ref in categories:
        if ref.id:
            wanted.add(_known_category(session, school_id, ref))
    have = set(session.scalars(
        select(ReportIncidentCategory.category_id).where(
            ReportIncidentCategory.school_id == school_id,
            ReportIncidentCategory.incident_id == incident_id,
        )
    ))
    session.flush()  # the incident row exists before its category rows point at it
    if have - wanted:
        session.execute(
            delete(ReportIncidentCategory).where(
                ReportIncidentCategory.school_id == school_id,
                ReportIncidentCategory.incident_id == incident_id,
                ReportIncidentCategory.category_id.in_(have - wanted),
            )
        )
    for category_id in sorted(wanted - have):
        session.add(ReportIncidentCategory(
            school_id=school_id, incident_id=incident_id, category_id=category_id
        ))


def apply_incident_state(
    session: Session, *, school_id: str, incident_id: str, state: IncidentState
) -> ReportIncident:
    """records.incident.updated (and the state part of records.incident.created)."""
    row = session.get(ReportIncident, (school_id, incident_id))
    if row is None:
        row = ReportIncident(
            school_id=school_id, id=incident_id, created_by="", link_group_id="",
            recorded_at=state.at or state.occurred_at, version=0, state_at=None,
        )
        session.add(row)
    elif _older((state.version, state.at), (row.version or 0, row.state_at)):
        return row  # an older state arriving late
    row.student_id = state.student_id or row.student_id or ""
    row.occurred_at = state.occurred_at
    row.status = state.status or "active"
    row.assigned_to = state.assigned_to
    row.deleted = state.deleted
    row.merged_into_id = state.merged_into_id
    row.version = state.version
    row.state_at = state.at
    _set_categories(session, school_id, incident_id, state.categories)
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
    assigned_to: str = "",
    link_group_id: str = "",
) -> ReportIncident:
    """records.incident.created: the incident's facts, and its first state (version 1 at
    ``recorded_at``) unless a newer state is already here."""
    row = apply_incident_state(
        session, school_id=school_id, incident_id=incident_id,
        state=IncidentState(
            student_id=student_id, occurred_at=occurred_at, status=status,
            categories=categories, assigned_to=assigned_to, version=1, at=recorded_at,
        ),
    )
    row.created_by = created_by
    row.recorded_at = recorded_at
    row.link_group_id = link_group_id
    if student_id:
        row.student_id = student_id
    return row


# ---- monitoring ----


def record_monitoring_span(
    session: Session,
    *,
    school_id: str,
    span_id: str,
    student_id: str,
    category_id: str,
    started_at: dt.datetime,
    ended_at: dt.datetime | None,
) -> ReportMonitoringSpan:
    """records.monitoring.changed: a span started or ended. An end, once known, stays: a late
    "started" event never reopens it."""
    category_id = resolve_category(session, school_id, category_id)
    row = session.get(ReportMonitoringSpan, (school_id, span_id))
    if row is None:
        row = ReportMonitoringSpan(school_id=school_id, id=span_id)
        session.add(row)
    row.student_id = student_id
    row.category_id = category_id
    row.started_at = started_at
    if ended_at is not None:
        row.ended_at = max(ended_at, started_at)
    return row
