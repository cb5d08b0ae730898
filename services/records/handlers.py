"""Event consumers.

- ``records.directory``: identity's facts about staff, user groups and alert groups;
- ``records.mis``: the MIS import's students, groups, contacts and attendance (``mis.py``).

Each handler runs in the consumer's transaction with the inbox row, is deterministic (the
state it writes depends only on the event), and ignores an event older than what it already
applied (events may arrive out of order after a retry).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from haven.identity.v1 import identity_pb2
from haven.mis_import.v1 import mis_import_pb2
from services.records import mis
from services.records.models import (
    AlertGroup,
    CategoryPermission,
    GroupAccess,
    StaffMember,
    UserGroupRef,
)
from shared.context import school_scope
from shared.db import new_id
from shared.events import Consumer

ACCOUNT_UPSERTED = "identity.account.upserted"
USER_GROUP_UPSERTED = "identity.user_group.upserted"
ALERT_GROUP_UPSERTED = "identity.alert_group.upserted"
STUDENT_UPSERTED = "mis.student.upserted"
STUDENT_ARCHIVED = "mis.student.archived"
GROUP_UPSERTED = "mis.group.upserted"
CONTACTS_UPSERTED = "mis.contact.upserted"
ATTENDANCE_RECORDED = "mis.attendance.recorded"


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
        row.permissions = sorted(set(message.permissions))
        row.source_at = stated
        if getattr(message, "deleted", False):
            # A deleted group (it had no users) takes its rights with it.
            for model in (CategoryPermission, GroupAccess):
                session.execute(delete(model).where(
                    model.school_id == school_id, model.user_group_id == row.id))
        session.flush()


def apply_alert_group_upserted(
    session: Session, envelope, message: identity_pb2.AlertGroupUpserted
) -> None:
    school_id = _school_of(envelope, message.school_id)
    if not school_id or not message.alert_group_id:
        return
    stated = _stated_at(envelope)
    with school_scope(school_id):
        row = session.get(AlertGroup, message.alert_group_id)
        if row is None:
            row = AlertGroup(id=message.alert_group_id, school_id=school_id)
            session.add(row)
        elif row.school_id != school_id or _stale(row.source_at, stated):
            return
        row.name = message.name[:200]
        row.member_account_ids = list(dict.fromkeys(a for a in message.member_account_ids if a))
        row.deleted = message.deleted
        row.source_at = stated
        session.flush()


def register(consumer: Consumer) -> Consumer:
    consumer.on(ACCOUNT_UPSERTED, identity_pb2.AccountUpserted)(apply_account_upserted)
    consumer.on(USER_GROUP_UPSERTED, identity_pb2.UserGroupUpserted)(apply_user_group_upserted)
    consumer.on(ALERT_GROUP_UPSERTED,
                identity_pb2.AlertGroupUpserted)(apply_alert_group_upserted)
    return consumer


# ---- the MIS import ------------------------------------------------------------------------------


def _mis_handler(apply):
    def handle(session: Session, envelope, message) -> None:
        school_id = _school_of(envelope, message.school_id)
        if not school_id:
            return
        with school_scope(school_id):
            apply(session, school_id, message, _stated_at(envelope))
            session.flush()

    handle.__name__ = apply.__name__
    return handle


def register_mis(consumer: Consumer) -> Consumer:
    for key, cls, apply in (
        (STUDENT_UPSERTED, mis_import_pb2.StudentUpserted, mis.apply_student_upserted),
        (STUDENT_ARCHIVED, mis_import_pb2.StudentArchived, mis.apply_student_archived),
        (GROUP_UPSERTED, mis_import_pb2.GroupUpserted, mis.apply_group_upserted),
        (CONTACTS_UPSERTED, mis_import_pb2.ContactsUpserted, mis.apply_contacts_upserted),
        (ATTENDANCE_RECORDED, mis_import_pb2.AttendanceRecorded,
         mis.apply_attendance_recorded),
    ):
        consumer.on(key, cls)(_mis_handler(apply))
    return consumer
