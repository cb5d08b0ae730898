"""Finding students, the card each caller may see, Admin > Add Student, unlinking from the MIS.

Elevated callers whose group may list students see the whole card (UPN, date of birth, MIS
details, monitored categories they may see students for), only for students their class
restrictions let them see. Anyone who may add incidents, restricted callers included, may
find a student by name to pick one: they get the name and groups only, never archived
students, and cannot browse (no empty query, no filters).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.orm import Session
from stdnum.gb import upn as upn_check

from services.records import audit
from services.records.access import Viewer, reads_students, viewer
from services.records.models import (
    Category,
    GroupMembership,
    Monitoring,
    Student,
    StudentGroup,
    StudentKeyword,
)
from shared.context import Claims, current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_REGISTER = 1000
MAX_QUERY = 100
GENDERS = ("", "F", "M", "X")


@dataclass(frozen=True)
class GroupRef:
    id: str
    name: str
    kind: str


@dataclass(frozen=True)
class StudentCard:
    """A student as this caller may see them (restricted fields left empty)."""

    id: str
    first_name: str
    last_name: str
    preferred_name: str
    year_group: str
    tutor_group: str
    restricted: bool
    upn: str = ""
    date_of_birth: dt.date | None = None
    gender: str = ""
    archived: bool = False
    monitored_category_ids: list[str] = field(default_factory=list)
    details: Student | None = None  # the whole row, for elevated callers
    groups: list[GroupRef] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.first_name} {self.last_name}"


CARD_COLUMNS = (
    Student.id, Student.upn, Student.first_name, Student.last_name, Student.preferred_name,
    Student.year_group, Student.tutor_group, Student.date_of_birth, Student.gender,
    Student.archived,
)


def _full_shape(claims: Claims) -> bool:
    if reads_students(claims):
        return True
    if claims.has("add_incidents"):
        return False
    raise PermissionDenied("Your user group may not look up students.")


def restricted_card(s: Student) -> StudentCard:
    return StudentCard(
        id=s.id, first_name=s.first_name, last_name=s.last_name,
        preferred_name=s.preferred_name, year_group=s.year_group, tutor_group=s.tutor_group,
        restricted=True,
    )


def full_card(s: Student, monitored: list[str], groups: list[GroupRef] | None = None
              ) -> StudentCard:
    return StudentCard(
        id=s.id, first_name=s.first_name, last_name=s.last_name,
        preferred_name=s.preferred_name, year_group=s.year_group, tutor_group=s.tutor_group,
        restricted=False, upn=s.upn or "", date_of_birth=s.date_of_birth, gender=s.gender,
        archived=s.archived, monitored_category_ids=monitored, details=s,
        groups=groups or [],
    )


_MONITORING = Monitoring.__table__.c
# Open monitoring of some students (built once: plain columns, bound parameters).
_OPEN_MONITORING = (
    select(_MONITORING.student_id, _MONITORING.category_id)
    .where(_MONITORING.school_id == bindparam("school"),
           _MONITORING.student_id.in_(bindparam("students", expanding=True)),
           _MONITORING.ended_at.is_(None))
    .order_by(_MONITORING.started_at, _MONITORING.id)
)


def monitored_categories(
    session: Session, claims: Claims, student_ids: list[str], *,
    visible: frozenset[str] | None = None,
) -> dict[str, list[str]]:
    """Open monitoring per student, only for categories the group may see students for."""
    if not student_ids:
        return {}
    if visible is None:
        from services.records.access import category_rights

        visible = category_rights(session, claims).view_students
    if not visible:
        return {}
    session.flush()  # as an ORM query would (autoflush)
    rows = session.connection().execute(_OPEN_MONITORING, {
        "school": claims.school_id, "students": list(student_ids)}).all()
    out: dict[str, list[str]] = {}
    for student_id, category_id in rows:
        if category_id in visible and category_id not in out.get(student_id, []):
            out.setdefault(student_id, []).append(category_id)
    return out


def groups_of(session: Session, school_id: str, student_ids: list[str]
              ) -> dict[str, list[GroupRef]]:
    if not student_ids:
        return {}
    rows = session.execute(
        select(GroupMembership.student_id, StudentGroup.id, StudentGroup.name, StudentGroup.kind)
        .join(StudentGroup, StudentGroup.id == GroupMembership.group_id)
        .where(GroupMembership.school_id == school_id,
               GroupMembership.student_id.in_(student_ids),
               StudentGroup.active.is_(True))
        .order_by(StudentGroup.kind.desc(), StudentGroup.name)
    ).all()
    out: dict[str, list[GroupRef]] = {}
    for student_id, gid, name, kind in rows:
        out.setdefault(student_id, []).append(GroupRef(id=gid, name=name, kind=kind))
    return out


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _category_and_subs(session: Session, school_id: str, category_id: str) -> list[str]:
    rows = session.scalars(select(Category.id).where(
        Category.school_id == school_id,
        or_(Category.id == category_id, Category.parent_id == category_id),
    )).all()
    return list(rows)


def search_students(
    session: Session, *, query: str = "", include_archived: bool = False,
    limit: int = DEFAULT_LIMIT, group_id: str = "", category_id: str = "",
    monitored_only: bool = False, keyword: str = "",
) -> list[StudentCard]:
    """The dashboard's student searches.

    Any part of a first, last or preferred name (every word must match); optionally a class
    register (``group_id``), students monitored under a category (``category_id``, with its
    sub-categories) or under any category the caller may see students for
    (``monitored_only``), or with a keyword. Archived students only with ``include_archived``.
    """
    claims = current_claims()
    full = _full_shape(claims)
    words = (query or "").strip()[:MAX_QUERY].split()[:5]
    group_id, category_id = (group_id or "").strip(), (category_id or "").strip()
    keyword = (keyword or "").strip().lower()[:60]
    filtered = bool(group_id or category_id or monitored_only or keyword)
    if not full:
        if filtered:
            raise PermissionDenied("Class lists and monitored students need elevated access.")
        if not words:
            return []  # restricted callers pick a student by name; they cannot browse the roll
    cap = MAX_REGISTER if filtered else MAX_LIMIT
    limit = max(1, min(limit or DEFAULT_LIMIT, cap))
    # Plain columns, not student objects: the list needs the card only.
    stmt = select(*CARD_COLUMNS).where(Student.school_id == claims.school_id)
    if not (include_archived and full):
        stmt = stmt.where(Student.archived.is_(False))
    for word in words:
        pattern = _like(word)
        stmt = stmt.where(or_(
            func.lower(Student.first_name).like(pattern, escape="\\"),
            func.lower(Student.last_name).like(pattern, escape="\\"),
            func.lower(Student.preferred_name).like(pattern, escape="\\"),
            func.lower(Student.preferred_last_name).like(pattern, escape="\\"),
        ))
    v: Viewer | None = None
    if full:
        v = viewer(session, claims)
        clause = v.student_clause(Student.id)
        if clause is not None:
            stmt = stmt.where(clause)
        if group_id:
            group = session.scalars(select(StudentGroup).where(
                StudentGroup.school_id == claims.school_id, StudentGroup.id == group_id)).first()
            if group is None:
                raise NotFound("No such group.")
            stmt = stmt.where(exists().where(
                GroupMembership.school_id == claims.school_id,
                GroupMembership.group_id == group.id,
                GroupMembership.student_id == Student.id,
            ))
        if category_id:
            ids = _category_and_subs(session, claims.school_id, category_id)
            if not ids:
                raise NotFound("No such category.")
            if category_id not in v.rights.view_students:
                raise audit.refuse(PermissionDenied(
                    "Your user group may not see students monitored for that category."))
            ids = [i for i in ids if i in v.rights.view_students]
            stmt = stmt.where(_monitored_under(claims.school_id, ids))
        if monitored_only:
            stmt = stmt.where(_monitored_under(claims.school_id, sorted(v.rights.view_students)))
        if keyword:
            stmt = stmt.where(exists().where(
                StudentKeyword.school_id == claims.school_id,
                StudentKeyword.student_id == Student.id,
                StudentKeyword.keyword == keyword,
            ))
    stmt = stmt.order_by(
        func.lower(Student.last_name), func.lower(Student.first_name), Student.id
    ).limit(limit)
    found = session.execute(stmt).all()
    if not full:
        return [restricted_card(s) for s in found]
    assert v is not None
    if filtered:  # a class register or a monitored list is a view of those students
        audit.record(session, "students.listed", detail=", ".join(
            f"{k} {val}" for k, val in (("group", group_id), ("category", category_id),
                                        ("monitored", monitored_only), ("keyword", keyword))
            if val) + f": {len(found)} students")
    monitored = monitored_categories(session, claims, [s.id for s in found],
                                     visible=v.rights.view_students)
    return [StudentCard(
        id=s.id, first_name=s.first_name, last_name=s.last_name,
        preferred_name=s.preferred_name, year_group=s.year_group, tutor_group=s.tutor_group,
        restricted=False, upn=s.upn or "", date_of_birth=s.date_of_birth, gender=s.gender,
        archived=s.archived, monitored_category_ids=monitored.get(s.id, []),
    ) for s in found]


def _monitored_under(school_id: str, category_ids: list[str]):
    return exists().where(
        Monitoring.school_id == school_id,
        Monitoring.student_id == Student.id,
        Monitoring.ended_at.is_(None),
        Monitoring.category_id.in_(category_ids),
    )


def find_student(session: Session, claims: Claims, student_id: str) -> Student | None:
    if not student_id:
        return None
    return session.scalars(
        select(Student).where(Student.school_id == claims.school_id, Student.id == student_id)
    ).first()


def visible_student(session: Session, v: Viewer, student_id: str) -> Student:
    """A student of the caller's school the caller's class restrictions let them see.

    Another school's (or an unknown) student is NOT_FOUND; a student of this school outside
    the caller's classes is PERMISSION_DENIED. Both refusals are audited.
    """
    student_id = (student_id or "").strip()
    student = find_student(session, v.claims, student_id)
    if student is None:
        raise audit.refuse(NotFound("No such student."), detail=f"student {student_id[:40]!r}")
    if not v.sees_student(session, student.id):
        raise audit.refuse(
            PermissionDenied("Your class permissions do not include this student."),
            student_id=student.id,
        )
    return student


def pickable_student(session: Session, v: Viewer, student_id: str, *, what: str = "student"
                     ) -> Student:
    """A student the caller may add an incident about (or link to one).

    Elevated readers: any student they may see (archived ones too). Others (restricted
    access): any student of the school on roll, as the add-incident form lets them pick.
    """
    student_id = (student_id or "").strip()
    student = find_student(session, v.claims, student_id)
    if student is None:
        raise audit.refuse(NotFound(f"No such {what}."), detail=f"student {student_id[:40]!r}")
    if reads_students(v.claims):
        if not v.sees_student(session, student.id):
            raise audit.refuse(PermissionDenied(
                f"Your class permissions do not include this {what}."), student_id=student.id)
    elif student.archived:
        raise audit.refuse(NotFound(f"No such {what}."), detail=f"student {student_id[:40]!r}")
    return student


def get_student(session: Session, student_id: str) -> StudentCard:
    claims = current_claims()
    full = _full_shape(claims)
    if not full:
        student = find_student(session, claims, (student_id or "").strip())
        if student is None or student.archived:
            raise audit.refuse(NotFound("No such student."), detail=f"student {student_id[:40]}")
        return restricted_card(student)
    v = viewer(session, claims)
    student = visible_student(session, v, student_id)
    audit.record(session, "student.viewed", student_id=student.id)
    monitored = monitored_categories(session, claims, [student.id],
                                     visible=v.rights.view_students)
    groups = groups_of(session, claims.school_id, [student.id])
    return full_card(student, monitored.get(student.id, []), groups.get(student.id, []))


# ---- Admin > Add Student, unlink from MIS ------------------------------------------------------


def _name(value: str, field_name: str, *, required: bool) -> str:
    value = " ".join((value or "").split())
    if required and not value:
        raise InvalidArgument("A student needs a first and a last name.", field=field_name)
    if len(value) > 100:
        raise InvalidArgument("Names are at most 100 characters.", field=field_name)
    return value


def normalise_upn(value: str) -> str:
    value = (value or "").strip().upper().replace(" ", "")
    if value and not upn_check.is_valid(value):
        raise InvalidArgument("That is not a valid UPN.", field="upn")
    return value


def add_student(
    session: Session, *, first_name: str, last_name: str, preferred_name: str = "",
    date_of_birth: str = "", gender: str = "", upn: str = "", year_group: str = "",
    tutor_group: str = "", group_ids: list[str] | tuple[str, ...] = (), request_id: str = "",
) -> StudentCard:
    """Admin: add a pupil who is not in the MIS (imports never change them)."""
    from services.records.access import require_admin

    claims = current_claims()
    require_admin(claims, "Adding a student")
    request_id = (request_id or "").strip()[:100]
    if request_id:
        existing = session.scalars(select(Student).where(
            Student.school_id == claims.school_id, Student.request_id == request_id)).first()
        if existing is not None:
            return full_card(existing, [], groups_of(session, claims.school_id,
                                                     [existing.id]).get(existing.id, []))
    first = _name(first_name, "first_name", required=True)
    last = _name(last_name, "last_name", required=True)
    preferred = _name(preferred_name, "preferred_name", required=False)
    dob = None
    if (date_of_birth or "").strip():
        try:
            dob = dt.date.fromisoformat(date_of_birth.strip())
        except ValueError:
            raise InvalidArgument("Dates look like 2012-05-17.", field="date_of_birth") from None
        if dob > utcnow().date() or dob.year < 1990:
            raise InvalidArgument("That date of birth is not plausible.", field="date_of_birth")
    gender = (gender or "").strip().upper()[:1]
    if gender not in GENDERS:
        raise InvalidArgument("Gender is F, M or X.", field="gender")
    number = normalise_upn(upn)
    if number and session.scalars(select(Student.id).where(
            Student.school_id == claims.school_id, Student.upn == number)).first():
        raise Conflict("A student with that UPN is already on the roll.", field="upn")
    groups = _groups_by_id(session, claims.school_id, group_ids)
    now = utcnow()
    student = Student(
        id=new_id(), school_id=claims.school_id, upn=number or None, mis_id=None,
        first_name=first, last_name=last, preferred_name=preferred, date_of_birth=dob,
        gender=gender, year_group=" ".join((year_group or "").split())[:40],
        tutor_group=" ".join((tutor_group or "").split())[:40], archived=False,
        source="manual", mis_linked=False, created_at=now, updated_at=now,
        request_id=request_id or None,
    )
    session.add(student)
    session.flush()
    for g in groups:
        session.add(GroupMembership(id=new_id(), school_id=claims.school_id, group_id=g.id,
                                    student_id=student.id, source="manual"))
    audit.record(session, "student.added", student_id=student.id)
    return full_card(student, [], [GroupRef(g.id, g.name, g.kind) for g in groups])


def _groups_by_id(session: Session, school_id: str, group_ids) -> list[StudentGroup]:
    ids = list(dict.fromkeys(i.strip() for i in group_ids if i and i.strip()))
    if not ids:
        return []
    found = {g.id: g for g in session.scalars(select(StudentGroup).where(
        StudentGroup.school_id == school_id, StudentGroup.id.in_(ids)))}
    if any(i not in found for i in ids):
        raise InvalidArgument("Unknown group.", field="group_ids")
    return [found[i] for i in ids]


def set_manual_groups(session: Session, student: Student, group_ids) -> None:
    """The groups of a student added by hand (MIS students get theirs from the import)."""
    groups = _groups_by_id(session, student.school_id, group_ids)
    if student.mis_linked:
        raise InvalidArgument("This student's groups come from the MIS.", field="group_ids")
    current = list(session.scalars(select(GroupMembership).where(
        GroupMembership.school_id == student.school_id,
        GroupMembership.student_id == student.id)))
    wanted = {g.id for g in groups}
    for m in current:
        if m.group_id not in wanted:
            session.delete(m)
    have = {m.group_id for m in current}
    for g in groups:
        if g.id not in have:
            session.add(GroupMembership(id=new_id(), school_id=student.school_id, group_id=g.id,
                                        student_id=student.id, source="manual"))


def unlink_from_mis(session: Session, student_id: str) -> StudentCard:
    """Admin: the MIS import stops changing this student (their data stays as it is)."""
    from services.records.access import require_admin

    claims = current_claims()
    try:
        require_admin(claims, "Unlinking a student from the MIS")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=f"student {student_id[:40]}") from None
    v = viewer(session, claims)
    student = visible_student(session, v, student_id)
    if student.mis_linked:
        student.mis_linked = False
        student.updated_at = utcnow()
        audit.record(session, "student.unlinked_from_mis", student_id=student.id)
    monitored = monitored_categories(session, claims, [student.id],
                                     visible=v.rights.view_students)
    return full_card(student, monitored.get(student.id, []),
                     groups_of(session, claims.school_id, [student.id]).get(student.id, []))
