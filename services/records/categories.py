"""Categories incidents are filed under, what each user group may do with them, and
Admin > Categories (section 17): add, edit (a rename applies to history), per-group
permissions, delete when unused (else disable), enable, merge (irreversible).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import CategoryRights, category_rights, require_admin
from services.records.models import (
    AutoAlertRule,
    Category,
    CategoryPermission,
    IncidentCategory,
    Monitoring,
    UserGroupRef,
)
from services.records.ports import RecordsEvents
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import Conflict, InvalidArgument, NotFound, PermissionDenied

# A category's columns as the book reads them (a named tuple: no ORM object per category).
CategoryRow = namedtuple("CategoryRow", "id school_id name parent_id colour enabled position")
_ROW_COLUMNS = (Category.id, Category.school_id, Category.name, Category.parent_id,
                Category.colour, Category.enabled, Category.position)


@dataclass(frozen=True)
class CategoryView:
    category: Category | CategoryRow
    can_add: bool
    can_view: bool
    parent_name: str = ""


def view_of(category: Category | CategoryRow, rights: CategoryRights,
            parent_name: str = "") -> CategoryView:
    return CategoryView(
        category=category,
        can_add=category.enabled and category.id in rights.add_incidents,
        can_view=category.id in rights.view_incidents,
        parent_name=parent_name,
    )


class CategoryBook:
    """Every category of one school (plain columns), loaded once per request."""

    def __init__(self, session: Session, school_id: str, rights: CategoryRights) -> None:
        self.rights = rights
        self._views: dict[str, CategoryView] = {}
        self.by_id: dict[str, CategoryRow] = {
            row.id: row for row in map(CategoryRow._make, session.execute(
                select(*_ROW_COLUMNS).where(Category.school_id == school_id)))
        }

    def view(self, category_id: str) -> CategoryView | None:
        view = self._views.get(category_id)
        if view is None:
            c = self.by_id.get(category_id)
            if c is None:
                return None
            parent = self.by_id.get(c.parent_id) if c.parent_id else None
            view = self._views[category_id] = view_of(c, self.rights,
                                                      parent.name if parent else "")
        return view

    def views(self, category_ids: Iterable[str]) -> list[CategoryView]:
        out = []
        for cid in category_ids:
            v = self.view(cid)
            if v is not None:
                out.append(v)
        return out


def in_tree_order(categories: list) -> list:
    """Parents by position then name, each followed by its own sub-categories (Category
    objects or CategoryRows)."""
    def key(c) -> tuple[int, str]:
        return (c.position, c.name.lower())

    ids = {c.id for c in categories}
    children: dict[str, list] = {}
    roots: list = []
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
    book = CategoryBook(session, claims.school_id, category_rights(session, claims))
    cats = [c for c in book.by_id.values() if include_disabled or c.enabled]
    return [book.view(c.id) for c in in_tree_order(cats)]  # type: ignore[misc]


COLOUR_DIGITS = set("0123456789abcdef")


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InvalidArgument("A category needs a name of at most 100 characters.", field="name")
    return name


def _clean_colour(colour: str) -> str:
    colour = (colour or "").strip().lstrip("#").lower()
    if len(colour) != 6 or not set(colour) <= COLOUR_DIGITS:
        raise InvalidArgument("A colour is six hex digits, like e91e63.", field="colour")
    return colour


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

    Returns the category and whether it changed. (The demo seed and the admin functions
    below use it; the latter check permissions first.)
    """
    name = _clean_name(name)
    colour = _clean_colour(colour)
    if parent_id:
        parent = session.get(Category, parent_id)
        if parent is None or parent.school_id != school_id:
            raise InvalidArgument("Unknown parent category.", field="parent_id")
        if parent.parent_id:
            raise InvalidArgument("Sub-categories cannot have sub-categories.", field="parent_id")
        if parent.id == category_id:
            raise InvalidArgument("A category cannot be its own parent.", field="parent_id")
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


# ---- Admin > Categories --------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionInput:
    user_group_id: str
    category_id: str = ""
    view_students: bool = False
    view_incidents: bool = False
    add_incidents: bool = False


