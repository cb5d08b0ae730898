"""Who may call what. The token says who the caller is; for anything that changes accounts
the database has the last word (the session still live, the membership still active, the
group still an administrators' key holder group), so a token minted before a change cannot
outlive it.

- Staff: a person's token (full or restricted access). Integration tokens (client
  credentials) can use nothing in identity: they may add a concern, and read nothing.
- Admin: full access (a key holder after a second factor) with the ``administration``
  permission, in the school of the token only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.identity import directory
from services.identity.models import Account, LoginSession, Membership, School, UserGroup
from shared.context import Claims
from shared.errors import PermissionDenied, Unauthenticated

ADMINISTRATION = "administration"
STAFF_ACCESS = ("full", "restricted")
NOT_FOR_INTEGRATIONS = "An integration's token cannot be used for this."
ADMIN_ONLY = "Only an administrator with elevated access can do this."
SESSION_GONE = "Your session has ended. Please log in again."


@dataclass(frozen=True)
class Caller:
    """A person acting in one school, as the database says they are now."""

    account: Account
    session: LoginSession
    membership: Membership
    group: UserGroup
    school: School

    @property
    def account_id(self) -> str:
        return self.account.id

    @property
    def school_id(self) -> str:
        return self.school.id

    @property
    def elevated(self) -> bool:
        return self.session.acr == "mfa"


def require_staff_token(claims: Claims) -> Claims:
    if claims.access not in STAFF_ACCESS:
        raise PermissionDenied(NOT_FOR_INTEGRATIONS)
    return claims


def caller(session: Session, claims: Claims) -> Caller:
    """The person behind a staff token, checked against their live session and membership."""
    require_staff_token(claims)
    row = session.get(LoginSession, claims.session_id) if claims.session_id else None
    if (
        row is None
        or row.revoked_at is not None
        or row.account_id != claims.account_id
        or row.school_id != claims.school_id
    ):
        raise Unauthenticated(SESSION_GONE)
    found = directory.active_membership(
        session, account_id=claims.account_id, school_id=claims.school_id
    )
    if found is None:
        raise Unauthenticated(SESSION_GONE)
    membership, group, school = found
    account = session.get(Account, claims.account_id)
    return Caller(account=account, session=row, membership=membership, group=group,
                  school=school)


def is_admin(group: UserGroup) -> bool:
    return group.key_holder and ADMINISTRATION in (group.permissions or ())


def admin(session: Session, claims: Claims) -> Caller:
    """An administrator of the token's school with elevated access, as of now."""
    require_staff_token(claims)
    if not (claims.full_access and claims.has(ADMINISTRATION)):
        raise PermissionDenied(ADMIN_ONLY)
    who = caller(session, claims)
    if not (who.elevated and is_admin(who.group)):
        raise PermissionDenied(ADMIN_ONLY)
    return who
