"""Event consumers: identity's facts about staff and user groups -> records' directory.

Each handler runs in the consumer's transaction with the inbox row, is deterministic (the
state it writes depends only on the event), and ignores an event older than what it already
applied (events may arrive out of order after a retry).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.identity.v1 import identity_pb2
from services.records.models import StaffMember, UserGroupRef
from shared.context import school_scope
from shared.db import new_id
from shared.events import Consumer

ACCOUNT_UPSERTED = "identity.account.upserted"
USER_GROUP_UPSERTED = "identity.user_group.upserted"


def _stated_at(envelope) -> dt.datetime | None:
    if not envelope.HasField("occurred_at"):
        return None
    return envelope.occurred_at.ToDatetime()  # naive UTC


def _stale(known: dt.datetime | None, incoming: dt.datetime | None) -> bool:
    return known is not None and incoming is not None and incoming < known


def _school_of(envelope, message_school: str) -> str:
    return message_school or envelope.school_id


def apply_account_upserted(
    session: Session, envelope, message: identity_pb2.AccountUpserted
) -> None:
    school_id = _school_of(envelope, message.school_id)
    if not school_id or not message.account_id:
        return
    stated = _stated_at(envelope)
    with school_scope(school_id):
        row = session.scalars(
            select(StaffMember).where(
                StaffMember.school_id == school_id,
                StaffMember.account_id == message.account_id,
            )
        ).first()
        if row is None:
            row = StaffMember(id=new_id(), school_id=school_id, account_id=message.account_id)
            session.add(row)
        elif _stale(row.source_at, stated):
            return
        row.display_name = message.display_name[:200]
        row.user_group_id = message.user_group_id
        row.key_holder = message.key_holder
        row.active = message.active
        row.source_at = stated
        session.flush()


def apply_user_group_upserted(
    session: Session, envelope, message: identity_pb2.UserGroupUpserted
) -> None:
    school_id = _school_of(envelope, message.school_id)
    if not school_id or not message.user_group_id:
        return
    stated = _stated_at(envelope)
    with school_scope(school_id):
        row = session.get(UserGroupRef, message.user_group_id)
        if row is None:
            row = UserGroupRef(id=message.user_group_id, school_id=school_id)
            session.add(row)
        elif row.school_id != school_id or _stale(row.source_at, stated):
            return
        row.name = message.name[:200]
        row.key_holder = message.key_holder
        row.source_at = stated
        session.flush()


def register(consumer: Consumer) -> Consumer:
    consumer.on(ACCOUNT_UPSERTED, identity_pb2.AccountUpserted)(apply_account_upserted)
    consumer.on(USER_GROUP_UPSERTED, identity_pb2.UserGroupUpserted)(apply_user_group_upserted)
    return consumer
