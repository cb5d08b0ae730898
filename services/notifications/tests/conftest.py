"""Fixtures: the notifications service on a fresh database, fed through the in-memory bus."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2
from services.notifications.app import build
from services.notifications.config import NotificationsConfig
from services.notifications.models import Delivery
from shared.config import ServiceSettings
from shared.db import run_migrations
from shared.events import make_envelope
from shared.events.memory import MemoryTransport, reset_broker
from shared.service import Running, ServiceSpec, start_worker
from shared.testing import TokenFactory, free_port

PUBLIC_URL = "https://haven.example.test"


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def account_event(school_id: str, account_id: str, *, email: str, name: str = "Tom Teacher",
                  active: bool = True, alert_email: str = "") -> identity_pb2.AccountUpserted:
    return identity_pb2.AccountUpserted(
        account_id=account_id, school_id=school_id, email=email, display_name=name,
        user_group_id="g", user_group_name="Teachers", key_holder=False, active=active,
        alert_email=alert_email,
    )


def alert_event(school_id: str, recipient: str, *, alert_id: str | None = None,
                incident_id: str | None = None, raised_by: str = "Dana Lead",
                categories=("Bullying", "Online safety"), kind="incident", reason="chosen",
                action_id: str = ""):
    return records_pb2.AlertRaised(
        alert_id=alert_id or str(uuid.uuid4()),
        school_id=school_id,
        recipient_account_id=recipient,
        raised_by_name=raised_by,
        categories=[records_pb2.CategoryRef(id=str(uuid.uuid4()), name=n) for n in categories],
        incident_id=incident_id or str(uuid.uuid4()),
        kind=kind,
        action_id=action_id or (str(uuid.uuid4()) if kind == "action" else ""),
        reason=reason,
    )


def assigned_event(school_id: str, assignee: str, *, incident_id: str | None = None,
                   by_name: str = "Alex Admin", categories=("Bullying",)):
    return records_pb2.IncidentAssigned(
        incident_id=incident_id or str(uuid.uuid4()), school_id=school_id, assigned_to=assignee,
        assigned_by_name=by_name,
        categories=[records_pb2.CategoryRef(id=str(uuid.uuid4()), name=n) for n in categories],
    )


def reset_event(school_id: str, account_id: str, *, email: str = "nia@demo.haven.test",
                name: str = "Nia Newbie", token: str | None = None, welcome: bool = False,
                expires_at: dt.datetime | None = None, time_zone: str = "Europe/London",
                school_name: str = "Haven Demo Academy") -> identity_pb2.PasswordResetRequested:
    msg = identity_pb2.PasswordResetRequested(
        school_id=school_id, account_id=account_id, email=email, display_name=name,
        reset_url_path=f"/reset-password/{token or uuid.uuid4().hex}", welcome=welcome,
        school_name=school_name, time_zone=time_zone,
    )
    msg.expires_at.FromDatetime(
        expires_at or dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=6))
    return msg


class SmtpInbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    inbox: SmtpInbox = field(default_factory=SmtpInbox)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Harness:
    spec: ServiceSpec
    tokens: TokenFactory
    running: Running | None = None

    def publish(self, routing_key: str, message, *, school_id: str, event_id: str | None = None,
                body: bytes | None = None, actor: str = "test") -> bytes:
        """Publish through the in-memory bus (delivered before this returns)."""
        if body is None:
            env = make_envelope(routing_key, message, school_id=school_id, actor=actor)
            if event_id:
                env.id = event_id
            body = env.SerializeToString()
        MemoryTransport().publish(routing_key, body, message_id="x")
        return body

    def handle(self, routing_key: str, message, *, school_id: str,
               event_id: str | None = None, actor: str = "test") -> bytes:
        """Hand an event straight to the consumer that binds it (no bus, no worker)."""
        env = make_envelope(routing_key, message, school_id=school_id, actor=actor)
        if event_id:
            env.id = event_id
        body = env.SerializeToString()
        self.consumer_for(routing_key).handle(body)
        return body

    def consumer_for(self, routing_key: str):
        return next(c for c in self.spec.consumers if routing_key in c.bindings)

    @property
    def sender(self):
        return self.spec.background[0]

    def deliveries(self, **where) -> list[Delivery]:
        from sqlalchemy import select

        with self.spec.db.read() as s:
            query = select(Delivery).order_by(Delivery.created_at)
            for key, value in where.items():
                query = query.where(getattr(Delivery, key) == value)
            rows = list(s.scalars(query))
            s.expunge_all()  # keep their loaded values after the read's rollback
            return rows


def make_config(mail_url: str, **overrides) -> NotificationsConfig:
    values = dict(
        mail_url=mail_url,
        mail_from="Haven <no-reply@haven.test>",
        public_url=PUBLIC_URL,
        max_attempts=8,
        retry_seconds=0.1,
        retry_max_seconds=0.4,
        poll_seconds=0.2,
        send_lease_seconds=300,
    )
    values.update(overrides)
    return NotificationsConfig(**values)


@pytest.fixture()
def make_harness(tmp_path, monkeypatch):
    """Build (and later stop) the service: ``make_harness(mail_url, database_url=None, ...)``."""
    reset_broker()
    monkeypatch.setenv("HAVEN_EVENTS_URL", "memory://")
    started: list[Harness] = []

    def factory(mail_url: str | None = None, *, database_url: str | None = None,
                worker: bool = True, mail_transport=None, **config) -> Harness:
        monkeypatch.setenv(
            "NOTIFICATIONS_DATABASE_URL", database_url or f"sqlite:///{tmp_path}/notif.db"
        )
        settings = ServiceSettings.from_env("notifications")
        tokens = TokenFactory()
        spec = build(settings, verifier=tokens.verifier(),
                     config=make_config(mail_url or f"file://{tmp_path}/mail", **config),
                     mail_transport=mail_transport)
        run_migrations(settings.database_url, spec.migrations)
        harness = Harness(spec=spec, tokens=tokens)
        if worker:
            harness.running = start_worker(spec)
        started.append(harness)
        return harness

    yield factory
    for harness in started:
        if harness.running:
            harness.running.stop()
        harness.spec.db.dispose()
    reset_broker()


@pytest.fixture()
def smtp_server():
    server = SmtpServer(port=free_port())
    yield server
    server.stop()
