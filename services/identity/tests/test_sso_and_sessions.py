"""SSO accounts switching school, session fixation, brute force across accounts, and
deactivated users: the attacks on sessions are refused, change nothing and are logged."""

from __future__ import annotations

import grpc
from sqlalchemy import func, select

from haven.identity.v1 import identity_pb2 as pb
from services.identity import operations
from services.identity.models import LoginSession, SecurityLogEntry
from services.identity.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID
from services.identity.tests.conftest import (
    BOTH_SCHOOLS,
    OTHER_DSL,
    OTHER_SCHOOL_ID,
    OTHER_TEACHER,
    refused,
)
from services.identity.tests.test_users_admin import DSL, TEACHER1, TEACHER2


def switch(identity, secret: str, school_id: str):
    return identity.stub.SwitchSchool(pb.SwitchSchoolRequest(
        session_id=secret, school_id=school_id, client_ip="192.0.2.90", user_agent="pytest"))


def log(identity, event: str) -> list[SecurityLogEntry]:
    with identity.db.read() as s:
        rows = list(s.scalars(select(SecurityLogEntry).where(SecurityLogEntry.event == event)))
        s.expunge_all()
        return rows


def sessions_count(identity) -> int:
    with identity.db.read() as s:
        return s.scalar(select(func.count()).select_from(LoginSession))


# ---- SSO --------------------------------------------------------------------------------------


def test_an_sso_account_lists_its_schools_and_switches_without_logging_in(identity):
    reply = identity.login(BOTH_SCHOOLS)
    assert (reply.school_id, reply.other_schools) == (OTHER_SCHOOL_ID, 1)
    schools = identity.call("ListMySchools", pb.ListMySchoolsRequest(), reply.access_token)
    assert [(s.name, s.slug, s.current, s.user_group_name) for s in schools.schools] == [
        ("Oakfield Primary", "oakfield", True, "Teachers"),
        ("Haven Demo Academy", "demo", False, "Teachers"),
    ]
    moved = switch(identity, reply.session_id, DEMO_SCHOOL_ID)
    assert (moved.school_id, moved.school_name) == (DEMO_SCHOOL_ID, "Haven Demo Academy")
    assert moved.session_id != reply.session_id
    claims = identity.spec.verifier.verify(moved.access_token)
    assert (claims.school_id, claims.acr, claims.access) == (DEMO_SCHOOL_ID, "pwd", "restricted")
    # Only the new school's data from now on; the old session is over.
    staff = [s.email for s in identity.list_staff(moved.access_token).staff]
    assert DSL in staff and OTHER_DSL not in staff
    assert refused(identity.refresh, reply.session_id).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    back = switch(identity, moved.session_id, OTHER_SCHOOL_ID)
    assert back.school_id == OTHER_SCHOOL_ID
    [first, second] = log(identity, "school_switched")
    assert {first.school_id, second.school_id} == {DEMO_SCHOOL_ID, OTHER_SCHOOL_ID}


def test_elevation_does_not_carry_across_schools(identity):
    # Olive is Oakfield's DSL; she becomes a DSL of the demo school too.
    operations.create_account(identity.db, identity.spec.outbox, school_id=DEMO_SCHOOL_ID,
                              email=OTHER_DSL, display_name="Olive Head", user_group="DSL",
                              config=identity.config)
    reply = identity.login(OTHER_DSL)
    elevated = identity.elevate(reply.session_id, identity.code(OTHER_DSL))
    assert (elevated.access, elevated.acr) == ("full", "mfa")
    moved = switch(identity, elevated.session_id, DEMO_SCHOOL_ID)
    claims = identity.spec.verifier.verify(moved.access_token)
    assert (claims.school_id, claims.acr, claims.access) == (DEMO_SCHOOL_ID, "pwd", "restricted")
    assert claims.permissions == {"add_incidents"}
    # Elevating again there gives the demo school's DSL permissions.
    again = identity.elevate(moved.session_id, identity.code(OTHER_DSL, steps=1))
    assert (again.access, identity.spec.verifier.verify(again.access_token).school_id) == (
        "full", DEMO_SCHOOL_ID)


def test_attack_switching_to_a_school_without_membership_is_refused_and_audited(identity):
    reply = identity.login(OTHER_TEACHER)  # Oakfield only
    before = sessions_count(identity)
    for school in (DEMO_SCHOOL_ID, "no-such-school", ""):
        error = refused(switch, identity, reply.session_id, school)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error.details() == "You are not a user of that school."
    assert sessions_count(identity) == before
    refusals = log(identity, "school_switch_refused")
    assert len(refusals) == 3 and refusals[0].school_id == OTHER_SCHOOL_ID
    assert refusals[0].client_ip == "192.0.2.90"
    # Nothing changed: the session is still Oakfield's and still works.
    token = identity.refresh(reply.session_id).access_token
    assert identity.spec.verifier.verify(token).school_id == OTHER_SCHOOL_ID


