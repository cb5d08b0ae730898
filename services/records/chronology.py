"""Reading incidents and their actions: who may open one, a student's chronology, one incident.

Who may open an incident:
- an elevated caller whose group may see student details, may view at least one of the
  incident's categories, and whose class restrictions include the student;
- an elevated caller it is assigned to, while it is open (My Assigned);
- anyone with an unread alert for it (reading it and marking it read closes that door for a
  restricted caller: the alert was their only way in);
- its author, for 7 days (the "My History" list).
Deleted incidents and actions are seen only by callers with the edit permission (as a marker:
no text; the text stays in the history). Merged incidents live on as actions of the incident
they were merged into.

The loader reads with a handful of column queries per page (incidents, categories, alerts,
actions, agencies, linked copies), not row objects, so a chronology of a thousand incidents
stays fast.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from services.records import audit
from services.records import chronology_sql as sql
from services.records.access import Viewer, require_full_access, viewer
from services.records.categories import CategoryBook, CategoryView
from services.records.models import (
    Action,
    Alert,
    Incident,
    IncidentCategory,
    Student,
)
from services.records.students import (
    StudentCard,
    full_card,
    monitored_categories,
    restricted_card,
    visible_student,
)
from shared.context import current_claims
from shared.db import utcnow
from shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

HISTORY_WINDOW = dt.timedelta(days=7)
DEFAULT_CHRONOLOGY = 200
MAX_CHRONOLOGY = 1000

ACTION_COLUMNS = (
    Action.id, Action.incident_id, Action.student_id, Action.text, Action.occurred_at,
    Action.created_at, Action.created_by, Action.created_by_name, Action.version,
    Action.updated_at, Action.deleted_at, Action.deleted_by_name, Action.deleted_reason,
    Action.merged_from_number, Action.link_id,
)


@dataclass(frozen=True, slots=True)
class AgencyRef:
    """An agency as a chronology shows it (the Agency's id, name and enabled flag)."""

    id: str
    name: str
    enabled: bool


@dataclass(slots=True)
class LinkedStudentRef:
    student_id: str
    name: str
    tutor_group: str
    incident_id: str


@dataclass(slots=True)
class ActionView:
    action: object  # a row with ACTION_COLUMNS' attributes (or an Action)
    categories: list[CategoryView] = field(default_factory=list)
    agencies: list[AgencyRef] = field(default_factory=list)
    alerted_account_ids: list[str] = field(default_factory=list)
    alert_warnings: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.action.deleted_at is not None

    @property
    def text(self) -> str:
        return "" if self.deleted else self.action.text


@dataclass(slots=True)
class IncidentView:
    incident: object  # a row with chronology_sql.INCIDENT_KEYS' attributes (or an Incident)
    student_name: str = ""
    categories: list[CategoryView] = field(default_factory=list)
    alerted_account_ids: list[str] = field(default_factory=list)
    alert_unread: bool = False
    agencies: list[AgencyRef] = field(default_factory=list)
    linked_students: list[LinkedStudentRef] = field(default_factory=list)
    actions: list[ActionView] = field(default_factory=list)
    action_count: int = 0
    can_edit: bool = False
    alert_warnings: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.incident.deleted_at is not None

    @property
    def text(self) -> str:
        return "" if self.deleted else self.incident.text


@dataclass(frozen=True)
class Chronology:
    student: StudentCard
    incidents: list[IncidentView]
    next_page_token: str = ""
    page_token: str = ""  # the page served ("" for the first)


# ---- who may open an incident --------------------------------------------------------------------


def _unread_alert(session: Session, v: Viewer, incident_id: str) -> bool:
    return bool(session.execute(select(exists().where(
        Alert.school_id == v.school_id, Alert.incident_id == incident_id,
        Alert.recipient_account_id == v.account_id, Alert.read_at.is_(None),
        Alert.cleared_at.is_(None)))).scalar())


def _category_ids(session: Session, school_id: str, incident_id: str) -> set[str]:
    return set(session.scalars(select(IncidentCategory.category_id).where(
        IncidentCategory.school_id == school_id, IncidentCategory.incident_id == incident_id)))


def reads_by_category(session: Session, v: Viewer, incident: Incident) -> bool:
    """The elevated route: student details, a viewable category, the student in their classes."""
    if not v.reads_details:
        return False
    if not _category_ids(session, v.school_id, incident.id) & v.rights.view_incidents:
        return False
    return v.sees_student(session, incident.student_id)


def may_open(session: Session, v: Viewer, incident: Incident) -> bool:
    if incident.merged_into_id:
        return False
    if incident.deleted_at is not None:
        return v.can_edit and reads_by_category(session, v, incident)
    if reads_by_category(session, v, incident):
        return True
    if (v.full_access and incident.assigned_to == v.account_id and incident.status != "closed"):
        return True
    if _unread_alert(session, v, incident.id):
        return True
    return (incident.created_by == v.account_id
            and incident.created_at >= utcnow() - HISTORY_WINDOW)


def find_incident(session: Session, school_id: str, incident_id: str) -> Incident | None:
    incident_id = (incident_id or "").strip()
    if not incident_id:
        return None
    return session.scalars(select(Incident).where(
        Incident.school_id == school_id, Incident.id == incident_id)).first()


def open_incident(session: Session, v: Viewer, incident_id: str) -> Incident:
    """The incident if the caller may open it; refusals audited (NOT_FOUND never reveals
    another school's incident, nor a deleted one to those who cannot see deleted ones)."""
    incident = find_incident(session, v.school_id, incident_id)
    if incident is None:
        raise audit.refuse(NotFound("No such incident."), detail=f"incident {incident_id[:40]!r}")
    if incident.merged_into_id:
        target = session.get(Incident, incident.merged_into_id)
        number = f" {target.number}" if target is not None and target.number else ""
        raise audit.refuse(NotFound(f"This incident was merged into incident{number}."),
                           student_id=incident.student_id, detail=f"incident {incident.id}")
    if incident.deleted_at is not None and not v.can_edit:
        raise audit.refuse(NotFound("No such incident."), student_id=incident.student_id,
                           detail=f"incident {incident.id} (deleted)")
    if not may_open(session, v, incident):
        raise audit.refuse(PermissionDenied("You may not open this incident."),
                           student_id=incident.student_id, detail=f"incident {incident.id}")
    return incident


# ---- paging (keyset on the chronology's order) ---------------------------------------------------

BAD_PAGE_LINK = "That page link is not valid."


@dataclass(frozen=True)
class PageKey:
    """The sort key of a page's last row: ``pinned DESC, occurred_at DESC, created_at DESC,
    id ASC`` (the chronology's ORDER BY). The token binds it to the student; it only sets a
    starting point, so it can show nothing the caller could not see on the first page."""

    student_id: str
    pinned: bool
    occurred_at: dt.datetime
    created_at: dt.datetime
    id: str

    def token(self) -> str:
        raw = json.dumps([1, self.student_id, int(self.pinned), self.occurred_at.isoformat(),
                          self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str, student_id: str) -> PageKey:
        try:
            if len(token) > 400:
                raise ValueError
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            version, student, pinned, occurred, created, row_id = json.loads(raw)
            if (version != 1 or pinned not in (0, 1) or not isinstance(row_id, str)
                    or not isinstance(student, str) or not row_id or len(row_id) > 64):
                raise ValueError
            key = cls(student_id=student, pinned=bool(pinned),
                      occurred_at=dt.datetime.fromisoformat(occurred),
                      created_at=dt.datetime.fromisoformat(created), id=row_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidArgument(BAD_PAGE_LINK, field="page_token") from None
        if (key.student_id != student_id or key.occurred_at.tzinfo is not None
                or key.created_at.tzinfo is not None):
            raise InvalidArgument(BAD_PAGE_LINK, field="page_token")
        return key

    @classmethod
    def of(cls, row) -> PageKey:
        return cls(student_id=row.student_id, pinned=bool(row.pinned),
                   occurred_at=row.occurred_at, created_at=row.created_at, id=row.id)


# ---- the loader ----------------------------------------------------------------------------------


INCIDENTS = sql.INCIDENTS


def _filters(v: Viewer, book: CategoryBook, *, check_categories: bool) -> tuple[bool, bool]:
    """(hide deleted entries, keep only entries in a category the caller may view); a caller
    who may view every category needs no category filter."""
    return (not v.can_edit,
            check_categories and not set(book.by_id) <= v.rights.view_incidents)


def load(
    session: Session, v: Viewer, *, student_id: str = "", incident_ids: list[str] | None = None,
    limit: int = MAX_CHRONOLOGY, include_actions: bool = True, check_categories: bool = True,
    book: CategoryBook | None = None, after: PageKey | None = None,
    known_names: dict[str, tuple[str, str]] | None = None,
) -> list[IncidentView]:
    """Incidents of one student (chronology order) or the given ones (in the order given).

    ``after`` (a student's chronology only) starts strictly after that sort key; every other
    filter applies as before.

    ``check_categories`` keeps only incidents in a category the caller may view (the
    chronology); callers that already decided access (alerts, history) pass False. Reads
    plain columns of the tables (no ORM objects), each statement filtered by the school
    (``chronology_sql``). ``known_names``: (name, tutor group) of students the caller has
    already read (the chronology's own student), not read again.
    """
    school = v.school_id
    book = book or CategoryBook(session, school, v.rights)  # (an ORM read: flushes first)
    if incident_ids is not None and not incident_ids:
        return []
    if check_categories and not v.rights.view_incidents:
        return []
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    by_student = bool(student_id)
    hide_deleted, by_category = _filters(v, book, check_categories=check_categories)
    params: dict = {"school": school}
    if by_student:
        params["student"] = student_id
    if incident_ids is not None:
        if by_student:
            raise ValueError("load reads a student's chronology or given incidents, not both")
        params["ids"] = sql.id_list(incident_ids, pg)
    if by_category:
        params["cats"] = sql.id_list(sorted(v.rights.view_incidents), pg)
    if by_student:
        params["limit"] = limit
        if after is not None:
            params.update(after_occurred=after.occurred_at, after_created=after.created_at,
                          after_id=after.id)
    stmt = sql.incidents(by_student=by_student, hide_deleted=hide_deleted,
                         by_category=by_category,
                         after=after.pinned if (by_student and after is not None) else None,
                         pg=pg)
    rows = list(map(sql.IncidentRow._make, conn.execute(stmt, params).all()))
    if incident_ids is not None:
        order = {x: n for n, x in enumerate(incident_ids)}
        rows.sort(key=lambda r: order.get(r.id, 0))
    if not rows:
        return []
    # the rows that belong to the page: the student's (their index range), or by ids
    if not by_student:
        params = {"school": school, "ids": sql.id_list([r.id for r in rows], pg)}
    views = {r.id: IncidentView(incident=r, can_edit=v.can_edit) for r in rows}
    # categories (the incident's own first, then those actions added)
    cat_rows = conn.execute(sql.category_links(by_student=by_student, pg=pg), params).all()
    action_cats: dict[str, list[str]] = {}
    cat_rows.sort(key=lambda r: (r[2] is not None, r[3]))  # own first, in order
    for inc_id, cat_id, action_id, _position in cat_rows:
        view = views.get(inc_id)
        if view is None:
            continue
        cv = book.view(cat_id)
        if cv is not None:
            view.categories.append(cv)
        if action_id:
            action_cats.setdefault(action_id, []).append(cat_id)
    # alerts
    action_alerts: dict[str, list[str]] = {}
    me = v.account_id
    for inc_id, action_id, recipient, read_at, cleared_at in conn.execute(
            sql.alerts(by_student=by_student, pg=pg), params).all():
        view = views.get(inc_id)
        if view is None:
            continue
        if action_id:
            action_alerts.setdefault(action_id, []).append(recipient)
        elif recipient not in view.alerted_account_ids:
            view.alerted_account_ids.append(recipient)
        if recipient == me and read_at is None and cleared_at is None:
            view.alert_unread = True
    # agencies (with their names: one statement)
    action_agencies: dict[str, list[AgencyRef]] = {}
    agencies: dict[str, AgencyRef] = {}
    page_ids = params["ids"] if "ids" in params else sql.id_list(views, pg)
    for inc_id, action_id, agency_id, name, enabled in conn.execute(
            sql.agency_links(pg=pg), {"school": school, "ids": page_ids}).all():
        view = views.get(inc_id)
        if view is None:
            continue
        agency = agencies.get(agency_id)
        if agency is None:
            agency = agencies[agency_id] = AgencyRef(id=agency_id, name=name,
                                                     enabled=enabled)
        if action_id:
            action_agencies.setdefault(action_id, []).append(agency)
        elif agency not in view.agencies:
            view.agencies.append(agency)
    # actions
    if include_actions:
        for row in map(sql.ActionRow._make, conn.execute(sql.actions(
                by_student=by_student, hide_deleted=hide_deleted, pg=pg), params).all()):
            view = views.get(row.incident_id)
            if view is None:
                continue
            view.actions.append(ActionView(
                action=row, categories=book.views(action_cats.get(row.id, [])),
                agencies=action_agencies.get(row.id, []),
                alerted_account_ids=list(dict.fromkeys(action_alerts.get(row.id, []))),
            ))
            view.action_count += 1
    else:
        for inc_id, count in conn.execute(sql.action_counts(
                by_student=by_student, hide_deleted=hide_deleted, pg=pg), params).all():
            view = views.get(inc_id)
            if view is not None:
                view.action_count = count
    # students' names, and the linked students' copies
    student_ids = {r.student_id for r in rows}
    groups = {r.link_group_id for r in rows if r.link_group_id}
    linked_rows = []
    if groups:
        linked_rows = conn.execute(sql.linked_copies(pg=pg), {
            "school": school, "ids": sql.id_list(sorted(groups), pg)}).all()
        student_ids |= {r.student_id for r in linked_rows}
    names = dict(known_names or {})
    wanted = sorted(student_ids - names.keys())
    if wanted:
        for s in conn.execute(sql.student_names(pg=pg), {
                "school": school, "ids": sql.id_list(wanted, pg)}).all():
            names[s.id] = (_name_of(s), s.tutor_group)
    for view in views.values():
        view.student_name = names.get(view.incident.student_id, ("", ""))[0]
    by_group: dict[str, list] = {}
    for r in linked_rows:
        by_group.setdefault(r.link_group_id, []).append(r)
    for view in views.values():
        for r in by_group.get(view.incident.link_group_id or "", []):
            if r.student_id == view.incident.student_id:
                continue
            name, tutor = names.get(r.student_id, ("", ""))
            view.linked_students.append(LinkedStudentRef(
                student_id=r.student_id, name=name, tutor_group=tutor, incident_id=r.id))
    return [views[r.id] for r in rows]


def _name_of(row) -> str:
    return f"{row.preferred_name or row.first_name} {row.last_name}"


# ---- the read operations -------------------------------------------------------------------------


def _chronology_student(session: Session, v: Viewer, student_id: str):
    """The student's row (plain columns) if the caller may see them; otherwise the refusal
    ``visible_student`` gives (it is asked again only to refuse, in its words)."""
    student_id = (student_id or "").strip()
    row = None
    if student_id:
        row = session.connection().execute(sql.student_row(), {
            "school": v.school_id, "student": student_id}).first()
    if row is None or not v.sees_student(session, row.id):
        return visible_student(session, v, student_id)  # raises NOT_FOUND / PERMISSION_DENIED
    return row


def highlight_page(session: Session, v: Viewer, book: CategoryBook, student_id: str,
                   incident_id: str, limit: int) -> PageKey | None:
    """Where the page of ``limit`` entries holding this incident starts: the key of the last
    entry of the page before it, counting only the entries this caller sees in the student's
    chronology; None for the first page, and for an incident the caller does not see there
    (unknown, another student's or school's, a category they may not view, deleted): such an
    id changes nothing."""
    incident_id = (incident_id or "").strip()
    if not incident_id or len(incident_id) > 64 or not v.rights.view_incidents:
        return None
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    hide_deleted, by_category = _filters(v, book, check_categories=True)
    params: dict = {"school": v.school_id, "student": student_id, "after_id": incident_id}
    if by_category:
        params["cats"] = sql.id_list(sorted(v.rights.view_incidents), pg)
    shape = {"hide_deleted": hide_deleted, "by_category": by_category, "pg": pg}
    key = conn.execute(sql.page_key(offset=False, **shape), params).first()
    if key is None:
        return None
    before = conn.execute(sql.rows_before(pinned=bool(key.pinned), **shape), dict(
        params, after_occurred=key.occurred_at, after_created=key.created_at)).scalar() or 0
    if before < limit:
        return None
    params["offset"] = before // limit * limit - 1
    start = conn.execute(sql.page_key(offset=True, **shape), params).first()
    return PageKey.of(start) if start is not None else None


def get_chronology(session: Session, student_id: str, *, limit: int = 0,
                   include_actions: bool = False, page_token: str = "",
                   highlight_incident_id: str = "") -> Chronology:
    """A student's incidents, pinned first then newest first by when they happened, in the
    categories the caller's group may view (deleted ones as markers for editors); a page of
    ``limit``, after ``page_token``, with ``next_page_token`` when more follow. Without a
    page token, ``highlight_incident_id`` picks the page that holds that incident."""
    claims = current_claims()
    try:
        require_full_access(claims, "view_student_details", "A student's chronology")
    except PermissionDenied as exc:
        from services.records.students import find_student

        student = find_student(session, claims, (student_id or "").strip())
        raise audit.refuse(
            exc, student_id=student.id if student else None,
            detail="" if student else f"student {student_id[:40]!r}",
        ) from None
    v = viewer(session, claims)
    student = _chronology_student(session, v, student_id)
    limit = max(1, min(limit or DEFAULT_CHRONOLOGY, MAX_CHRONOLOGY))
    page_token = page_token.strip()
    after = PageKey.parse(page_token, student.id) if page_token else None
    book = CategoryBook(session, v.school_id, v.rights)
    if after is None and highlight_incident_id:
        after = highlight_page(session, v, book, student.id, highlight_incident_id, limit)
        page_token = after.token() if after is not None else ""
    incidents = load(session, v, student_id=student.id, limit=limit + 1,
                     include_actions=include_actions, after=after, book=book,
                     known_names={student.id: (_name_of(student), student.tutor_group)})
    next_token = ""
    if len(incidents) > limit:
        incidents = incidents[:limit]
        next_token = PageKey.of(incidents[-1].incident).token()
    audit.record(session, "student.chronology.viewed", student_id=student.id)
    monitored = monitored_categories(session, claims, [student.id],
                                     visible=v.rights.view_students)
    return Chronology(student=full_card(student, monitored.get(student.id, [])),
                      incidents=incidents, next_page_token=next_token, page_token=page_token)


def view_one(session: Session, v: Viewer, incident: Incident, *, include_actions: bool = True
             ) -> IncidentView:
    (view,) = load(session, v, incident_ids=[incident.id], include_actions=include_actions,
                   check_categories=False)
    return view


def get_incident(session: Session, incident_id: str) -> IncidentView:
    v = viewer(session)
    incident = open_incident(session, v, incident_id)
    audit.record(session, "incident.viewed", student_id=incident.student_id,
                 detail=f"incident {incident.id}")
    return view_one(session, v, incident)


@dataclass(frozen=True)
class PrintView:
    incident: IncidentView
    student: StudentCard
    printed_by_name: str
    printed_at: dt.datetime


def get_incident_print(session: Session, incident_id: str) -> PrintView:
    """Everything the print view (a PDF of one incident and its actions) shows."""
    v = viewer(session)
    incident = open_incident(session, v, incident_id)
    if incident.deleted_at is not None:
        raise FailedPrecondition("A deleted incident cannot be printed; restore it first.")
    view = view_one(session, v, incident)
    view.actions = [a for a in view.actions if not a.deleted]
    student = session.get(Student, incident.student_id)
    audit.record(session, "incident.printed", student_id=incident.student_id,
                 detail=f"incident {incident.id}")
    # The pupil's full card only for someone who could open their profile: an incident reached
    # through an alert or an assignment does not open the record of a pupil outside one's classes.
    card = (full_card(student, []) if v.reads_students and v.sees_student(session, student.id)
            else restricted_card(student))
    return PrintView(incident=view, student=card, printed_by_name=v.claims.name,
                     printed_at=utcnow())
