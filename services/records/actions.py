"""Actions: what was done about an incident (sections 6 and 32).

Anyone who may open the incident and may add incidents may add an action (a restricted
colleague alerted to it too, while their alert is unread): text, extra categories (shown
against the incident, and the student is monitored under them), agencies, a date, alerts
(colleagues, alert groups, or the incident's own alert recipients), and optionally a copy on
each linked student's copy of the incident. Copies share a ``link_id`` so "add to linked
incidents" later copies only where it is missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import Viewer, viewer
from services.records.agencies import agencies_to_tag
from services.records.alerts import raise_alerts, resolve_recipients, warnings_for
from services.records.chronology import ActionView, load, open_incident
from services.records.incidents import (
    MAX_REQUEST_ID,
    author_name,
    categories_to_add,
    clean_occurred,
    clean_text,
    incident_categories,
    tag_agencies,
)
from services.records.models import (
    Action,
    Agency,
    Category,
    Incident,
    IncidentCategory,
    RecordAgency,
)
from services.records.monitoring import start_monitoring
from services.records.ports import RecordsEvents
from services.records.versions import snapshot
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied


def action_view(session: Session, v: Viewer, action: Action) -> ActionView:
    views = load(session, v, incident_ids=[action.incident_id], include_actions=True,
                 check_categories=False)
    for view in views:
        for a in view.actions:
            if a.action.id == action.id:
                return a
    raise NotFound("No such action.")  # pragma: no cover - the caller just made or opened it


def linked_incidents(session: Session, incident: Incident) -> list[Incident]:
    """The other students' copies of this incident (not deleted, not merged)."""
    if not incident.link_group_id:
        return []
    return list(session.scalars(select(Incident).where(
        Incident.school_id == incident.school_id,
        Incident.link_group_id == incident.link_group_id, Incident.id != incident.id,
        Incident.deleted_at.is_(None), Incident.merged_into_id.is_(None),
    ).order_by(Incident.created_at, Incident.id)))


def add_categories(session: Session, incident: Incident, action: Action,
                   categories: list[Category]) -> list[Category]:
    """Show these categories against the incident (those it lacks); returns the new ones."""
    held = set(session.scalars(select(IncidentCategory.category_id).where(
        IncidentCategory.school_id == incident.school_id,
        IncidentCategory.incident_id == incident.id)))
    added = []
    for position, c in enumerate(categories, start=100):
        if c.id not in held:
            session.add(IncidentCategory(school_id=incident.school_id, incident_id=incident.id,
                                         student_id=incident.student_id,
                                         category_id=c.id, position=position,
                                         action_id=action.id))
            held.add(c.id)
            added.append(c)
    return added


def copy_action(
    session: Session, events: RecordsEvents, *, action: Action, onto: Incident,
    categories: list[Category], agencies: list[Agency], now: dt.datetime, by: str, by_name: str,
) -> Action:
    """A copy of ``action`` on a linked student's incident (same author, text and date)."""
    copy = Action(
        id=new_id(), school_id=onto.school_id, incident_id=onto.id, student_id=onto.student_id,
        text=action.text, occurred_at=action.occurred_at, created_at=now,
        created_by=action.created_by, created_by_name=action.created_by_name,
        link_id=action.link_id, version=1,
    )
    session.add(copy)
    session.flush()
    added = add_categories(session, onto, copy, categories)
    tag_agencies(session, onto.school_id, onto.id, copy.id, agencies)
    snapshot(session, copy, "created", by=by, by_name=by_name, at=now)
    if added:
        start_monitoring(session, events, school_id=onto.school_id, student_id=onto.student_id,
                         category_ids=[c.id for c in added], at=now, by=by, source="incident")
        onto.updated_at = now
        events.incident_updated(session, onto, incident_categories(session, onto), "categories")
    events.action_created(session, copy)
    audit.record(session, "action.created", student_id=onto.student_id,
                 detail=f"action {copy.id} on incident {onto.id} (linked copy of {action.id})")
    return copy


def _by_request_id(session: Session, school_id: str, account_id: str, request_id: str
                   ) -> Action | None:
    return session.scalars(select(Action).where(
        Action.school_id == school_id, Action.created_by == account_id,
        Action.request_id == request_id)).first()


