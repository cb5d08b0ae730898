"""Events identity publishes, built from protos and added to the outbox in the caller's
transaction (implements the ``Publisher`` protocols of the domain modules).

- ``identity.school.created`` (SchoolCreated)
- ``identity.user_group.upserted`` (UserGroupUpserted; ``deleted`` when a group goes)
- ``identity.account.upserted`` (AccountUpserted): one per membership, as it now is.
- ``identity.alert_group.upserted`` (AlertGroupUpserted): the name and every member;
  ``deleted`` when a group goes.
- ``identity.password_reset.requested`` (PasswordResetRequested): notifications emails the
  link (its path; the gateway serves the page).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from haven.identity.v1 import identity_pb2
from services.identity.models import (
    Account,
    AlertGroup,
    Membership,
    PasswordResetLink,
    School,
    UserGroup,
)
from services.identity.password_reset import LINK_PATH
from shared.events import Outbox

SCHOOL_CREATED = "identity.school.created"
USER_GROUP_UPSERTED = "identity.user_group.upserted"
ACCOUNT_UPSERTED = "identity.account.upserted"
ALERT_GROUP_UPSERTED = "identity.alert_group.upserted"
PASSWORD_RESET_REQUESTED = "identity.password_reset.requested"  # noqa: S105 - a routing key


def school_created(school: School) -> identity_pb2.SchoolCreated:
    return identity_pb2.SchoolCreated(
        school_id=school.id, name=school.name, slug=school.slug, time_zone=school.time_zone,
        postcode=school.postcode or "",
    )


def user_group_upserted(group: UserGroup, *, deleted: bool = False
                        ) -> identity_pb2.UserGroupUpserted:
    return identity_pb2.UserGroupUpserted(
        user_group_id=group.id,
        school_id=group.school_id,
        name=group.name,
        key_holder=group.key_holder,
        permissions=sorted(group.permissions or []),
        deleted=deleted,
    )


def account_upserted(
    account: Account, membership: Membership, group: UserGroup
) -> identity_pb2.AccountUpserted:
    return identity_pb2.AccountUpserted(
        account_id=account.id,
        school_id=membership.school_id,
        email=account.email,
        display_name=account.display_name,
        user_group_id=group.id,
        user_group_name=group.name,
        key_holder=group.key_holder,
        active=membership.active,
        job_title=membership.job_title or "",
        alert_email=membership.alert_email or "",
    )


def alert_group_upserted(group: AlertGroup, member_ids: list[str], *, deleted: bool = False
                         ) -> identity_pb2.AlertGroupUpserted:
    return identity_pb2.AlertGroupUpserted(
        alert_group_id=group.id,
        school_id=group.school_id,
        name=group.name,
        member_account_ids=sorted(member_ids),
        deleted=deleted,
    )


def password_reset_requested(link: PasswordResetLink, account: Account, school: School, *,
                             token: str) -> identity_pb2.PasswordResetRequested:
    message = identity_pb2.PasswordResetRequested(
        school_id=school.id,
        account_id=account.id,
        email=account.email,
        display_name=account.display_name,
        reset_url_path=LINK_PATH.format(token=token),
        welcome=link.welcome,
        school_name=school.name,
        time_zone=school.time_zone,
    )
    message.expires_at.FromDatetime(link.expires_at)  # naive UTC
    return message


class OutboxPublisher:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def school_created(self, session: Session, school: School, *, actor: str) -> None:
        self.outbox.add(
            session, SCHOOL_CREATED, school_created(school), school_id=school.id, actor=actor
        )

    def user_group_upserted(self, session: Session, group: UserGroup, *, actor: str) -> None:
        self.outbox.add(session, USER_GROUP_UPSERTED, user_group_upserted(group),
                        school_id=group.school_id, actor=actor)

    def user_group_deleted(self, session: Session, group: UserGroup, *, actor: str) -> None:
        self.outbox.add(session, USER_GROUP_UPSERTED, user_group_upserted(group, deleted=True),
                        school_id=group.school_id, actor=actor)

    def account_upserted(
        self,
        session: Session,
        account: Account,
        membership: Membership,
        group: UserGroup,
        *,
        actor: str,
    ) -> None:
        self.outbox.add(
            session,
            ACCOUNT_UPSERTED,
            account_upserted(account, membership, group),
            school_id=membership.school_id,
            actor=actor,
        )

    def alert_group_upserted(self, session: Session, group: AlertGroup,
                             member_ids: list[str], *, actor: str,
                             deleted: bool = False) -> None:
        self.outbox.add(session, ALERT_GROUP_UPSERTED,
                        alert_group_upserted(group, member_ids, deleted=deleted),
                        school_id=group.school_id, actor=actor)

    def password_reset_requested(self, session: Session, link: PasswordResetLink,
                                 account: Account, school: School, *, token: str,
                                 actor: str) -> None:
        self.outbox.add(session, PASSWORD_RESET_REQUESTED,
                        password_reset_requested(link, account, school, token=token),
                        school_id=school.id, actor=actor)