@dataclass(frozen=True)
class PermissionLine:
    permission: CategoryPermission
    user_group_name: str


def _admin(operation: str) -> str:
    claims = current_claims()
    try:
        require_admin(claims, "Managing categories")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=operation) from None
    return claims.school_id


def _category(session: Session, school_id: str, category_id: str) -> Category:
    category = session.get(Category, (category_id or "").strip())
    if category is None or category.school_id != school_id:
        raise NotFound("No such category.")
    return category


def _sibling_named(session: Session, school_id: str, parent_id: str | None, name: str,
                   exclude: str = "") -> bool:
    query = select(Category.id).where(
        Category.school_id == school_id, func.lower(Category.name) == name.lower(),
        Category.id != exclude,
    )
    query = query.where(Category.parent_id == parent_id if parent_id
                        else Category.parent_id.is_(None))
    return session.scalars(query).first() is not None


def _apply_permissions(session: Session, school_id: str, category: Category,
                       permissions: Iterable[PermissionInput]) -> int:
    entries = list(permissions)
    groups = set(session.scalars(select(UserGroupRef.id).where(
        UserGroupRef.school_id == school_id)))
    changed = 0
    for p in entries:
        if p.user_group_id not in groups:
            raise InvalidArgument("Unknown user group.", field="permissions")
        changed += set_permission(
            session, school_id=school_id, user_group_id=p.user_group_id,
            category_id=category.id, view_students=p.view_students,
            view_incidents=p.view_incidents, add_incidents=p.add_incidents,
        )
    return changed


def create_category(
    session: Session, events: RecordsEvents, *, name: str, colour: str = "607d8b",
    parent_id: str = "", permissions: Iterable[PermissionInput] = (),
) -> CategoryView:
    school_id = _admin("category.create")
    name = _clean_name(name)
    parent_id = (parent_id or "").strip() or None
    if _sibling_named(session, school_id, parent_id, name):
        raise Conflict("There is already a category with that name here.", field="name")
    position = session.execute(select(func.coalesce(func.max(Category.position), 0)).where(
        Category.school_id == school_id,
        Category.parent_id == parent_id if parent_id else Category.parent_id.is_(None),
    )).scalar_one() + 1
    category, _ = upsert_category(session, events, school_id=school_id, category_id=new_id(),
                                  name=name, parent_id=parent_id, colour=colour,
                                  position=position)
    _apply_permissions(session, school_id, category, permissions)
    audit.record(session, "category.created", detail=f"category {category.id} {name!r}")
    claims = current_claims()
    session.flush()
    return view_of(category, category_rights(session, claims))


def update_category(
    session: Session, events: RecordsEvents, *, category_id: str, update: Iterable[str],
    name: str = "", colour: str = "", permissions: Iterable[PermissionInput] = (),
    position: int = 0,
) -> CategoryView:
    """Rename (applies to every past incident and monitoring: they refer to it by id),
    recolour, reorder, or set the user groups' permissions."""
    school_id = _admin("category.update")
    names = {u.strip() for u in update if u.strip()}
    allowed = {"name", "colour", "permissions", "position"}
    if not names or names - allowed:
        raise InvalidArgument("Say what to change: name, colour, permissions, position.",
                              field="update")
    category = _category(session, school_id, category_id)
    new_name = _clean_name(name) if "name" in names else category.name
    if "name" in names and _sibling_named(session, school_id, category.parent_id, new_name,
                                          exclude=category.id):
        raise Conflict("There is already a category with that name here.", field="name")
    before = category.name
    upsert_category(
        session, events, school_id=school_id, category_id=category.id, name=new_name,
        parent_id=category.parent_id,
        colour=_clean_colour(colour) if "colour" in names else category.colour,
        enabled=category.enabled,
        position=int(position) if "position" in names else category.position,
    )
    changed = 0
    if "permissions" in names:
        changed = _apply_permissions(session, school_id, category, permissions)
    detail = f"category {category.id}"
    if new_name != before:
        detail += f" renamed {before!r} -> {new_name!r}"
    audit.record(session, "category.updated", detail=f"{detail}; {changed} permissions")
    return view_of(category, category_rights(session, current_claims()))


