"""Admin > Users: the school's users, new users (from the MIS staff list or not), deactivation
and reactivation, email and user group changes, and removing a user's second factors.

Every function works inside one school (``school_id``, the admin's) and finds its target
through that school's memberships, so an admin can never touch a person who is not a user
of their school. An account shared with other schools (SSO) keeps its email, name and second
factors whatever one school's admin does: those belong to the person, not to one school.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.identity import access, directory, mis_staff, password_reset, sessions, totp
from services.identity import security_keys as keys
from services.identity import settings as school_settings
from services.identity.models import (
    Account,
    Membership,
    SecurityKey,
    TotpDevice,
    UserGroup,
)
from shared.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound

NO_SUCH_USER = "No such user in your school."
SHARED_ACCOUNT = (
    "This person's account is shared with other schools (SSO): they change their email and "
    "security keys themselves."
)
LAST_ADMIN = (
    "Your school must keep at least one active administrator: give someone else an "
    "administrators' group first."
)
CONFIRM_REMOVAL = "Tick the confirmation to remove this user's security keys."
REVOKED_KEYS_REMOVED = "second_factors_removed"


class Publisher(directory.Publisher, Protocol):
    pass


@dataclass(frozen=True)
class User:
    account_id: str
    display_name: str
    email: str
    job_title: str
    user_group_id: str
    user_group_name: str
    key_holder: bool
    active: bool
    has_second_factor: bool
    last_login_at: dt.datetime | None
    from_mis: bool
    other_schools: bool
    alert_email: str
    deactivated_at: dt.datetime | None


def _members_with_factors(session: Session, account_ids: list[str]) -> set[str]:
    if not account_ids:
        return set()
    with_totp = session.scalars(
        select(TotpDevice.account_id).where(TotpDevice.account_id.in_(account_ids))
    )
    with_keys = session.scalars(
        select(SecurityKey.account_id).where(SecurityKey.account_id.in_(account_ids))
    )
    return set(with_totp) | set(with_keys)


def _users(session: Session, rows: list[tuple[Membership, Account, UserGroup]],
           school_id: str) -> list[User]:
    ids = [account.id for _, account, _ in rows]
    factors = _members_with_factors(session, ids)
    shared = {account.id for _, account, _ in rows if (account.membership_count or 0) > 1}
    return [
        User(
            account_id=account.id, display_name=account.display_name, email=account.email,
            job_title=m.job_title, user_group_id=group.id, user_group_name=group.name,
            key_holder=group.key_holder, active=m.active,
            has_second_factor=account.id in factors, last_login_at=m.last_login_at,
            from_mis=m.mis_id is not None, other_schools=account.id in shared,
            alert_email=m.alert_email, deactivated_at=m.deactivated_at,
        )
        for m, account, group in rows
    ]


def _query(school_id: str):
    return (
        select(Membership, Account, UserGroup)
        .join(Account, Account.id == Membership.account_id)
        .join(UserGroup, UserGroup.id == Membership.user_group_id)
        .where(Membership.school_id == school_id)
    )


def list_users(session: Session, *, school_id: str, deactivated: bool = False,
               query: str = "", user_group_id: str = "") -> list[User]:
    """Active users (or the deactivated ones), by name."""
    stmt = _query(school_id).where(Membership.active.is_(not deactivated)).order_by(
        func.lower(Account.display_name), Account.email
    )
    text = (query or "").strip().lower()[:200]
    if text:
        pattern = directory._like_pattern(text)
        stmt = stmt.where(or_(func.lower(Account.display_name).like(pattern, escape="\\"),
                              Account.email.like(pattern, escape="\\")))
    if user_group_id:
        stmt = stmt.where(Membership.user_group_id == user_group_id)
    return _users(session, [tuple(r) for r in session.execute(stmt)], school_id)


def _found(session: Session, school_id: str, account_id: str
           ) -> tuple[Membership, Account, UserGroup]:
    row = session.execute(
        _query(school_id).where(Membership.account_id == account_id)
    ).first() if account_id else None
    if row is None:
        raise NotFound(NO_SUCH_USER, field="account_id")
    return row[0], row[1], row[2]


def get_user(session: Session, *, school_id: str, account_id: str) -> User:
    return _users(session, [_found(session, school_id, account_id)], school_id)[0]


def is_shared(session: Session, *, school_id: str, account_id: str) -> bool:
    """Whether the account also belongs to another school (an SSO account)."""
    account = session.get(Account, account_id)
    return account is not None and (account.membership_count or 0) > 1


def _group(session: Session, school_id: str, user_group_id: str) -> UserGroup:
    group = session.get(UserGroup, user_group_id) if user_group_id else None
    if group is None or group.school_id != school_id:
        raise NotFound("Choose one of your school's user groups.", field="user_group_id")
    return group


def ensure_an_admin_remains(session: Session, school_id: str) -> None:
    """Raise (rolling the change back) when no active administrator would be left."""
    session.flush()
    for group in session.scalars(select(UserGroup).where(UserGroup.school_id == school_id)):
        if not access.is_admin(group):
            continue
        if session.scalar(select(func.count()).select_from(Membership).where(
            Membership.school_id == school_id, Membership.user_group_id == group.id,
            Membership.active.is_(True),
        )):
            return
    raise FailedPrecondition(LAST_ADMIN)


# ---- new users -----------------------------------------------------------------------------


def create_user(
    session: Session,
    publisher: Publisher,
    *,
    school_id: str,
    email: str,
    user_group_id: str,
    now: dt.datetime,
    today: dt.date,
    actor: str,
    mis_id: str = "",
    display_name: str = "",
    job_title: str = "",
) -> tuple[Membership, Account]:
    """A new user: an MIS staff member (``mis_id``, named as the MIS names them) or a
    non-MIS user (``display_name``). An email already used by another school's account makes
    that account a member here too (an SSO account); its name stays its own."""
    email = directory.valid_email(email)
    school_settings.require_allowed_email(school_settings.get(session, school_id), email)
    group = _group(session, school_id, user_group_id)
    if mis_id:
        staff = mis_staff.get(session, school_id=school_id, mis_id=mis_id)
        if staff is None or not mis_staff.eligible(staff, today):
            raise NotFound("That person is not on your MIS staff list.", field="mis_id")
        legal = school_settings.get(session, school_id).use_legal_names
        display_name = mis_staff.display_name(staff, legal=legal)
        job_title = job_title or staff.job_title
        if session.scalar(select(func.count()).select_from(Membership).where(
            Membership.school_id == school_id, Membership.mis_id == mis_id,
        )):
            raise Conflict("That member of staff is already a user.", field="mis_id")
    account = directory.find_account(session, email)
    if account is not None:
        existing = session.scalars(select(Membership).where(
            Membership.school_id == school_id, Membership.account_id == account.id)).first()
        if existing is not None:
            raise Conflict(
                "Someone with that email is already a user"
                + ("." if existing.active else " (deactivated: reactivate them instead)."),
                field="email",
            )
    else:
        account, _ = directory.upsert_account(session, publisher, email=email,
                                              display_name=display_name, now=now, actor=actor)
    membership, _ = directory.upsert_membership(
        session, publisher, account=account, group=group, job_title=job_title or "",
        mis_id=mis_id or None, now=now, actor=actor,
    )
    return membership, account


# ---- deactivate, reactivate, change --------------------------------------------------------


def deactivate(session: Session, publisher: Publisher, *, school_id: str, account_id: str,
               by_account_id: str, now: dt.datetime, actor: str) -> Membership:
    membership, account, group = _found(session, school_id, account_id)
    if account_id == by_account_id:
        raise FailedPrecondition("You cannot deactivate your own account.")
    if not membership.active:
        return membership
    directory.upsert_membership(session, publisher, account=account, group=group, active=False,
                                now=now, actor=actor, reason="deactivated_by_admin")
    ensure_an_admin_remains(session, school_id)
    return membership


def _set_email(session: Session, publisher: Publisher, account: Account, email: str, *,
               school_id: str, now: dt.datetime, actor: str) -> None:
    email = directory.valid_email(email)
    if email == account.email:
        return
    school_settings.require_allowed_email(school_settings.get(session, school_id), email)
    if is_shared(session, school_id=school_id, account_id=account.id):
        raise FailedPrecondition(SHARED_ACCOUNT, field="email")
    directory.upsert_account(session, publisher, email=email,
                             display_name=account.display_name, account_id=account.id,
                             now=now, actor=actor)
    # Links already sent went to the old address; the person must ask again.
    password_reset.cancel_links(session, account_id=account.id, now=now)


def reactivate(session: Session, publisher: Publisher, *, school_id: str, account_id: str,
               email: str, user_group_id: str, now: dt.datetime, actor: str) -> Membership:
    membership, account, _old = _found(session, school_id, account_id)
    if membership.active:
        raise FailedPrecondition("That user is already active.")
    group = _group(session, school_id, user_group_id)
    _set_email(session, publisher, account, email, school_id=school_id, now=now, actor=actor)
    directory.upsert_membership(session, publisher, account=account, group=group, active=True,
                                now=now, actor=actor)
    return membership


def change_email(session: Session, publisher: Publisher, *, school_id: str, account_id: str,
                 email: str, now: dt.datetime, actor: str) -> Account:
    _membership, account, _group_row = _found(session, school_id, account_id)
    _set_email(session, publisher, account, email, school_id=school_id, now=now, actor=actor)
    return account


def change_group(session: Session, publisher: Publisher, *, school_id: str, account_id: str,
                 user_group_id: str, now: dt.datetime, actor: str) -> Membership:
    membership, account, _old = _found(session, school_id, account_id)
    group = _group(session, school_id, user_group_id)
    directory.upsert_membership(session, publisher, account=account, group=group,
                                active=membership.active, now=now, actor=actor)
    ensure_an_admin_remains(session, school_id)
    return membership


def set_alert_email(session: Session, publisher: Publisher, *, school_id: str,
                    account_id: str, alert_email: str, now: dt.datetime, actor: str
                    ) -> Membership:
    """Where this school's alerts go for this user ("" for their own email)."""
    membership, account, group = _found(session, school_id, account_id)
    cleaned = directory.valid_email(alert_email) if alert_email.strip() else ""
    if cleaned == membership.alert_email:
        return membership
    membership.alert_email = cleaned
    session.flush()
    publisher.account_upserted(session, account, membership, group, actor=actor)
    return membership


def remove_second_factors(session: Session, *, school_id: str, account_id: str,
                          confirmed: bool, now: dt.datetime) -> tuple[Account, int]:
    """Remove every authenticator app and security key of a user (after the admin ticked
    the confirmation) and end their sessions. Returns the account and how many went."""
    if not confirmed:
        raise InvalidArgument(CONFIRM_REMOVAL, field="confirm")
    _membership, account, _group_row = _found(session, school_id, account_id)
    if is_shared(session, school_id=school_id, account_id=account.id):
        raise FailedPrecondition(SHARED_ACCOUNT)
    removed = totp.remove_devices(session, account_id=account.id)
    removed += keys.remove_keys(session, account_id=account.id)
    totp.cancel_enrolments(session, account_id=account.id)
    sessions.revoke_all(session, account_id=account.id, now=now, reason=REVOKED_KEYS_REMOVED)
    return account, removed
