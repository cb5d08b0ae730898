"""The demo seed: exactly the brief's school, groups and staff; idempotent; events once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from haven.identity.v1 import identity_pb2
from services.identity import operations, totp
from services.identity.models import EVENTS, Account, Membership, School, TotpDevice, UserGroup
from services.identity.operations import passwords_for
from services.identity.secretbox import SecretBox
from services.identity.seed import (
    ADMIN_GROUP_ID,
    DEMO_PASSWORD,
    DEMO_SCHOOL_ID,
    DEMO_TOTP_SECRETS,
    DSL_GROUP_ID,
    TEACHERS_GROUP_ID,
    seed_demo,
)
from services.identity.tests.conftest import MIGRATIONS, TEST_CONFIG
from shared.db import Database, run_migrations
from shared.events import Outbox
from shared.events.envelope import decode_envelope, open_payload
from shared.testing import FULL_PERMISSIONS

PAYLOADS = {
    "identity.school.created": identity_pb2.SchoolCreated,
    "identity.user_group.upserted": identity_pb2.UserGroupUpserted,
    "identity.account.upserted": identity_pb2.AccountUpserted,
}


@pytest.fixture()
def fresh(tmp_path):
    url = f"sqlite:///{tmp_path}/identity.db"
    run_migrations(url, MIGRATIONS)
    db = Database(url)
    yield db, Outbox(EVENTS.outbox)
    db.dispose()


def outbox_events(db: Database) -> list[tuple[str, str, object]]:
    table = EVENTS.outbox
    with db.read() as s:
        rows = s.execute(select(table.c.routing_key, table.c.school_id, table.c.body)
                         .order_by(table.c.seq)).all()
    out = []
    for key, school_id, body in rows:
        env = decode_envelope(body)
        assert env.type == key and env.school_id == school_id
        out.append((key, school_id, open_payload(env, PAYLOADS[key])))
    return out


def test_seed_creates_the_demo_school_and_announces_it_once(fresh):
    db, outbox = fresh
    seed_demo(db, outbox, config=TEST_CONFIG)
    events = outbox_events(db)
    assert [k for k, _, _ in events].count("identity.school.created") == 1
    assert all(school == DEMO_SCHOOL_ID for _, school, _ in events)
    by_key = {}
    for key, _, message in events:
        by_key.setdefault(key, []).append(message)
    [school] = by_key["identity.school.created"]
    assert (school.school_id, school.name, school.slug, school.time_zone) == (
        DEMO_SCHOOL_ID, "Haven Demo Academy", "demo", "Europe/London"
    )
    groups = {g.user_group_id: g for g in by_key["identity.user_group.upserted"]}
    assert set(groups) == {DSL_GROUP_ID, TEACHERS_GROUP_ID, ADMIN_GROUP_ID}
    assert (groups[DSL_GROUP_ID].name, groups[DSL_GROUP_ID].key_holder) == ("DSL", True)
    assert set(groups[DSL_GROUP_ID].permissions) == set(FULL_PERMISSIONS)
    assert set(groups[ADMIN_GROUP_ID].permissions) == set(FULL_PERMISSIONS)
    assert groups[ADMIN_GROUP_ID].key_holder is True
    assert (groups[TEACHERS_GROUP_ID].key_holder, sorted(groups[TEACHERS_GROUP_ID].permissions)
            ) == (False, ["add_incidents", "view_student_list"])
    accounts = {(a.account_id, a.email, a.display_name, a.user_group_id, a.user_group_name,
                 a.key_holder, a.active) for a in by_key["identity.account.upserted"]}
    assert accounts == {
        ("00000000-0000-4000-8000-000000000101", "admin@demo.haven.test", "Alex Admin",
         ADMIN_GROUP_ID, "Admin", True, True),
        ("00000000-0000-4000-8000-000000000102", "dsl@demo.haven.test", "Dana Lead",
         DSL_GROUP_ID, "DSL", True, True),
        ("00000000-0000-4000-8000-000000000103", "teacher1@demo.haven.test", "Tom Teacher",
         TEACHERS_GROUP_ID, "Teachers", False, True),
        ("00000000-0000-4000-8000-000000000104", "teacher2@demo.haven.test", "Tess Tutor",
         TEACHERS_GROUP_ID, "Teachers", False, True),
    }
    assert len(events) == 1 + 3 + 4

    # Running it again changes nothing and announces nothing.
    with db.read() as s:
        before = {a.id: a.password_hash for a in s.scalars(select(Account))}
    seed_demo(db, outbox, config=TEST_CONFIG)
    assert len(outbox_events(db)) == 8
    with db.read() as s:
        assert {a.id: a.password_hash for a in s.scalars(select(Account))} == before
        assert s.scalar(select(func.count()).select_from(School)) == 1
        assert s.scalar(select(func.count()).select_from(UserGroup)) == 3
        assert s.scalar(select(func.count()).select_from(Membership)) == 4
        assert s.scalar(select(func.count()).select_from(TotpDevice)) == 2


def test_seeded_accounts_have_the_demo_password_and_authenticators(fresh):
    db, outbox = fresh
    seed_demo(db, outbox, config=TEST_CONFIG)
    passwords = passwords_for(TEST_CONFIG)
    box = SecretBox(TEST_CONFIG.key_secret)
    with db.read() as s:
        for account in s.scalars(select(Account)):
            assert account.email == account.email.lower()
            assert passwords.verify(account.password_hash, DEMO_PASSWORD)
            devices = totp.devices_of(s, account.id)
            if account.email in DEMO_TOTP_SECRETS:
                [device] = devices
                assert device.verified
                assert totp.secret_of(box, device) == DEMO_TOTP_SECRETS[account.email]
            else:
                assert devices == []
    assert DEMO_TOTP_SECRETS["admin@demo.haven.test"] == "HAVENADMINDEMO2O26ADMINTOTPKEY23"
    code = operations.current_totp(db, "DSL@demo.haven.test", config=TEST_CONFIG)
    assert code == totp.code_at(DEMO_TOTP_SECRETS["dsl@demo.haven.test"], totp_now())


def totp_now():
    from shared.db import utcnow

    return utcnow()


def test_changing_a_group_announces_it_and_each_members_new_state(fresh):
    db, outbox = fresh
    seed_demo(db, outbox, config=TEST_CONFIG)
    seen = len(outbox_events(db))
    operations.create_user_group(
        db, outbox, school_id=DEMO_SCHOOL_ID, name="Teaching staff", key_holder=False,
        permissions=["view_student_list", "add_incidents"], user_group_id=TEACHERS_GROUP_ID,
    )
    new = outbox_events(db)[seen:]
    assert [k for k, _, _ in new] == ["identity.user_group.upserted"] + [
        "identity.account.upserted"] * 2
    assert {m.user_group_name for _, _, m in new[1:]} == {"Teaching staff"}
    # Same values again: nothing to announce.
    operations.create_user_group(
        db, outbox, school_id=DEMO_SCHOOL_ID, name="Teaching staff", key_holder=False,
        permissions=["add_incidents", "view_student_list"], user_group_id=TEACHERS_GROUP_ID,
    )
    assert len(outbox_events(db)) == seen + 3


def test_an_account_in_two_schools_is_announced_once_per_membership(fresh):
    db, outbox = fresh
    seed_demo(db, outbox, config=TEST_CONFIG)
    other = operations.create_school(db, outbox, name="Oakfield Primary", slug="oakfield",
                                     time_zone="Europe/London", with_default_groups=True)
    seen = len(outbox_events(db))
    assert seen == 8 + 1 + 3
    operations.create_account(db, outbox, school_id=other, email="dsl@demo.haven.test",
                              display_name="Dana Lead", user_group="dsl")
    operations.create_account(db, outbox, school_id=DEMO_SCHOOL_ID, email="dsl@demo.haven.test",
                              display_name="Dana Lead-Smith", user_group=DSL_GROUP_ID)
    new = outbox_events(db)[seen:]
    assert [(k, school) for k, school, _ in new] == [
        ("identity.account.upserted", other),
        ("identity.account.upserted", DEMO_SCHOOL_ID),
        ("identity.account.upserted", other),
    ]
    assert new[-1][2].display_name == "Dana Lead-Smith"
    # Creating the school again is a no-op.
    again = operations.create_school(db, outbox, name="Oakfield Primary", slug="oakfield")
    assert again == other and len(outbox_events(db)) == seen + 3
