"""Identity on PostgreSQL as an ordinary role, so row-level security (the second wall of
school scoping) is in force: administration, SSO accounts, second factors, password links
and MIS staff events all work within it, and an SSO account is still recognised as shared
even though a school-scoped request cannot see its other memberships."""

from __future__ import annotations

import datetime as dt

import grpc
import psycopg
import pytest
from sqlalchemy import text

from haven.identity.v1 import identity_pb2 as pb
from services.identity.models import EVENTS
from services.identity.seed import DEMO_SCHOOL_ID, TEACHERS_GROUP_ID, seed_demo
from services.identity.tests.conftest import (
    BOTH_SCHOOLS,
    MIGRATIONS,
    OTHER_SCHOOL_ID,
    TEST_CONFIG,
    refused,
    seed_second_school,
    serve,
)
from services.identity.tests.soft_authenticator import SoftAuthenticator
from services.identity.tests.test_mis_staff import deliver, staff
from services.identity.tests.test_second_factors import elevate_with_key, register_key
from services.identity.tests.test_users_admin import ADMIN, DSL, TEACHER1, account_id
from shared.context import school_scope
from shared.db import Database, run_migrations
from shared.events import Outbox
from shared.testing import PG_HOST, PG_PORT, postgres_database

pytestmark = pytest.mark.integration
ROLE = "haven_identity_rls_test"


@pytest.fixture(scope="module")
def pg_app():
    with postgres_database("haven_identity_rls") as owner_url:
        run_migrations(owner_url, MIGRATIONS)
        owner = Database(owner_url)
        outbox = Outbox(EVENTS.outbox)
        seed_demo(owner, outbox, config=TEST_CONFIG, now=dt.datetime.utcnow()
                  - dt.timedelta(days=1))
        seed_second_school(owner, outbox)
        owner.dispose()
        dbname = owner_url.rsplit("/", 1)[1]
        admin_dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname={dbname}"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                (ROLE,)).fetchone():
                conn.execute(f"CREATE ROLE {ROLE} LOGIN")
            conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}")
            conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
        served, channel, running = serve(owner_url.replace("postgres@", f"{ROLE}@"))
        yield served
        channel.close()
        running.stop()
        served.db.dispose()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
            conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")


def test_row_level_security_is_in_force_for_this_role(pg_app):
    with school_scope(DEMO_SCHOOL_ID), pg_app.db.read() as s:
        schools = s.execute(text("SELECT DISTINCT school_id FROM memberships")).scalars().all()
    assert schools == [DEMO_SCHOOL_ID]


def test_admin_and_sso_within_row_level_security(pg_app):
    admin, _ = pg_app.elevated(ADMIN)
    users = pg_app.call("ListUsers", pb.ListUsersRequest(), admin).users
    sam = next(u for u in users if u.email == BOTH_SCHOOLS)
    assert sam.other_schools  # known as shared without seeing Oakfield's rows
    assert refused(pg_app.call, "ChangeUserEmail", pb.ChangeUserEmailRequest(
        account_id=sam.account_id, email="sam@demo.haven.test"), admin).code() == (
        grpc.StatusCode.FAILED_PRECONDITION)
    created = pg_app.call("CreateUser", pb.CreateUserRequest(
        display_name="Pat Postgres", email="pat@demo.haven.test",
        user_group_id=TEACHERS_GROUP_ID, send_password_email=True), admin)
    assert created.active
    group = pg_app.call("CreateAlertGroup", pb.SaveAlertGroupRequest(
        name="Teachers all", add_user_group_ids=[TEACHERS_GROUP_ID]), admin)
    assert len(group.members) == 4
    log = pg_app.call("ListSecurityLog", pb.ListSecurityLogRequest(
        account_id=created.account_id), admin).entries
    assert [e.event for e in log] == ["user_changed"]
    # The SSO account sees both its schools, and switches.
    reply = pg_app.login(BOTH_SCHOOLS)
    schools = pg_app.call("ListMySchools", pb.ListMySchoolsRequest(), reply.access_token)
    assert [s.school_id for s in schools.schools] == [OTHER_SCHOOL_ID, DEMO_SCHOOL_ID]
    moved = pg_app.stub.SwitchSchool(pb.SwitchSchoolRequest(session_id=reply.session_id,
                                                            school_id=DEMO_SCHOOL_ID))
    assert pg_app.spec.verifier.verify(moved.access_token).school_id == DEMO_SCHOOL_ID
    assert refused(pg_app.stub.SwitchSchool, pb.SwitchSchoolRequest(
        session_id=pg_app.login(TEACHER1).session_id, school_id=OTHER_SCHOOL_ID)).code() == (
        grpc.StatusCode.PERMISSION_DENIED)


def test_second_factors_links_and_mis_events_within_row_level_security(pg_app):
    token, _secret = pg_app.elevated(DSL, steps=1)
    key = SoftAuthenticator()
    register_key(pg_app, token, "PG key", key)
    assert elevate_with_key(pg_app, pg_app.login(DSL).session_id, key).access == "full"
    pg_app.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=TEACHER1))
    sent = pg_app.events("identity.password_reset.requested", pb.PasswordResetRequested)
    link = sent[-1].reset_url_path.rsplit("/", 1)[1]
    assert pg_app.stub.ResetPassword(pb.ResetPasswordRequest(
        token=link, password="granite lantern meadow 4")).email == TEACHER1
    deliver(pg_app, staff("PG1", "Quinn", "Query"))
    admin, _ = pg_app.elevated(ADMIN, steps=1)
    names = [s.display_name for s in pg_app.call("ListMisStaff", pb.ListMisStaffRequest(),
                                                  admin).staff]
    assert names == ["Quinn Query"]
    assert account_id(pg_app, TEACHER1)