def test_attack_switching_to_a_school_where_the_membership_is_deactivated(identity):
    reply = identity.login(BOTH_SCHOOLS)
    operations.set_membership_active(identity.db, identity.spec.outbox, email=BOTH_SCHOOLS,
                                     school_id=DEMO_SCHOOL_ID, active=False)
    assert refused(switch, identity, reply.session_id, DEMO_SCHOOL_ID).code() == (
        grpc.StatusCode.PERMISSION_DENIED)
    assert [s.school_id for s in identity.call(
        "ListMySchools", pb.ListMySchoolsRequest(), reply.access_token).schools] == [
        OTHER_SCHOOL_ID]


def test_a_school_has_a_postcode(identity):
    created = identity.events("identity.school.created", pb.SchoolCreated)
    oakfield = next(e for e in created if e.school_id == OTHER_SCHOOL_ID)
    assert (oakfield.name, oakfield.slug, oakfield.postcode) == (
        "Oakfield Primary", "oakfield", "LS1 4AB")


def test_a_login_page_of_a_school_logs_into_that_school(identity):
    reply = identity.stub.Login(pb.LoginRequest(email=BOTH_SCHOOLS, password=DEMO_PASSWORD,
                                                school_slug="demo"))
    assert reply.school_id == DEMO_SCHOOL_ID
    refused(identity.stub.Login, pb.LoginRequest(email="ghost@demo.haven.test",
                                                 password="whatever-it-is",
                                                 school_slug="demo"))
    assert log(identity, "login_failed")[-1].school_id == DEMO_SCHOOL_ID


# ---- session fixation -------------------------------------------------------------------------


def test_attack_session_fixation_a_secret_known_before_elevation_gains_nothing(identity):
    # Someone learned the session secret before the DSL elevated.
    reply = identity.login(DSL)
    planted = reply.session_id
    elevated = identity.elevate(planted, identity.code(DSL))
    assert elevated.session_id != planted
    # The planted secret can neither refresh into full access nor elevate again.
    assert refused(identity.refresh, planted).code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused(identity.elevate, planted, identity.code(DSL, steps=1)).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    assert refused(identity.stub.SwitchSchool, pb.SwitchSchoolRequest(
        session_id=planted, school_id=DEMO_SCHOOL_ID)).code() == grpc.StatusCode.UNAUTHENTICATED
    # ...while the new one works; the old one may still end the session (logout).
    assert identity.refresh(elevated.session_id).access == "full"
    identity.stub.Logout(pb.LogoutRequest(session_id=planted))
    assert refused(identity.refresh, elevated.session_id).code() == (
        grpc.StatusCode.UNAUTHENTICATED)


def test_every_login_is_a_new_session(identity):
    first, second = identity.login(TEACHER1), identity.login(TEACHER1)
    assert first.session_id != second.session_id
    a = identity.spec.verifier.verify(first.access_token).session_id
    b = identity.spec.verifier.verify(second.access_token).session_id
    assert a != b


# ---- brute force ------------------------------------------------------------------------------


def test_attack_brute_force_against_one_account_from_many_addresses(identity):
    for i in range(5):
        refused(identity.login, TEACHER1, f"guess-{i}", ip=f"198.51.100.{i}")
    before = sessions_count(identity)
    error = refused(identity.login, TEACHER1, DEMO_PASSWORD, ip="198.51.100.99")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sessions_count(identity) == before  # the right password did not get in
    assert len(log(identity, "login_failed")) == 5
    assert log(identity, "login_throttled")[0].email == TEACHER1


def test_attack_brute_force_across_accounts_from_one_address(identity):
    victims = [TEACHER1, TEACHER2, DSL, OTHER_TEACHER, BOTH_SCHOOLS]
    for i in range(20):  # password spraying: four tries per account, under each account's limit
        refused(identity.login, victims[i % 5], f"Spring2026!{i}", ip="203.0.113.66")
    before = sessions_count(identity)
    for email in victims:  # now even the right password is refused from that address
        assert refused(identity.login, email, DEMO_PASSWORD, ip="203.0.113.66").code() == (
            grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert sessions_count(identity) == before
    assert len(log(identity, "login_throttled")) == 5
    # The accounts themselves are not locked for their owners elsewhere.
    assert identity.login(TEACHER1, ip="192.0.2.1").display_name == "Tom Teacher"


def test_attack_a_deactivated_user_cannot_log_in_or_reset_into_the_school(identity):
    operations.set_membership_active(identity.db, identity.spec.outbox, email=TEACHER2,
                                     school_id=DEMO_SCHOOL_ID, active=False)
    before = sessions_count(identity)
    error = refused(identity.login, TEACHER2)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert sessions_count(identity) == before
    assert log(identity, "login_refused")[0].detail == "deactivated user"
