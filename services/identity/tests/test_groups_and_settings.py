"""User groups, alert groups and the school settings identity owns, over real gRPC."""

from __future__ import annotations

import grpc
import pytest

from haven.identity.v1 import identity_pb2 as pb
from services.identity.seed import DEMO_SCHOOL_ID, DSL_GROUP_ID, TEACHERS_GROUP_ID
from services.identity.tests.conftest import OTHER_DSL, refused
from services.identity.tests.test_users_admin import (
    ADMIN,
    ADMIN_ID,
    DSL_ID,
    TEACHER1,
    TEACHER1_ID,
    TEACHER2_ID,
    account_id,
)


@pytest.fixture()
def admin(identity):
    token, _secret = identity.elevated(ADMIN)
    return token


# ---- user groups ------------------------------------------------------------------------------


def test_user_groups_with_counts_and_the_permissions_to_choose_from(identity, admin):
    reply = identity.call("ListUserGroups", pb.ListUserGroupsRequest(), admin)
    assert [(g.name, g.key_holder, g.active_users) for g in reply.user_groups] == [
        ("Admin", True, 1), ("DSL", True, 1), ("Teachers", False, 3)]
    assert "administration" in reply.system_permissions
    assert "view_students_without_group" in reply.system_permissions


def test_create_and_edit_a_group(identity, admin):
    slt = identity.call("CreateUserGroup", pb.SaveUserGroupRequest(
        name="SLT", key_holder=True,
        permissions=["view_student_list", "view_student_details", "add_incidents",
                     "run_reports"]), admin)
    assert (slt.name, slt.key_holder, slt.active_users) == ("SLT", True, 0)
    event = identity.events("identity.user_group.upserted", pb.UserGroupUpserted)[-1]
    assert (event.user_group_id, event.school_id, event.name, event.deleted) == (
        slt.user_group_id, DEMO_SCHOOL_ID, "SLT", False)
    assert list(event.permissions) == sorted(slt.permissions)
    edited = identity.call("UpdateUserGroup", pb.SaveUserGroupRequest(
        user_group_id=slt.user_group_id, name="Senior leaders", key_holder=True,
        permissions=["run_reports", "planner"]), admin)
    assert (edited.name, list(edited.permissions)) == ("Senior leaders", ["planner",
                                                                           "run_reports"])
    # A user moved into it gets its permissions after elevating.
    identity.call("ChangeUserGroup", pb.ChangeUserGroupRequest(
        account_id=TEACHER1_ID, user_group_id=slt.user_group_id), admin)
    assert identity.login(TEACHER1).can_elevate is False  # no key yet: still restricted


def test_bad_groups_are_refused(identity, admin):
    for request, code in (
        (pb.SaveUserGroupRequest(name="", permissions=[]), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.SaveUserGroupRequest(name="Spies", permissions=["read_everything"]),
         grpc.StatusCode.INVALID_ARGUMENT),
        (pb.SaveUserGroupRequest(name="teachers", permissions=[]),
         grpc.StatusCode.ALREADY_EXISTS),
    ):
        assert refused(identity.call, "CreateUserGroup", request, admin).code() == code
    assert refused(identity.call, "UpdateUserGroup", pb.SaveUserGroupRequest(
        user_group_id=DSL_GROUP_ID, name="Admin", key_holder=True), admin).code() == (
        grpc.StatusCode.ALREADY_EXISTS)
    teacher = identity.login(TEACHER1).access_token
    assert refused(identity.call, "CreateUserGroup", pb.SaveUserGroupRequest(
        name="Mine", key_holder=True, permissions=["administration"]), teacher).code() == (
        grpc.StatusCode.PERMISSION_DENIED)


def test_a_group_with_users_cannot_be_deleted_and_the_answer_says_why(identity, admin):
    identity.call("DeactivateUser", pb.DeactivateUserRequest(account_id=TEACHER2_ID), admin)
    error = refused(identity.call, "DeleteUserGroup",
                    pb.DeleteUserGroupRequest(user_group_id=TEACHERS_GROUP_ID), admin)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2 active user(s) and 1 deactivated user(s)" in error.details()
    assert "Move them to another group" in error.details()
    empty = identity.call("CreateUserGroup", pb.SaveUserGroupRequest(name="Governors"), admin)
    identity.call("DeleteUserGroup", pb.DeleteUserGroupRequest(
        user_group_id=empty.user_group_id), admin)
    names = [g.name for g in identity.call("ListUserGroups", pb.ListUserGroupsRequest(),
                                           admin).user_groups]
    assert "Governors" not in names and "Teachers" in names
    event = identity.events("identity.user_group.upserted", pb.UserGroupUpserted)[-1]
    assert (event.user_group_id, event.deleted) == (empty.user_group_id, True)


def test_removing_administration_from_the_only_admins_group_is_refused(identity):
    token, _ = identity.elevated(OTHER_DSL)
    dsl = next(g for g in identity.call("ListUserGroups", pb.ListUserGroupsRequest(),
                                        token).user_groups if g.name == "DSL")
    error = refused(identity.call, "UpdateUserGroup", pb.SaveUserGroupRequest(
        user_group_id=dsl.user_group_id, name="DSL", key_holder=True,
        permissions=["view_student_list"]), token)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


# ---- alert groups -----------------------------------------------------------------------------


