"""A small, readable world for records tests: two schools, groups, staff, categories, students.

School A ("ours") has:
- groups DSL (key holder, every category permission), Teachers (may add to every category
  but Legal Action, may view nothing) and Pastoral (key holder, may view Behaviour and
  Bullying only);
- staff Dana (DSL), Tom and Tess (Teachers), Pat (Pastoral), Lou (left: inactive);
- students Hannah and Matthew Greenwood, Danielle Bradshaw, and an archived leaver.
School B has its own category and a student also called Hannah.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from google.protobuf.message import Message
from sqlalchemy import func, select

from haven.identity.v1 import identity_pb2
from haven.mis_import.v1 import mis_import_pb2
from services.records.categories import set_permission, upsert_category
from services.records.events import OutboxEvents
from services.records.handlers import (
    ACCOUNT_UPSERTED,
    ALERT_GROUP_UPSERTED,
    ATTENDANCE_RECORDED,
    CONTACTS_UPSERTED,
    GROUP_UPSERTED,
    STUDENT_ARCHIVED,
    STUDENT_UPSERTED,
    USER_GROUP_UPSERTED,
)
from services.records.models import EVENTS, Student
from shared.context import Claims, school_scope
from shared.db import Database
from shared.events import Consumer, Outbox, make_envelope
from shared.events.envelope import decode_envelope, open_payload
from shared.testing import FULL_PERMISSIONS, TokenFactory

RESTRICTED_PERMISSIONS = ("add_incidents",)


def uid() -> str:
    return str(uuid.uuid4())


@dataclass
class School:
    id: str = field(default_factory=uid)
    dsl_group: str = field(default_factory=uid)
    teachers_group: str = field(default_factory=uid)
    pastoral_group: str = field(default_factory=uid)
    dsl: str = field(default_factory=uid)
    teacher: str = field(default_factory=uid)
    teacher2: str = field(default_factory=uid)
    pastoral: str = field(default_factory=uid)
    leaver: str = field(default_factory=uid)
    categories: dict[str, str] = field(default_factory=dict)
    students: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    db: Database
    tokens: TokenFactory
    consumer: Consumer
    a: School
    b: School
    events: OutboxEvents
    mis: Consumer | None = None

    # ---- callers -------------------------------------------------------------------------

    def dsl(self, school: School | None = None) -> Claims:
        s = school or self.a
        return self.tokens.claims(school_id=s.id, account_id=s.dsl, user_group_id=s.dsl_group,
                                  access="full", permissions=FULL_PERMISSIONS, name="Dana Lead")

    def dsl_without_key(self) -> Claims:
        """The DSL logged in with a password only: restricted access."""
        s = self.a
        return self.tokens.claims(school_id=s.id, account_id=s.dsl, user_group_id=s.dsl_group,
                                  access="restricted", permissions=RESTRICTED_PERMISSIONS,
                                  name="Dana Lead")

    def teacher(self, school: School | None = None, *, second: bool = False) -> Claims:
        s = school or self.a
        return self.tokens.claims(
            school_id=s.id, account_id=s.teacher2 if second else s.teacher,
            user_group_id=s.teachers_group, access="restricted",
            permissions=RESTRICTED_PERMISSIONS, name="Tess Tutor" if second else "Tom Teacher",
        )

    def keyholder(self, account_id: str, group_id: str, *,
                  permissions: tuple[str, ...] = FULL_PERMISSIONS, name: str = "Key Holder",
                  school: School | None = None) -> Claims:
        """Any elevated caller (e.g. a teacher in a key-holder group)."""
        s = school or self.a
        return self.tokens.claims(school_id=s.id, account_id=account_id, user_group_id=group_id,
                                  access="full", permissions=permissions, name=name)

    def pastoral(self) -> Claims:
        s = self.a
        return self.tokens.claims(school_id=s.id, account_id=s.pastoral,
                                  user_group_id=s.pastoral_group, access="full",
                                  permissions=FULL_PERMISSIONS, name="Pat Pastoral")

    # ---- reading back --------------------------------------------------------------------

    def count(self, model, **where) -> int:
        with self.db.read() as s:
            q = select(func.count()).select_from(model)
            for k, v in where.items():
                q = q.where(getattr(model, k) == v)
            return s.execute(q.execution_options(all_schools=True)).scalar_one()

    def outbox(self) -> list[tuple[str, Message]]:
        """Every event in the outbox, decoded: (routing key, payload)."""
        from services.records.events import PAYLOADS

        t = EVENTS.outbox
        with self.db.read() as s:
            rows = s.execute(select(t.c.routing_key, t.c.body).order_by(t.c.seq)).all()
        out = []
        for key, body in rows:
            env = decode_envelope(body)
            out.append((key, open_payload(env, PAYLOADS[key])))
        return out

    def outbox_bodies(self) -> list[bytes]:
        t = EVENTS.outbox
        with self.db.read() as s:
            return [r[0] for r in s.execute(select(t.c.body).order_by(t.c.seq)).all()]


# ---- identity's events, as identity would publish them -----------------------------------------


def account_event(school_id: str, account_id: str, name: str, group_id: str, *,
                  key_holder: bool = False, active: bool = True,
                  occurred_at: dt.datetime | None = None) -> bytes:
    msg = identity_pb2.AccountUpserted(
        account_id=account_id, school_id=school_id, email=f"{account_id[:8]}@school.test",
        display_name=name, user_group_id=group_id, user_group_name="", key_holder=key_holder,
        active=active,
    )
    env = make_envelope(ACCOUNT_UPSERTED, msg, school_id=school_id, actor="system:identity")
    if occurred_at is not None:
        env.occurred_at.FromDatetime(occurred_at)
    return env.SerializeToString()


def group_event(school_id: str, group_id: str, name: str, *, key_holder: bool,
                occurred_at: dt.datetime | None = None,
                permissions: tuple[str, ...] = ()) -> bytes:
    msg = identity_pb2.UserGroupUpserted(
        user_group_id=group_id, school_id=school_id, name=name, key_holder=key_holder,
        permissions=list(permissions),
    )
    env = make_envelope(USER_GROUP_UPSERTED, msg, school_id=school_id, actor="system:identity")
    if occurred_at is not None:
        env.occurred_at.FromDatetime(occurred_at)
    return env.SerializeToString()


def alert_group_event(school_id: str, group_id: str, name: str, members: list[str], *,
                      deleted: bool = False, occurred_at: dt.datetime | None = None) -> bytes:
    msg = identity_pb2.AlertGroupUpserted(alert_group_id=group_id, school_id=school_id,
                                          name=name, member_account_ids=members,
                                          deleted=deleted)
    env = make_envelope(ALERT_GROUP_UPSERTED, msg, school_id=school_id, actor="system:identity")
    if occurred_at is not None:
        env.occurred_at.FromDatetime(occurred_at)
    return env.SerializeToString()


# ---- the MIS import's events, as mis_import would publish them ---------------------------------


def _mis(key: str, msg, school_id: str, as_of: dt.datetime | None) -> bytes:
    if as_of is not None:
        msg.as_of.FromDatetime(as_of)
    return make_envelope(key, msg, school_id=school_id, actor="system:mis_import"
                         ).SerializeToString()


def student_upserted(school_id: str, mis_id: str, first: str, last: str, *,
                     as_of: dt.datetime | None = None, **fields) -> bytes:
    fields.setdefault("date_of_birth", "2013-02-11")
    fields.setdefault("year_group", "Year 8")
    fields.setdefault("tutor_group", "8B")
    msg = mis_import_pb2.StudentUpserted(school_id=school_id, mis_id=mis_id,
                                         legal_first_name=first, legal_last_name=last, **fields)
    return _mis(STUDENT_UPSERTED, msg, school_id, as_of)


def student_archived(school_id: str, mis_id: str, *, as_of: dt.datetime | None = None,
                     **fields) -> bytes:
    msg = mis_import_pb2.StudentArchived(school_id=school_id, mis_id=mis_id, **fields)
    return _mis(STUDENT_ARCHIVED, msg, school_id, as_of)


def mis_group(school_id: str, mis_id: str, name: str, kind: str, members: list[str], *,
              active: bool = True, as_of: dt.datetime | None = None) -> bytes:
    msg = mis_import_pb2.GroupUpserted(school_id=school_id, mis_id=mis_id, name=name, kind=kind,
                                       student_mis_ids=members, active=active)
    return _mis(GROUP_UPSERTED, msg, school_id, as_of)


def contacts(school_id: str, student_mis_id: str, people: list[dict], *,
             as_of: dt.datetime | None = None) -> bytes:
    msg = mis_import_pb2.ContactsUpserted(
        school_id=school_id, student_mis_id=student_mis_id,
        contacts=[mis_import_pb2.Contact(**p) for p in people])
    return _mis(CONTACTS_UPSERTED, msg, school_id, as_of)


def attendance(school_id: str, student_mis_id: str, marks: list[tuple], *,
               as_of: dt.datetime | None = None) -> bytes:
    """marks: (iso date, "AM"/"PM", code[, minutes late])"""
    msg = mis_import_pb2.AttendanceRecorded(
        school_id=school_id, student_mis_id=student_mis_id,
        marks=[mis_import_pb2.AttendanceMark(date=m[0], session=m[1], code=m[2],
                                             minutes_late=m[3] if len(m) > 3 else 0)
               for m in marks])
    return _mis(ATTENDANCE_RECORDED, msg, school_id, as_of)


# ---- building the world --------------------------------------------------------------------------


def _school(world_db: Database, events: OutboxEvents, consumer: Consumer, s: School,
            *, full: bool) -> None:
    for group, name, key, perms in (
            (s.dsl_group, "DSL", True, FULL_PERMISSIONS),
            (s.teachers_group, "Teachers", False, RESTRICTED_PERMISSIONS),
            (s.pastoral_group, "Pastoral", True, FULL_PERMISSIONS)):
        consumer.handle(group_event(s.id, group, name, key_holder=key, permissions=perms))
    for account, name, group, active in (
        (s.dsl, "Dana Lead", s.dsl_group, True),
        (s.teacher, "Tom Teacher", s.teachers_group, True),
        (s.teacher2, "Tess Tutor", s.teachers_group, True),
        (s.pastoral, "Pat Pastoral", s.pastoral_group, True),
        (s.leaver, "Lou Left", s.teachers_group, False),
    ):
        consumer.handle(account_event(s.id, account, name, group, active=active,
                                      key_holder=group in (s.dsl_group, s.pastoral_group)))

    tree = [("Behaviour", None), ("Bullying", None), ("Child Protection", None),
            ("Attendance", None), ("Legal Action", "Attendance"), ("Old Category", None)]
    if not full:
        tree = [("Bullying", None)]
    with school_scope(s.id), world_db.transaction() as session:
        for position, (name, parent) in enumerate(tree):
            category, _ = upsert_category(
                session, events, school_id=s.id, category_id=uid(), name=name,
                parent_id=s.categories.get(parent) if parent else None,
                colour="e91e63", position=position, enabled=name != "Old Category",
            )
            s.categories[name] = category.id
            set_permission(session, school_id=s.id, user_group_id=s.dsl_group,
                           category_id=category.id, view_students=True, view_incidents=True,
                           add_incidents=True)
            set_permission(session, school_id=s.id, user_group_id=s.teachers_group,
                           category_id=category.id, view_students=False, view_incidents=False,
                           add_incidents=name != "Legal Action")
            pastoral = name in ("Behaviour", "Bullying")
            set_permission(session, school_id=s.id, user_group_id=s.pastoral_group,
                           category_id=category.id, view_students=pastoral,
                           view_incidents=pastoral, add_incidents=pastoral)
        people = [("hannah", "Hannah", "Greenwood", "", False),
                  ("matthew", "Matthew", "Greenwood", "Matt", False),
                  ("danielle", "Danielle", "Bradshaw", "Dani", False),
                  ("leaver", "Oliver", "Greenhalgh", "", True)]
        if not full:
            people = [("hannah", "Hannah", "Brook", "", False)]
        for key, first, last, preferred, archived in people:
            student = Student(
                id=uid(), school_id=s.id, first_name=first, last_name=last,
                preferred_name=preferred, date_of_birth=dt.date(2012, 5, 17), gender="F",
                year_group="Year 8", tutor_group="8B", archived=archived,
                upn=None, mis_id=key,
            )
            session.add(student)
            s.students[key] = student.id


def build_world(db: Database, tokens: TokenFactory) -> World:
    from services.records.app import directory_consumer, mis_consumer

    events = OutboxEvents(Outbox(EVENTS.outbox))
    consumer = directory_consumer(db)
    world = World(db=db, tokens=tokens, consumer=consumer, a=School(), b=School(), events=events,
                  mis=mis_consumer(db))
    _school(db, events, consumer, world.a, full=True)
    _school(db, events, consumer, world.b, full=False)
    return world
