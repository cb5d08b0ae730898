"""identity.password_reset.requested: the link goes to the event's address, once, in the
email only (never in logs, the delivery log or the stored body once settled)."""

from __future__ import annotations

import datetime as dt
import email
import logging
import time
import traceback
import uuid
from email import policy

import grpc
import pytest

from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.notifications import deliveries, links
from services.notifications.mail import MailError
from services.notifications.models import Delivery
from shared.db import utcnow
from shared.service import start_api

from .conftest import PUBLIC_URL, account_event, reset_event, wait_for

SCHOOL = str(uuid.uuid4())
OTHER_SCHOOL = str(uuid.uuid4())
NIA = str(uuid.uuid4())
KEY = "identity.password_reset.requested"


class RecordingTransport:
    def __init__(self) -> None:
        self.sent = []
        self.fail_with: Exception | None = None

    def send(self, message, *, delivery_id):
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((delivery_id, message))


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def test_a_request_becomes_one_delivery_to_the_events_address_whatever_the_redeliveries(
    make_harness
):
    h = make_harness(worker=False)
    token = uuid.uuid4().hex
    event = reset_event(SCHOOL, NIA, token=token)  # no recipient row: a brand-new account
    event_id = str(uuid.uuid4())
    body = h.handle(KEY, event, school_id=SCHOOL, event_id=event_id)
    h.consumer_for(KEY).handle(body)  # redelivered
    h.handle(KEY, event, school_id=SCHOOL)  # identity republished the same link
    [row] = h.deliveries()
    assert row.id == deliveries.delivery_id_for(event_id)
    assert (row.kind, row.status, row.recipient, row.recipient_name, row.recipient_account_id) == (
        "password_reset", "pending", "nia@demo.haven.test", "Nia Newbie", NIA)
    assert f"{PUBLIC_URL}/reset-password/{token}" in row.body
    assert row.subject == "Reset your Haven password at Haven Demo Academy"
    assert token not in row.subject and token not in row.dedupe_key
    assert row.expires_at == event.expires_at.ToDatetime()
    # a new link (a second request) is a second email; a first password says so
    h.handle(KEY, reset_event(SCHOOL, NIA, welcome=True), school_id=SCHOOL)
    assert sorted(r.kind for r in h.deliveries()) == ["password_reset", "welcome"]


def test_unusable_expired_and_other_school_requests_send_nothing(make_harness):
    h = make_harness(worker=False)
    past = utcnow() - dt.timedelta(minutes=1)
    h.handle(KEY, reset_event(SCHOOL, NIA, expires_at=past), school_id=SCHOOL)
    bad_path = reset_event(SCHOOL, NIA)
    bad_path.reset_url_path = "//evil.test/steal"
    h.handle(KEY, bad_path, school_id=SCHOOL)
    h.handle(KEY, reset_event(SCHOOL, NIA, email="not-an-address"), school_id=SCHOOL)
    reasons = sorted(r.reason for r in h.deliveries())
    assert reasons == [
        "The event carried no usable link.",
        "The event named no email address.",
        "The link had expired before it could be sent.",
    ]
    assert all(r.status == "skipped" and r.body == "" for r in h.deliveries())
    h.handle(KEY, reset_event(OTHER_SCHOOL, NIA), school_id=SCHOOL)  # payload disagrees
    assert len(h.deliveries()) == 3


def test_the_link_is_sent_then_hidden_and_never_logged_nor_listed(make_harness, caplog):
    caplog.set_level(logging.DEBUG)
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport, max_attempts=2, retry_seconds=1)
    token = "tok-" + uuid.uuid4().hex
    link = f"{PUBLIC_URL}/reset-password/{token}"
    h.handle(KEY, reset_event(SCHOOL, NIA, token=token, welcome=True), school_id=SCHOOL)
    # the mail server refuses once, with an error that (oddly) quotes the link
    sender, start = h.sender, utcnow()
    sender.clock = lambda: start
    transport.fail_with = MailError(f"mail server said 451 about {link}")
    assert sender.run_once() == 1
    [row] = h.deliveries()
    assert row.status == "pending" and token not in row.reason and token in row.body
    transport.fail_with = None
    sender.clock = lambda: start + dt.timedelta(seconds=2)
    assert sender.run_once() == 1
    [(delivery_id, message)] = transport.sent
    assert link in message.get_content()
    assert message["To"] == "Nia Newbie <nia@demo.haven.test>"
    assert message["Message-ID"] == f"<{delivery_id}@haven.test>"
    [row] = h.deliveries()
    assert row.status == "sent" and token not in row.body
    assert f"{PUBLIC_URL}/[link hidden]" in row.body
    # the delivery log shows subject, recipient and status; nothing of the link
    running = start_api(h.spec, port=0, host="127.0.0.1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.ports['notifications']}") as channel:
            reply = notifications_pb2_grpc.NotificationsServiceStub(channel).ListDeliveries(
                notifications_pb2.ListDeliveriesRequest(),
                metadata=[("authorization", f"Bearer {h.tokens.token(school_id=SCHOOL)}")])
    finally:
        running.stop()
    [listed] = reply.deliveries
    assert (listed.subject, listed.recipient, listed.status, listed.kind) == (
        "Set your first Haven password at Haven Demo Academy", "nia@demo.haven.test", "sent",
        "welcome")
    assert token.encode() not in reply.SerializeToString()
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert logged and not [line for line in logged if token in line]


