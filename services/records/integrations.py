"""Concerns pushed by integrations (web-filtering and monitoring vendors, DESIGN.md §1).

An integration holds an OAuth2 client-credentials token from identity: ``access``
"integration", ``sub`` = its client id, ``school`` = its school, ``name`` = its name, one
scope, no permissions. With scope ``incidents:add`` it may add a concern to a named student's
chronology and read nothing: it names the student by UPN or MIS id (within its school only)
and a category the school has enabled (by id or name), and gets back only the new incident's
id. Every other records RPC refuses integration tokens (``audit.unit_of_work``).

The concern is an incident authored by the integration (``created_by`` = client id): it
monitors the student under its category and raises the school's automatic alerts, like any
incident. ``external_reference`` makes a retry harmless: the same reference from the same
client answers the first incident's id (``replayed``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.records import audit
from services.records.alerts import automatic_recipients, merge, raise_alerts
from services.records.incidents import (
    MAX_REQUEST_ID,
    clean_occurred,
    clean_text,
    new_incident,
    next_numbers,
)
from services.records.models import Category, Incident, Student
from services.records.monitoring import start_monitoring
from services.records.ports import RecordsEvents
from services.records.versions import snapshot
from shared.context import Claims, current_claims
from shared.db import utcnow
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

INTEGRATION_ACCESS = "integration"
ADD_SCOPE = "incidents:add"
MAX_KEY = 64


@dataclass(frozen=True)
class Concern:
    incident_id: str
    replayed: bool


def is_integration(claims: Claims | None) -> bool:
    return claims is not None and claims.access == INTEGRATION_ACCESS


def author_name(claims: Claims) -> str:
    return (claims.name or "").strip()[:200] or f"Integration {claims.account_id}"


def _student(session: Session, school_id: str, upn: str, mis_id: str) -> Student:
    upn, mis_id = (upn or "").strip().upper(), (mis_id or "").strip()
    if not upn and not mis_id:
        raise InvalidArgument("Name the student by UPN or MIS id.", field="upn")
    if len(upn) > MAX_KEY or len(mis_id) > MAX_KEY:
        raise InvalidArgument("That student reference is too long.", field="upn")
    query = select(Student).where(Student.school_id == school_id,
                                  Student.archived.is_(False))
    query = query.where(Student.upn == upn) if upn else query.where(Student.mis_id == mis_id)
    found = session.scalars(query.order_by(Student.id).limit(2)).all()
    if len(found) != 1:
        what = f"upn {upn}" if upn else f"mis id {mis_id}"
        raise audit.refuse(NotFound("No such student in your school."), detail=what)
    return found[0]


def _category(session: Session, school_id: str, ref: str) -> Category:
    ref = (ref or "").strip()
    if not ref:
        raise InvalidArgument("Name a category.", field="category")
    if len(ref) > 200:
        raise InvalidArgument("That category is too long.", field="category")
    found = session.scalars(
        select(Category).where(
            Category.school_id == school_id,
            or_(Category.id == ref, func.lower(Category.name) == ref.lower()),
        ).order_by(Category.id)
    ).all()
    by_id = [c for c in found if c.id == ref]
    found = by_id or found
    enabled = [c for c in found if c.enabled]
    if not enabled:
        raise InvalidArgument("Name a category your school has enabled.", field="category")
    if len(enabled) > 1:
        raise InvalidArgument("More than one category has that name: send its id.",
                              field="category")
    return enabled[0]


def _by_reference(session: Session, claims: Claims, reference: str) -> Incident | None:
    return session.scalars(select(Incident).where(
        Incident.school_id == claims.school_id, Incident.created_by == claims.account_id,
        Incident.request_id == reference)).first()


def _replayed(session: Session, existing: Incident, student: Student) -> Concern:
    if existing.student_id != student.id:
        raise Conflict("That external reference was already used for another student.",
                       field="external_reference")
    audit.record(session, "integration.concern.replayed", student_id=student.id,
                 detail=f"incident {existing.id}")
    return Concern(incident_id=existing.id, replayed=True)


def add_concern(
    session: Session, events: RecordsEvents, *, upn: str = "", mis_id: str = "", text: str,
    category: str, occurred_at: dt.datetime | None = None, external_reference: str = "",
) -> Concern:
    """Add an integration's concern to a student's chronology; answer only its id."""
    claims = current_claims()
    if not is_integration(claims):
        raise PermissionDenied("Only integrations add concerns this way.")
    if ADD_SCOPE not in claims.scopes:
        raise PermissionDenied(f"This integration's token lacks the '{ADD_SCOPE}' scope.")
    reference = (external_reference or "").strip()
    if len(reference) > MAX_REQUEST_ID:
        raise InvalidArgument("The external reference is too long.",
                              field="external_reference")
    student = _student(session, claims.school_id, upn, mis_id)
    if reference:
        existing = _by_reference(session, claims, reference)
        if existing is not None:
            return _replayed(session, existing, student)
    text = clean_text(text, what="Describe the concern.")
    chosen = _category(session, claims.school_id, category)
    now = utcnow()
    occurred = clean_occurred(occurred_at, now)
    by_name = author_name(claims)

    def make() -> Incident:
        (number,) = next_numbers(session, claims.school_id)
        incident = new_incident(
            session, claims, student=student, text=text, occurred=occurred, now=now,
            status="active", categories=[chosen], number=number, staff=None, by_name=by_name,
            request_id=reference or None)
        session.add(incident)
        session.flush()
        return incident

    if reference:
        try:  # a concurrent twin may commit first: then answer what it created
            with session.begin_nested():
                incident = make()
        except IntegrityError:
            existing = _by_reference(session, claims, reference)
            if existing is None:
                raise
            return _replayed(session, existing, student)
    else:
        incident = make()

    snapshot(session, incident, "created", by=claims.account_id, by_name=by_name, at=now)
    audit.record(session, "incident.created", student_id=student.id,
                 detail=f"incident {incident.id} (integration {by_name})")
    events.incident_created(session, incident, [chosen])
    start_monitoring(session, events, school_id=claims.school_id, student_id=student.id,
                     category_ids=[chosen.id], at=now, by=claims.account_id, source="incident")
    recipients = merge(automatic_recipients(
        session, claims.school_id, claims.account_id, student_id=student.id,
        category_ids=[chosen.id]), author_id=claims.account_id)
    raise_alerts(session, events, incident=incident, action=None, recipients=recipients,
                 raised_by=claims.account_id, raised_by_name=by_name, categories=[chosen],
                 now=now)
    return Concern(incident_id=incident.id, replayed=False)
