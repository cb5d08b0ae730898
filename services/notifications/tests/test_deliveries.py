"""From events to emails: recipients, deliveries, the sender, real SMTP (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import time
import uuid
from email import policy

from services.notifications import deliveries
from services.notifications.mail import MailError, PermanentMailError, build_message
from services.notifications.models import Recipient
from shared.db import utcnow

from .conftest import PUBLIC_URL, account_event, alert_event, wait_for

SCHOOL_A = str(uuid.uuid4())
SCHOOL_B = str(uuid.uuid4())
TOM = str(uuid.uuid4())
TESS = str(uuid.uuid4())


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


def add_tom(h, school=SCHOOL_A, email_address="tom@demo.haven.test", **kw):
    h.publish("identity.account.upserted",
              account_event(school, TOM, email=email_address, **kw), school_id=school)


# ---- consumers ----


def test_an_alert_becomes_one_pending_delivery_whatever_the_redeliveries(make_harness):
    h = make_harness(worker=False)
    h.handle("identity.account.upserted",
             account_event(SCHOOL_A, TOM, email="tom@demo.haven.test"), school_id=SCHOOL_A)
    alert = alert_event(SCHOOL_A, TOM)
    event_id = str(uuid.uuid4())
    body = h.handle("records.alert.raised", alert, school_id=SCHOOL_A, event_id=event_id)
    h.consumer_for("records.alert.raised").handle(body)  # the same event again
    # records publishing the same alert twice (another event id) still makes one email
    h.handle("records.alert.raised", alert, school_id=SCHOOL_A)
    [row] = h.deliveries()
    assert row.id == deliveries.delivery_id_for(event_id)
    assert (row.status, row.recipient, row.school_id) == ("pending", "tom@demo.haven.test",
                                                          SCHOOL_A)
    assert f"{PUBLIC_URL}/incidents/{alert.incident_id}" in row.body
    assert "Bullying, Online safety" in row.body and "Dana Lead" in row.subject


def test_recipients_follow_the_newest_account_event(make_harness):
    h = make_harness(worker=False)
    newer = account_event(SCHOOL_A, TOM, email="new@demo.haven.test", name="Tom T")
    older = account_event(SCHOOL_A, TOM, email="old@demo.haven.test", active=False)
    from shared.events import make_envelope

    env_new = make_envelope("identity.account.upserted", newer, school_id=SCHOOL_A, actor="t")
    env_old = make_envelope("identity.account.upserted", older, school_id=SCHOOL_A, actor="t")
    env_old.occurred_at.FromDatetime(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    consumer = h.consumer_for("identity.account.upserted")
    consumer.handle(env_new.SerializeToString())
    consumer.handle(env_old.SerializeToString())  # arrives late: ignored
    consumer.handle(env_new.SerializeToString())  # duplicate: ignored
    with h.spec.db.read() as s:
        [row] = s.query(Recipient).all()
        assert (row.email, row.display_name, row.active) == ("new@demo.haven.test", "Tom T", True)


def test_unknown_inactive_and_other_school_recipients_are_skipped_with_a_reason(make_harness):
    h = make_harness(worker=False)
    h.handle("identity.account.upserted",
             account_event(SCHOOL_A, TESS, email="tess@demo.haven.test", active=False),
             school_id=SCHOOL_A)
    h.handle("identity.account.upserted",
             account_event(SCHOOL_B, TOM, email="tom@other.test"), school_id=SCHOOL_B)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TESS), school_id=SCHOOL_A)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    rows = {r.recipient_account_id: r for r in h.deliveries()}
    assert rows[TESS].status == rows[TOM].status == "skipped"
    assert "not active" in rows[TESS].reason
    assert "not a known account of this school" in rows[TOM].reason
    assert rows[TOM].recipient == "" and rows[TOM].body == ""


def test_an_event_whose_payload_names_another_school_is_ignored(make_harness):
    h = make_harness(worker=False)
    h.handle("identity.account.upserted",
             account_event(SCHOOL_B, TOM, email="tom@other.test"), school_id=SCHOOL_B)
    h.handle("records.alert.raised", alert_event(SCHOOL_B, TOM), school_id=SCHOOL_A)
    h.handle("identity.account.upserted",
             account_event(SCHOOL_B, TESS, email="x@other.test"), school_id=SCHOOL_A)
    assert h.deliveries() == []
    with h.spec.db.read() as s:
        assert [r.account_id for r in s.query(Recipient).all()] == [TOM]


# ---- the sender ----


def test_file_transport_writes_the_eml_named_by_delivery_id(make_harness, tmp_path):
    # a long poll: the mail goes out at once only because the commit wakes the sender
    h = make_harness(f"file://{tmp_path}/outbox", poll_seconds=60)
    time.sleep(0.1)  # let the sender reach its wait
    add_tom(h)
    alert = alert_event(SCHOOL_A, TOM)
    h.publish("records.alert.raised", alert, school_id=SCHOOL_A)
    [row] = wait_for(lambda: h.deliveries(status="sent"), timeout=5, what="sent")
    path = tmp_path / "outbox" / f"{row.id}.eml"
    msg = parse(path.read_bytes())
    assert msg["Message-ID"] == f"<{row.id}@haven.test>"
    assert msg["To"] == "Tom Teacher <tom@demo.haven.test>"
    assert msg["From"] == "Haven <no-reply@haven.test>"
    assert f"{PUBLIC_URL}/incidents/{alert.incident_id}" in msg.get_content()
    assert row.attempts == 1 and row.sent_at is not None
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [path.name]


def test_smtp_gets_exactly_one_mail_per_alert_even_when_an_event_comes_twice(
    make_harness, smtp_server
):
    smtp_server.start()
    h = make_harness(f"smtp://127.0.0.1:{smtp_server.port}?timeout=5")
    add_tom(h)
    first = h.publish("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    h.publish("records.alert.raised", None, school_id=SCHOOL_A, body=first)  # redelivered
    h.publish("records.alert.raised", alert_event(SCHOOL_A, TOM, raised_by="Alex Admin"),
              school_id=SCHOOL_A)
    wait_for(lambda: len(h.deliveries(status="sent")) == 2, what="two sent")
    time.sleep(0.5)  # give a duplicate every chance to show up
    inbox = smtp_server.inbox.messages
    assert len(inbox) == 2
    assert all(rcpts == ["tom@demo.haven.test"] for _, rcpts, _ in inbox)
    assert {parse(raw)["Message-ID"] for _, _, raw in inbox} == {
        f"<{d.id}@haven.test>" for d in h.deliveries()
    }
    assert {parse(raw)["Subject"] for _, _, raw in inbox} == {
        "Haven alert: Dana Lead has alerted you to an incident",
        "Haven alert: Alex Admin has alerted you to an incident",
    }


def test_smtp_down_keeps_the_delivery_pending_then_sends_when_it_is_back(
    make_harness, smtp_server
):
    h = make_harness(f"smtp://127.0.0.1:{smtp_server.port}?timeout=2", retry_seconds=0.2,
                     retry_max_seconds=0.3)
    add_tom(h)
    h.publish("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    wait_for(lambda: any(d.attempts >= 2 for d in h.deliveries()), what="retries")
    [row] = h.deliveries()
    assert row.status in ("pending", "sending")
    assert row.reason.startswith("cannot reach the mail server")
    smtp_server.start()
    [row] = wait_for(lambda: h.deliveries(status="sent"), what="sent after recovery")
    time.sleep(0.3)
    assert len(smtp_server.inbox.messages) == 1
    assert row.reason == ""


def test_a_mail_for_another_schools_recipient_is_never_sent(make_harness, smtp_server):
    smtp_server.start()
    h = make_harness(f"smtp://127.0.0.1:{smtp_server.port}?timeout=5")
    add_tom(h, school=SCHOOL_B, email_address="tom@other-school.test")
    h.publish("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    h.publish("records.alert.raised", alert_event(SCHOOL_B, TOM), school_id=SCHOOL_A)
    h.publish("records.alert.raised", alert_event(SCHOOL_B, TOM), school_id=SCHOOL_B)  # control
    wait_for(lambda: h.deliveries(status="sent"), what="the control mail")
    time.sleep(0.3)
    assert [rcpts for _, rcpts, _ in smtp_server.inbox.messages] == [["tom@other-school.test"]]
    statuses = sorted((d.school_id == SCHOOL_B, d.status) for d in h.deliveries())
    assert statuses == [(False, "skipped"), (True, "sent")]


def test_a_sender_stopped_mid_send_resends_once_with_the_same_message_id(make_harness):
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport, send_lease_seconds=60)
    add_tom_direct(h)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    now = utcnow()
    # The crash: "sending" committed, the mail server accepted, "sent" never committed.
    with h.spec.db.transaction() as s:
        out = deliveries.claim_next(s, now=now, lock=False)
    message = build_message(delivery_id=out.delivery_id, mail_from="Haven <no-reply@haven.test>",
                            to_address=out.recipient, to_name="", subject=out.subject,
                            body=out.body)
    transport.send(message, delivery_id=out.delivery_id)
    sender = h.sender
    sender.clock = lambda: now + dt.timedelta(seconds=30)
    assert sender.run_once() == 0  # within the lease: another sender may still be at it
    sender.clock = lambda: now + dt.timedelta(seconds=61)
    assert sender.run_once() == 1
    assert sender.run_once() == 0
    ids = [m["Message-ID"] for _, m in transport.sent]
    assert ids == [f"<{out.delivery_id}@haven.test>"] * 2
    [row] = h.deliveries()
    assert (row.status, row.attempts) == ("sent", 2)


def test_temporary_failures_back_off_then_fail_and_permanent_refusals_fail_at_once(make_harness):
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport, max_attempts=3, retry_seconds=10,
                     retry_max_seconds=15)
    add_tom_direct(h)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    sender, start = h.sender, utcnow()
    transport.fail_with = MailError("mail server said 451")
    sender.clock = lambda: start
    assert sender.run_once() == 2
    assert {(d.status, d.attempts) for d in h.deliveries()} == {("pending", 1)}
    assert sender.run_once() == 0  # not due yet (10 s)
    sender.clock = lambda: start + dt.timedelta(seconds=11)
    assert sender.run_once() == 2  # second attempt; next delay 15 s (capped)
    sender.clock = lambda: start + dt.timedelta(seconds=27)
    transport.fail_with = None
    first, second = h.deliveries()
    with h.spec.db.transaction() as s:  # one of them will be refused for good
        s.get(type(first), second.id).next_attempt_at = start + dt.timedelta(seconds=100)
    transport.fail_with = PermanentMailError("mail server said 550")
    assert sender.run_once() == 1
    sender.clock = lambda: start + dt.timedelta(seconds=101)
    transport.fail_with = MailError("mail server said 421")
    assert sender.run_once() == 1
    rows = {d.id: d for d in h.deliveries()}
    assert (rows[first.id].status, rows[first.id].attempts) == ("failed", 3)
    assert rows[first.id].reason == "mail server said 550"
    assert (rows[second.id].status, rows[second.id].attempts) == ("failed", 3)
    assert transport.sent == []


def test_a_recipient_deactivated_before_sending_gets_nothing(make_harness):
    transport = RecordingTransport()
    h = make_harness(worker=False, mail_transport=transport)
    add_tom_direct(h)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    add_tom_direct(h, active=False)
    assert h.sender.run_once() == 0
    [row] = h.deliveries()
    assert row.status == "skipped" and transport.sent == []


def add_tom_direct(h, **kw):
    h.handle("identity.account.upserted",
             account_event(SCHOOL_A, TOM, email="tom@demo.haven.test", **kw), school_id=SCHOOL_A)
