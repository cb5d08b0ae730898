"""identity's events -> the staff directory and user groups records keeps."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from services.records.app import directory_consumer
from services.records.models import StaffMember, UserGroupRef
from services.records.tests.factories import account_event, group_event

SCHOOL = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
ACCOUNT = str(uuid.uuid4())
GROUP = str(uuid.uuid4())


def staff(db) -> list[tuple]:
    with db.read() as s:
        return [
            (r.school_id, r.account_id, r.display_name, r.user_group_id, r.key_holder, r.active)
            for r in s.scalars(select(StaffMember).order_by(StaffMember.school_id))
        ]


def groups(db) -> list[tuple]:
    with db.read() as s:
        return [(r.school_id, r.id, r.name, r.key_holder) for r in s.scalars(select(UserGroupRef))]


def test_an_account_event_fills_the_directory_once(db):
    consumer = directory_consumer(db)
    body = account_event(SCHOOL, ACCOUNT, "Dana Lead", GROUP, key_holder=True)
    consumer.handle(body)
    consumer.handle(body)  # redelivered
    assert staff(db) == [(SCHOOL, ACCOUNT, "Dana Lead", GROUP, True, True)]


def test_the_same_fact_twice_gives_the_same_state(db):
    consumer = directory_consumer(db)
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Lead", GROUP))
    first = staff(db)
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Lead", GROUP))  # new envelope id
    assert staff(db) == first


def test_changes_apply_and_an_older_event_never_overwrites_a_newer(db):
    consumer = directory_consumer(db)
    t0 = dt.datetime(2026, 1, 5, 9, 0)
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Lead", GROUP, occurred_at=t0))
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Lead-Smith", GROUP, active=False,
                                  occurred_at=t0 + dt.timedelta(minutes=5)))
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Stale", GROUP,
                                  occurred_at=t0 + dt.timedelta(minutes=1)))
    assert staff(db) == [(SCHOOL, ACCOUNT, "Dana Lead-Smith", GROUP, False, False)]


def test_one_account_in_two_schools_is_two_directory_entries(db):
    consumer = directory_consumer(db)
    consumer.handle(account_event(SCHOOL, ACCOUNT, "Dana Lead", GROUP))
    consumer.handle(account_event(OTHER, ACCOUNT, "Dana Lead", GROUP))
    assert sorted(r[0] for r in staff(db)) == sorted([SCHOOL, OTHER])


def test_user_groups_upsert_idempotently(db):
    consumer = directory_consumer(db)
    body = group_event(SCHOOL, GROUP, "Teachers", key_holder=False)
    consumer.handle(body)
    consumer.handle(body)
    consumer.handle(group_event(SCHOOL, GROUP, "Teaching staff", key_holder=False))
    assert groups(db) == [(SCHOOL, GROUP, "Teaching staff", False)]
    assert consumer.bindings == ["identity.account.upserted", "identity.alert_group.upserted",
                                 "identity.user_group.upserted"]


def test_a_deleted_user_group_takes_its_category_permissions_with_it(world):
    from haven.identity.v1 import identity_pb2
    from services.records.models import CategoryPermission
    from shared.events import make_envelope

    a = world.a
    assert world.count(CategoryPermission, user_group_id=a.pastoral_group) == 6
    msg = identity_pb2.UserGroupUpserted(user_group_id=a.pastoral_group, school_id=a.id,
                                         name="Pastoral", key_holder=True, deleted=True)
    world.consumer.handle(make_envelope("identity.user_group.upserted", msg, school_id=a.id,
                                        actor="system:identity").SerializeToString())
    assert world.count(CategoryPermission, user_group_id=a.pastoral_group) == 0
    assert world.count(CategoryPermission, user_group_id=a.dsl_group) == 6


def test_alert_groups_upsert_and_ignore_older_statements(db):
    import datetime as dt

    from services.records.models import AlertGroup
    from services.records.tests.factories import alert_group_event

    consumer = directory_consumer(db)
    t0 = dt.datetime(2026, 1, 5, 9, 0)
    consumer.handle(alert_group_event(SCHOOL, "ag", "DSLs", ["x", "y"], occurred_at=t0))
    consumer.handle(alert_group_event(SCHOOL, "ag", "DSL team", ["y"],
                                      occurred_at=t0 + dt.timedelta(minutes=2)))
    consumer.handle(alert_group_event(SCHOOL, "ag", "Stale", ["z"],
                                      occurred_at=t0 + dt.timedelta(minutes=1)))
    with db.read() as s:
        row = s.get(AlertGroup, "ag")
        assert (row.name, row.member_account_ids, row.deleted) == ("DSL team", ["y"], False)
