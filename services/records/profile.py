"""A student's profile: the Overview tab, "Edit information", Contact Details (section 8).

Opening any of them needs elevated access, the student details permission, and the student
within the caller's class restrictions; every opening and change is audited. What is shown
follows the caller's category rights: monitored categories they may see students for,
incident counts and agencies of incidents they may view.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from services.records import audit
from services.records.access import Viewer, require_admin, require_full_access, viewer
from services.records.agencies import agencies_to_tag
from services.records.categories import CategoryBook, CategoryView
from services.records.models import (
    Agency,
    Contact,
    Incident,
    IncidentCategory,
    RecordAgency,
    StaffMember,
    Student,
    StudentAgency,
    StudentAlertStaff,
    StudentKeyword,
    StudentLink,
)
from services.records.monitoring import open_category_ids, set_monitored
from services.records.ports import RecordsEvents
from services.records.students import (
    StudentCard,
    full_card,
    groups_of,
    set_manual_groups,
    visible_student,
)
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import InvalidArgument, PermissionDenied

PARTS = ("summary", "keywords", "agencies", "alert_staff", "links", "monitored_categories",
         "groups")
MAX_KEYWORDS = 50
MAX_LINKS = 50
MAX_SUMMARY = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class LinkView:
    id: str
    student_id: str
    name: str
    tutor_group: str
    label: str
    source: str  # "mis" or "manual"


@dataclass(frozen=True)
class AgencyOnStudent:
    agency: Agency
    manual: bool


@dataclass(frozen=True)
class Profile:
    student: StudentCard
    summary: str
    monitored: list[CategoryView]
    agencies: list[AgencyOnStudent]
    keywords: list[str]
    links: list[LinkView]
    alert_staff: list[tuple[str, str]]
    by_category: list[tuple[CategoryView, int]]
    by_month: list[tuple[str, int]]
    incident_count: int


def _reader(session: Session, student_id: str, what: str) -> tuple[Viewer, Student]:
    claims = current_claims()
    try:
        require_full_access(claims, "view_student_details", what)
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=f"student {student_id[:40]}") from None
    v = viewer(session, claims)
    return v, visible_student(session, v, student_id)


def _visible_incidents(v: Viewer, student_id: str):
    ic = aliased(IncidentCategory)
    return (Incident.school_id == v.school_id, Incident.student_id == student_id,
            Incident.deleted_at.is_(None), Incident.merged_into_id.is_(None),
            exists().where(ic.school_id == v.school_id, ic.incident_id == Incident.id,
                           ic.category_id.in_(sorted(v.rights.view_incidents))))


def _months(start: dt.date, end: dt.date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _period(timeline_from: str, timeline_to: str) -> tuple[dt.date, dt.date]:
    from services.records.settings import parse_date

    today = utcnow().date()
    end = parse_date(timeline_to, "timeline_to") or today
    start = parse_date(timeline_from, "timeline_from")
    if start is None:  # the six months up to and including the end's month
        year, month = end.year, end.month - 5
        if month <= 0:
            year, month = year - 1, month + 12
        start = dt.date(year, month, 1)
    if start > end:
        raise InvalidArgument("The period ends before it starts.", field="timeline_to")
    if (end - start).days > 366 * 20:
        raise InvalidArgument("That period is too long.", field="timeline_from")
    return start, end


def links_of(session: Session, v: Viewer, student: Student) -> list[LinkView]:
    """Manual links (both ways) and siblings: students sharing a contact from the MIS."""
    other = aliased(Student)
    out: list[LinkView] = []
    seen: set[str] = set()
    rows = session.execute(
        select(StudentLink, other)
        .join(other, or_(
            and_(StudentLink.student_id == student.id, other.id == StudentLink.linked_student_id),
            and_(StudentLink.linked_student_id == student.id, other.id == StudentLink.student_id),
        ))
        .where(StudentLink.school_id == v.school_id, other.school_id == v.school_id)
        .order_by(StudentLink.id)
    ).all()
    for link, s in rows:
        if s.id in seen or not v.sees_student(session, s.id):
            continue
        seen.add(s.id)
        out.append(LinkView(id=link.id, student_id=s.id, name=s.display_name,
                            tutor_group=s.tutor_group, label=link.label, source="manual"))
    mine = aliased(Contact)
    theirs = aliased(Contact)
    sibling_ids = session.scalars(
        select(theirs.student_id).distinct()
        .join(mine, and_(mine.mis_id == theirs.mis_id, mine.school_id == theirs.school_id))
        .where(mine.school_id == v.school_id, mine.student_id == student.id,
               mine.source == "mis", theirs.source == "mis", mine.mis_id.is_not(None),
               theirs.student_id.is_not(None), theirs.student_id != student.id)
    ).all()
    siblings = session.scalars(
        select(Student).where(Student.school_id == v.school_id,
                              Student.id.in_(sorted(sibling_ids)),
                              Student.archived.is_(False))
        .order_by(Student.last_name, Student.first_name)
    ).all() if sibling_ids else []
    for s in siblings:
        if s.id in seen or not v.sees_student(session, s.id):
            continue
        seen.add(s.id)
        out.append(LinkView(id="", student_id=s.id, name=s.display_name,
                            tutor_group=s.tutor_group, label="sibling", source="mis"))
    return out


def get_profile(session: Session, student_id: str, *, timeline_from: str = "",
                timeline_to: str = "", audited: bool = True) -> Profile:
    v, student = _reader(session, student_id, "A student's profile")
    claims = v.claims
    book = CategoryBook(session, v.school_id, v.rights)
    start, end = _period(timeline_from, timeline_to)
    monitored = [book.view(c) for c in open_category_ids(session, v.school_id, student.id)
                 if c in v.rights.view_students]
    monitored_views = [m for m in monitored if m is not None]
    agencies: list[AgencyOnStudent] = []
    for agency in session.scalars(select(Agency).join(
            StudentAgency, StudentAgency.agency_id == Agency.id).where(
            StudentAgency.school_id == v.school_id, StudentAgency.student_id == student.id
    ).order_by(Agency.name)):
        agencies.append(AgencyOnStudent(agency=agency, manual=True))
    by_category: list[tuple[CategoryView, int]] = []
    by_month: list[tuple[str, int]] = []
    count = 0
    if v.rights.view_incidents:
        held = {a.agency.id for a in agencies}
        for agency in session.scalars(select(Agency).distinct().join(
                RecordAgency, RecordAgency.agency_id == Agency.id).join(
                Incident, Incident.id == RecordAgency.incident_id).where(
                *_visible_incidents(v, student.id)).order_by(Agency.name)):
            if agency.id not in held:
                agencies.append(AgencyOnStudent(agency=agency, manual=False))
                held.add(agency.id)
        count = session.execute(select(func.count()).select_from(Incident).where(
            *_visible_incidents(v, student.id))).scalar_one()
        rows = session.execute(
            select(IncidentCategory.category_id, func.count())
            .join(Incident, Incident.id == IncidentCategory.incident_id)
            .where(*_visible_incidents(v, student.id),
                   IncidentCategory.category_id.in_(sorted(v.rights.view_incidents)))
            .group_by(IncidentCategory.category_id)
        ).all()
        for category_id, n in rows:
            view = book.view(category_id)
            if view is not None:
                by_category.append((view, n))
        by_category.sort(key=lambda item: (-item[1], item[0].category.name.lower()))
        months = Counter(
            d.strftime("%Y-%m") for d in session.scalars(select(Incident.occurred_at).where(
                *_visible_incidents(v, student.id),
                Incident.occurred_at >= dt.datetime.combine(start, dt.time()),
                Incident.occurred_at < dt.datetime.combine(end + dt.timedelta(days=1),
                                                           dt.time())))
        )
        by_month = [(m, months.get(m, 0)) for m in _months(start, end)]
    staff_ids = list(session.scalars(select(StudentAlertStaff.account_id).where(
        StudentAlertStaff.school_id == v.school_id, StudentAlertStaff.student_id == student.id
    ).order_by(StudentAlertStaff.id)))
    names = dict(session.execute(select(StaffMember.account_id, StaffMember.display_name).where(
        StaffMember.school_id == v.school_id, StaffMember.account_id.in_(staff_ids))).all()
    ) if staff_ids else {}
    keywords = list(session.scalars(select(StudentKeyword.keyword).where(
        StudentKeyword.school_id == v.school_id, StudentKeyword.student_id == student.id
    ).order_by(StudentKeyword.keyword)))
    if audited:
        audit.record(session, "student.viewed", student_id=student.id)
    card = full_card(student, [m.category.id for m in monitored_views],
                     groups_of(session, claims.school_id, [student.id]).get(student.id, []))
    return Profile(
        student=card, summary=student.summary, monitored=monitored_views, agencies=agencies,
        keywords=keywords, links=links_of(session, v, student),
        alert_staff=[(a, names.get(a, "")) for a in staff_ids], by_category=by_category,
        by_month=by_month, incident_count=count,
    )


@dataclass(frozen=True)
class LinkInput:
    student_id: str
    label: str


def update_information(
    session: Session, events: RecordsEvents, *, student_id: str, update: Iterable[str],
    summary: str = "", keywords: Iterable[str] = (), agency_ids: Iterable[str] = (),
    alert_account_ids: Iterable[str] = (), links: Iterable[LinkInput] = (),
    monitored_category_ids: Iterable[str] = (), group_ids: Iterable[str] = (),
) -> Profile:
    """"Edit information": change only the named parts."""
    names = [u.strip() for u in update if u and u.strip()]
    if not names or any(n not in PARTS for n in names):
        raise InvalidArgument(f"Say what to change: {', '.join(PARTS)}.", field="update")
    v, student = _reader(session, student_id, "Editing a student's information")
    school = v.school_id
    done = []
    if "summary" in names:
        text = (summary or "").strip()
        if len(text) > MAX_SUMMARY:
            raise InvalidArgument(f"At most {MAX_SUMMARY} characters, please.", field="summary")
        student.summary = text
        done.append("summary")
    if "keywords" in names:
        words = list(dict.fromkeys(" ".join(k.split()).lower() for k in keywords if k.strip()))
        if len(words) > MAX_KEYWORDS or any(len(w) > 60 for w in words):
            raise InvalidArgument("At most 50 keywords of 60 characters.", field="keywords")
        session.execute(delete(StudentKeyword).where(StudentKeyword.school_id == school,
                                                     StudentKeyword.student_id == student.id))
        for w in words:
            session.add(StudentKeyword(id=new_id(), school_id=school, student_id=student.id,
                                       keyword=w))
        done.append("keywords")
    if "agencies" in names:
        current = list(session.scalars(select(StudentAgency).where(
            StudentAgency.school_id == school, StudentAgency.student_id == student.id)))
        held = {r.agency_id for r in current}
        wanted = list(dict.fromkeys(a.strip() for a in agency_ids if a and a.strip()))
        new = agencies_to_tag(session, school, [a for a in wanted if a not in held])
        for r in current:
            if r.agency_id not in wanted:
                session.delete(r)
        for a in new:
            session.add(StudentAgency(id=new_id(), school_id=school, student_id=student.id,
                                      agency_id=a.id))
        done.append("agencies")
    if "alert_staff" in names:
        wanted = list(dict.fromkeys(a.strip() for a in alert_account_ids if a and a.strip()))
        active = set(session.scalars(select(StaffMember.account_id).where(
            StaffMember.school_id == school, StaffMember.account_id.in_(wanted),
            StaffMember.active.is_(True)))) if wanted else set()
        if any(a not in active for a in wanted):
            raise InvalidArgument("Only active staff of this school can be alerted.",
                                  field="alert_account_ids")
        session.execute(delete(StudentAlertStaff).where(
            StudentAlertStaff.school_id == school, StudentAlertStaff.student_id == student.id))
        for a in wanted:
            session.add(StudentAlertStaff(id=new_id(), school_id=school, student_id=student.id,
                                          account_id=a))
        done.append("alert_staff")
    if "links" in names:
        items = list(links)
        if len(items) > MAX_LINKS:
            raise InvalidArgument(f"At most {MAX_LINKS} links.", field="links")
        # Only the links the caller can see are theirs to replace: a link to a pupil outside
        # their classes was never shown to them and stays as it is.
        for held in session.scalars(select(StudentLink).where(
                StudentLink.school_id == school,
                or_(StudentLink.student_id == student.id,
                    StudentLink.linked_student_id == student.id))):
            other = (held.linked_student_id if held.student_id == student.id
                     else held.student_id)
            if v.sees_student(session, other):
                session.delete(held)
        session.flush()
        seen = set()
        for item in items:
            label = " ".join((item.label or "").split())[:60] or "link"
            if item.student_id == student.id:
                raise InvalidArgument("A student cannot be linked to themselves.", field="links")
            other = visible_student(session, v, item.student_id)
            if other.id in seen:
                continue
            seen.add(other.id)
            session.add(StudentLink(id=new_id(), school_id=school, student_id=student.id,
                                    linked_student_id=other.id, label=label))
        done.append("links")
    if "monitored_categories" in names:
        started, ended = set_monitored(session, events, v, student, monitored_category_ids)
        done.append(f"monitoring +{started} -{ended}")
    if "groups" in names:
        try:
            require_admin(v.claims, "Changing a student's groups")
        except PermissionDenied as exc:
            raise audit.refuse(exc, student_id=student.id) from None
        set_manual_groups(session, student, group_ids)
        done.append("groups")
    student.updated_at = utcnow()
    session.flush()
    audit.record(session, "student.information.updated", student_id=student.id,
                 detail=", ".join(done))
    return get_profile(session, student.id, audited=False)


# ---- contacts ------------------------------------------------------------------------------------


def list_contacts(session: Session, student_id: str) -> list[Contact]:
    v, student = _reader(session, student_id, "A student's contacts")
    rows = list(session.scalars(select(Contact).where(
        Contact.school_id == v.school_id, Contact.student_id == student.id)))
    rows.sort(key=lambda c: (c.source != "mis", c.priority or 99, c.last_name, c.first_name))
    audit.record(session, "student.contacts.viewed", student_id=student.id)
    return rows


def add_contact(session: Session, *, student_id: str, title: str = "", first_name: str = "",
                last_name: str = "", relationship: str = "", parental_responsibility: bool = False,
                priority: int = 0, phones: Iterable[str] = (), email: str = "",
                address: dict | None = None, notes: str = "") -> Contact:
    """"Add contact": someone the MIS does not know (a social worker, say)."""
    v, student = _reader(session, student_id, "Adding a contact")

    def clean(value: str, size: int, fld: str) -> str:
        value = " ".join((value or "").split())
        if len(value) > size:
            raise InvalidArgument(f"At most {size} characters, please.", field=fld)
        return value

    first, last = clean(first_name, 100, "first_name"), clean(last_name, 100, "last_name")
    if not (first or last):
        raise InvalidArgument("A contact needs a name.", field="first_name")
    numbers = [clean(p, 40, "phones") for p in phones if p and p.strip()]
    if len(numbers) > 5:
        raise InvalidArgument("At most five phone numbers.", field="phones")
    email = (email or "").strip()
    if email and (len(email) > 200 or not EMAIL.match(email)):
        raise InvalidArgument("That email address does not look right.", field="email")
    notes = (notes or "").strip()
    if len(notes) > 1000:
        raise InvalidArgument("At most 1000 characters, please.", field="notes")
    addr = {k: clean((address or {}).get(k, ""), 100, "address")
            for k in ("line1", "line2", "town", "county", "postcode")}
    contact = Contact(
        id=new_id(), school_id=v.school_id, student_id=student.id, student_mis_id=None,
        mis_id=None, source="manual", title=clean(title, 20, "title"), first_name=first,
        last_name=last, relationship=clean(relationship, 60, "relationship"),
        parental_responsibility=bool(parental_responsibility),
        priority=max(0, min(int(priority or 0), 99)), phones=numbers, email=email,
        address=addr if any(addr.values()) else None, notes=notes, created_at=utcnow(),
    )
    session.add(contact)
    session.flush()
    audit.record(session, "contact.added", student_id=student.id, detail=f"contact {contact.id}")
    return contact
