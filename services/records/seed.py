"""Demo school data owned by records: categories, category permissions, agencies, a roll of
students in tutor and year groups.

Deterministic (fixed ids, seeded random) and idempotent: running it again adds nothing and
announces nothing. The staff directory is not seeded here: it fills from identity's
``identity.account.upserted`` events like any other school's.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session
from stdnum.gb import upn as upn_check

from services.records.categories import set_permission, upsert_category
from services.records.events import OutboxEvents
from services.records.models import Agency, GroupMembership, Student, StudentGroup
from shared.context import school_scope
from shared.db import Database, utcnow
from shared.events import Outbox

DEMO_SCHOOL_ID = "00000000-0000-4000-8000-000000000001"
DSL_GROUP_ID = "00000000-0000-4000-8000-000000000011"
TEACHERS_GROUP_ID = "00000000-0000-4000-8000-000000000012"
ADMIN_GROUP_ID = "00000000-0000-4000-8000-000000000013"

_NAMESPACE = uuid.UUID("6f1c4a52-2d0e-4c55-9b1d-7f3f0f6f8a11")

# (name, colour, sub-categories as (name, colour))
DEFAULT_CATEGORIES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Attainment", "3f51b5", []),
    ("Attendance", "009688", [("Punctuality", "4db6ac"), ("Legal Action", "00695c")]),
    ("Behaviour", "ff9800", [("Low Level Disruption", "ffb74d"),
                             ("Removed From Class", "e65100")]),
    ("Bullying", "9c27b0", []),
    ("Cause for Concern", "f44336", []),
    ("Child Protection", "b71c1c", []),
    ("Home Issues", "795548", []),
    ("Medical Issues", "2196f3", []),
    ("Parental Contact", "607d8b", []),
    ("Prevent", "424242", []),
    ("Safeguarding", "e91e63", []),
    ("SEND", "8bc34a", []),
]
TEACHERS_MAY_NOT_ADD = {"Legal Action"}
DEFAULT_AGENCIES = ("CAMHS", "Educational Psychologist", "Police", "School Nurse", "SENCO",
                    "Social Services", "Youth Offending Team")

YEARS = (7, 8, 9, 10, 11)
FORMS = ("A", "B", "C", "D")
PER_FORM = 10
ARCHIVED = 2  # leavers kept on file
LA_CODE = "873"
ESTABLISHMENT = "4127"

GIRLS = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Freya", "Willow", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie", "Charlotte",
    "Evelyn", "Sienna", "Daisy", "Phoebe", "Sophie", "Harper", "Alice", "Matilda", "Ruby",
    "Aisha", "Zara", "Maryam", "Hannah", "Chloe", "Jessica", "Katherine", "Elizabeth", "Niamh",
    "Priya", "Amara", "Leah", "Megan", "Abigail", "Imogen", "Erin",
]
BOYS = [
    "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo", "Harry", "Oscar", "Archie",
    "Henry", "Theodore", "Freddie", "Jack", "Charlie", "Theo", "Alfie", "Jacob", "Thomas",
    "William", "Lucas", "Alexander", "Joshua", "Samuel", "Daniel", "Isaac", "Max", "Ethan",
    "Reuben", "Finley", "Mohammed", "Yusuf", "Ibrahim", "Kai", "Rory", "Callum", "Dylan",
    "Benjamin", "Matthew", "Nathan", "Owen", "Ryan", "Adam", "Arjun", "Kwame", "Tobias",
]
SURNAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw",
    "Bell", "Collins", "Morgan", "Kelly", "Begum", "Miller", "Cox", "Hussain", "Marshall",
    "Simpson", "Price", "Anderson", "Adams", "Wilkinson", "Ali", "Ahmed", "Foster", "Ellis",
    "Murphy", "Chapman", "Mason", "Gray", "Richards", "Webb", "Griffiths", "Hunt", "Palmer",
    "Campbell", "Holmes", "Mills", "Rogers", "Barnes", "Knight", "Matthews", "Barker", "Okafor",
    "Nowak", "Kowalski", "O'Brien", "Greenwood", "Bradshaw", "Fletcher", "Lloyd", "Kaur",
]
NICKNAMES = {
    "Alexander": "Alex", "William": "Will", "Thomas": "Tom", "Katherine": "Kate",
    "Elizabeth": "Libby", "Benjamin": "Ben", "Matthew": "Matt", "Samuel": "Sam",
    "Jessica": "Jess", "Theodore": "Teddy", "Joshua": "Josh", "Daniel": "Dan",
    "Isabella": "Bella", "Abigail": "Abi",
}


def demo_id(kind: str, key: str | int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{DEMO_SCHOOL_ID}:{kind}:{key}"))


def make_upn(issue_year: int, serial: int) -> str:
    """An English UPN: check letter + LA + establishment + issue year + serial."""
    body = f"{LA_CODE}{ESTABLISHMENT}{issue_year % 100:02d}{serial % 1000:03d}"
    number = upn_check.calc_check_digit(body) + body
    if not upn_check.is_valid(number):  # pragma: no cover - guards the generator
        raise ValueError(f"generated an invalid UPN {number}")
    return number


def academic_year_start(today: dt.date) -> int:
    return today.year if today.month >= 9 else today.year - 1


@dataclass(frozen=True)
class DemoStudent:
    id: str
    upn: str
    mis_id: str
    first_name: str
    last_name: str
    preferred_name: str
    gender: str
    date_of_birth: dt.date
    year_group: str
    tutor_group: str
    archived: bool


def demo_students(today: dt.date) -> list[DemoStudent]:
    """The demo roll: 40 per year group 7-11 in forms A-D, plus two archived leavers."""
    rng = random.Random(20260901)
    start = academic_year_start(today)
    used: set[tuple[str, str]] = set()
    out: list[DemoStudent] = []
    slots = [(y, f, False) for y in YEARS for f in FORMS for _ in range(PER_FORM)]
    slots += [(11, "A", True)] * ARCHIVED
    for index, (year, form, archived) in enumerate(slots):
        while True:
            gender = rng.choice("FM")
            first = rng.choice(GIRLS if gender == "F" else BOYS)
            last = rng.choice(SURNAMES)
            if (first, last) not in used:
                used.add((first, last))
                break
        preferred = NICKNAMES.get(first, "") if rng.random() < 0.4 else ""
        # In England a pupil in year N was born between 1 Sep and 31 Aug, N + 5 years back.
        born_from = dt.date(start - year - 5 - (1 if archived else 0), 9, 1)
        dob = born_from + dt.timedelta(days=rng.randrange(365))
        out.append(DemoStudent(
            id=demo_id("student", index),
            upn=make_upn(dob.year + 4, index),
            mis_id=str(100_000 + index),
            first_name=first,
            last_name=last,
            preferred_name=preferred,
            gender=gender,
            date_of_birth=dob,
            year_group=f"Year {year}",
            tutor_group=f"{year}{form}",
            archived=archived,
        ))
    return out


def _seed_categories(session: Session, events: OutboxEvents) -> dict[str, int]:
    changed = 0
    permissions = 0
    for position, (parent_name, colour, children) in enumerate(DEFAULT_CATEGORIES, 1):
        parent, did = upsert_category(
            session, events, school_id=DEMO_SCHOOL_ID, category_id=demo_id("category", parent_name),
            name=parent_name, colour=colour, position=position,
        )
        changed += did
        made = [parent]
        for child_position, (child_name, child_colour) in enumerate(children, 1):
            child, did = upsert_category(
                session, events, school_id=DEMO_SCHOOL_ID,
                category_id=demo_id("category", f"{parent_name}/{child_name}"),
                name=child_name, parent_id=parent.id, colour=child_colour,
                position=child_position,
            )
            changed += did
            made.append(child)
        for category in made:
            for group in (DSL_GROUP_ID, ADMIN_GROUP_ID):
                permissions += set_permission(
                    session, school_id=DEMO_SCHOOL_ID, user_group_id=group,
                    category_id=category.id, view_students=True, view_incidents=True,
                    add_incidents=True,
                )
            permissions += set_permission(
                session, school_id=DEMO_SCHOOL_ID, user_group_id=TEACHERS_GROUP_ID,
                category_id=category.id, view_students=False, view_incidents=False,
                add_incidents=category.name not in TEACHERS_MAY_NOT_ADD,
            )
    return {"categories": changed, "category_permissions": permissions}


def _seed_students(session: Session, today: dt.date) -> int:
    added = 0
    now = utcnow()
    for s in demo_students(today):
        if session.get(Student, s.id) is not None:
            continue
        session.add(Student(
            id=s.id, school_id=DEMO_SCHOOL_ID, upn=s.upn, mis_id=s.mis_id,
            first_name=s.first_name, last_name=s.last_name, preferred_name=s.preferred_name,
            gender=s.gender, date_of_birth=s.date_of_birth, year_group=s.year_group,
            tutor_group=s.tutor_group, archived=s.archived, created_at=now, updated_at=now,
        ))
        added += 1
    return added


def _seed_agencies(session: Session) -> int:
    added = 0
    for name in DEFAULT_AGENCIES:
        agency_id = demo_id("agency", name)
        if session.get(Agency, agency_id) is None:
            session.add(Agency(id=agency_id, school_id=DEMO_SCHOOL_ID, name=name, enabled=True))
            added += 1
    return added


def _seed_groups(session: Session, today: dt.date) -> int:
    """Tutor groups 7A..11D and year groups 7..11, as an MIS would send them."""
    added = 0
    groups: dict[str, StudentGroup] = {}
    for year in YEARS:
        for name, kind in [(f"Year {year}", "year")] + [(f"{year}{f}", "tutor") for f in FORMS]:
            gid = demo_id("group", name)
            group = session.get(StudentGroup, gid)
            if group is None:
                group = StudentGroup(id=gid, school_id=DEMO_SCHOOL_ID, mis_id=f"G-{name}",
                                     name=name, kind=kind, active=True, is_new=False)
                session.add(group)
                added += 1
            groups[name] = group
    session.flush()
    for s in demo_students(today):
        if s.archived:
            continue  # leavers are in no group any more
        for name in (s.year_group, s.tutor_group):
            mid = demo_id("membership", f"{name}:{s.id}")
            if session.get(GroupMembership, mid) is None:
                session.add(GroupMembership(id=mid, school_id=DEMO_SCHOOL_ID,
                                            group_id=groups[name].id, student_id=s.id,
                                            student_mis_id=s.mis_id, source="mis"))
                added += 1
    return added


def seed_demo(db: Database, outbox: Outbox, *, today: dt.date | None = None) -> dict[str, int]:
    """Seed the demo school's records data; returns how many rows each part added/changed."""
    events = OutboxEvents(outbox)
    today = today or utcnow().date()
    with school_scope(DEMO_SCHOOL_ID), db.transaction() as session:
        summary = _seed_categories(session, events)
        summary["students"] = _seed_students(session, today)
        session.flush()
        summary["groups"] = _seed_groups(session, today)
        summary["agencies"] = _seed_agencies(session)
    return summary
