"""The school's staff as its MIS describes them (``mis.staff.upserted``), for Admin > Users.

- The New User list offers staff who are permanent, present in the latest extract, started
  on or before today (the school's date) and not yet ended, and who are not users already.
- A membership made from the list remembers the MIS id; a membership with no MIS id is
  matched to an MIS record with the same email when one arrives.
- When the school has "disable accounts missing from MIS extracts" on, a matched user whose
  record says they are no longer in the extract (or whose employment has ended) is
  deactivated. Names follow the school's "use legal names" setting; an account shared with
  other schools (SSO) is never renamed by one school's MIS.

``apply_staff_upserted`` is the event handler's body: deterministic, writes only through the
session it is given, ignores a record older than the one it has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.identity import directory
from services.identity import settings as school_settings
from services.identity.models import Account, Membership, MisStaff, UserGroup
from shared.db import new_id

DEACTIVATED_MISSING = "missing_from_mis"
_SYSTEM_ACTOR = "system:identity"


class Publisher(directory.Publisher, Protocol):
    pass


@dataclass(frozen=True)
class StaffRecord:
    """The fields of ``StaffUpserted`` this module uses (no generated stubs here)."""

    mis_id: str
    title: str = ""
    first_name: str = ""
    last_name: str = ""
    legal_first_name: str = ""
    legal_last_name: str = ""
    email: str = ""
    job_title: str = ""
    permanent: bool = False
    start_date: str = ""
    end_date: str = ""
    present_in_extract: bool = True
    as_of: dt.datetime | None = None


@dataclass(frozen=True)
class Candidate:
    mis_id: str
    display_name: str
    email: str
    job_title: str
    start_date: str


def display_name(row: MisStaff | StaffRecord, *, legal: bool) -> str:
    first, last = (
        (row.legal_first_name or row.first_name, row.legal_last_name or row.last_name)
        if legal
        else (row.first_name or row.legal_first_name, row.last_name or row.legal_last_name)
    )
    return " ".join(p.strip() for p in (first, last) if p and p.strip())[:200]


def _iso(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def employed_on(row: MisStaff, today: dt.date) -> bool:
    start, end = _iso(row.start_date), _iso(row.end_date)
    return start is not None and start <= today and (end is None or end >= today)


def eligible(row: MisStaff, today: dt.date) -> bool:
    return row.permanent and row.present_in_extract and employed_on(row, today)


def get(session: Session, *, school_id: str, mis_id: str) -> MisStaff | None:
    return session.scalars(
        select(MisStaff).where(MisStaff.school_id == school_id, MisStaff.mis_id == mis_id)
    ).first()


def candidates(session: Session, *, school_id: str, today: dt.date) -> list[Candidate]:
    """Staff who may be added as new users now (not already users of the school)."""
    legal = school_settings.get(session, school_id).use_legal_names
    members = session.execute(
        select(Membership.mis_id, Account.email)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.school_id == school_id)
    ).all()
    taken_ids = {m for m, _ in members if m}
    taken_emails = {e for _, e in members}
    found = []
    for row in session.scalars(
        select(MisStaff).where(MisStaff.school_id == school_id)
        .order_by(func.lower(MisStaff.last_name), func.lower(MisStaff.first_name))
    ):
        if not eligible(row, today) or row.mis_id in taken_ids:
            continue
        if row.email and row.email in taken_emails:
            continue
        found.append(Candidate(mis_id=row.mis_id, display_name=display_name(row, legal=legal),
                               email=row.email, job_title=row.job_title,
                               start_date=row.start_date))
    return found


def _single_school(session: Session, account_id: str) -> bool:
    account = session.get(Account, account_id)
    return account is not None and (account.membership_count or 0) <= 1


def apply_staff_upserted(
    session: Session,
    publisher: Publisher,
    *,
    school_id: str,
    record: StaffRecord,
    occurred_at: dt.datetime,
) -> None:
    """Mirror one MIS staff record; match, rename or deactivate the user it belongs to."""
    if not record.mis_id or directory.find_school(session, school_id) is None:
        return
    row = get(session, school_id=school_id, mis_id=record.mis_id)
    if row is not None and row.as_of and record.as_of and record.as_of < row.as_of:
        return  # an older extract delivered late
    if row is None:
        row = MisStaff(id=new_id(), school_id=school_id, mis_id=record.mis_id[:64])
        session.add(row)
    row.title = record.title[:40]
    row.first_name = record.first_name[:100]
    row.last_name = record.last_name[:100]
    row.legal_first_name = record.legal_first_name[:100]
    row.legal_last_name = record.legal_last_name[:100]
    row.email = directory.normalise_email(record.email)[:254]
    row.job_title = record.job_title[:100]
    row.permanent = record.permanent
    row.start_date = record.start_date[:10]
    row.end_date = record.end_date[:10]
    row.present_in_extract = record.present_in_extract
    row.as_of = record.as_of
    row.updated_at = occurred_at
    session.flush()

    membership = _matched_membership(session, school_id, row)
    if membership is None:
        return
    setting = school_settings.get(session, school_id)
    account = session.get(Account, membership.account_id)
    name = display_name(row, legal=setting.use_legal_names)
    if name and name != account.display_name and _single_school(session, account.id):
        directory.upsert_account(session, publisher, email=account.email, display_name=name,
                                 account_id=account.id, now=occurred_at, actor=_SYSTEM_ACTOR)
    gone = not row.present_in_extract or (
        _iso(row.end_date) is not None and _iso(row.end_date) < occurred_at.date()
    )
    if gone and membership.active and setting.disable_missing_from_mis:
        group = session.get(UserGroup, membership.user_group_id)
        directory.upsert_membership(session, publisher, account=account, group=group,
                                    active=False, now=occurred_at, actor=_SYSTEM_ACTOR,
                                    reason=DEACTIVATED_MISSING)


def _matched_membership(session: Session, school_id: str, row: MisStaff) -> Membership | None:
    membership = session.scalars(
        select(Membership).where(Membership.school_id == school_id,
                                 Membership.mis_id == row.mis_id)
    ).first()
    if membership is not None or not row.email:
        return membership
    membership = session.scalars(
        select(Membership)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.school_id == school_id, Membership.mis_id.is_(None),
               Account.email == row.email)
    ).first()
    if membership is not None:
        membership.mis_id = row.mis_id
        session.flush()
    return membership


def rename_for_setting(
    session: Session, publisher: Publisher, *, school_id: str, legal: bool,
    now: dt.datetime, actor: str,
) -> int:
    """After "use legal names" changes: rename the school's MIS-matched users (accounts of
    this school only). Returns how many were renamed."""
    renamed = 0
    rows = session.execute(
        select(Membership, MisStaff)
        .join(MisStaff, (MisStaff.school_id == Membership.school_id)
              & (MisStaff.mis_id == Membership.mis_id))
        .where(Membership.school_id == school_id)
    ).all()
    for membership, staff in rows:
        account = session.get(Account, membership.account_id)
        name = display_name(staff, legal=legal)
        if name and name != account.display_name and _single_school(session, account.id):
            directory.upsert_account(session, publisher, email=account.email,
                                     display_name=name, account_id=account.id, now=now,
                                     actor=actor)
            renamed += 1
    return renamed

