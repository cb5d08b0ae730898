"""The demo school's identity data: the school, its three user groups and four staff.

``seed_demo`` is idempotent: it creates what is missing and leaves what exists alone (a
password or authenticator someone has since changed is kept), so a second run changes nothing
and publishes no events.

The demo TOTP secrets contain the digit 0, which base32 does not have; it is read as the
letter O (``totp.normalise_secret``), which is what ``DEMO_TOTP_SECRETS`` holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.identity import directory, totp
from services.identity.config import IdentityConfig, load_config
from services.identity.events import OutboxPublisher
from services.identity.operations import passwords_for
from services.identity.secretbox import SecretBox
from shared.context import school_scope
from shared.db import Database, utcnow
from shared.events import Outbox

ACTOR = "seed"
DEMO_SCHOOL_ID = "00000000-0000-4000-8000-000000000001"
DEMO_SCHOOL_NAME = "Haven Demo Academy"
DEMO_SCHOOL_SLUG = "demo"
DEMO_TIME_ZONE = "Europe/London"
DEMO_PASSWORD = "Haven-demo-2026!"  # noqa: S105 - published demo credentials

DSL_GROUP_ID = "00000000-0000-4000-8000-000000000011"
TEACHERS_GROUP_ID = "00000000-0000-4000-8000-000000000012"
ADMIN_GROUP_ID = "00000000-0000-4000-8000-000000000013"

DEMO_GROUPS: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    (DSL_GROUP_ID, "DSL", True, directory.SYSTEM_PERMISSIONS),
    (TEACHERS_GROUP_ID, "Teachers", False, ("view_student_list", "add_incidents")),
    (ADMIN_GROUP_ID, "Admin", True, directory.SYSTEM_PERMISSIONS),
)


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    email: str
    display_name: str
    user_group_id: str
    job_title: str
    totp_secret: str | None  # as published; stored normalised


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("00000000-0000-4000-8000-000000000101", "admin@demo.haven.test", "Alex Admin",
                ADMIN_GROUP_ID, "School business manager", "HAVENADMINDEMO2026ADMINTOTPKEY23"),
    DemoAccount("00000000-0000-4000-8000-000000000102", "dsl@demo.haven.test", "Dana Lead",
                DSL_GROUP_ID, "Designated safeguarding lead", "HAVENDSLDEMO2026DSLTOTPSECRETKEY"),
    DemoAccount("00000000-0000-4000-8000-000000000103", "teacher1@demo.haven.test",
                "Tom Teacher", TEACHERS_GROUP_ID, "Class teacher", None),
    DemoAccount("00000000-0000-4000-8000-000000000104", "teacher2@demo.haven.test",
                "Tess Tutor", TEACHERS_GROUP_ID, "Form tutor", None),
)

# email -> the base32 secret an authenticator app (or pyotp) needs for the demo accounts.
DEMO_TOTP_SECRETS: dict[str, str] = {
    a.email: totp.normalise_secret(a.totp_secret) for a in DEMO_ACCOUNTS if a.totp_secret
}
DEMO_DEVICE_NAME = "Demo authenticator"


def seed_demo(
    db: Database,
    outbox: Outbox,
    *,
    config: IdentityConfig | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Create the demo school, groups, accounts, passwords and authenticators if missing."""
    config = config or load_config()
    now = now or utcnow()
    publisher = OutboxPublisher(outbox)
    box = SecretBox(config.key_secret)
    passwords = None
    with school_scope(DEMO_SCHOOL_ID), db.transaction() as session:
        directory.create_school(
            session, publisher, name=DEMO_SCHOOL_NAME, slug=DEMO_SCHOOL_SLUG,
            time_zone=DEMO_TIME_ZONE, school_id=DEMO_SCHOOL_ID, now=now, actor=ACTOR,
        )
        groups = {}
        for group_id, name, key_holder, permissions in DEMO_GROUPS:
            groups[group_id], _ = directory.upsert_user_group(
                session, publisher, school_id=DEMO_SCHOOL_ID, name=name,
                key_holder=key_holder, permissions=permissions, user_group_id=group_id,
                now=now, actor=ACTOR,
            )
        for demo in DEMO_ACCOUNTS:
            account, _ = directory.upsert_account(
                session, publisher, email=demo.email, display_name=demo.display_name,
                account_id=demo.account_id, now=now, actor=ACTOR,
            )
            directory.upsert_membership(
                session, publisher, account=account, group=groups[demo.user_group_id],
                job_title=demo.job_title, now=now, actor=ACTOR,
            )
            if not account.password_hash:
                passwords = passwords or passwords_for(config)
                account.password_hash = passwords.hash(DEMO_PASSWORD)
                account.password_changed_at = now
            if demo.totp_secret and not totp.devices_of(session, account.id):
                totp.add_device(
                    session, box, account_id=account.id, name=DEMO_DEVICE_NAME,
                    secret=demo.totp_secret, now=now, verified=True,
                )
