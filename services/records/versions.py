"""Every version of an incident or action is kept: the whole state after each change
("created", "edited", "deleted", "restored", "merged", "split"), who and when, with the reason
for a deletion. The incident's History shows them; nothing is ever lost (section 7)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import require_edit, viewer
from services.records.agencies import agency_names
from services.records.categories import CategoryBook, CategoryView
from services.records.models import (
    Action,
    Agency,
    Incident,
    IncidentCategory,
    RecordAgency,
    RecordVersion,
)
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import InvalidArgument, NotFound, PermissionDenied


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


def incident_state(session: Session, incident: Incident) -> dict:
    cats = list(session.scalars(select(IncidentCategory.category_id).where(
        IncidentCategory.school_id == incident.school_id,
        IncidentCategory.incident_id == incident.id,
        IncidentCategory.action_id.is_(None)).order_by(IncidentCategory.position)))
    agencies = list(session.scalars(select(RecordAgency.agency_id).where(
        RecordAgency.school_id == incident.school_id, RecordAgency.incident_id == incident.id,
        RecordAgency.action_id.is_(None)).order_by(RecordAgency.id)))
    return {
        "text": incident.text, "occurred_at": _iso(incident.occurred_at),
        "status": incident.status, "category_ids": cats, "agency_ids": agencies,
        "assigned_to": incident.assigned_to or "",
    }


def action_state(session: Session, action: Action) -> dict:
    cats = list(session.scalars(select(IncidentCategory.category_id).where(
        IncidentCategory.school_id == action.school_id,
        IncidentCategory.action_id == action.id)))
    agencies = list(session.scalars(select(RecordAgency.agency_id).where(
        RecordAgency.school_id == action.school_id, RecordAgency.action_id == action.id
    ).order_by(RecordAgency.id)))
    return {"text": action.text, "occurred_at": _iso(action.occurred_at), "status": "",
            "category_ids": cats, "agency_ids": agencies, "assigned_to": ""}


def snapshot(session: Session, record: Incident | Action, change: str, *, reason: str = "",
             by: str, by_name: str, at: dt.datetime | None = None) -> RecordVersion:
    """Keep the record's state as version ``record.version`` (call after changing it)."""
    is_incident = isinstance(record, Incident)
    session.flush()
    state = incident_state(session, record) if is_incident else action_state(session, record)
    row = RecordVersion(
        id=new_id(), school_id=record.school_id,
        record_type="incident" if is_incident else "action", record_id=record.id,
        version=record.version, change=change, state=state, reason=reason[:500],
        changed_by=by, changed_by_name=by_name[:200], changed_at=at or utcnow(),
    )
    session.add(row)
    return row


@dataclass(frozen=True)
class VersionView:
    version: RecordVersion
    occurred_at: dt.datetime | None
    categories: list[CategoryView]
    agencies: list[Agency]


def history(session: Session, *, incident_id: str = "", action_id: str = "") -> list[VersionView]:
    """Every version of one incident or action, oldest first (edit permission needed)."""
    claims = current_claims()
    incident_id, action_id = (incident_id or "").strip(), (action_id or "").strip()
    if bool(incident_id) == bool(action_id):
        raise InvalidArgument("Ask for one incident's or one action's history.",
                              field="incident_id")
    try:
        require_edit(claims)
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=f"history of {incident_id or action_id}"[:200]) from None
    from services.records.chronology import reads_by_category

    v = viewer(session, claims)
    if action_id:
        action = session.get(Action, action_id)
        if action is None or action.school_id != claims.school_id:
            raise audit.refuse(NotFound("No such action."), detail=f"action {action_id[:40]}")
        incident = session.get(Incident, action.incident_id)
        record_type, record_id = "action", action.id
    else:
        incident = session.get(Incident, incident_id)
        if incident is None or incident.school_id != claims.school_id:
            raise audit.refuse(NotFound("No such incident."),
                               detail=f"incident {incident_id[:40]}")
        record_type, record_id = "incident", incident.id
    if not reads_by_category(session, v, incident):
        raise audit.refuse(PermissionDenied("You may not open this incident."),
                           student_id=incident.student_id, detail=f"history {record_id}")
    rows = list(session.scalars(select(RecordVersion).where(
        RecordVersion.school_id == claims.school_id, RecordVersion.record_type == record_type,
        RecordVersion.record_id == record_id).order_by(RecordVersion.version,
                                                       RecordVersion.changed_at)))
    book = CategoryBook(session, claims.school_id, v.rights)
    agencies = agency_names(session, claims.school_id)
    audit.record(session, "record.history.viewed", student_id=incident.student_id,
                 detail=f"{record_type} {record_id}")
    out = []
    for r in rows:
        state = r.state or {}
        occurred = state.get("occurred_at") or ""
        out.append(VersionView(
            version=r,
            occurred_at=dt.datetime.fromisoformat(occurred) if occurred else None,
            categories=book.views(state.get("category_ids", [])),
            agencies=[agencies[a] for a in state.get("agency_ids", []) if a in agencies],
        ))
    return out


def ensure_baseline(session: Session, record: Incident | Action) -> None:
    """Records made before versions were kept get their current state as version 1 first."""
    kind = "incident" if isinstance(record, Incident) else "action"
    held = session.scalars(select(RecordVersion.id).where(
        RecordVersion.school_id == record.school_id, RecordVersion.record_type == kind,
        RecordVersion.record_id == record.id)).first()
    if held is None:
        snapshot(session, record, "created", by=record.created_by,
                 by_name=record.created_by_name, at=record.created_at)
