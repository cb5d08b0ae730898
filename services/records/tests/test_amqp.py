"""records in its own worker on PostgreSQL + RabbitMQ: the MIS import's events come in over
the broker (and a redelivered one changes nothing), and records' own events go out through
the outbox relay."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import select

from services.records.app import build
from services.records.events import ALERT_RAISED
from services.records.models import AttendanceMark, GroupMembership, Student
from services.records.tests import factories as f
from shared.config import ServiceSettings
from shared.db import Database, run_migrations
from shared.events import decode_envelope, open_transport
from shared.service import start_worker
from shared.testing import TokenFactory, amqp_url_for_test, postgres_database

pytestmark = pytest.mark.integration


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def test_mis_events_over_rabbitmq_and_records_events_out(monkeypatch, tokens):
    from services.records.tests.test_incidents import create

    events_url = amqp_url_for_test()
    with postgres_database("haven_records_amqp") as url:
        monkeypatch.setenv("RECORDS_DATABASE_URL", url)
        monkeypatch.setenv("HAVEN_EVENTS_URL", events_url)
        settings = ServiceSettings.from_env("records")
        spec = build(settings, verifier=TokenFactory().verifier())
        run_migrations(url, spec.migrations)
        seen: list[str] = []
        tap = open_transport(events_url, name="records.test.tap")
        tap.subscribe(f"records-test-tap-{uuid.uuid4().hex[:6]}", [ALERT_RAISED],
                      lambda body: seen.append(decode_envelope(body).type))
        threading.Thread(target=tap.start_consuming, daemon=True).start()
        running = start_worker(spec)
        publisher = open_transport(events_url, name="mis_import.test")
        db = Database(url)
        try:
            school = str(uuid.uuid4())
            for n, body in enumerate([
                f.student_upserted(school, "M-1", "Hannah", "Greenwood"),
                f.mis_group(school, "G-8B", "8B", "tutor", ["M-1"]),
                f.attendance(school, "M-1", [("2026-09-08", "AM", "/")]),
            ]):
                publisher.publish(decode_envelope(body).type, body, message_id=f"m-{n}")
                if n == 0:  # delivered twice: the inbox makes the second a no-op
                    publisher.publish(decode_envelope(body).type, body, message_id="m-0b")

            def arrived():
                with db.read() as s:
                    return (s.scalars(select(Student.id).where(Student.mis_id == "M-1")).all(),
                            s.scalars(select(GroupMembership.student_id)).all(),
                            s.scalars(select(AttendanceMark.code)).all())

            students, members, marks = wait_for(lambda: all(arrived()) and arrived())
            assert len(students) == 1 and members == students and marks == ["/"]

            # records' own events leave through the relay.
            world = f.build_world(db, tokens)
            create(world, world.teacher())
            assert wait_for(lambda: ALERT_RAISED in seen)
        finally:
            publisher.close()
            running.stop()
            tap.close()
            db.dispose()
            spec.db.dispose()
