"""The identity service on PostgreSQL: migrations, the seed, and the login journey over gRPC."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import func, select

from haven.identity.v1 import identity_pb2
from services.identity.models import EVENTS, SecurityLogEntry
from services.identity.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID, seed_demo
from services.identity.tests.conftest import (
    MIGRATIONS,
    OTHER_DSL,
    TEST_CONFIG,
    seed_second_school,
    serve,
)
from shared.db import Database, run_migrations
from shared.events import Outbox
from shared.testing import postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_identity():
    with postgres_database("haven_identity_test") as url:
        run_migrations(url, MIGRATIONS)
        db = Database(url)
        outbox = Outbox(EVENTS.outbox)
        seed_demo(db, outbox, config=TEST_CONFIG)
        seed_demo(db, outbox, config=TEST_CONFIG)
        seed_second_school(db, outbox)
        db.dispose()
        served, channel, running = serve(url)
        yield served
        channel.close()
        running.stop()
        served.db.dispose()


def outbox_keys(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(EVENTS.outbox.c.routing_key)
                              .where(EVENTS.outbox.c.school_id == DEMO_SCHOOL_ID)
                              .order_by(EVENTS.outbox.c.seq)))


def test_migrated_and_seeded_once(pg_identity):
    keys = outbox_keys(pg_identity.db)
    assert keys.count("identity.school.created") == 1
    assert keys.count("identity.user_group.upserted") == 3
    # four demo staff, plus the supply teacher who joined the demo school later
    assert keys.count("identity.account.upserted") == 5


def test_login_elevate_refresh_logout(pg_identity):
    reply = pg_identity.login("dsl@demo.haven.test")
    assert reply.can_elevate and reply.school_id == DEMO_SCHOOL_ID
    token = pg_identity.elevate(reply.session_id, pg_identity.code("dsl@demo.haven.test"))
    assert (token.access, token.acr) == ("full", "mfa")
    secret = token.session_id  # a new secret after elevation
    with pytest.raises(grpc.RpcError) as replay:
        pg_identity.elevate(secret, pg_identity.code("dsl@demo.haven.test"))
    assert replay.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert pg_identity.refresh(secret).access == "full"
    pg_identity.stub.Logout(identity_pb2.LogoutRequest(session_id=secret))
    with pytest.raises(grpc.RpcError) as ended:
        pg_identity.refresh(secret)
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_failures_are_logged_and_throttled(pg_identity):
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as wrong:
            pg_identity.login("teacher2@demo.haven.test", "not-my-password", ip="203.0.113.9")
        assert wrong.value.details() == "Email or password is incorrect."
    with pytest.raises(grpc.RpcError) as throttled:
        pg_identity.login("teacher2@demo.haven.test", DEMO_PASSWORD)
    assert throttled.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pg_identity.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SecurityLogEntry).where(
            SecurityLogEntry.event == "login_failed",
            SecurityLogEntry.email == "teacher2@demo.haven.test")) == 5


def test_staff_lists_stay_within_the_school(pg_identity):
    demo = pg_identity.login("teacher1@demo.haven.test").access_token
    emails = [s.email for s in pg_identity.list_staff(demo, "Haven.TEST").staff]
    assert "dsl@demo.haven.test" in emails and OTHER_DSL not in emails
    assert pg_identity.list_staff(demo, "oakfield").staff == []
    oak = pg_identity.login(OTHER_DSL).access_token
    assert pg_identity.list_staff(oak, "demo").staff == []
