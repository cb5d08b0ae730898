"""What the caller may do with categories, from their user group's category permissions.

Category permissions belong to records (DESIGN.md §4). System permissions come in the token;
the access level too: "restricted" callers (no elevated access) may add incidents, see their
own alerts and history, and find a student by name, whatever their group could do elevated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records.models import CategoryPermission
from shared.context import Claims, current_claims
from shared.errors import PermissionDenied


@dataclass(frozen=True)
class CategoryRights:
    """Category ids the caller's group may use, per permission."""

    view_students: frozenset[str]
    view_incidents: frozenset[str]
    add_incidents: frozenset[str]


def category_rights(session: Session, claims: Claims) -> CategoryRights:
    """The group's category permissions; viewing needs elevated access as well."""
    rows = session.execute(
        select(
            CategoryPermission.category_id,
            CategoryPermission.view_students,
            CategoryPermission.view_incidents,
            CategoryPermission.add_incidents,
        ).where(
            CategoryPermission.school_id == claims.school_id,
            CategoryPermission.user_group_id == claims.user_group_id,
        )
    ).all()
    full = claims.full_access
    return CategoryRights(
        view_students=frozenset(r.category_id for r in rows if r.view_students and full),
        view_incidents=frozenset(r.category_id for r in rows if r.view_incidents and full),
        add_incidents=frozenset(r.category_id for r in rows if r.add_incidents),
    )


def require_full_access(claims: Claims, permission: str, what: str) -> None:
    if not claims.full_access:
        raise PermissionDenied(f"{what} needs elevated access.")
    if not claims.has(permission):
        raise PermissionDenied(f"Your user group may not see {what.lower()}.")


@dataclass(frozen=True)
class AccessScope:
    full_access: bool
    viewable_category_ids: list[str]


def get_access_scope(session: Session) -> AccessScope:
    """What the caller may see (reporting filters its read model with this)."""
    claims = current_claims()
    rights = category_rights(session, claims)
    return AccessScope(
        full_access=claims.full_access,
        viewable_category_ids=sorted(rights.view_incidents),
    )
