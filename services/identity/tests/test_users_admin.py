"""Admin > Users over real gRPC: who may administer, the users list, new users, deactivation
and reactivation, email and group changes, removing a user's second factors, the security
log. An admin acts in their own school only."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select

from haven.identity.v1 import identity_pb2 as pb
from services.identity.models import Account, LoginSession, SecurityLogEntry
from services.identity.seed import (
    ADMIN_GROUP_ID,
    DEMO_PASSWORD,
    DEMO_SCHOOL_ID,
    DSL_GROUP_ID,
    TEACHERS_GROUP_ID,
)
from services.identity.tests.conftest import BOTH_SCHOOLS, OTHER_DSL, refused

ADMIN = "admin@demo.haven.test"
DSL = "dsl@demo.haven.test"
TEACHER1 = "teacher1@demo.haven.test"
TEACHER2 = "teacher2@demo.haven.test"
ADMIN_ID = "00000000-0000-4000-8000-000000000101"
DSL_ID = "00000000-0000-4000-8000-000000000102"
TEACHER1_ID = "00000000-0000-4000-8000-000000000103"
TEACHER2_ID = "00000000-0000-4000-8000-000000000104"


@pytest.fixture()
def admin(identity):
    token, _secret = identity.elevated(ADMIN)
    return token


def account_id(identity, email: str) -> str:
    with identity.db.read() as s:
        return s.scalars(select(Account.id).where(Account.email == email)).one()


def test_only_an_elevated_administrator_of_the_school_may_administer(identity, admin):
    request = pb.ListUsersRequest()
    # A key holder who has not elevated, and a teacher: refused.
    restricted = identity.login(ADMIN).access_token
    teacher = identity.login(TEACHER1).access_token
    for token in (restricted, teacher):
        assert refused(identity.call, "ListUsers", request, token).code() == (
            grpc.StatusCode.PERMISSION_DENIED)
    assert refused(identity.call, "ListUsers", request).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    assert identity.call("ListUsers", request, admin).users
    # Each refusal is in the school's security log, against the person who tried.
    rows = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(), admin).entries
    tried = sorted(r.account_id for r in rows if r.event == "admin_refused")
    assert tried == sorted([ADMIN_ID, TEACHER1_ID])
    assert all("list users refused" in r.detail for r in rows if r.event == "admin_refused")
    # An admin whose session has since ended cannot use the token they still hold.
    token, secret = identity.elevated(DSL)
    identity.stub.Logout(pb.LogoutRequest(session_id=secret))
    assert refused(identity.call, "ListUsers", request, token).code() == (
        grpc.StatusCode.UNAUTHENTICATED)


def test_users_list_marks_who_has_a_key_and_lists_the_deactivated_apart(identity, admin):
    users = identity.call("ListUsers", pb.ListUsersRequest(), admin).users
    assert [u.display_name for u in users] == [
        "Alex Admin", "Dana Lead", "Sam Supply", "Tess Tutor", "Tom Teacher"]
    shield = {u.email: u.has_second_factor for u in users}
    assert shield == {ADMIN: True, DSL: True, BOTH_SCHOOLS: False, TEACHER2: False,
                      TEACHER1: False}
    sam = next(u for u in users if u.email == BOTH_SCHOOLS)
    assert sam.other_schools and not next(u for u in users if u.email == DSL).other_schools
    alex = next(u for u in users if u.email == ADMIN)
    assert alex.last_login_at.seconds > 0 and alex.user_group_name == "Admin"
    assert identity.call("ListUsers", pb.ListUsersRequest(deactivated=True), admin).users == []
    identity.call("DeactivateUser", pb.DeactivateUserRequest(account_id=TEACHER2_ID), admin)
    active = identity.call("ListUsers", pb.ListUsersRequest(), admin).users
    gone = identity.call("ListUsers", pb.ListUsersRequest(deactivated=True), admin).users
    assert TEACHER2 not in [u.email for u in active]
    assert [(u.email, u.active) for u in gone] == [(TEACHER2, False)]
    assert gone[0].deactivated_at.seconds > 0
    found = identity.call("ListUsers", pb.ListUsersRequest(query="tom"), admin).users
    assert [u.email for u in found] == [TEACHER1]


def test_an_admin_never_sees_or_touches_another_schools_users(identity, admin):
    oak_token, _ = identity.elevated(OTHER_DSL)
    oak_users = identity.call("ListUsers", pb.ListUsersRequest(), oak_token).users
    assert DSL not in [u.email for u in oak_users]
    for method, request in (
        ("GetUser", pb.GetUserRequest(account_id=DSL_ID)),
        ("DeactivateUser", pb.DeactivateUserRequest(account_id=DSL_ID)),
        ("ChangeUserGroup", pb.ChangeUserGroupRequest(account_id=DSL_ID,
                                                      user_group_id=TEACHERS_GROUP_ID)),
        ("ChangeUserEmail", pb.ChangeUserEmailRequest(account_id=DSL_ID,
                                                      email="evil@oakfield.haven.test")),
        ("RemoveUserSecondFactors", pb.RemoveUserSecondFactorsRequest(account_id=DSL_ID,
                                                                      confirm=True)),
    ):
        assert refused(identity.call, method, request, oak_token).code() == (
            grpc.StatusCode.NOT_FOUND), method
    # ...nor put a user of its own into the demo school's group.
    oak_teacher = account_id(identity, "maths@oakfield.haven.test")
    assert refused(identity.call, "ChangeUserGroup", pb.ChangeUserGroupRequest(
        account_id=oak_teacher, user_group_id=DSL_GROUP_ID), oak_token).code() == (
        grpc.StatusCode.NOT_FOUND)
    dana = identity.call("GetUser", pb.GetUserRequest(account_id=DSL_ID), admin).user
    assert (dana.email, dana.active, dana.user_group_id) == (DSL, True, DSL_GROUP_ID)
    # Every attempt is in Oakfield's security log (its admins see who probed)...
    oak_dsl = account_id(identity, OTHER_DSL)
    oak_log = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(), oak_token).entries
    probes = [r for r in oak_log if r.event == "admin_refused"]
    assert len(probes) == 6 and {r.account_id for r in probes} == {oak_dsl}
    assert {r.detail.split(" refused")[0] for r in probes} == {
        "open a user", "deactivate a user", "change a user's group", "change a user's email",
        "remove a user's second factors"}
    assert sum(DSL_ID in r.detail for r in probes) == 5
    # ...and the five aimed at the demo school's DSL are in the demo school's log, on her.
    on_dana = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(account_id=DSL_ID),
                            admin).entries
    aimed = [r for r in on_dana if r.event == "admin_refused"]
    assert len(aimed) == 5 and all(oak_dsl in r.detail for r in aimed)
    # Oakfield's teacher stays Oakfield's business: nothing about them in the demo school.
    demo_log = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(), admin).entries
    assert not [r for r in demo_log if r.event == "admin_refused" and r.account_id in (
        oak_teacher, oak_dsl)]


def test_new_non_mis_user_with_a_password_email(identity, admin):
    user = identity.call("CreateUser", pb.CreateUserRequest(
        display_name="Nina New", email=" Nina.New@Demo.Haven.Test ",
        user_group_id=TEACHERS_GROUP_ID, job_title="Teaching assistant",
        send_password_email=True), admin)
    assert (user.display_name, user.email, user.user_group_name, user.active) == (
        "Nina New", "nina.new@demo.haven.test", "Teachers", True)
    assert not user.from_mis and not user.has_second_factor and user.job_title == (
        "Teaching assistant")
    [mail] = identity.events("identity.password_reset.requested", pb.PasswordResetRequested)
    assert (mail.email, mail.welcome, mail.school_id, mail.display_name) == (
        "nina.new@demo.haven.test", True, DEMO_SCHOOL_ID, "Nina New")
    assert mail.reset_url_path.startswith("/reset-password/")
    upserted = identity.events("identity.account.upserted", pb.AccountUpserted)
    assert upserted[-1].account_id == user.account_id and upserted[-1].job_title == (
        "Teaching assistant")
    # No password yet: logging in fails like any wrong password.
    assert refused(identity.login, "nina.new@demo.haven.test").code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    # The same email again is refused.
    again = refused(identity.call, "CreateUser", pb.CreateUserRequest(
        display_name="Nina Again", email="nina.new@demo.haven.test",
        user_group_id=TEACHERS_GROUP_ID), admin)
    assert again.code() == grpc.StatusCode.ALREADY_EXISTS
    with identity.db.read() as s:
        changed = s.scalars(select(SecurityLogEntry).where(
            SecurityLogEntry.event == "user_changed",
            SecurityLogEntry.account_id == user.account_id)).one()
        assert "created" in changed.detail and ADMIN_ID in changed.detail


def test_bad_new_users_are_refused_and_nothing_is_written(identity, admin):
    before = len(identity.events("identity.account.upserted", pb.AccountUpserted))
    for request, code in (
        (pb.CreateUserRequest(display_name="X", email="not-an-email",
                              user_group_id=TEACHERS_GROUP_ID), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.CreateUserRequest(display_name="", email="x@demo.haven.test",
                              user_group_id=TEACHERS_GROUP_ID), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.CreateUserRequest(display_name="X", email="x@demo.haven.test",
                              user_group_id="nope"), grpc.StatusCode.NOT_FOUND),
        (pb.CreateUserRequest(mis_id="no-such-staff", email="x@demo.haven.test",
                              user_group_id=TEACHERS_GROUP_ID), grpc.StatusCode.NOT_FOUND),
    ):
        assert refused(identity.call, "CreateUser", request, admin).code() == code
    assert len(identity.events("identity.account.upserted", pb.AccountUpserted)) == before
    with identity.db.read() as s:
        assert s.scalars(select(Account).where(Account.email == "x@demo.haven.test")).first() \
            is None


def test_the_email_domain_whitelist_is_enforced(identity, admin):
    identity.call("UpdateSchoolSettings", pb.SchoolSettings(
        email_domains=["demo.haven.test"], idle_timeout_minutes=15), admin)
    error = refused(identity.call, "CreateUser", pb.CreateUserRequest(
        display_name="Gmail Gary", email="gary@gmail.example", user_group_id=TEACHERS_GROUP_ID),
        admin)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "demo.haven.test" in error.details()
    error = refused(identity.call, "ChangeUserEmail", pb.ChangeUserEmailRequest(
        account_id=TEACHER1_ID, email="tom@elsewhere.example"), admin)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    ok = identity.call("CreateUser", pb.CreateUserRequest(
        display_name="Gary", email="gary@demo.haven.test", user_group_id=TEACHERS_GROUP_ID),
        admin)
    assert ok.active


def test_deactivate_then_reactivate_with_email_and_group(identity, admin):
    live = identity.login(TEACHER2)
    user = identity.call("DeactivateUser", pb.DeactivateUserRequest(account_id=TEACHER2_ID),
                         admin)
    assert not user.active
    # The deactivated user cannot log in, and their session has ended.
    assert refused(identity.login, TEACHER2).code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(identity.refresh, live.session_id).code() == grpc.StatusCode.UNAUTHENTICATED
    with identity.db.read() as s:
        entry = s.scalars(select(SecurityLogEntry).where(
            SecurityLogEntry.event == "login_refused",
            SecurityLogEntry.email == TEACHER2)).one()
        assert entry.detail == "deactivated user" and entry.school_id == DEMO_SCHOOL_ID
    upserted = identity.events("identity.account.upserted", pb.AccountUpserted)[-1]
    assert (upserted.account_id, upserted.active) == (TEACHER2_ID, False)
    # Reactivation asks for an email and a group.
    assert refused(identity.call, "ReactivateUser", pb.ReactivateUserRequest(
        account_id=TEACHER2_ID, email="tess@demo.haven.test"), admin).code() == (
        grpc.StatusCode.NOT_FOUND)
    back = identity.call("ReactivateUser", pb.ReactivateUserRequest(
        account_id=TEACHER2_ID, email="tess@demo.haven.test", user_group_id=DSL_GROUP_ID), admin)
    assert (back.active, back.email, back.user_group_name) == (
        True, "tess@demo.haven.test", "DSL")
    assert identity.login("tess@demo.haven.test").display_name == "Tess Tutor"
    assert refused(identity.call, "ReactivateUser", pb.ReactivateUserRequest(
        account_id=TEACHER2_ID, email="tess@demo.haven.test", user_group_id=DSL_GROUP_ID),
        admin).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_an_admin_cannot_deactivate_themselves_or_remove_the_last_administrator(identity):
    token, _ = identity.elevated(OTHER_DSL)  # Oakfield's only administrator
    me = account_id(identity, OTHER_DSL)
    error = refused(identity.call, "DeactivateUser", pb.DeactivateUserRequest(account_id=me),
                    token)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    teachers = next(g for g in identity.call("ListUserGroups", pb.ListUserGroupsRequest(),
                                             token).user_groups if g.name == "Teachers")
    error = refused(identity.call, "ChangeUserGroup", pb.ChangeUserGroupRequest(
        account_id=me, user_group_id=teachers.user_group_id), token)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at least one active administrator" in error.details()
    user = identity.call("GetUser", pb.GetUserRequest(account_id=me), token).user
    assert user.user_group_name == "DSL"


def test_change_email_and_group(identity, admin):
    user = identity.call("ChangeUserEmail", pb.ChangeUserEmailRequest(
        account_id=TEACHER1_ID, email="tom.teacher@demo.haven.test"), admin)
    assert user.email == "tom.teacher@demo.haven.test"
    assert identity.login("tom.teacher@demo.haven.test").display_name == "Tom Teacher"
    taken = refused(identity.call, "ChangeUserEmail", pb.ChangeUserEmailRequest(
        account_id=TEACHER1_ID, email=DSL), admin)
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
    moved = identity.call("ChangeUserGroup", pb.ChangeUserGroupRequest(
        account_id=TEACHER1_ID, user_group_id=ADMIN_GROUP_ID), admin)
    assert (moved.user_group_name, moved.key_holder) == ("Admin", True)
    event = identity.events("identity.account.upserted", pb.AccountUpserted)[-1]
    assert (event.account_id, event.user_group_id, event.email) == (
        TEACHER1_ID, ADMIN_GROUP_ID, "tom.teacher@demo.haven.test")


def test_an_sso_accounts_email_and_keys_belong_to_the_person(identity, admin):
    sam = account_id(identity, BOTH_SCHOOLS)
    error = refused(identity.call, "ChangeUserEmail", pb.ChangeUserEmailRequest(
        account_id=sam, email="sam@demo.haven.test"), admin)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "shared with other schools" in error.details()
    error = refused(identity.call, "RemoveUserSecondFactors", pb.RemoveUserSecondFactorsRequest(
        account_id=sam, confirm=True), admin)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    # A school's own alert address for them is the school's business.
    user = identity.call("SetUserAlertEmail", pb.SetUserAlertEmailRequest(
        account_id=sam, alert_email="supply-alerts@demo.haven.test"), admin)
    assert user.alert_email == "supply-alerts@demo.haven.test"
    event = identity.events("identity.account.upserted", pb.AccountUpserted)[-1]
    assert (event.account_id, event.school_id, event.alert_email) == (
        sam, DEMO_SCHOOL_ID, "supply-alerts@demo.haven.test")


def test_adding_an_existing_account_of_another_school_makes_an_sso_account(identity):
    token, _ = identity.elevated(OTHER_DSL)
    groups = identity.call("ListUserGroups", pb.ListUserGroupsRequest(), token).user_groups
    teachers = next(g for g in groups if g.name == "Teachers")
    user = identity.call("CreateUser", pb.CreateUserRequest(
        display_name="Someone Else", email=TEACHER1, user_group_id=teachers.user_group_id),
        token)
    # One person, one account: the name is the account's own, not what Oakfield typed.
    assert (user.account_id, user.display_name, user.other_schools) == (
        TEACHER1_ID, "Tom Teacher", True)
    assert identity.login(TEACHER1, ip="192.0.2.77").other_schools == 1


def test_remove_a_users_second_factors_after_confirming(identity, admin):
    _token, live_secret = identity.elevated(DSL)
    old_code = identity.code(DSL, steps=1)
    error = refused(identity.call, "RemoveUserSecondFactors", pb.RemoveUserSecondFactorsRequest(
        account_id=DSL_ID), admin)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "Tick" in error.details()
    assert identity.call("GetUser", pb.GetUserRequest(account_id=DSL_ID), admin).factors
    removed = identity.call("RemoveUserSecondFactors", pb.RemoveUserSecondFactorsRequest(
        account_id=DSL_ID, confirm=True), admin)
    assert removed.removed == 1
    detail = identity.call("GetUser", pb.GetUserRequest(account_id=DSL_ID), admin)
    assert list(detail.factors) == [] and not detail.user.has_second_factor
    # Their sessions ended; a code from the removed device elevates nothing.
    assert refused(identity.refresh, live_secret).code() == grpc.StatusCode.UNAUTHENTICATED
    fresh = identity.login(DSL)
    assert fresh.can_elevate is False
    assert refused(identity.elevate, fresh.session_id, old_code).code() == (
        grpc.StatusCode.FAILED_PRECONDITION)
    with identity.db.read() as s:
        assert s.scalars(select(SecurityLogEntry).where(
            SecurityLogEntry.event == "second_factors_removed",
            SecurityLogEntry.account_id == DSL_ID)).one().school_id == DEMO_SCHOOL_ID
        ended = s.scalars(select(LoginSession.revoked_reason).where(
            LoginSession.account_id == DSL_ID, LoginSession.revoked_at.is_not(None))).all()
        assert ended == ["second_factors_removed"]


def test_the_security_log_of_a_user(identity, admin):
    refused(identity.login, TEACHER1, "wrong-password", ip="198.51.100.20",
            ua="Firefox on a school laptop")
    identity.clock.advance(1)
    identity.login(TEACHER1, ip="198.51.100.21", ua="Edge")
    refused(identity.login, "nobody@demo.haven.test", DEMO_PASSWORD, ip="198.51.100.22")
    rows = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(account_id=TEACHER1_ID),
                         admin).entries
    assert [(r.event, r.factor, r.client_ip, r.user_agent) for r in rows] == [
        ("login_ok", "password", "198.51.100.21", "Edge"),
        ("login_failed", "password", "198.51.100.20", "Firefox on a school laptop"),
    ]
    assert all(r.at.seconds for r in rows)
    mine = identity.call("ListSecurityLog", pb.ListSecurityLogRequest(account_id=ADMIN_ID),
                         admin).entries
    assert {(r.event, r.factor) for r in mine} == {("elevate_ok", "totp"),
                                                   ("login_ok", "password")}
    # Someone else's school's log is not theirs to read.
    oak = account_id(identity, OTHER_DSL)
    assert refused(identity.call, "ListSecurityLog", pb.ListSecurityLogRequest(account_id=oak),
                   admin).code() == grpc.StatusCode.NOT_FOUND
