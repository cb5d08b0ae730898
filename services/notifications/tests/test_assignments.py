"""records.incident.assigned emails the assignee; action alerts read naturally; a school's
alert address (SSO accounts) receives its alerts and assignments."""

from __future__ import annotations

import email
import uuid
from email import policy

from .conftest import PUBLIC_URL, account_event, alert_event, assigned_event, wait_for

SCHOOL = str(uuid.uuid4())
DANA = str(uuid.uuid4())
ALEX = str(uuid.uuid4())
KEY = "records.incident.assigned"


def add_dana(h, **kw):
    h.handle("identity.account.upserted",
             account_event(SCHOOL, DANA, email="dana@demo.haven.test", name="Dana Lead", **kw),
             school_id=SCHOOL)


def test_an_assignment_becomes_one_email_to_the_assignee(make_harness):
    h = make_harness(worker=False)
    add_dana(h)
    event = assigned_event(SCHOOL, DANA, categories=("Bullying", "Online safety"))
    body = h.handle(KEY, event, school_id=SCHOOL, actor=ALEX)
    h.consumer_for(KEY).handle(body)  # redelivered
    [row] = h.deliveries()
    assert (row.kind, row.status, row.recipient, row.recipient_account_id) == (
        "assigned", "pending", "dana@demo.haven.test", DANA)
    assert row.subject == "Haven: Alex Admin assigned you an incident (Bullying, Online safety)"
    assert f"{PUBLIC_URL}/incidents/{event.incident_id}" in row.body
    assert row.body.startswith("Hello Dana Lead,")
    # assigned again later (another event): another email
    h.handle(KEY, event, school_id=SCHOOL, actor=ALEX)
    assert len(h.deliveries()) == 2


def test_self_unknown_unassigned_and_other_school_assignments_send_nothing(make_harness):
    h = make_harness(worker=False)
    add_dana(h)
    h.handle(KEY, assigned_event(SCHOOL, DANA), school_id=SCHOOL, actor=DANA)
    h.handle(KEY, assigned_event(SCHOOL, str(uuid.uuid4())), school_id=SCHOOL, actor=ALEX)
    h.handle(KEY, assigned_event(SCHOOL, ""), school_id=SCHOOL, actor=ALEX)  # unassigned
    h.handle(KEY, assigned_event(str(uuid.uuid4()), DANA), school_id=SCHOOL, actor=ALEX)
    rows = h.deliveries()
    assert sorted((r.status, r.reason) for r in rows) == [
        ("skipped", "The recipient is not a known account of this school."),
        ("skipped", "They assigned it to themselves."),
    ]
    assert all(r.body == "" for r in rows)


def test_the_worker_mails_the_assignment_through_the_bus(make_harness, tmp_path):
    h = make_harness(f"file://{tmp_path}/mail")
    h.publish("identity.account.upserted",
              account_event(SCHOOL, DANA, email="dana@demo.haven.test", name="Dana Lead"),
              school_id=SCHOOL)
    event = assigned_event(SCHOOL, DANA)
    h.publish(KEY, event, school_id=SCHOOL, actor=ALEX)
    [row] = wait_for(lambda: h.deliveries(status="sent"), what="sent")
    msg = email.message_from_bytes((tmp_path / "mail" / f"{row.id}.eml").read_bytes(),
                                   policy=policy.default)
    assert msg["Subject"] == "Haven: Alex Admin assigned you an incident (Bullying)"
    assert msg["To"] == "Dana Lead <dana@demo.haven.test>"
    assert f"{PUBLIC_URL}/incidents/{event.incident_id}" in msg.get_content()


def test_action_alerts_say_an_action_was_added_and_why(make_harness):
    h = make_harness(worker=False)
    add_dana(h)
    h.handle("records.alert.raised",
             alert_event(SCHOOL, DANA, kind="action", raised_by="Tom Teacher"), school_id=SCHOOL)
    h.handle("records.alert.raised",
             alert_event(SCHOOL, DANA, kind="action", raised_by="Tess Tutor", reason="automatic"),
             school_id=SCHOOL)
    subjects = sorted(r.subject for r in h.deliveries())
    assert subjects == [
        "Haven alert: Tess Tutor added an action to an incident (automatic alert)",
        "Haven alert: Tom Teacher added an action to an incident",
    ]
    automatic = next(r for r in h.deliveries() if "Tess" in r.subject)
    assert "Tess Tutor added an action to an incident in Haven." in automatic.body
    assert "automatic alert" in automatic.body


def test_a_schools_alert_address_receives_its_alerts_and_assignments(make_harness):
    h = make_harness(worker=False)
    add_dana(h, alert_email="dana.lead@trust.example.test")
    h.handle("records.alert.raised", alert_event(SCHOOL, DANA), school_id=SCHOOL)
    h.handle(KEY, assigned_event(SCHOOL, DANA), school_id=SCHOOL, actor=ALEX)
    assert {r.recipient for r in h.deliveries()} == {"dana.lead@trust.example.test"}
    add_dana(h)  # the alert address was cleared: the next send uses the login address
    sent = []

    class Transport:
        def send(self, message, *, delivery_id):
            sent.append(message["To"])

    h.sender.transport = Transport()
    assert h.sender.run_once() == 2
    assert sent == ["Dana Lead <dana@demo.haven.test>"] * 2
