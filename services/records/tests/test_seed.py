"""The demo school's records data: idempotent, deterministic, realistic."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from sqlalchemy import select
from stdnum.gb import upn

from services.records import seed
from services.records.models import EVENTS, Category, CategoryPermission, Student
from shared.db import Database
from shared.events import Outbox

TODAY = dt.date(2026, 11, 29)


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
    first = seed.seed_demo(db, outbox, today=TODAY)
    assert first == {"categories": 16, "category_permissions": 48, "students": 202,
                     "groups": 25 + 400, "agencies": 7}
    assert outbox_count(db) == 16
    again = seed.seed_demo(db, outbox, today=TODAY)
    assert again == {"categories": 0, "category_permissions": 0, "students": 0, "groups": 0,
                     "agencies": 0}
    assert outbox_count(db) == 16
    assert len(rows(db, Student)) == 202


def test_default_categories_and_permissions(db):
    seed.seed_demo(db, Outbox(EVENTS.outbox), today=TODAY)
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


def test_a_realistic_roll(db):
    seed.seed_demo(db, Outbox(EVENTS.outbox), today=TODAY)
    students = rows(db, Student)
    assert all(upn.is_valid(s.upn) for s in students)
    assert len({s.upn for s in students}) == len(students)
    assert len({(s.first_name, s.last_name) for s in students}) == len(students)
    assert sum(s.archived for s in students) == 2
    current = [s for s in students if not s.archived]
    assert Counter(s.year_group for s in current) == {f"Year {y}": 40 for y in range(7, 12)}
    assert {s.tutor_group for s in current} == {f"{y}{f}" for y in range(7, 12) for f in "ABCD"}
    for s in current:
        year = int(s.year_group.split()[1])
        age_on_1_sep = 2026 - s.date_of_birth.year - (s.date_of_birth.month >= 9)
        assert age_on_1_sep == year + 4, (s.year_group, s.date_of_birth)
    assert any(s.preferred_name for s in students)
    assert {s.gender for s in students} == {"F", "M"}


def test_the_same_roll_every_time(tmp_path, migrated_template):
    import shutil

    made = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.db"
        shutil.copyfile(migrated_template, path)
        db = Database(f"sqlite:///{path}")
        seed.seed_demo(db, Outbox(EVENTS.outbox), today=TODAY)
        made.append(sorted((s.id, s.upn, s.first_name, s.last_name, s.date_of_birth)
                           for s in rows(db, Student)))
        db.dispose()
    assert made[0] == made[1]


def test_each_pupil_on_roll_is_in_their_tutor_and_year_group(db):
    from services.records.models import Agency, GroupMembership, StudentGroup

    seed.seed_demo(db, Outbox(EVENTS.outbox), today=TODAY)
    groups = {g.id: g for g in rows(db, StudentGroup)}
    students = {s.id: s for s in rows(db, Student)}
    seen: dict[str, set[str]] = {}
    for m in rows(db, GroupMembership):
        seen.setdefault(m.student_id, set()).add(groups[m.group_id].name)
    for sid, s in students.items():
        assert seen.get(sid, set()) == (set() if s.archived else {s.year_group, s.tutor_group})
    assert {g.kind for g in groups.values()} == {"tutor", "year"}
    assert len(rows(db, Agency)) == 7