def test_an_expired_link_is_not_sent_late_but_a_crash_mid_send_resends_it_whole(make_harness):
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport, send_lease_seconds=60)
    now = utcnow()
    soon = reset_event(SCHOOL, NIA, expires_at=now + dt.timedelta(minutes=5))
    later = reset_event(SCHOOL, NIA, expires_at=now + dt.timedelta(hours=5))
    h.handle(KEY, soon, school_id=SCHOOL)
    h.handle(KEY, later, school_id=SCHOOL)
    # the sender was down for ten minutes: the first link is dead, the second is not
    with h.spec.db.transaction() as s:  # and it crashed after claiming the second
        out = deliveries.claim_next(s, now=now + dt.timedelta(minutes=10), lock=False)
    assert out is not None and later.reset_url_path in out.body
    sender = h.sender
    sender.clock = lambda: now + dt.timedelta(minutes=12)
    assert sender.run_once() == 1
    [(_, message)] = transport.sent
    assert later.reset_url_path in message.get_content()
    assert message["Message-ID"] == f"<{out.delivery_id}@haven.test>"
    rows = {r.expires_at: r for r in h.deliveries()}
    dead = rows[soon.expires_at.ToDatetime()]
    assert (dead.status, dead.reason) == (
        "skipped", "The link had expired before it could be sent.")
    assert soon.reset_url_path not in dead.body
    assert rows[later.expires_at.ToDatetime()].status == "sent"


def test_a_known_recipients_state_does_not_stop_the_link(make_harness):
    # identity decides who may reset; the link goes to the address it named, not the
    # recipient's alert address
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport)
    h.handle("identity.account.upserted",
             account_event(SCHOOL, NIA, email="nia@demo.haven.test", alert_email="dsl@x.test"),
             school_id=SCHOOL)
    h.handle(KEY, reset_event(SCHOOL, NIA), school_id=SCHOOL)
    assert h.sender.run_once() == 1
    assert [m["To"] for _, m in transport.sent] == ["Nia Newbie <nia@demo.haven.test>"]


@pytest.mark.parametrize("welcome", [True, False])
def test_smtp_delivers_the_password_email_once(make_harness, smtp_server, welcome):
    smtp_server.start()
    h = make_harness(f"smtp://127.0.0.1:{smtp_server.port}?timeout=5")
    token = uuid.uuid4().hex
    event = reset_event(SCHOOL, NIA, token=token, welcome=welcome,
                        expires_at=dt.datetime(2099, 3, 3, 0, 0))
    body = h.publish(KEY, event, school_id=SCHOOL)
    h.publish(KEY, None, school_id=SCHOOL, body=body)  # redelivered
    [row] = wait_for(lambda: h.deliveries(status="sent"), what="sent")
    time.sleep(0.3)  # give a duplicate every chance to show up
    [(mail_from, rcpts, raw)] = smtp_server.inbox.messages
    assert rcpts == ["nia@demo.haven.test"] and "no-reply@haven.test" in mail_from
    msg = parse(raw)
    assert msg["Message-ID"] == f"<{row.id}@haven.test>"
    assert msg["Subject"] == ("Set your first Haven password at Haven Demo Academy" if welcome
                              else "Reset your Haven password at Haven Demo Academy")
    text = msg.get_content()
    assert f"{PUBLIC_URL}/reset-password/{token}" in text
    assert "until midnight at the end of Monday 2 March 2099 (Europe/London time)" in text
    assert token not in row.body


def test_a_database_refusal_never_carries_the_link_into_the_logs(make_harness):
    h = make_harness(worker=False)
    path = "/reset-password/tok-" + uuid.uuid4().hex
    now = utcnow()
    with pytest.raises(deliveries.DeliveryConflict) as refused, \
            h.spec.db.transaction() as s, s.no_autoflush:
        # another worker's row for the same link, not visible to the check before the insert
        s.add(Delivery(id=str(uuid.uuid4()), school_id=SCHOOL, event_id=str(uuid.uuid4()),
                       kind="password_reset", dedupe_key=links.link_key(path),
                       recipient_account_id=NIA, subject="s", body=f"{PUBLIC_URL}{path}",
                       status="pending", created_at=now))
        deliveries.record_password_link(
            s, event_id=str(uuid.uuid4()), school_id=SCHOOL, account_id=NIA,
            email="nia@demo.haven.test", display_name="Nia", school_name="", time_zone="",
            reset_url_path=path, expires_at=None, welcome=False, public_url=PUBLIC_URL, now=now)
    printed = "".join(traceback.format_exception(refused.value))
    assert "another delivery of this link" in printed and path not in printed
    assert h.deliveries() == []
