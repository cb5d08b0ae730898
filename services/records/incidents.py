"""Incidents: adding one, opening one, a student's chronology, the caller's recent history.

Who may open an incident:
- an elevated caller whose group may see student details and may view at least one of the
  incident's categories;
- anyone with an unread alert for it (reading it and marking it read closes that door for a
  restricted caller: the alert was their only way in);
- its author, for 7 days (the "My History" list).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import CategoryRights, category_rights, require_full_access
from services.records.categories import CategoryView, view_of
from services.records.models import (
    Alert,
    Category,
    Incident,
    IncidentCategory,
    Monitoring,
    StaffMember,
)
from services.records.ports import RecordsEvents
from services.records.students import StudentCard, find_student, full_card, monitored_categories
from shared.context import Claims, current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

MAX_TEXT = 20_000
STATUSES = ("active", "closed")
FUTURE_SLACK = dt.timedelta(days=1)
EARLIEST = dt.datetime(1990, 1, 1)
HISTORY_WINDOW = dt.timedelta(days=7)
MAX_CATEGORIES = 50
MAX_RECIPIENTS = 200
MAX_REQUEST_ID = 100
DEFAULT_CHRONOLOGY = 200
MAX_CHRONOLOGY = 1000


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    categories: list[CategoryView]
    alert_unread: bool = False

    @property
    def alerted_account_ids(self) -> list[str]:
        return [a.recipient_account_id for a in self.incident.alerts]


@dataclass(frozen=True)
class Chronology:
    student: StudentCard
    incidents: list[IncidentView]


def _dedupe(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = (v or "").strip()
        if v and v not in out:
            out.append(v)
    return out


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _unread_for(incident: Incident, account_id: str) -> bool:
    return any(
        a.recipient_account_id == account_id and a.read_at is None for a in incident.alerts
    )


def _view(incident: Incident, claims: Claims, rights: CategoryRights) -> IncidentView:
    return IncidentView(
        incident=incident,
        categories=[view_of(c, rights) for c in incident.categories],
        alert_unread=_unread_for(incident, claims.account_id),
    )


# ---- adding an incident ---------------------------------------------------------------------


def _categories_to_add(
    session: Session, claims: Claims, category_ids: Iterable[str], student_id: str
) -> list[Category]:
    ids = _dedupe(category_ids)
    if not ids:
        raise InvalidArgument("Choose at least one category.", field="category_ids")
    if len(ids) > MAX_CATEGORIES:
        raise InvalidArgument("Too many categories.", field="category_ids")
    found = {
        c.id: c
        for c in session.scalars(
            select(Category).where(Category.school_id == claims.school_id, Category.id.in_(ids))
        )
    }
    if any(i not in found for i in ids):
        raise InvalidArgument("Unknown category.", field="category_ids")
    categories = [found[i] for i in ids]
    disabled = [c.name for c in categories if not c.enabled]
    if disabled:
        raise InvalidArgument(
            f"No new incidents can be added to {', '.join(disabled)}.", field="category_ids"
        )
    addable = category_rights(session, claims).add_incidents
    forbidden = [c.name for c in categories if c.id not in addable]
    if forbidden:
        raise audit.refuse(
            PermissionDenied(
                f"Your user group may not add incidents to {', '.join(forbidden)}."
            ),
            student_id=student_id,
        )
    return categories


def _recipients(session: Session, claims: Claims, account_ids: Iterable[str]) -> list[str]:
    """Active staff of this school to alert, in the order given; the author is never alerted."""
    ids = [i for i in _dedupe(account_ids) if i != claims.account_id]
    if len(ids) > MAX_RECIPIENTS:
        raise InvalidArgument("Too many colleagues to alert.", field="alert_account_ids")
    if not ids:
        return []
    active = set(
        session.scalars(
            select(StaffMember.account_id).where(
                StaffMember.school_id == claims.school_id,
                StaffMember.account_id.in_(ids),
                StaffMember.active.is_(True),
            )
        )
    )
    if any(i not in active for i in ids):
        raise InvalidArgument(
            "Only active staff of this school can be alerted.", field="alert_account_ids"
        )
    return ids


def _by_request_id(session: Session, claims: Claims, request_id: str) -> Incident | None:
    return session.scalars(
        select(Incident).where(
            Incident.school_id == claims.school_id,
            Incident.created_by == claims.account_id,
            Incident.request_id == request_id,
        )
    ).first()


def _replayed(session: Session, claims: Claims, incident: Incident, student_id: str):
    if incident.student_id != (student_id or "").strip():
        raise Conflict("That request id was already used for another incident.",
                       field="request_id")
    return _view(incident, claims, category_rights(session, claims))


def create_incident(
    session: Session,
    events: RecordsEvents,
    *,
    student_id: str,
    text: str,
    category_ids: Iterable[str],
    occurred_at: dt.datetime | None = None,
    status: str = "",
    alert_account_ids: Iterable[str] = (),
    request_id: str = "",
) -> IncidentView:
    """Record an incident, alert colleagues, start monitoring; announce it (never the text).

    A retry with the same ``request_id`` by the same caller returns the first incident.
    """
    claims = current_claims()
    if not claims.has("add_incidents"):
        raise PermissionDenied("Your user group may not add incidents.")
    request_id = (request_id or "").strip()
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument("The request id is too long.", field="request_id")
    if request_id:
        existing = _by_request_id(session, claims, request_id)
        if existing is not None:
            return _replayed(session, claims, existing, student_id)

    student = find_student(session, claims, (student_id or "").strip())
    if student is None or student.archived:
        raise audit.refuse(NotFound("No such student."), detail=f"student {student_id[:40]!r}")
    text = (text or "").strip()
    if not text:
        raise InvalidArgument("Describe what happened.", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"At most {MAX_TEXT} characters, please.", field="text")
    status = (status or "active").strip().lower()
    if status not in STATUSES:
        raise InvalidArgument("The status is active or closed.", field="status")
    now = utcnow()
    occurred = _naive_utc(occurred_at) if occurred_at else now
    if occurred > now + FUTURE_SLACK:
        raise InvalidArgument("The date cannot be in the future.", field="occurred_at")
    if occurred < EARLIEST:
        raise InvalidArgument("That date is too far in the past.", field="occurred_at")
    categories = _categories_to_add(session, claims, category_ids, student.id)
    recipients = _recipients(session, claims, alert_account_ids)

    incident = Incident(
        id=new_id(),
        school_id=claims.school_id,
        student_id=student.id,
        text=text,
        occurred_at=occurred,
        created_at=now,
        created_by=claims.account_id,
        created_by_name=claims.name or _staff_name(session, claims),
        status=status,
        request_id=request_id or None,
    )
    incident.student = student
    incident.category_links = [
        IncidentCategory(school_id=claims.school_id, category_id=c.id, category=c, position=i)
        for i, c in enumerate(categories)
    ]
    incident.alerts = [
        Alert(
            id=new_id(),
            school_id=claims.school_id,
            recipient_account_id=account_id,
            raised_by=claims.account_id,
            raised_by_name=incident.created_by_name,
            kind="incident",
            created_at=now,
        )
        for account_id in recipients
    ]
    if request_id:
        # A concurrent twin of this request may commit first: then return what it created.
        try:
            with session.begin_nested():
                session.add(incident)
                session.flush()
        except IntegrityError:
            existing = _by_request_id(session, claims, request_id)
            if existing is None:
                raise
            return _replayed(session, claims, existing, student.id)
    else:
        session.add(incident)

    _start_monitoring(session, claims, student.id, categories, now)
    audit.record(session, "incident.created", student_id=student.id,
                 detail=f"incident {incident.id}")
    events.incident_created(session, incident, categories)
    for alert in incident.alerts:
        events.alert_raised(session, alert, incident, categories)
    return _view(incident, claims, category_rights(session, claims))


def _staff_name(session: Session, claims: Claims) -> str:
    name = session.scalars(
        select(StaffMember.display_name).where(
            StaffMember.school_id == claims.school_id,
            StaffMember.account_id == claims.account_id,
        )
    ).first()
    return name or ""


def _start_monitoring(
    session: Session, claims: Claims, student_id: str, categories: list[Category],
    now: dt.datetime,
) -> None:
    ids = [c.id for c in categories]
    already = set(
        session.scalars(
            select(Monitoring.category_id).where(
                Monitoring.school_id == claims.school_id,
                Monitoring.student_id == student_id,
                Monitoring.category_id.in_(ids),
                Monitoring.ended_at.is_(None),
            )
        )
    )
    for category_id in ids:
        if category_id not in already:
            session.add(Monitoring(
                id=new_id(), school_id=claims.school_id, student_id=student_id,
                category_id=category_id, started_at=now, started_by=claims.account_id,
            ))


# ---- opening incidents ------------------------------------------------------------------------


def get_incident(session: Session, incident_id: str) -> IncidentView:
    claims = current_claims()
    incident = session.scalars(
        select(Incident).where(
            Incident.school_id == claims.school_id, Incident.id == (incident_id or "").strip()
        )
    ).first()
    if incident is None:
        raise audit.refuse(NotFound("No such incident."), detail=f"incident {incident_id[:40]!r}")
    rights = category_rights(session, claims)
    viewable = {link.category_id for link in incident.category_links} & rights.view_incidents
    may_view = claims.full_access and claims.has("view_student_details") and bool(viewable)
    alerted = _unread_for(incident, claims.account_id)
    recent_author = (
        incident.created_by == claims.account_id
        and incident.created_at >= utcnow() - HISTORY_WINDOW
    )
    if not (may_view or alerted or recent_author):
        raise audit.refuse(
            PermissionDenied("You may not open this incident."),
            student_id=incident.student_id, detail=f"incident {incident.id}",
        )
    audit.record(session, "incident.viewed", student_id=incident.student_id,
                 detail=f"incident {incident.id}")
    return _view(incident, claims, rights)


def get_chronology(session: Session, student_id: str, *, limit: int = 0) -> Chronology:
    """A student's incidents, newest first, in the categories the caller's group may view."""
    claims = current_claims()
    student = find_student(session, claims, (student_id or "").strip())
    try:
        require_full_access(claims, "view_student_details", "A student's chronology")
    except PermissionDenied as exc:
        raise audit.refuse(
            exc, student_id=student.id if student else None,
            detail="" if student else f"student {student_id[:40]!r}",
        ) from None
    if student is None:
        raise audit.refuse(NotFound("No such student."), detail=f"student {student_id[:40]!r}")
    limit = max(1, min(limit or DEFAULT_CHRONOLOGY, MAX_CHRONOLOGY))
    rights = category_rights(session, claims)
    incidents: list[Incident] = []
    if rights.view_incidents:
        visible = exists().where(
            IncidentCategory.incident_id == Incident.id,
            IncidentCategory.category_id.in_(sorted(rights.view_incidents)),
        )
        incidents = list(
            session.scalars(
                select(Incident)
                .where(
                    Incident.school_id == claims.school_id,
                    Incident.student_id == student.id,
                    visible,
                )
                .order_by(Incident.occurred_at.desc(), Incident.created_at.desc(), Incident.id)
                .limit(limit)
            )
        )
    audit.record(session, "student.chronology.viewed", student_id=student.id)
    monitored = monitored_categories(session, claims, [student.id])
    return Chronology(
        student=full_card(student, monitored.get(student.id, [])),
        incidents=[_view(i, claims, rights) for i in incidents],
    )


def list_my_history(session: Session, *, limit: int = 100) -> list[IncidentView]:
    """The incidents the caller added in the last 7 days, newest first."""
    claims = current_claims()
    since = utcnow() - HISTORY_WINDOW
    incidents = session.scalars(
        select(Incident)
        .where(
            Incident.school_id == claims.school_id,
            Incident.created_by == claims.account_id,
            Incident.created_at >= since,
        )
        .order_by(Incident.created_at.desc(), Incident.id)
        .limit(max(1, min(limit, 500)))
    )
    rights = category_rights(session, claims)
    return [_view(i, claims, rights) for i in incidents]
