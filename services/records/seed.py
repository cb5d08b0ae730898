"""Demo school data owned by records: categories, category permissions and agencies.

Deterministic (fixed ids) and idempotent: running it again adds nothing and announces
nothing. Nothing else is seeded here: the staff directory fills from identity's
``identity.account.upserted`` events, and the pupils (with their groups, contacts and
attendance) from the MIS import's events, like any other school's (``haven.platform``
imports the demo school's MIS feed).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from services.records.categories import set_permission, upsert_category
from services.records.events import OutboxEvents
from services.records.models import Agency
from shared.context import school_scope
from shared.db import Database
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

def demo_id(kind: str, key: str | int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{DEMO_SCHOOL_ID}:{kind}:{key}"))


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


def _seed_agencies(session: Session) -> int:
    added = 0
    for name in DEFAULT_AGENCIES:
        agency_id = demo_id("agency", name)
        if session.get(Agency, agency_id) is None:
            session.add(Agency(id=agency_id, school_id=DEMO_SCHOOL_ID, name=name, enabled=True))
            added += 1
    return added


def seed_demo(db: Database, outbox: Outbox) -> dict[str, int]:
    """Seed the demo school's records data; returns how many rows each part added/changed."""
    events = OutboxEvents(outbox)
    with school_scope(DEMO_SCHOOL_ID), db.transaction() as session:
        summary = _seed_categories(session, events)
        summary["agencies"] = _seed_agencies(session)
    return summary
