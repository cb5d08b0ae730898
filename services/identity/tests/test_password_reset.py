"""First and forgotten passwords: the emailed single-use link that ends at midnight."""

from __future__ import annotations

import datetime as dt

import grpc
from sqlalchemy import select

from haven.identity.v1 import identity_pb2 as pb
from services.identity.models import SecurityLogEntry
from services.identity.password_reset import SENT, midnight_after
from services.identity.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID
from services.identity.tests.conftest import refused
from services.identity.tests.test_users_admin import ADMIN, TEACHER1, TEACHER1_ID

NEW_PASSWORD = "violet kettle harbour 9"


def ask(identity, email: str, *, slug: str = "", ip: str = "192.0.2.30"):
    return identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(
        email=email, school_slug=slug, client_ip=ip, user_agent="pytest"))


def token_of(identity, index: int = -1) -> str:
    sent = identity.events("identity.password_reset.requested", pb.PasswordResetRequested)
    return sent[index].reset_url_path.rsplit("/", 1)[1]


def reset(identity, token: str, password: str = NEW_PASSWORD):
    return identity.stub.ResetPassword(pb.ResetPasswordRequest(
        token=token, password=password, client_ip="192.0.2.31", user_agent="pytest"))


def log(identity, event: str) -> list[SecurityLogEntry]:
    with identity.db.read() as s:
        rows = list(s.scalars(select(SecurityLogEntry).where(SecurityLogEntry.event == event)
                              .order_by(SecurityLogEntry.at)))
        s.expunge_all()
        return rows


def test_midnight_is_the_end_of_the_day_in_the_schools_time_zone():
    # Winter: London is UTC. Summer: London is UTC+1, so midnight is 23:00 UTC.
    assert midnight_after(dt.datetime(2026, 1, 15, 9, 30), "Europe/London") == (
        dt.datetime(2026, 1, 16, 0, 0))
    assert midnight_after(dt.datetime(2026, 6, 15, 9, 30), "Europe/London") == (
        dt.datetime(2026, 6, 15, 23, 0))
    # 23:30 UTC on 15 June is already 16 June in London: the link lasts until that midnight.
    assert midnight_after(dt.datetime(2026, 6, 15, 23, 30), "Europe/London") == (
        dt.datetime(2026, 6, 16, 23, 0))
    assert midnight_after(dt.datetime(2026, 6, 15, 9, 30), "Asia/Tokyo") == (
        dt.datetime(2026, 6, 15, 15, 0))


def test_a_known_and_an_unknown_email_get_the_same_answer(identity):
    known = ask(identity, TEACHER1)
    unknown = ask(identity, "nobody@demo.haven.test", slug="demo")
    assert known.message == unknown.message == SENT
    [sent] = identity.events("identity.password_reset.requested", pb.PasswordResetRequested)
    assert (sent.email, sent.account_id, sent.school_id, sent.welcome) == (
        TEACHER1, TEACHER1_ID, DEMO_SCHOOL_ID, False)
    assert (sent.school_name, sent.time_zone) == ("Haven Demo Academy", "Europe/London")
    expected = midnight_after(identity.clock(), "Europe/London")
    assert sent.expires_at.ToDatetime() == expected
    [miss] = log(identity, "password_reset_unknown_email")
    assert (miss.email, miss.school_id, miss.account_id, miss.client_ip) == (
        "nobody@demo.haven.test", DEMO_SCHOOL_ID, None, "192.0.2.30")
    # The school's admins see it among attempts with unknown emails.
    admin, _ = identity.elevated(ADMIN)
    entries = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(unknown_emails=True),
                            admin).entries
    assert [(e.event, e.email) for e in entries] == [
        ("password_reset_unknown_email", "nobody@demo.haven.test")]
    assert refused(ask, identity, "not an email").code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_link_sets_a_password_once(identity):
    live = identity.login(TEACHER1).session_id
    ask(identity, TEACHER1)
    token = token_of(identity)
    info = identity.stub.CheckPasswordResetLink(pb.CheckPasswordResetLinkRequest(token=token))
    assert (info.email, info.display_name, info.school_name, info.welcome) == (
        TEACHER1, "Tom Teacher", "Haven Demo Academy", False)
    assert reset(identity, token).email == TEACHER1
    assert identity.login(TEACHER1, NEW_PASSWORD).display_name == "Tom Teacher"
    assert refused(identity.login, TEACHER1, DEMO_PASSWORD).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    assert refused(identity.refresh, live).code() == grpc.StatusCode.UNAUTHENTICATED
    # Used twice: refused, logged, and the password stays as it was.
    error = refused(reset, identity, token, "another strong password 77")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expired or has already been used" in error.details()
    assert refused(identity.stub.CheckPasswordResetLink,
                   pb.CheckPasswordResetLinkRequest(token=token)).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)
    assert identity.login(TEACHER1, NEW_PASSWORD).display_name == "Tom Teacher"
    [entry] = log(identity, "password_reset_refused")
    assert (entry.detail, entry.account_id, entry.school_id) == (
        "link already used", TEACHER1_ID, DEMO_SCHOOL_ID)
    [done] = [e for e in log(identity, "password_set") if e.account_id == TEACHER1_ID]
    assert done.detail == "reset link" and done.client_ip == "192.0.2.31"


