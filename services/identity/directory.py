"""Who is who: schools, user groups, accounts and their memberships of schools.

Every change that other services mirror is announced through a ``Publisher`` (events.py
implements it with the outbox) in the same transaction: a school created, a user group as it
now is, and an account's membership of a school as it now is (one event per membership).
Upserts announce only real changes, so repeating one changes nothing and announces nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.identity import sessions
from services.identity.models import Account, Membership, School, UserGroup
from shared.db import new_id
from shared.errors import Conflict, InvalidArgument, NotFound

SYSTEM_PERMISSIONS: tuple[str, ...] = (
    "view_student_list",
    "view_student_details",
    "add_incidents",
    "edit_incidents",
    "view_students_without_group",
    "run_reports",
    "planner",
    "files",
    "library_view",
    "library_add",
    "administration",
)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
STAFF_LIMIT_DEFAULT = 20
STAFF_LIMIT_MAX = 200


class Publisher(Protocol):
    def school_created(self, session: Session, school: School, *, actor: str) -> None: ...

    def user_group_upserted(self, session: Session, group: UserGroup, *, actor: str) -> None: ...

    def account_upserted(
        self,
        session: Session,
        account: Account,
        membership: Membership,
        group: UserGroup,
        *,
        actor: str,
    ) -> None: ...


# ---- validation ---------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def valid_email(email: str) -> str:
    cleaned = normalise_email(email)
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise InvalidArgument("Enter a valid email address.", field="email")
    return cleaned


def _required(value: str, field: str, label: str, max_len: int) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidArgument(f"Enter the {label}.", field=field)
    if len(cleaned) > max_len:
        raise InvalidArgument(f"Use at most {max_len} characters for the {label}.", field=field)
    return cleaned


def _slug(slug: str) -> str:
    cleaned = (slug or "").strip().lower()
    if not _SLUG.match(cleaned):
        raise InvalidArgument(
            "A school's short name uses lower-case letters, digits and dashes (up to 63).",
            field="slug",
        )
    return cleaned


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"Unknown time zone {name!r}.", field="time_zone") from exc
    return name


def _permissions(values: Iterable[str]) -> list[str]:
    chosen = sorted(set(values))
    unknown = [p for p in chosen if p not in SYSTEM_PERMISSIONS]
    if unknown:
        raise InvalidArgument(
            f"Unknown permission(s): {', '.join(unknown)}.", field="permissions"
        )
    return chosen


# ---- schools ------------------------------------------------------------------------------


def find_school(session: Session, school_id: str) -> School | None:
    return session.get(School, school_id) if school_id else None


def get_school(session: Session, school_id: str) -> School:
    school = session.get(School, school_id)
    if school is None:
        raise NotFound("No such school.")
    return school


def create_school(
    session: Session,
    publisher: Publisher,
    *,
    name: str,
    slug: str,
    time_zone: str,
    now: dt.datetime,
    actor: str,
    school_id: str | None = None,
    postcode: str = "",
) -> tuple[School, bool]:
    """Create a school; returns (school, created). The same school again is a no-op."""
    name = _required(name, "name", "school's name", 200)
    postcode = " ".join((postcode or "").upper().split())
    if len(postcode) > 16:
        raise InvalidArgument("A postcode has at most 16 characters.", field="postcode")
    slug = _slug(slug)
    time_zone = _time_zone(time_zone)
    by_slug = session.scalars(select(School).where(School.slug == slug)).first()
    if school_id is not None:
        existing = session.get(School, school_id)
        if existing is not None:
            if by_slug is not None and by_slug.id != existing.id:
                raise Conflict(f"Another school already uses the short name {slug!r}.")
            return existing, False
    if by_slug is not None:
        if school_id is None and by_slug.name == name:
            return by_slug, False
        raise Conflict(f"Another school already uses the short name {slug!r}.", field="slug")
    school = School(
        id=school_id or new_id(), name=name, slug=slug, time_zone=time_zone, created_at=now,
        postcode=postcode,
    )
    session.add(school)
    session.flush()
    publisher.school_created(session, school, actor=actor)
    return school, True


# ---- user groups --------------------------------------------------------------------------


def find_user_group(session: Session, *, school_id: str, ref: str) -> UserGroup:
    """A school's group by id or (case-insensitive) name."""
    group = session.scalars(
        select(UserGroup).where(
            UserGroup.school_id == school_id,
            or_(UserGroup.id == ref, func.lower(UserGroup.name) == (ref or "").strip().lower()),
        )
    ).first()
    if group is None:
        raise NotFound(f"No user group {ref!r} in that school.", field="user_group")
    return group


