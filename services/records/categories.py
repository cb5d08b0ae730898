"""Categories incidents are filed under, with what the caller's group may do with each."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records.access import CategoryRights, category_rights
from services.records.models import Category, CategoryPermission
from services.records.ports import RecordsEvents
from shared.context import current_claims
from shared.errors import InvalidArgument


@dataclass(frozen=True)
class CategoryView:
    category: Category
    can_add: bool
    can_view: bool


def view_of(category: Category, rights: CategoryRights) -> CategoryView:
    return CategoryView(
        category=category,
        can_add=category.enabled and category.id in rights.add_incidents,
        can_view=category.id in rights.view_incidents,
    )


def in_tree_order(categories: list[Category]) -> list[Category]:
    """Parents by position then name, each followed by its own sub-categories."""
    def key(c: Category) -> tuple[int, str]:
        return (c.position, c.name.lower())

    ids = {c.id for c in categories}
    children: dict[str, list[Category]] = {}
    roots: list[Category] = []
    for c in categories:
        if c.parent_id and c.parent_id in ids:
            children.setdefault(c.parent_id, []).append(c)
        else:
            roots.append(c)
    out: list[Category] = []
    for root in sorted(roots, key=key):
        out.append(root)
        out.extend(sorted(children.get(root.id, []), key=key))
    return out


def list_categories(session: Session, *, include_disabled: bool = False) -> list[CategoryView]:
    """Every category of the school (any staff member: the add-incident form needs them)."""
    claims = current_claims()
    query = select(Category).where(Category.school_id == claims.school_id)
    if not include_disabled:
        query = query.where(Category.enabled.is_(True))
    rights = category_rights(session, claims)
    return [view_of(c, rights) for c in in_tree_order(list(session.scalars(query)))]


COLOUR_DIGITS = set("0123456789abcdef")


def upsert_category(
    session: Session,
    events: RecordsEvents,
    *,
    school_id: str,
    category_id: str,
    name: str,
    parent_id: str | None = None,
    colour: str = "607d8b",
    enabled: bool = True,
    position: int = 0,
) -> tuple[Category, bool]:
    """Create or update one category; announce it when anything changed.

    Returns the category and whether it changed. (Used by the demo seed now; the admin pages
    of a later issue use it with their own permission checks.)
    """
    name = (name or "").strip()
    colour = (colour or "").strip().lstrip("#").lower()
    if not name or len(name) > 100:
        raise InvalidArgument("A category needs a name of at most 100 characters.", field="name")
    if len(colour) != 6 or not set(colour) <= COLOUR_DIGITS:
        raise InvalidArgument("A colour is six hex digits, like e91e63.", field="colour")
    if parent_id:
        parent = session.get(Category, parent_id)
        if parent is None or parent.school_id != school_id:
            raise InvalidArgument("Unknown parent category.", field="parent_id")
        if parent.parent_id:
            raise InvalidArgument("Sub-categories cannot have sub-categories.", field="parent_id")
    wanted = {
        "name": name,
        "parent_id": parent_id or None,
        "colour": colour,
        "enabled": enabled,
        "position": position,
    }
    category = session.get(Category, category_id)
    if category is None:
        category = Category(id=category_id, school_id=school_id, **wanted)
        session.add(category)
    elif all(getattr(category, k) == v for k, v in wanted.items()):
        return category, False
    else:
        for k, v in wanted.items():
            setattr(category, k, v)
    session.flush()
    events.category_upserted(session, category)
    return category, True


def set_permission(
    session: Session,
    *,
    school_id: str,
    user_group_id: str,
    category_id: str,
    view_students: bool,
    view_incidents: bool,
    add_incidents: bool,
) -> bool:
    """Set one group's rights on one category; returns whether anything changed."""
    row = session.scalars(
        select(CategoryPermission).where(
            CategoryPermission.school_id == school_id,
            CategoryPermission.user_group_id == user_group_id,
            CategoryPermission.category_id == category_id,
        )
    ).first()
    wanted = {
        "view_students": view_students,
        "view_incidents": view_incidents,
        "add_incidents": add_incidents,
    }
    if row is None:
        session.add(CategoryPermission(
            school_id=school_id, user_group_id=user_group_id, category_id=category_id, **wanted
        ))
        return True
    if all(getattr(row, k) == v for k, v in wanted.items()):
        return False
    for k, v in wanted.items():
        setattr(row, k, v)
    return True