def test_a_link_after_midnight_is_refused(identity):
    ask(identity, TEACHER1)
    token = token_of(identity)
    until = midnight_after(identity.clock(), "Europe/London")
    identity.clock.now = until + dt.timedelta(seconds=1)
    error = refused(reset, identity, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert log(identity, "password_reset_refused")[0].detail == "link expired"
    identity.clock.now = until - dt.timedelta(hours=1)
    assert identity.login(TEACHER1).display_name == "Tom Teacher"  # unchanged


def test_a_weak_password_is_refused_with_reasons_and_the_link_still_works(identity):
    ask(identity, TEACHER1)
    token = token_of(identity)
    strength = identity.stub.CheckPasswordStrength(pb.CheckPasswordStrengthRequest(
        password="tom teacher 1", token=token))
    assert strength.ok is False and strength.problems
    assert identity.stub.CheckPasswordStrength(pb.CheckPasswordStrengthRequest(
        password=NEW_PASSWORD)).ok
    short = refused(reset, identity, token, "short")
    assert short.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least 10 characters" in short.details()
    guessable = refused(reset, identity, token, "password123")
    assert "too easy to guess" in guessable.details()
    assert reset(identity, token).email == TEACHER1


def test_a_newer_password_spends_the_older_links(identity):
    ask(identity, TEACHER1)
    ask(identity, TEACHER1)
    first, second = token_of(identity, 0), token_of(identity, 1)
    reset(identity, second)
    assert refused(reset, identity, first).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_reset_requests_are_limited_per_email_and_per_address(identity):
    for i in range(7):
        assert ask(identity, TEACHER1, ip=f"203.0.113.{i}").message == SENT
    assert len(identity.events("identity.password_reset.requested",
                               pb.PasswordResetRequested)) == 5
    assert len(log(identity, "password_reset_throttled")) == 2
    for i in range(20):
        ask(identity, f"guess{i}@demo.haven.test", ip="203.0.113.200")
    error = refused(ask, identity, "another@demo.haven.test", ip="203.0.113.200")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_deactivated_user_gets_no_link(identity):
    from services.identity import operations

    operations.set_membership_active(identity.db, identity.spec.outbox, email=TEACHER1,
                                     school_id=DEMO_SCHOOL_ID, active=False)
    assert ask(identity, TEACHER1).message == SENT
    assert identity.events("identity.password_reset.requested", pb.PasswordResetRequested) == []
    assert log(identity, "password_reset_unknown_email")[0].detail == "no active membership"


def test_an_admin_sends_a_new_users_first_password_email(identity):
    admin, _ = identity.elevated(ADMIN)
    reply = identity.call("SendPasswordEmail", pb.SendPasswordEmailRequest(
        account_id=TEACHER1_ID), admin)
    [sent] = identity.events("identity.password_reset.requested", pb.PasswordResetRequested)
    assert sent.expires_at == reply.expires_at and sent.welcome is False  # has a password
    assert reset(identity, token_of(identity)).email == TEACHER1
