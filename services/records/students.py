"""Finding students.

Elevated callers whose group may list students see the whole card (UPN, date of birth,
monitored categories they may see students for). Anyone who may add incidents, restricted
callers included, may find a student by name to pick one: they get the name and groups only,
and never archived students.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import category_rights
from services.records.models import Monitoring, Student
from shared.context import Claims, current_claims
from shared.errors import NotFound, PermissionDenied

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY = 100


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

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.first_name} {self.last_name}"


def _full_shape(claims: Claims) -> bool:
    if claims.full_access and (
        claims.has("view_student_list") or claims.has("view_student_details")
    ):
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


def full_card(s: Student, monitored: list[str]) -> StudentCard:
    return StudentCard(
        id=s.id, first_name=s.first_name, last_name=s.last_name,
        preferred_name=s.preferred_name, year_group=s.year_group, tutor_group=s.tutor_group,
        restricted=False, upn=s.upn or "", date_of_birth=s.date_of_birth, gender=s.gender,
        archived=s.archived, monitored_category_ids=monitored,
    )


def monitored_categories(
    session: Session, claims: Claims, student_ids: list[str]
) -> dict[str, list[str]]:
    """Open monitoring per student, only for categories the group may see students for."""
    if not student_ids:
        return {}
    visible = category_rights(session, claims).view_students
    rows = session.execute(
        select(Monitoring.student_id, Monitoring.category_id)
        .where(
            Monitoring.school_id == claims.school_id,
            Monitoring.student_id.in_(student_ids),
            Monitoring.ended_at.is_(None),
        )
        .order_by(Monitoring.started_at)
    ).all()
    out: dict[str, list[str]] = {}
    for student_id, category_id in rows:
        if category_id in visible and category_id not in out.get(student_id, []):
            out.setdefault(student_id, []).append(category_id)
    return out


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_students(
    session: Session, *, query: str = "", include_archived: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> list[StudentCard]:
    """Students whose first, last or preferred name contains every word of the query."""
    claims = current_claims()
    full = _full_shape(claims)
    words = (query or "").strip()[:MAX_QUERY].split()[:5]
    if not full and not words:
        return []  # restricted callers pick a student by name; they cannot browse the roll
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    stmt = select(Student).where(Student.school_id == claims.school_id)
    if not (include_archived and full):
        stmt = stmt.where(Student.archived.is_(False))
    for word in words:
        pattern = _like(word)
        stmt = stmt.where(or_(
            func.lower(Student.first_name).like(pattern, escape="\\"),
            func.lower(Student.last_name).like(pattern, escape="\\"),
            func.lower(Student.preferred_name).like(pattern, escape="\\"),
        ))
    stmt = stmt.order_by(
        func.lower(Student.last_name), func.lower(Student.first_name), Student.id
    ).limit(limit)
    found = list(session.scalars(stmt))
    if not full:
        return [restricted_card(s) for s in found]
    monitored = monitored_categories(session, claims, [s.id for s in found])
    return [full_card(s, monitored.get(s.id, [])) for s in found]


def find_student(session: Session, claims: Claims, student_id: str) -> Student | None:
    if not student_id:
        return None
    return session.scalars(
        select(Student).where(Student.school_id == claims.school_id, Student.id == student_id)
    ).first()


def get_student(session: Session, student_id: str) -> StudentCard:
    claims = current_claims()
    full = _full_shape(claims)
    student = find_student(session, claims, student_id)
    if student is None or (student.archived and not full):
        raise audit.refuse(NotFound("No such student."), detail=f"student {student_id[:40]}")
    if not full:
        return restricted_card(student)
    audit.record(session, "student.viewed", student_id=student.id)
    monitored = monitored_categories(session, claims, [student.id])
    return full_card(student, monitored.get(student.id, []))
