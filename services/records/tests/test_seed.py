"""The demo school's records data: idempotent and deterministic."""

from __future__ import annotations

import re

from sqlalchemy import select

from services.records import seed
from services.records.models import EVENTS, Category, CategoryPermission, Student
from shared.db import Database
from shared.events import Outbox


def rows(db: Database, model):
    with db.read() as s:
        out = list(s.scalars(select(model)))
        s.expunge_all()
        return out


def outbox_count(db: Database) -> int:
    with db.read() as s:
        return len(s.execute(select(EVENTS.outbox.c.seq)).all())


def test_seed_is_idempotent_and_announces_categories_once(db):
    outbox = Outbox(EVENTS.outbox)
    first = seed.seed_demo(db, outbox)
    assert first == {"categories": 16, "category_permissions": 48, "agencies": 7}
    assert outbox_count(db) == 16
    again = seed.seed_demo(db, outbox)
    assert again == {"categories": 0, "category_permissions": 0, "agencies": 0}
    assert outbox_count(db) == 16


def test_default_categories_and_permissions(db):
    seed.seed_demo(db, Outbox(EVENTS.outbox))
    categories = {c.id: c for c in rows(db, Category)}
    by_name = {c.name: c for c in categories.values()}
    parents = sorted((c.position, c.name) for c in categories.values() if not c.parent_id)
    assert [n for _, n in parents] == [
        "Attainment", "Attendance", "Behaviour", "Bullying", "Cause for Concern",
        "Child Protection", "Home Issues", "Medical Issues", "Parental Contact", "Prevent",
        "Safeguarding", "SEND"]
    assert by_name["Legal Action"].parent_id == by_name["Attendance"].id
    assert by_name["Removed From Class"].parent_id == by_name["Behaviour"].id
    assert all(re.fullmatch(r"[0-9a-f]{6}", c.colour) for c in categories.values())
    perms = rows(db, CategoryPermission)
    for group in (seed.DSL_GROUP_ID, seed.ADMIN_GROUP_ID):
        mine = [p for p in perms if p.user_group_id == group]
        assert len(mine) == 16
        assert all(p.view_students and p.view_incidents and p.add_incidents for p in mine)
    teachers = {categories[p.category_id].name: p for p in perms
                if p.user_group_id == seed.TEACHERS_GROUP_ID}
    assert not teachers["Legal Action"].add_incidents
    assert all(p.add_incidents for n, p in teachers.items() if n != "Legal Action")
    assert not any(p.view_incidents or p.view_students for p in teachers.values())


def test_agencies_and_no_pupils(db):
    """Pupils are not records' to seed: they come from the MIS import like any school's."""
    from services.records.models import Agency

    seed.seed_demo(db, Outbox(EVENTS.outbox))
    assert sorted(a.name for a in rows(db, Agency)) == sorted(seed.DEFAULT_AGENCIES)
    assert rows(db, Student) == []