def test_alert_groups_with_people_and_whole_user_groups(identity, admin):
    group = identity.call("CreateAlertGroup", pb.SaveAlertGroupRequest(
        name="Safeguarding team", member_account_ids=[DSL_ID],
        add_user_group_ids=[TEACHERS_GROUP_ID]), admin)
    sam = account_id(identity, "supply@haven.test")
    assert sorted(m.account_id for m in group.members) == sorted(
        [DSL_ID, TEACHER1_ID, TEACHER2_ID, sam])
    [event] = identity.events("identity.alert_group.upserted", pb.AlertGroupUpserted)
    assert (event.alert_group_id, event.school_id, event.name, event.deleted) == (
        group.alert_group_id, DEMO_SCHOOL_ID, "Safeguarding team", False)
    assert sorted(event.member_account_ids) == sorted(m.account_id for m in group.members)
    # Anyone of the school (restricted access too) sees them, to alert them on an incident.
    teacher = identity.login(TEACHER1).access_token
    listed = identity.call("ListAlertGroups", pb.ListAlertGroupsRequest(), teacher)
    assert [g.name for g in listed.alert_groups] == ["Safeguarding team"]
    assert refused(identity.call, "CreateAlertGroup", pb.SaveAlertGroupRequest(name="Mine"),
                   teacher).code() == grpc.StatusCode.PERMISSION_DENIED
    renamed = identity.call("UpdateAlertGroup", pb.SaveAlertGroupRequest(
        alert_group_id=group.alert_group_id, name="DSLs", member_account_ids=[DSL_ID, ADMIN_ID]),
        admin)
    assert (renamed.name, sorted(m.account_id for m in renamed.members)) == (
        "DSLs", sorted([DSL_ID, ADMIN_ID]))
    identity.call("DeleteAlertGroup", pb.DeleteAlertGroupRequest(
        alert_group_id=group.alert_group_id), admin)
    events = identity.events("identity.alert_group.upserted", pb.AlertGroupUpserted)
    assert [(e.name, e.deleted, len(e.member_account_ids)) for e in events] == [
        ("Safeguarding team", False, 4), ("DSLs", False, 2), ("DSLs", True, 0)]
    assert identity.call("ListAlertGroups", pb.ListAlertGroupsRequest(), teacher).alert_groups \
        == []


def test_alert_groups_only_hold_the_schools_own_users(identity, admin):
    oak = account_id(identity, OTHER_DSL)
    for request, code in (
        (pb.SaveAlertGroupRequest(name="Mixed", member_account_ids=[oak]),
         grpc.StatusCode.NOT_FOUND),
        (pb.SaveAlertGroupRequest(name="", member_account_ids=[DSL_ID]),
         grpc.StatusCode.INVALID_ARGUMENT),
    ):
        assert refused(identity.call, "CreateAlertGroup", request, admin).code() == code
    oak_token, _ = identity.elevated(OTHER_DSL)
    oak_groups = identity.call("ListUserGroups", pb.ListUserGroupsRequest(), oak_token)
    oak_teachers = next(g for g in oak_groups.user_groups if g.name == "Teachers")
    assert refused(identity.call, "CreateAlertGroup", pb.SaveAlertGroupRequest(
        name="Theirs", add_user_group_ids=[oak_teachers.user_group_id]), admin).code() == (
        grpc.StatusCode.NOT_FOUND)
    identity.call("CreateAlertGroup", pb.SaveAlertGroupRequest(name="Ours"), admin)
    assert identity.call("ListAlertGroups", pb.ListAlertGroupsRequest(),
                         oak_token).alert_groups == []
    assert identity.events("identity.alert_group.upserted", pb.AlertGroupUpserted)[0].name == (
        "Ours")


# ---- settings ---------------------------------------------------------------------------------


def test_school_settings_defaults_changes_and_bad_values(identity, admin):
    teacher = identity.login(TEACHER1).access_token
    default = identity.call("GetSchoolSettings", pb.GetSchoolSettingsRequest(), teacher)
    assert (list(default.email_domains), default.disable_missing_from_mis,
            default.use_legal_names, default.idle_timeout_minutes) == ([], False, False, 15)
    saved = identity.call("UpdateSchoolSettings", pb.SchoolSettings(
        email_domains=["Demo.Haven.Test", "@staff.demo.haven.test", ""],
        disable_missing_from_mis=True, use_legal_names=True, idle_timeout_minutes=20), admin)
    assert list(saved.email_domains) == ["demo.haven.test", "staff.demo.haven.test"]
    assert (saved.disable_missing_from_mis, saved.use_legal_names,
            saved.idle_timeout_minutes) == (True, True, 20)
    for bad in (pb.SchoolSettings(email_domains=["not a domain"], idle_timeout_minutes=15),
                pb.SchoolSettings(idle_timeout_minutes=0),
                pb.SchoolSettings(idle_timeout_minutes=241)):
        assert refused(identity.call, "UpdateSchoolSettings", bad, admin).code() == (
            grpc.StatusCode.INVALID_ARGUMENT)
    assert refused(identity.call, "UpdateSchoolSettings", pb.SchoolSettings(
        idle_timeout_minutes=30), teacher).code() == grpc.StatusCode.PERMISSION_DENIED
    assert identity.call("GetSchoolSettings", pb.GetSchoolSettingsRequest(),
                         teacher).idle_timeout_minutes == 20


def test_the_idle_timeout_setting_is_the_sessions_idle_timeout(identity, admin):
    identity.call("UpdateSchoolSettings", pb.SchoolSettings(idle_timeout_minutes=25), admin)
    session = identity.login(TEACHER1).session_id
    identity.clock.advance(24 * 60)
    assert identity.refresh(session).access == "restricted"
    identity.clock.advance(25 * 60 + 1)
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED
    # Never longer than the deployment's ceiling (IDENTITY_SESSION_IDLE_SECONDS, 30 min) nor
    # shorter than a token's life plus a minute (a busy user is never cut off).
    identity.call("UpdateSchoolSettings", pb.SchoolSettings(idle_timeout_minutes=240), admin)
    session = identity.login(TEACHER1).session_id
    identity.clock.advance(30 * 60 + 1)
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED
