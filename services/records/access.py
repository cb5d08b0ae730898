"""What the caller may see and do: category permissions, class restrictions, edit rights.

Category permissions belong to records (DESIGN.md §4). System permissions come in the token;
the access level too: "restricted" callers (no elevated access) may add incidents and actions,
see their own alerts and history, and find a student by name, whatever their group could do
elevated (section 30).

Class restrictions (Admin > Groups, section 22): when the school restricts access by tutor or
year groups, an elevated caller sees a student only if one of the student's groups of that
kind lets them in (by their account or their user group). Students without such a group, and
students without any group when nothing is restricted, need `view_students_without_group`
(FAQ: typically archived pupils).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from services.records.models import (
    CategoryPermission,
    GroupAccess,
    GroupMembership,
    SchoolSettings,
    StaffMember,
    StudentGroup,
    UserGroupRef,
)
from services.records.settings import settings_of
from shared.context import Claims, current_claims
from shared.errors import PermissionDenied

EDIT_PERMISSION = "edit_incidents"
ADMIN_PERMISSION = "administration"


@dataclass(frozen=True)
class CategoryRights:
    """Category ids the caller's group may use, per permission."""

    view_students: frozenset[str]
    view_incidents: frozenset[str]
    add_incidents: frozenset[str]


def group_category_rights(
    session: Session, school_id: str, user_group_id: str, *, full: bool
) -> CategoryRights:
    """One user group's category permissions; viewing needs elevated access (``full``)."""
    rows = session.execute(
        select(
            CategoryPermission.category_id,
            CategoryPermission.view_students,
            CategoryPermission.view_incidents,
            CategoryPermission.add_incidents,
        ).where(
            CategoryPermission.school_id == school_id,
            CategoryPermission.user_group_id == user_group_id,
        )
    ).all()
    return CategoryRights(
        view_students=frozenset(r.category_id for r in rows if r.view_students and full),
        view_incidents=frozenset(r.category_id for r in rows if r.view_incidents and full),
        add_incidents=frozenset(r.category_id for r in rows if r.add_incidents),
    )


def category_rights(session: Session, claims: Claims) -> CategoryRights:
    """The caller's group's category permissions; viewing needs elevated access as well."""
    return group_category_rights(
        session, claims.school_id, claims.user_group_id, full=claims.full_access
    )


def require_full_access(claims: Claims, permission: str, what: str) -> None:
    if not claims.full_access:
        raise PermissionDenied(f"{what} needs elevated access.")
    if not claims.has(permission):
        raise PermissionDenied(f"Your user group may not see {what.lower()}.")


def can_edit_records(claims: Claims) -> bool:
    """Edit, delete, restore, merge and split incidents and actions (section 7): elevated,
    may see student details, and the group has the "edit incidents" permission. Administration
    alone does not give it: running the school's settings is not rewriting its records."""
    return (
        claims.full_access
        and claims.has("view_student_details")
        and claims.has(EDIT_PERMISSION)
    )


def require_edit(claims: Claims) -> None:
    if not claims.full_access:
        raise PermissionDenied("Editing incidents needs elevated access.")
    if not can_edit_records(claims):
        raise PermissionDenied("Your user group may not edit or delete incidents and actions.")


def require_admin(claims: Claims, what: str = "This") -> None:
    if not claims.full_access:
        raise PermissionDenied(f"{what} needs elevated access.")
    if not claims.has(ADMIN_PERMISSION):
        raise PermissionDenied(f"{what} is for administrators.")


def reads_students(claims: Claims) -> bool:
    """May see whole student cards (elevated, with the student list or details permission)."""
    return claims.full_access and (
        claims.has("view_student_list") or claims.has("view_student_details")
    )


# ---- class restrictions -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassScope:
    """Which students the caller may see by their groups."""

    kind: str  # "" when the school does not restrict access by class
    group_ids: frozenset[str]  # groups of that kind that let the caller in
    without_group: bool  # may see students with no group (of that kind)

    @property
    def restricted(self) -> bool:
        return bool(self.kind)


def class_scope_for(
    session: Session, *, school_id: str, account_id: str, user_group_id: str,
    permissions: frozenset[str] | set[str] | list[str], kind: str | None = None,
) -> ClassScope:
    if kind is None:
        kind = settings_of(session, school_id).restrict_access_by
    without = "view_students_without_group" in set(permissions)
    if not kind:
        return ClassScope(kind="", group_ids=frozenset(), without_group=without)
    allowed = session.scalars(
        select(GroupAccess.group_id)
        .join(StudentGroup, StudentGroup.id == GroupAccess.group_id)
        .where(
            GroupAccess.school_id == school_id,
            StudentGroup.kind == kind,
            or_(GroupAccess.account_id == account_id,
                and_(GroupAccess.user_group_id == user_group_id,
                     GroupAccess.user_group_id.is_not(None))),
        )
    ).all()
    return ClassScope(kind=kind, group_ids=frozenset(allowed), without_group=without)


def class_scope(session: Session, claims: Claims) -> ClassScope:
    return class_scope_for(session, school_id=claims.school_id, account_id=claims.account_id,
                           user_group_id=claims.user_group_id, permissions=claims.permissions)


def _in_groups(school_id: str, student_col, *, kind: str = "", group_ids=None):
    query = (
        select(GroupMembership.id)
        .join(StudentGroup, StudentGroup.id == GroupMembership.group_id)
        .where(
            GroupMembership.school_id == school_id,
            GroupMembership.student_id == student_col,
            StudentGroup.active.is_(True),
        )
    )
    if kind:
        query = query.where(StudentGroup.kind == kind)
    if group_ids is not None:
        query = query.where(StudentGroup.id.in_(sorted(group_ids)))
    return exists(query)


def student_visible_clause(scope: ClassScope, school_id: str, student_col):
    """A SQL condition on ``student_col`` (a students.id column), or None when all are seen."""
    if not scope.restricted:
        return None if scope.without_group else _in_groups(school_id, student_col)
    allowed = (
        _in_groups(school_id, student_col, kind=scope.kind, group_ids=scope.group_ids)
        if scope.group_ids else false()
    )
    if scope.without_group:
        return or_(allowed, not_(_in_groups(school_id, student_col, kind=scope.kind)))
    return allowed


def student_visible(session: Session, scope: ClassScope, school_id: str, student_id: str) -> bool:
    clause = student_visible_clause(scope, school_id, student_id)
    if clause is None:
        return True
    return bool(session.execute(select(clause)).scalar())


# ---- the caller, once per request ----------------------------------------------------------------


@dataclass
class Viewer:
    """The caller with their category rights and class scope (computed once per request)."""

    claims: Claims
    rights: CategoryRights
    scope: ClassScope

    @property
    def school_id(self) -> str:
        return self.claims.school_id

    @property
    def account_id(self) -> str:
        return self.claims.account_id

    @property
    def full_access(self) -> bool:
        return self.claims.full_access

    @property
    def reads_students(self) -> bool:
        return reads_students(self.claims)

    @property
    def reads_details(self) -> bool:
        return self.claims.full_access and self.claims.has("view_student_details")

    @property
    def can_edit(self) -> bool:
        return can_edit_records(self.claims)

    def student_clause(self, student_col):
        return student_visible_clause(self.scope, self.school_id, student_col)

    def sees_student(self, session: Session, student_id: str) -> bool:
        return student_visible(session, self.scope, self.school_id, student_id)


_PERMS = CategoryPermission.__table__.c
_SETTINGS = SchoolSettings.__table__.c
# The caller's group's category permissions, each row carrying the school's class-restriction
# kind: built once (plain columns, bound parameters), so a request pays only for the query.
_VIEWER_ROWS = select(
    _PERMS.category_id, _PERMS.view_students, _PERMS.view_incidents, _PERMS.add_incidents,
    select(_SETTINGS.restrict_access_by)
    .where(_SETTINGS.id == bindparam("school"), _SETTINGS.school_id == bindparam("school"))
    .scalar_subquery().label("restrict_access_by"),
).where(_PERMS.school_id == bindparam("school"), _PERMS.user_group_id == bindparam("group"))


def viewer(session: Session, claims: Claims | None = None) -> Viewer:
    """The caller's rights and class scope: one query for both in the usual case (the
    group's category permissions, each row carrying the school's class-restriction kind)."""
    claims = claims or current_claims()
    session.flush()  # as an ORM query would (autoflush); nothing to do in a read
    rows = session.connection().execute(
        _VIEWER_ROWS, {"school": claims.school_id, "group": claims.user_group_id}).all()
    full = claims.full_access
    rights = CategoryRights(
        view_students=frozenset(r.category_id for r in rows if r.view_students and full),
        view_incidents=frozenset(r.category_id for r in rows if r.view_incidents and full),
        add_incidents=frozenset(r.category_id for r in rows if r.add_incidents),
    )
    kind = (rows[0].restrict_access_by or "") if rows else None
    scope = class_scope_for(session, school_id=claims.school_id, account_id=claims.account_id,
                            user_group_id=claims.user_group_id, permissions=claims.permissions,
                            kind=kind)
    return Viewer(claims=claims, rights=rights, scope=scope)


# ---- could a colleague normally view it? --------------------------------------------------------


@dataclass(frozen=True)
class Colleague:
    account_id: str
    name: str
    active: bool
    user_group_id: str
    key_holder: bool
    permissions: frozenset[str]


def colleagues(session: Session, school_id: str, account_ids: list[str]) -> dict[str, Colleague]:
    if not account_ids:
        return {}
    rows = session.execute(
        select(StaffMember, UserGroupRef)
        .outerjoin(UserGroupRef, and_(UserGroupRef.id == StaffMember.user_group_id,
                                      UserGroupRef.school_id == StaffMember.school_id))
        .where(StaffMember.school_id == school_id, StaffMember.account_id.in_(account_ids))
    ).all()
    out = {}
    for staff, group in rows:
        out[staff.account_id] = Colleague(
            account_id=staff.account_id, name=staff.display_name, active=staff.active,
            user_group_id=staff.user_group_id,
            key_holder=bool(group.key_holder if group is not None else staff.key_holder),
            permissions=frozenset((group.permissions or []) if group is not None else []),
        )
    return out


def colleague_could_view(
    session: Session, school_id: str, colleague: Colleague, *, student_id: str,
    category_ids: list[str],
) -> bool:
    """Would this colleague, with elevated access, see the incident without an alert?"""
    if not (colleague.active and colleague.key_holder
            and "view_student_details" in colleague.permissions):
        return False
    rights = group_category_rights(session, school_id, colleague.user_group_id, full=True)
    if not set(category_ids) & rights.view_incidents:
        return False
    scope = class_scope_for(session, school_id=school_id, account_id=colleague.account_id,
                            user_group_id=colleague.user_group_id,
                            permissions=colleague.permissions)
    return student_visible(session, scope, school_id, student_id)


# ---- the access scope reporting asks for --------------------------------------------------------


@dataclass(frozen=True)
class AccessScope:
    full_access: bool
    viewable_category_ids: list[str]
    view_student_category_ids: list[str]
    restrict_access_by: str
    visible_group_ids: list[str]
    view_students_without_group: bool
    can_edit_incidents: bool


def get_access_scope(session: Session) -> AccessScope:
    """What the caller may see (reporting filters its read model with this)."""
    v = viewer(session)
    return AccessScope(
        full_access=v.full_access,
        viewable_category_ids=sorted(v.rights.view_incidents),
        view_student_category_ids=sorted(v.rights.view_students),
        restrict_access_by=v.scope.kind,
        visible_group_ids=sorted(v.scope.group_ids),
        view_students_without_group=v.scope.without_group,
        can_edit_incidents=v.can_edit,
    )