def upsert_user_group(
    session: Session,
    publisher: Publisher,
    *,
    school_id: str,
    name: str,
    key_holder: bool,
    permissions: Iterable[str],
    now: dt.datetime,
    actor: str,
    user_group_id: str | None = None,
) -> tuple[UserGroup, bool]:
    """Create or update a group (by id, else by name); returns (group, changed)."""
    get_school(session, school_id)
    name = _required(name, "name", "group's name", 100)
    perms = _permissions(permissions)
    group = None
    if user_group_id is not None:
        group = session.get(UserGroup, user_group_id)
        if group is not None and group.school_id != school_id:
            raise Conflict("That user group belongs to another school.")
    if group is None:
        group = session.scalars(
            select(UserGroup).where(UserGroup.school_id == school_id, UserGroup.name == name)
        ).first()
        if group is not None and user_group_id is not None and group.id != user_group_id:
            raise Conflict(f"The school already has a user group called {name!r}.", field="name")
    if group is None:
        group = UserGroup(
            id=user_group_id or new_id(),
            school_id=school_id,
            name=name,
            key_holder=key_holder,
            permissions=perms,
            created_at=now,
        )
        session.add(group)
        session.flush()
        publisher.user_group_upserted(session, group, actor=actor)
        return group, True
    members_affected = group.name != name or group.key_holder != key_holder
    if (group.name, group.key_holder, sorted(group.permissions or [])) == (
        name, key_holder, perms
    ):
        return group, False
    group.name = name
    group.key_holder = key_holder
    group.permissions = perms
    session.flush()
    publisher.user_group_upserted(session, group, actor=actor)
    if members_affected:  # AccountUpserted carries the group's name and key holder flag
        for membership in session.scalars(
            select(Membership).where(
                Membership.school_id == school_id, Membership.user_group_id == group.id
            )
        ):
            account = session.get(Account, membership.account_id)
            publisher.account_upserted(session, account, membership, group, actor=actor)
    return group, True


# ---- accounts and memberships -------------------------------------------------------------


def find_account(session: Session, email: str) -> Account | None:
    cleaned = normalise_email(email)
    if not cleaned:
        return None
    return session.scalars(select(Account).where(Account.email == cleaned)).first()


def get_account(session: Session, email: str) -> Account:
    account = find_account(session, email)
    if account is None:
        raise NotFound("No account with that email address.", field="email")
    return account


def memberships_of(session: Session, account_id: str) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .where(Membership.account_id == account_id)
            .order_by(Membership.created_at, Membership.school_id)
        )
    )


def upsert_account(
    session: Session,
    publisher: Publisher,
    *,
    email: str,
    display_name: str,
    now: dt.datetime,
    actor: str,
    account_id: str | None = None,
) -> tuple[Account, bool]:
    """Create an account, or update the one with that id (else that email)."""
    email = valid_email(email)
    display_name = _required(display_name, "display_name", "name", 200)
    account = session.get(Account, account_id) if account_id else None
    by_email = find_account(session, email)
    if account is None:
        account = by_email
    elif by_email is not None and by_email.id != account.id:
        raise Conflict("Another account already uses that email address.", field="email")
    if account is None:
        account = Account(
            id=account_id or new_id(), email=email, display_name=display_name, created_at=now
        )
        session.add(account)
        session.flush()
        return account, True
    if (account.email, account.display_name) == (email, display_name):
        return account, False
    account.email = email
    account.display_name = display_name
    session.flush()
    for membership in memberships_of(session, account.id):
        group = session.get(UserGroup, membership.user_group_id)
        publisher.account_upserted(session, account, membership, group, actor=actor)
    return account, True


