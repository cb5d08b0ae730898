"""Alert groups: named sets of staff (e.g. every DSL) that anyone adding an incident can
alert at once. Admins make them, choosing people one by one and/or every active user of some
user groups at once. Each change is announced whole (``identity.alert_group.upserted``: the
name and every member); a deleted group is announced with no members and ``deleted`` set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.identity.models import Account, AlertGroup, AlertGroupMember, Membership
from services.identity.user_groups import get_group
from shared.db import new_id
from shared.errors import Conflict, InvalidArgument, NotFound

MAX_MEMBERS = 2000


class Publisher(Protocol):
    def alert_group_upserted(self, session: Session, group: AlertGroup,
                             member_ids: list[str], *, actor: str,
                             deleted: bool = False) -> None: ...


@dataclass(frozen=True)
class Member:
    account_id: str
    display_name: str
    active: bool


@dataclass(frozen=True)
class AlertGroupView:
    id: str
    name: str
    members: tuple[Member, ...]


def _name(session: Session, school_id: str, name: str, *, exclude: str = "") -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidArgument("Enter the alert group's name.", field="name")
    if len(cleaned) > 100:
        raise InvalidArgument("Use at most 100 characters for the name.", field="name")
    clash = session.scalars(select(AlertGroup).where(
        AlertGroup.school_id == school_id, func.lower(AlertGroup.name) == cleaned.lower(),
        AlertGroup.id != exclude,
    )).first()
    if clash is not None:
        raise Conflict(f"Your school already has an alert group called {cleaned!r}.",
                       field="name")
    return cleaned


def _member_ids(session: Session, school_id: str, account_ids: Iterable[str],
                user_group_ids: Iterable[str]) -> list[str]:
    """The chosen people plus every active user of the chosen user groups; each must be a
    user of this school."""
    wanted = {a for a in account_ids if a}
    known = set(session.scalars(select(Membership.account_id).where(
        Membership.school_id == school_id, Membership.account_id.in_(wanted),
    ))) if wanted else set()
    if wanted - known:
        raise NotFound("Choose people who are users of your school.",
                       field="member_account_ids")
    for group_id in {g for g in user_group_ids if g}:
        get_group(session, school_id=school_id, user_group_id=group_id)
        known |= set(session.scalars(select(Membership.account_id).where(
            Membership.school_id == school_id, Membership.user_group_id == group_id,
            Membership.active.is_(True),
        )))
    if len(known) > MAX_MEMBERS:
        raise InvalidArgument(f"An alert group has at most {MAX_MEMBERS} members.",
                              field="member_account_ids")
    return sorted(known)


def _set_members(session: Session, group: AlertGroup, member_ids: list[str]) -> None:
    session.execute(delete(AlertGroupMember).where(
        AlertGroupMember.alert_group_id == group.id,
        AlertGroupMember.school_id == group.school_id,
    ))
    for account_id in member_ids:
        session.add(AlertGroupMember(alert_group_id=group.id, account_id=account_id,
                                     school_id=group.school_id))
    session.flush()


def members_of(session: Session, group: AlertGroup) -> list[str]:
    return list(session.scalars(
        select(AlertGroupMember.account_id)
        .where(AlertGroupMember.alert_group_id == group.id,
               AlertGroupMember.school_id == group.school_id)
        .order_by(AlertGroupMember.account_id)
    ))


def create(session: Session, publisher: Publisher, *, school_id: str, name: str,
           member_account_ids: Iterable[str] = (), user_group_ids: Iterable[str] = (),
           now: dt.datetime, actor: str) -> AlertGroup:
    group = AlertGroup(id=new_id(), school_id=school_id, name=_name(session, school_id, name),
                       created_at=now, updated_at=now)
    members = _member_ids(session, school_id, member_account_ids, user_group_ids)
    session.add(group)
    session.flush()
    _set_members(session, group, members)
    publisher.alert_group_upserted(session, group, members, actor=actor)
    return group


def get(session: Session, *, school_id: str, alert_group_id: str) -> AlertGroup:
    group = session.get(AlertGroup, alert_group_id) if alert_group_id else None
    if group is None or group.school_id != school_id:
        raise NotFound("No such alert group in your school.", field="alert_group_id")
    return group


def update(session: Session, publisher: Publisher, *, school_id: str, alert_group_id: str,
           name: str, member_account_ids: Iterable[str] = (),
           user_group_ids: Iterable[str] = (), now: dt.datetime, actor: str) -> AlertGroup:
    """Rename and replace the members (the chosen people plus the groups' users)."""
    group = get(session, school_id=school_id, alert_group_id=alert_group_id)
    name = _name(session, school_id, name, exclude=group.id)
    members = _member_ids(session, school_id, member_account_ids, user_group_ids)
    if name == group.name and members == members_of(session, group):
        return group
    group.name = name
    group.updated_at = now
    _set_members(session, group, members)
    publisher.alert_group_upserted(session, group, members, actor=actor)
    return group


def remove(session: Session, publisher: Publisher, *, school_id: str, alert_group_id: str,
           actor: str) -> None:
    group = get(session, school_id=school_id, alert_group_id=alert_group_id)
    _set_members(session, group, [])
    publisher.alert_group_upserted(session, group, [], actor=actor, deleted=True)
    session.delete(group)
    session.flush()


def list_groups(session: Session, *, school_id: str) -> list[AlertGroupView]:
    groups = list(session.scalars(
        select(AlertGroup).where(AlertGroup.school_id == school_id)
        .order_by(func.lower(AlertGroup.name))
    ))
    rows = session.execute(
        select(AlertGroupMember.alert_group_id, Account.id, Account.display_name,
               Membership.active)
        .join(Account, Account.id == AlertGroupMember.account_id)
        .join(Membership, (Membership.account_id == Account.id)
              & (Membership.school_id == school_id))
        .where(AlertGroupMember.school_id == school_id)
        .order_by(func.lower(Account.display_name))
    ).all()
    by_group: dict[str, list[Member]] = {}
    for group_id, account_id, display_name, active in rows:
        by_group.setdefault(group_id, []).append(Member(account_id, display_name, active))
    return [AlertGroupView(id=g.id, name=g.name, members=tuple(by_group.get(g.id, ())))
            for g in groups]
