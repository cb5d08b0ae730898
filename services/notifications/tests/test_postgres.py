"""The same service on PostgreSQL: migrations, the event-to-email flow, concurrent senders."""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import pytest

from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.notifications.sender import Sender
from shared.service import start_api
from shared.testing import postgres_database

from .conftest import account_event, alert_event, wait_for

pytestmark = pytest.mark.integration

SCHOOL = str(uuid.uuid4())
TOM = str(uuid.uuid4())


@pytest.fixture()
def pg_url():
    with postgres_database("haven_notifications") as url:
        yield url


def test_alerts_are_mailed_once_and_listed_on_postgres(pg_url, make_harness, tmp_path):
    h = make_harness(f"file://{tmp_path}/mail", database_url=pg_url)
    h.publish("identity.account.upserted", account_event(SCHOOL, TOM, email="tom@demo.test"),
              school_id=SCHOOL)
    body = h.publish("records.alert.raised", alert_event(SCHOOL, TOM), school_id=SCHOOL)
    h.publish("records.alert.raised", None, school_id=SCHOOL, body=body)
    [row] = wait_for(lambda: h.deliveries(status="sent"), what="sent")
    assert [p.name for p in (tmp_path / "mail").iterdir()] == [f"{row.id}.eml"]
    start_api(h.spec, h.running, port=0, host="127.0.0.1")
    with grpc.insecure_channel(f"127.0.0.1:{h.running.ports['notifications']}") as channel:
        stub = notifications_pb2_grpc.NotificationsServiceStub(channel)
        reply = stub.ListDeliveries(
            notifications_pb2.ListDeliveriesRequest(),
            metadata=[("authorization", f"Bearer {h.tokens.token(school_id=SCHOOL)}")],
        )
    assert [(d.id, d.status, d.attempts) for d in reply.deliveries] == [(row.id, "sent", 1)]


class SlowTransport:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, message, *, delivery_id):
        time.sleep(0.02)
        with self.lock:
            self.sent.append(delivery_id)


def test_two_senders_never_send_the_same_delivery(pg_url, make_harness):
    h = make_harness(database_url=pg_url, worker=False)
    h.handle("identity.account.upserted", account_event(SCHOOL, TOM, email="tom@demo.test"),
             school_id=SCHOOL)
    for _ in range(20):
        h.handle("records.alert.raised", alert_event(SCHOOL, TOM), school_id=SCHOOL)
    transport = SlowTransport()
    senders = [Sender(h.spec.db, transport, mail_from="Haven <no-reply@haven.test>")
               for _ in range(2)]
    threads = [threading.Thread(target=s.run_once) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(transport.sent) == 20 == len(set(transport.sent))
    assert {d.status for d in h.deliveries()} == {"sent"}
