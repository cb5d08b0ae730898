"""Admin > Users > User Groups: a school's groups, their system permissions and key holder
flag. A group that still has users (active or deactivated: a deactivated user keeps their
group until reactivated) cannot be deleted, and the answer says how many to move first.

The category permissions shown on the same page belong to records (per group and category);
identity only announces groups (``identity.user_group.upserted``, ``deleted`` set when one
goes) so records can keep its own copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.identity import directory, users
from services.identity.models import Membership, UserGroup
from shared.db import new_id
from shared.errors import Conflict, FailedPrecondition, NotFound


class Publisher(directory.Publisher, Protocol):
    def user_group_deleted(self, session: Session, group: UserGroup, *, actor: str) -> None: ...


@dataclass(frozen=True)
class GroupSummary:
    id: str
    name: str
    key_holder: bool
    permissions: tuple[str, ...]
    active_users: int
    deactivated_users: int


def list_groups(session: Session, *, school_id: str) -> list[GroupSummary]:
    counts = dict(
        (gid, (active or 0, total - (active or 0)))
        for gid, total, active in session.execute(
            select(
                Membership.user_group_id,
                func.count(),
                func.sum(case((Membership.active.is_(True), 1), else_=0)),
            )
            .where(Membership.school_id == school_id)
            .group_by(Membership.user_group_id)
        )
    )
    return [
        GroupSummary(id=g.id, name=g.name, key_holder=g.key_holder,
                     permissions=tuple(sorted(g.permissions or ())),
                     active_users=counts.get(g.id, (0, 0))[0],
                     deactivated_users=counts.get(g.id, (0, 0))[1])
        for g in session.scalars(
            select(UserGroup).where(UserGroup.school_id == school_id)
            .order_by(func.lower(UserGroup.name))
        )
    ]


def get_group(session: Session, *, school_id: str, user_group_id: str) -> UserGroup:
    group = session.get(UserGroup, user_group_id) if user_group_id else None
    if group is None or group.school_id != school_id:
        raise NotFound("No such user group in your school.", field="user_group_id")
    return group


def create_group(session: Session, publisher: Publisher, *, school_id: str, name: str,
                 key_holder: bool, permissions: Iterable[str], now: dt.datetime,
                 actor: str) -> UserGroup:
    cleaned = (name or "").strip()
    if cleaned and session.scalars(select(UserGroup).where(
        UserGroup.school_id == school_id, func.lower(UserGroup.name) == cleaned.lower(),
    )).first() is not None:
        raise Conflict(f"Your school already has a user group called {cleaned!r}.",
                       field="name")
    group, _ = directory.upsert_user_group(
        session, publisher, school_id=school_id, name=name, key_holder=key_holder,
        permissions=permissions, now=now, actor=actor, user_group_id=new_id(),
    )
    return group


def update_group(session: Session, publisher: Publisher, *, school_id: str,
                 user_group_id: str, name: str, key_holder: bool,
                 permissions: Iterable[str], now: dt.datetime, actor: str) -> UserGroup:
    group = get_group(session, school_id=school_id, user_group_id=user_group_id)
    cleaned = (name or "").strip()
    clash = session.scalars(select(UserGroup).where(
        UserGroup.school_id == school_id, func.lower(UserGroup.name) == cleaned.lower(),
        UserGroup.id != group.id,
    )).first()
    if cleaned and clash is not None:
        raise Conflict(f"Your school already has a user group called {cleaned!r}.",
                       field="name")
    group, _ = directory.upsert_user_group(
        session, publisher, school_id=school_id, name=name, key_holder=key_holder,
        permissions=permissions, now=now, actor=actor, user_group_id=group.id,
    )
    users.ensure_an_admin_remains(session, school_id)
    return group


def delete_group(session: Session, publisher: Publisher, *, school_id: str,
                 user_group_id: str, actor: str) -> None:
    group = get_group(session, school_id=school_id, user_group_id=user_group_id)
    summary = next(g for g in list_groups(session, school_id=school_id) if g.id == group.id)
    if summary.active_users or summary.deactivated_users:
        parts = []
        if summary.active_users:
            parts.append(f"{summary.active_users} active user(s)")
        if summary.deactivated_users:
            parts.append(f"{summary.deactivated_users} deactivated user(s)")
        raise FailedPrecondition(
            f"This user group still has {' and '.join(parts)}. Move them to another group "
            "(Admin > Users > the user > Permissions), then delete it."
        )
    publisher.user_group_deleted(session, group, actor=actor)
    session.delete(group)
    session.flush()

