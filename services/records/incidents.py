"""Adding an incident (sections 5 and 33), the caller's recent history, My Assigned.

An incident is about one student, has text and at least one category the caller may add to,
happened at a time (default now, at most a day ahead), is active or closed, may be assigned
to a key holder, may involve agencies, and may alert colleagues and alert groups (the school
may insist on at least one alert). Linked students get a copy each (sharing a link group) and
may be monitored under the same categories. Adding an incident monitors its student under its
categories and raises the automatic alerts. Events never carry the text.

Reading (who may open what, the chronology) is in ``chronology.py``; the helpers here are
shared with actions and the chronology's options (``actions.py``, ``editing.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import Viewer, viewer
from services.records.agencies import agencies_to_tag
from services.records.alerts import (
    automatic_recipients,
    merge,
    raise_alerts,
    resolve_recipients,
    warnings_for,
)
from services.records.chronology import (
    ACTION_COLUMNS,
    HISTORY_WINDOW,
    ActionView,
    IncidentView,
    load,
    view_one,
)
from services.records.models import (
    Action,
    Agency,
    Category,
    Counter,
    Incident,
    IncidentCategory,
    RecordAgency,
    StaffMember,
    Student,
)
from services.records.monitoring import start_monitoring
from services.records.ports import RecordsEvents
from services.records.settings import settings_of
from services.records.students import pickable_student
from services.records.versions import snapshot
from shared.context import Claims, current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, InvalidArgument, PermissionDenied

MAX_TEXT = 20_000
STATUSES = ("active", "closed")
FUTURE_SLACK = dt.timedelta(days=1)
EARLIEST = dt.datetime(1990, 1, 1)
MAX_CATEGORIES = 50
MAX_REQUEST_ID = 100
MAX_LINKED = 30


# ---- checks shared by incidents and actions ------------------------------------------------------


def dedupe(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = (v or "").strip()
        if v and v not in out:
            out.append(v)
    return out


def naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def clean_text(text: str, *, what: str = "Describe what happened.") -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidArgument(what, field="text")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"At most {MAX_TEXT} characters, please.", field="text")
    return text


def clean_occurred(occurred_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    occurred = naive_utc(occurred_at) if occurred_at else now
    if occurred > now + FUTURE_SLACK:
        raise InvalidArgument("The date cannot be in the future.", field="occurred_at")
    if occurred < EARLIEST:
        raise InvalidArgument("That date is too far in the past.", field="occurred_at")
    return occurred


def clean_status(status: str) -> str:
    status = (status or "active").strip().lower()
    if status not in STATUSES:
        raise InvalidArgument("The status is active or closed.", field="status")
    return status


def categories_to_add(
    session: Session, v: Viewer, category_ids: Iterable[str], student_id: str, *,
    required: bool = True,
) -> list[Category]:
    """Known, enabled categories of the school the caller's group may add to."""
    ids = dedupe(category_ids)
    if not ids:
        if required:
            raise InvalidArgument("Choose at least one category.", field="category_ids")
        return []
    if len(ids) > MAX_CATEGORIES:
        raise InvalidArgument("Too many categories.", field="category_ids")
    found = {
        c.id: c
        for c in session.scalars(
            select(Category).where(Category.school_id == v.school_id, Category.id.in_(ids))
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
    forbidden = [c.name for c in categories if c.id not in v.rights.add_incidents]
    if forbidden:
        raise audit.refuse(
            PermissionDenied(
                f"Your user group may not add incidents to {', '.join(forbidden)}."
            ),
            student_id=student_id,
        )
    return categories


def assignee(session: Session, school_id: str, account_id: str) -> StaffMember | None:
    """An incident is assigned to an active key holder of the school (or nobody)."""
    account_id = (account_id or "").strip()
    if not account_id:
        return None
    staff = session.scalars(select(StaffMember).where(
        StaffMember.school_id == school_id, StaffMember.account_id == account_id)).first()
    if staff is None or not staff.active:
        raise InvalidArgument("Incidents are assigned to active staff of this school.",
                              field="assigned_to")
    if not staff.key_holder:
        raise InvalidArgument("Incidents can only be assigned to key holders.",
                              field="assigned_to")
    return staff


def next_numbers(session: Session, school_id: str, count: int = 1) -> list[int]:
    """The school's next incident numbers (the small ID shown beside the author)."""
    key = f"{school_id}:incident"
    last = session.execute(
        update(Counter).where(Counter.id == key).values(value=Counter.value + count)
        .returning(Counter.value).execution_options(synchronize_session=False)
    ).scalar()
    if last is None:
        try:
            with session.begin_nested():
                session.add(Counter(id=key, school_id=school_id, value=count))
                session.flush()
            last = count
        except IntegrityError:  # a concurrent first incident made the row
            last = session.execute(
                update(Counter).where(Counter.id == key).values(value=Counter.value + count)
                .returning(Counter.value).execution_options(synchronize_session=False)
            ).scalar_one()
    return list(range(last - count + 1, last + 1))


def tag_agencies(session: Session, school_id: str, incident_id: str, action_id: str | None,
                 agencies: list[Agency]) -> None:
    for agency in agencies:
        session.add(RecordAgency(id=new_id(), school_id=school_id, incident_id=incident_id,
                                 action_id=action_id, agency_id=agency.id))


def incident_categories(session: Session, incident: Incident) -> list[Category]:
    """All the incident's categories (its own, then those its actions added)."""
    rows = session.execute(
        select(Category, IncidentCategory.action_id)
        .join(IncidentCategory, IncidentCategory.category_id == Category.id)
        .where(IncidentCategory.school_id == incident.school_id,
               IncidentCategory.incident_id == incident.id)
        .order_by(IncidentCategory.action_id.is_not(None), IncidentCategory.position)
    ).all()
    return [c for c, _ in rows]


def author_name(session: Session, claims: Claims) -> str:
    if claims.name:
        return claims.name
    name = session.scalars(
        select(StaffMember.display_name).where(
            StaffMember.school_id == claims.school_id,
            StaffMember.account_id == claims.account_id,
        )
    ).first()
    return name or ""


# ---- adding an incident --------------------------------------------------------------------------


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
    return view_one(session, viewer(session, claims), incident)


def new_incident(
    session: Session, claims: Claims, *, student: Student, text: str, occurred: dt.datetime,
    now: dt.datetime, status: str, categories: list[Category], number: int,
    staff: StaffMember | None, by_name: str, link_group_id: str | None = None,
    request_id: str | None = None, created_by: str = "", created_by_name: str = "",
    created_at: dt.datetime | None = None,
) -> Incident:
    incident = Incident(
        id=new_id(), school_id=claims.school_id, student_id=student.id, text=text,
        occurred_at=occurred, created_at=created_at or now,
        created_by=created_by or claims.account_id, created_by_name=created_by_name or by_name,
        status=status, request_id=request_id, number=number,
        assigned_to=staff.account_id if staff else None,
        assigned_to_name=staff.display_name if staff else "",
        link_group_id=link_group_id, version=1, pinned=False,
    )
    incident.student = student
    incident.category_links = [
        IncidentCategory(school_id=claims.school_id, category_id=c.id, category=c, position=i,
                         student_id=student.id)
        for i, c in enumerate(categories)
    ]
    return incident


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
    linked_student_ids: Iterable[str] = (),
    monitor_linked_students: bool = False,
    assigned_to: str = "",
    alert_group_ids: Iterable[str] = (),
    agency_ids: Iterable[str] = (),
) -> IncidentView:
    """Record an incident (and its linked students' copies), alert colleagues, start
    monitoring; announce it (never the text).

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

    v = viewer(session, claims)
    student = pickable_student(session, v, student_id)
    text = clean_text(text)
    status = clean_status(status)
    now = utcnow()
    occurred = clean_occurred(occurred_at, now)
    categories = categories_to_add(session, v, category_ids, student.id)
    linked_ids = [i for i in dedupe(linked_student_ids) if i != student.id]
    if len(linked_ids) > MAX_LINKED:
        raise InvalidArgument(f"At most {MAX_LINKED} linked students.",
                              field="linked_student_ids")
    linked = [pickable_student(session, v, i, what="linked student") for i in linked_ids]
    staff = assignee(session, claims.school_id, assigned_to)
    agencies = agencies_to_tag(session, claims.school_id, agency_ids)
    chosen = resolve_recipients(session, claims.school_id, claims.account_id,
                                account_ids=alert_account_ids, alert_group_ids=alert_group_ids)
    if not chosen and settings_of(session, claims.school_id).enforce_alert:
        raise InvalidArgument("Your school asks that every incident alerts at least one "
                              "colleague.", field="alert_account_ids")
    by_name = author_name(session, claims)
    link_group_id = new_id() if linked else None

    if request_id:
        # A concurrent twin of this request may commit first: then return what it created.
        try:
            with session.begin_nested():
                (number,) = next_numbers(session, claims.school_id)
                incident = new_incident(
                    session, claims, student=student, text=text, occurred=occurred, now=now,
                    status=status, categories=categories, number=number, staff=staff,
                    by_name=by_name, link_group_id=link_group_id, request_id=request_id)
                session.add(incident)
                session.flush()
        except IntegrityError:
            existing = _by_request_id(session, claims, request_id)
            if existing is None:
                raise
            return _replayed(session, claims, existing, student.id)
    else:
        (number,) = next_numbers(session, claims.school_id)
        incident = new_incident(
            session, claims, student=student, text=text, occurred=occurred, now=now,
            status=status, categories=categories, number=number, staff=staff, by_name=by_name,
            link_group_id=link_group_id)
        session.add(incident)

    copies = []
    numbers = next_numbers(session, claims.school_id, len(linked)) if linked else []
    for other, n in zip(linked, numbers, strict=True):
        copy = new_incident(
            session, claims, student=other, text=text, occurred=occurred, now=now,
            status=status, categories=categories, number=n, staff=staff, by_name=by_name,
            link_group_id=link_group_id)
        session.add(copy)
        copies.append(copy)
    session.flush()

    for record in [incident, *copies]:
        tag_agencies(session, claims.school_id, record.id, None, agencies)
        snapshot(session, record, "created", by=claims.account_id, by_name=by_name, at=now)
        audit.record(session, "incident.created", student_id=record.student_id,
                     detail=f"incident {record.id}" + (
                         f" (linked copy of {incident.id})" if record is not incident else ""))
        events.incident_created(session, record, categories)
    start_monitoring(session, events, school_id=claims.school_id, student_id=student.id,
                     category_ids=[c.id for c in categories], at=now, by=claims.account_id,
                     source="incident")
    if monitor_linked_students:
        for copy in copies:
            start_monitoring(session, events, school_id=claims.school_id,
                             student_id=copy.student_id, category_ids=[c.id for c in categories],
                             at=now, by=claims.account_id, source="linked")
    recipients = merge(chosen, automatic_recipients(
        session, claims.school_id, claims.account_id, student_id=student.id,
        category_ids=[c.id for c in categories]), author_id=claims.account_id)
    raise_alerts(session, events, incident=incident, action=None, recipients=recipients,
                 raised_by=claims.account_id, raised_by_name=by_name, categories=categories,
                 now=now)
    for copy in copies:
        raise_alerts(session, events, incident=copy, action=None,
                     recipients=automatic_recipients(
                         session, claims.school_id, claims.account_id,
                         student_id=copy.student_id, category_ids=[c.id for c in categories]),
                     raised_by=claims.account_id, raised_by_name=by_name,
                     categories=categories, now=now)
    if staff is not None:
        events.incident_assigned(session, incident, categories, by_name)
    view = view_one(session, v, incident)
    view.alert_warnings = warnings_for(
        session, claims.school_id, student_id=student.id,
        category_ids=[c.id for c in categories],
        account_ids=[r.account_id for r in recipients])
    return view


# ---- the caller's own lists ----------------------------------------------------------------------


def list_my_history(session: Session, *, limit: int = 100) -> list[IncidentView]:
    """The incidents the caller added in the last 7 days, newest first."""
    return my_history(session, limit=limit)[0]


def my_history(session: Session, *, limit: int = 100
               ) -> tuple[list[IncidentView], list[ActionView]]:
    """Incidents and actions the caller added in the last 7 days, newest first (section 30)."""
    claims = current_claims()
    v = viewer(session, claims)
    since = utcnow() - HISTORY_WINDOW
    limit = max(1, min(limit, 500))
    ids = list(session.scalars(
        select(Incident.id)
        .where(
            Incident.school_id == claims.school_id,
            Incident.created_by == claims.account_id,
            Incident.created_at >= since,
            Incident.deleted_at.is_(None),
            Incident.merged_into_id.is_(None),
        )
        .order_by(Incident.created_at.desc(), Incident.id)
        .limit(limit)
    ))
    incidents = load(session, v, incident_ids=ids, include_actions=False,
                     check_categories=False)
    rows = session.execute(
        select(*ACTION_COLUMNS)
        .join(Incident, Incident.id == Action.incident_id)
        .where(
            Action.school_id == claims.school_id,
            Action.created_by == claims.account_id,
            Action.created_at >= since,
            Action.deleted_at.is_(None),
            Action.split_into_incident_id.is_(None),
            Incident.deleted_at.is_(None),
        )
        .order_by(Action.created_at.desc(), Action.id)
        .limit(limit)
    ).all()
    return incidents, [ActionView(action=r) for r in rows]


def list_my_assigned(session: Session, *, limit: int = 200) -> list[IncidentView]:
    """Open incidents assigned to the caller (key holders, elevated), newest first."""
    claims = current_claims()
    if not claims.full_access:
        return []
    v = viewer(session, claims)
    ids = list(session.scalars(
        select(Incident.id)
        .where(
            Incident.school_id == claims.school_id,
            Incident.assigned_to == claims.account_id,
            Incident.status != "closed",
            Incident.deleted_at.is_(None),
            Incident.merged_into_id.is_(None),
        )
        .order_by(Incident.occurred_at.desc(), Incident.id)
        .limit(max(1, min(limit, 500)))
    ))
    return load(session, v, incident_ids=ids, include_actions=False, check_categories=False)