def create_action(
    session: Session, events: RecordsEvents, *, incident_id: str, text: str,
    category_ids: Iterable[str] = (), agency_ids: Iterable[str] = (),
    occurred_at: dt.datetime | None = None, alert_account_ids: Iterable[str] = (),
    alert_group_ids: Iterable[str] = (), alert_incident_recipients: bool = False,
    copy_to_linked_students: bool = False, request_id: str = "",
) -> ActionView:
    claims = current_claims()
    if not claims.has("add_incidents"):
        raise PermissionDenied("Your user group may not add actions.")
    request_id = (request_id or "").strip()
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument("The request id is too long.", field="request_id")
    v = viewer(session, claims)
    if request_id:
        existing = _by_request_id(session, claims.school_id, claims.account_id, request_id)
        if existing is not None:
            if existing.incident_id != (incident_id or "").strip():
                raise Conflict("That request id was already used for another action.",
                               field="request_id")
            return action_view(session, v, existing)
    incident = open_incident(session, v, incident_id)
    if incident.deleted_at is not None:
        raise FailedPrecondition("This incident is deleted; restore it first.")
    text = clean_text(text, what="Describe the action taken.")
    now = utcnow()
    occurred = clean_occurred(occurred_at, now)
    extra = categories_to_add(session, v, category_ids, incident.student_id, required=False)
    agencies = agencies_to_tag(session, claims.school_id, agency_ids)
    recipients = resolve_recipients(
        session, claims.school_id, claims.account_id, account_ids=alert_account_ids,
        alert_group_ids=alert_group_ids,
        incident_recipients_of=incident.id if alert_incident_recipients else "")
    by_name = author_name(session, claims)
    action = Action(
        id=new_id(), school_id=claims.school_id, incident_id=incident.id,
        student_id=incident.student_id, text=text, occurred_at=occurred, created_at=now,
        created_by=claims.account_id, created_by_name=by_name, request_id=request_id or None,
        version=1,
    )
    action.link_id = action.id if copy_to_linked_students and incident.link_group_id else None
    if request_id:
        try:
            with session.begin_nested():
                session.add(action)
                session.flush()
        except IntegrityError:
            existing = _by_request_id(session, claims.school_id, claims.account_id, request_id)
            if existing is None:
                raise
            return action_view(session, v, existing)
    else:
        session.add(action)
        session.flush()
    added = add_categories(session, incident, action, extra)
    tag_agencies(session, claims.school_id, incident.id, action.id, agencies)
    snapshot(session, action, "created", by=claims.account_id, by_name=by_name, at=now)
    audit.record(session, "action.created", student_id=incident.student_id,
                 detail=f"action {action.id} on incident {incident.id}")
    events.action_created(session, action)
    if added:
        start_monitoring(session, events, school_id=claims.school_id,
                         student_id=incident.student_id, category_ids=[c.id for c in added],
                         at=now, by=claims.account_id, source="incident")
        incident.updated_at = now
        events.incident_updated(session, incident, incident_categories(session, incident),
                                "categories")
    if copy_to_linked_students:
        for other in linked_incidents(session, incident):
            copy_action(session, events, action=action, onto=other, categories=extra,
                        agencies=agencies, now=now, by=claims.account_id, by_name=by_name)
    categories = incident_categories(session, incident)
    raise_alerts(session, events, incident=incident, action=action, recipients=recipients,
                 raised_by=claims.account_id, raised_by_name=by_name, categories=categories,
                 now=now)
    view = action_view(session, v, action)
    view.alert_warnings = warnings_for(
        session, claims.school_id, student_id=incident.student_id,
        category_ids=[c.id for c in categories], account_ids=[r.account_id for r in recipients])
    return view


def open_action(session: Session, v: Viewer, action_id: str) -> tuple[Action, Incident]:
    """An action of an incident the caller may open (deleted ones: editors only)."""
    action_id = (action_id or "").strip()
    action = session.get(Action, action_id) if action_id else None
    if action is None or action.school_id != v.school_id or action.split_into_incident_id:
        raise audit.refuse(NotFound("No such action."), detail=f"action {action_id[:40]!r}")
    incident = open_incident(session, v, action.incident_id)
    if action.deleted_at is not None and not v.can_edit:
        raise audit.refuse(NotFound("No such action."), student_id=action.student_id,
                           detail=f"action {action.id} (deleted)")
    return action, incident


def copy_to_linked_incidents(session: Session, events: RecordsEvents, action_id: str
                             ) -> list[ActionView]:
    """"Add to linked incidents": copy an action where its linked copies lack it."""
    claims = current_claims()
    if not claims.has("add_incidents"):
        raise PermissionDenied("Your user group may not add actions.")
    v = viewer(session, claims)
    action, incident = open_action(session, v, action_id)
    if action.deleted_at is not None or incident.deleted_at is not None:
        raise FailedPrecondition("A deleted action cannot be copied; restore it first.")
    others = linked_incidents(session, incident)
    if not others:
        raise FailedPrecondition("This incident has no linked students.")
    if action.link_id is None:
        action.link_id = action.id
    have = set(session.scalars(select(Action.incident_id).where(
        Action.school_id == claims.school_id, Action.link_id == action.link_id,
        Action.deleted_at.is_(None))))
    cats = list(session.scalars(select(Category).join(
        IncidentCategory, IncidentCategory.category_id == Category.id).where(
        IncidentCategory.school_id == claims.school_id, IncidentCategory.action_id == action.id)))
    agencies = list(session.scalars(select(Agency).join(
        RecordAgency, RecordAgency.agency_id == Agency.id).where(
        RecordAgency.school_id == claims.school_id, RecordAgency.action_id == action.id)))
    now = utcnow()
    by_name = author_name(session, claims)
    copies = [copy_action(session, events, action=action, onto=other, categories=cats,
                          agencies=agencies, now=now, by=claims.account_id, by_name=by_name)
              for other in others if other.id not in have]
    return [action_view(session, v, c) for c in copies]