def set_category_enabled(session: Session, events: RecordsEvents, *, category_id: str,
                         enabled: bool) -> CategoryView:
    """Disabled: no new incidents in it (still reported, still viewable)."""
    school_id = _admin("category.enable" if enabled else "category.disable")
    category = _category(session, school_id, category_id)
    if category.enabled != enabled:
        category.enabled = enabled
        session.flush()
        events.category_upserted(session, category)
        audit.record(session, "category.enabled" if enabled else "category.disabled",
                     detail=f"category {category.id}")
    return view_of(category, category_rights(session, current_claims()))


def _in_use(session: Session, school_id: str, category_id: str) -> bool:
    for model in (IncidentCategory, Monitoring):
        if session.execute(select(exists().where(
                model.school_id == school_id, model.category_id == category_id))).scalar():
            return True
    return bool(session.execute(select(exists().where(
        Category.school_id == school_id, Category.parent_id == category_id))).scalar())


def delete_category(session: Session, events: RecordsEvents, *, category_id: str
                    ) -> tuple[bool, bool]:
    """Removed when nothing was ever filed under it (nor has sub-categories); otherwise
    disabled. Returns (deleted, disabled)."""
    school_id = _admin("category.delete")
    category = _category(session, school_id, category_id)
    if _in_use(session, school_id, category.id):
        if category.enabled:
            category.enabled = False
            session.flush()
            events.category_upserted(session, category)
        audit.record(session, "category.disabled", detail=f"category {category.id} (in use)")
        return False, True
    session.execute(delete(CategoryPermission).where(
        CategoryPermission.school_id == school_id, CategoryPermission.category_id == category.id))
    session.execute(delete(AutoAlertRule).where(
        AutoAlertRule.school_id == school_id, AutoAlertRule.kind == "category",
        AutoAlertRule.target_id == category.id))
    events.category_upserted(session, category, deleted=True)
    session.delete(category)
    session.flush()
    audit.record(session, "category.deleted", detail=f"category {category.id} {category.name!r}")
    return True, False


def merge_category(session: Session, events: RecordsEvents, *, source_category_id: str,
                   target_category_id: str) -> tuple[CategoryView, int, int]:
    """Irreversible: every incident and monitoring span of the source moves to the target,
    and the source goes. Returns (target, incidents moved, monitoring spans moved)."""
    school_id = _admin("category.merge")
    source = _category(session, school_id, source_category_id)
    target = _category(session, school_id, target_category_id)
    if source.id == target.id:
        raise InvalidArgument("Choose another category to merge with.", field="target_category_id")
    if target.parent_id == source.id:
        raise InvalidArgument("A category cannot merge into its own sub-category.",
                              field="target_category_id")
    children = list(session.scalars(select(Category).where(
        Category.school_id == school_id, Category.parent_id == source.id)))
    if children and target.parent_id:
        raise InvalidArgument("A category with sub-categories can only merge into a top-level "
                              "category.", field="target_category_id")
    now = utcnow()
    ic = IncidentCategory
    both = select(ic.incident_id).where(ic.school_id == school_id, ic.category_id == target.id)
    session.execute(delete(ic).where(ic.school_id == school_id, ic.category_id == source.id,
                                     ic.incident_id.in_(both))
                    .execution_options(synchronize_session=False))
    moved_incidents = session.execute(
        update(ic).where(ic.school_id == school_id, ic.category_id == source.id)
        .values(category_id=target.id).execution_options(synchronize_session=False)
    ).rowcount or 0
    # A student monitored under both keeps one open span: the source's ends.
    open_target = select(Monitoring.student_id).where(
        Monitoring.school_id == school_id, Monitoring.category_id == target.id,
        Monitoring.ended_at.is_(None))
    session.execute(update(Monitoring).where(
        Monitoring.school_id == school_id, Monitoring.category_id == source.id,
        Monitoring.ended_at.is_(None), Monitoring.student_id.in_(open_target),
    ).values(ended_at=now, ended_by=current_claims().account_id)
        .execution_options(synchronize_session=False))
    moved_monitoring = session.execute(
        update(Monitoring).where(Monitoring.school_id == school_id,
                                 Monitoring.category_id == source.id)
        .values(category_id=target.id).execution_options(synchronize_session=False)
    ).rowcount or 0
    rules = list(session.scalars(select(AutoAlertRule).where(
        AutoAlertRule.school_id == school_id, AutoAlertRule.kind == "category",
        AutoAlertRule.target_id.in_([source.id, target.id]))))
    have = {r.account_id for r in rules if r.target_id == target.id}
    for r in rules:
        if r.target_id == source.id:
            if r.account_id in have:
                session.delete(r)
            else:
                r.target_id = target.id
                have.add(r.account_id)
    for child in children:
        child.parent_id = target.id
        session.flush()
        events.category_upserted(session, child)
    session.execute(delete(CategoryPermission).where(
        CategoryPermission.school_id == school_id, CategoryPermission.category_id == source.id))
    session.flush()
    events.category_merged(session, school_id, source.id, target.id)
    events.category_upserted(session, source, deleted=True)
    session.expire_all()
    session.execute(delete(Category).where(Category.school_id == school_id,
                                           Category.id == source.id))
    audit.record(session, "category.merged",
                 detail=f"category {source.id} {source.name!r} into {target.id} "
                        f"({moved_incidents} incidents, {moved_monitoring} monitoring)")
    target = _category(session, school_id, target.id)
    return (view_of(target, category_rights(session, current_claims())), moved_incidents,
            moved_monitoring)