def upsert_membership(
    session: Session,
    publisher: Publisher,
    *,
    account: Account,
    group: UserGroup,
    now: dt.datetime,
    actor: str,
    active: bool = True,
    job_title: str | None = None,
    mis_id: str | None = None,
    reason: str = "",
) -> tuple[Membership, bool]:
    """Put an account in a school's group (or change its group, activity or job title; a
    ``job_title`` of None keeps the current one, an ``mis_id`` of None the current match).
    ``reason`` says why a membership is deactivated (kept until it is reactivated)."""
    job_title = None if job_title is None else job_title.strip()
    if job_title is not None and len(job_title) > 100:
        raise InvalidArgument("Use at most 100 characters for the job title.", field="job_title")
    membership = session.scalars(
        select(Membership).where(
            Membership.account_id == account.id, Membership.school_id == group.school_id
        )
    ).first()
    if membership is None:
        membership = Membership(
            id=new_id(),
            account_id=account.id,
            school_id=group.school_id,
            user_group_id=group.id,
            active=active,
            job_title=job_title or "",
            created_at=now,
            mis_id=mis_id,
            deactivated_at=None if active else now,
            deactivated_reason="" if active else (reason or "deactivated")[:40],
        )
        session.add(membership)
        account.membership_count = (account.membership_count or 0) + 1
    else:
        if job_title is None:
            job_title = membership.job_title
        if mis_id is not None and membership.mis_id != mis_id:
            membership.mis_id = mis_id  # a match, not something other services mirror
        if (membership.user_group_id, membership.active, membership.job_title) == (
            group.id, active, job_title
        ):
            return membership, False
        if membership.active != active:
            membership.deactivated_at = None if active else now
            membership.deactivated_reason = "" if active else (reason or "deactivated")[:40]
        if membership.active and not active:
            sessions.revoke_all(
                session,
                account_id=account.id,
                school_id=group.school_id,
                now=now,
                reason=sessions.REVOKED_MEMBERSHIP,
            )
        membership.user_group_id = group.id
        membership.active = active
        membership.job_title = job_title
    session.flush()
    publisher.account_upserted(session, account, membership, group, actor=actor)
    return membership, True


def active_memberships(
    session: Session, account_id: str
) -> list[tuple[Membership, UserGroup, School]]:
    """Every school the account is an active user of, oldest membership first."""
    rows = session.execute(
        select(Membership, UserGroup, School)
        .join(UserGroup, UserGroup.id == Membership.user_group_id)
        .join(School, School.id == Membership.school_id)
        .where(Membership.account_id == account_id, Membership.active.is_(True))
        .order_by(Membership.created_at, Membership.school_id)
        .execution_options(all_schools=True)
    )
    return [(m, g, s) for m, g, s in rows]


def active_membership(
    session: Session, *, account_id: str, school_id: str | None = None
) -> tuple[Membership, UserGroup, School] | None:
    """The account's active membership of ``school_id`` (or its first one, when None)."""
    query = (
        select(Membership, UserGroup, School)
        .join(UserGroup, UserGroup.id == Membership.user_group_id)
        .join(School, School.id == Membership.school_id)
        .where(Membership.account_id == account_id, Membership.active.is_(True))
        .order_by(Membership.created_at, Membership.school_id)
    )
    if school_id is not None:
        query = query.where(Membership.school_id == school_id)
    row = session.execute(query).first()
    return (row[0], row[1], row[2]) if row else None


# ---- staff list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffMember:
    account_id: str
    display_name: str
    email: str
    user_group_id: str
    user_group_name: str
    key_holder: bool


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_staff(
    session: Session, *, school_id: str, query: str = "", limit: int = 0
) -> list[StaffMember]:
    """Active staff of one school whose name or email contains ``query`` (any case)."""
    limit = STAFF_LIMIT_DEFAULT if not limit or limit < 0 else min(limit, STAFF_LIMIT_MAX)
    stmt = (
        select(Account, UserGroup)
        .join(Membership, Membership.account_id == Account.id)
        .join(UserGroup, UserGroup.id == Membership.user_group_id)
        .where(
            Membership.school_id == school_id,
            UserGroup.school_id == school_id,
            Membership.active.is_(True),
        )
        .order_by(func.lower(Account.display_name), Account.email)
        .limit(limit)
    )
    text = (query or "").strip().lower()[:200]
    if text:
        pattern = _like_pattern(text)
        stmt = stmt.where(
            or_(
                func.lower(Account.display_name).like(pattern, escape="\\"),
                Account.email.like(pattern, escape="\\"),
            )
        )
    return [
        StaffMember(
            account_id=account.id,
            display_name=account.display_name,
            email=account.email,
            user_group_id=group.id,
            user_group_name=group.name,
            key_holder=group.key_holder,
        )
        for account, group in session.execute(stmt)
    ]
