"""Groups (tutor groups and year groups) and class restrictions (Admin > Groups, section 22).

Groups come from the MIS import (``mis.py``); an admin may add one by hand. When the school
restricts access by tutor or year groups (``settings.restrict_access_by``), each group says
which staff and which user groups may see its students. A group first seen in an import is
"new" until an admin sets its access: while restrictions are on, admins are told about them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import reads_students, require_admin
from services.records.models import (
    GroupAccess,
    GroupMembership,
    StaffMember,
    Student,
    StudentGroup,
    UserGroupRef,
)
from services.records.settings import settings_of
from shared.context import current_claims
from shared.db import new_id
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

KINDS = ("tutor", "year")


@dataclass(frozen=True)
class GroupView:
    group: StudentGroup
    student_count: int
    access_account_ids: list[str]
    access_user_group_ids: list[str]


def _views(session: Session, school_id: str, groups: list[StudentGroup], *, admin: bool
           ) -> list[GroupView]:
    ids = [g.id for g in groups]
    counts = dict(session.execute(
        select(GroupMembership.group_id, func.count(func.distinct(GroupMembership.student_id)))
        .join(Student, Student.id == GroupMembership.student_id)
        .where(GroupMembership.school_id == school_id, GroupMembership.group_id.in_(ids),
               Student.archived.is_(False))
        .group_by(GroupMembership.group_id)).all()) if ids else {}
    access: dict[str, list[GroupAccess]] = {}
    if admin and ids:
        for row in session.scalars(select(GroupAccess).where(
                GroupAccess.school_id == school_id, GroupAccess.group_id.in_(ids)
        ).order_by(GroupAccess.id)):
            access.setdefault(row.group_id, []).append(row)
    return [GroupView(
        group=g, student_count=counts.get(g.id, 0),
        access_account_ids=[a.account_id for a in access.get(g.id, []) if a.account_id],
        access_user_group_ids=[a.user_group_id for a in access.get(g.id, []) if a.user_group_id],
    ) for g in groups]


def list_groups(session: Session, *, kind: str = "", include_inactive: bool = False
                ) -> tuple[list[GroupView], int]:
    """The school's groups (admins also get who may see each). Returns (groups, how many new
    groups await their access settings while restrictions are on)."""
    claims = current_claims()
    if not reads_students(claims):
        raise PermissionDenied("Class lists need elevated access.")
    kind = (kind or "").strip().lower()
    if kind and kind not in KINDS:
        raise InvalidArgument("A group is a tutor group or a year group.", field="kind")
    query = select(StudentGroup).where(StudentGroup.school_id == claims.school_id)
    if kind:
        query = query.where(StudentGroup.kind == kind)
    if not include_inactive:
        query = query.where(StudentGroup.active.is_(True))
    groups = list(session.scalars(query.order_by(StudentGroup.kind.desc(),
                                                 func.lower(StudentGroup.name))))
    admin = claims.has("administration")
    restricted = settings_of(session, claims.school_id).restrict_access_by
    new = 0
    if admin and restricted:
        new = session.execute(select(func.count()).select_from(StudentGroup).where(
            StudentGroup.school_id == claims.school_id, StudentGroup.is_new.is_(True),
            StudentGroup.active.is_(True), StudentGroup.kind == restricted)).scalar_one()
    return _views(session, claims.school_id, groups, admin=admin), new


def _admin(operation: str) -> str:
    claims = current_claims()
    try:
        require_admin(claims, "Managing groups")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=operation) from None
    return claims.school_id


def create_group(session: Session, *, name: str, kind: str) -> GroupView:
    school_id = _admin("group.create")
    name = " ".join((name or "").split())
    kind = (kind or "").strip().lower()
    if not name or len(name) > 100:
        raise InvalidArgument("A group needs a name of at most 100 characters.", field="name")
    if kind not in KINDS:
        raise InvalidArgument("A group is a tutor group or a year group.", field="kind")
    if session.scalars(select(StudentGroup.id).where(
            StudentGroup.school_id == school_id, StudentGroup.kind == kind,
            func.lower(StudentGroup.name) == name.lower())).first():
        raise Conflict("There is already a group with that name.", field="name")
    group = StudentGroup(id=new_id(), school_id=school_id, mis_id=None, name=name, kind=kind,
                         active=True, is_new=False)
    session.add(group)
    session.flush()
    audit.record(session, "group.created", detail=f"group {group.id} {name!r}")
    return _views(session, school_id, [group], admin=True)[0]


def set_group_access(session: Session, *, group_id: str, account_ids: Iterable[str] = (),
                     user_group_ids: Iterable[str] = ()) -> GroupView:
    """Exactly these staff and user groups may see the group's students."""
    school_id = _admin("group.access")
    group = session.get(StudentGroup, (group_id or "").strip())
    if group is None or group.school_id != school_id:
        raise NotFound("No such group.")
    accounts = list(dict.fromkeys(a.strip() for a in account_ids if a and a.strip()))
    groups = list(dict.fromkeys(g.strip() for g in user_group_ids if g and g.strip()))
    if accounts:
        known = set(session.scalars(select(StaffMember.account_id).where(
            StaffMember.school_id == school_id, StaffMember.account_id.in_(accounts))))
        if any(a not in known for a in accounts):
            raise InvalidArgument("Unknown member of staff.", field="account_ids")
    if groups:
        known = set(session.scalars(select(UserGroupRef.id).where(
            UserGroupRef.school_id == school_id, UserGroupRef.id.in_(groups))))
        if any(g not in known for g in groups):
            raise InvalidArgument("Unknown user group.", field="user_group_ids")
    for row in session.scalars(select(GroupAccess).where(
            GroupAccess.school_id == school_id, GroupAccess.group_id == group.id)):
        session.delete(row)
    session.flush()
    for a in accounts:
        session.add(GroupAccess(id=new_id(), school_id=school_id, group_id=group.id,
                                account_id=a))
    for g in groups:
        session.add(GroupAccess(id=new_id(), school_id=school_id, group_id=group.id,
                                user_group_id=g))
    group.is_new = False
    session.flush()
    audit.record(session, "group.access.updated",
                 detail=f"group {group.id}: {len(accounts)} staff, {len(groups)} user groups")
    return _views(session, school_id, [group], admin=True)[0]
