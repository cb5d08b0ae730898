"""Events identity publishes, built from protos and added to the outbox in the caller's
transaction (implements ``directory.Publisher``).

- ``identity.school.created`` (SchoolCreated)
- ``identity.user_group.upserted`` (UserGroupUpserted)
- ``identity.account.upserted`` (AccountUpserted): one per membership, as it now is.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from haven.identity.v1 import identity_pb2
from services.identity.models import Account, Membership, School, UserGroup
from shared.events import Outbox

SCHOOL_CREATED = "identity.school.created"
USER_GROUP_UPSERTED = "identity.user_group.upserted"
ACCOUNT_UPSERTED = "identity.account.upserted"


def school_created(school: School) -> identity_pb2.SchoolCreated:
    return identity_pb2.SchoolCreated(
        school_id=school.id, name=school.name, slug=school.slug, time_zone=school.time_zone
    )


def user_group_upserted(group: UserGroup) -> identity_pb2.UserGroupUpserted:
    return identity_pb2.UserGroupUpserted(
        user_group_id=group.id,
        school_id=group.school_id,
        name=group.name,
        key_holder=group.key_holder,
        permissions=sorted(group.permissions or []),
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
    )


class OutboxPublisher:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def school_created(self, session: Session, school: School, *, actor: str) -> None:
        self.outbox.add(
            session, SCHOOL_CREATED, school_created(school), school_id=school.id, actor=actor
        )

    def user_group_upserted(self, session: Session, group: UserGroup, *, actor: str) -> None:
        self.outbox.add(
            session,
            USER_GROUP_UPSERTED,
            user_group_upserted(group),
            school_id=group.school_id,
            actor=actor,
        )

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