def list_permissions(session: Session, *, category_id: str = "", user_group_id: str = ""
                     ) -> list[PermissionLine]:
    """One category's permissions per user group, or one group's across categories."""
    school_id = _admin("category.permissions.list")
    category_id, user_group_id = (category_id or "").strip(), (user_group_id or "").strip()
    if bool(category_id) == bool(user_group_id):
        raise InvalidArgument("Ask for one category or one user group.", field="category_id")
    query = select(CategoryPermission).where(CategoryPermission.school_id == school_id)
    if category_id:
        query = query.where(CategoryPermission.category_id == _category(
            session, school_id, category_id).id)
    else:
        query = query.where(CategoryPermission.user_group_id == user_group_id)
    names = dict(session.execute(select(UserGroupRef.id, UserGroupRef.name).where(
        UserGroupRef.school_id == school_id)).all())
    rows = list(session.scalars(query))
    rows.sort(key=lambda p: (names.get(p.user_group_id, ""), p.category_id))
    return [PermissionLine(permission=p, user_group_name=names.get(p.user_group_id, ""))
            for p in rows]


def set_permissions(session: Session, entries: Iterable[PermissionInput]) -> list[PermissionLine]:
    """Set several (user group, category) permissions at once; returns the groups' lines."""
    school_id = _admin("category.permissions.set")
    entries = list(entries)
    if not entries:
        raise InvalidArgument("Give at least one permission.", field="permissions")
    by_category: dict[str, list[PermissionInput]] = {}
    for e in entries:
        by_category.setdefault(e.category_id, []).append(e)
    changed = 0
    for cid, items in by_category.items():
        changed += _apply_permissions(session, school_id, _category(session, school_id, cid),
                                      items)
    session.flush()
    audit.record(session, "category.permissions.updated", detail=f"{changed} changed")
    groups = {e.user_group_id for e in entries}
    names = dict(session.execute(select(UserGroupRef.id, UserGroupRef.name).where(
        UserGroupRef.school_id == school_id)).all())
    rows = list(session.scalars(select(CategoryPermission).where(
        CategoryPermission.school_id == school_id,
        CategoryPermission.user_group_id.in_(sorted(groups)))))
    rows.sort(key=lambda p: (names.get(p.user_group_id, ""), p.category_id))
    return [PermissionLine(permission=p, user_group_name=names.get(p.user_group_id, ""))
            for p in rows]
