"""Admin pages: only for administration with full access; users, user groups (with records'
category permissions), alert groups, school settings, integrations."""

from __future__ import annotations

import re

import pytest

from gateway.tests.conftest import csrf, log_in
from gateway.tests.fakes import CAT_BULLYING, CAT_CP, DSL, DSL_GROUP, TEACHER, TEACHER_GROUP

ADMIN_PAGES = ("/admin", "/admin/users", "/admin/users/deactivated", "/admin/users/new",
               f"/admin/users/{TEACHER.account_id}", "/admin/user-groups/new",
               f"/admin/user-groups/{TEACHER_GROUP}", "/admin/alert-groups",
               "/admin/alert-groups/new", "/admin/settings", "/admin/integrations")


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture()
def admin(client):
    log_in(client, DSL, elevate=True)
    return client


def _post(client, path: str, data: dict, page: str = "/admin/users"):
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def _flash(client, page: str = "/admin/users") -> str:
    return _text(client.get(page))


def test_others_see_nothing_of_admin_and_are_refused_by_url(client, platform):
    log_in(client, TEACHER)
    assert ">Admin<" not in _text(client.get("/"))
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    assert client.post(f"/admin/users/{DSL.account_id}/deactivate",
                       data={"csrf_token": csrf(client, "/")}).status_code == 403
    log_in(client, DSL)  # an admin without elevation: restricted, so no admin either
    assert ">Admin<" not in _text(client.get("/"))
    assert client.get("/admin/users").status_code == 403
    assert not platform.identity.called("ListUsers")


def test_every_admin_page_renders(admin):
    assert ">Admin<" in _text(admin.get("/"))
    for path in ADMIN_PAGES:
        response = admin.get(path)
        assert response.status_code in (200, 302), (path, response.status_code)


def test_users_list_marks_keys_and_keeps_deactivated_apart(admin, platform):
    page = _text(admin.get("/admin/users"))
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    dsl_row = next(r for r in rows if DSL.name in r)
    teacher_row = next(r for r in rows if TEACHER.name in r)
    assert "Has a second factor" in dsl_row and "Has a second factor" not in teacher_row
    assert "Deactivated users" not in page

    assert _post(admin, f"/admin/users/{TEACHER.account_id}/deactivate", {}).status_code == 302
    page = _text(admin.get("/admin/users"))
    assert f"{TEACHER.name} is deactivated." in page and "Deactivated users (1)" in page
    assert TEACHER.email not in page
    deactivated = _text(admin.get("/admin/users/deactivated"))
    assert TEACHER.name in deactivated and "Reactivate" in deactivated

    form = _text(admin.get(f"/admin/users/{TEACHER.account_id}/reactivate"))
    assert TEACHER.email in form and "User group" in form
    done = _post(admin, f"/admin/users/{TEACHER.account_id}/reactivate",
                 {"email": "tom@demo.haven.test", "user_group_id": DSL_GROUP})
    assert done.status_code == 302
    page = _text(admin.get("/admin/users"))
    assert f"{TEACHER.name} is active again." in page and "tom@demo.haven.test" in page


def test_filtering_users(admin, platform):
    page = _text(admin.get(f"/admin/users?q=tess&group={TEACHER_GROUP}"))
    assert "Tess Tutor" in page and "Tom Teacher" not in page
    listed = platform.identity.called("ListUsers")
    assert len(listed) == 1  # the deactivated count comes with the groups, not a second list
    sent = listed[-1].request
    assert sent.query == "tess" and sent.user_group_id == TEACHER_GROUP


def test_cannot_deactivate_yourself(admin):
    _post(admin, f"/admin/users/{DSL.account_id}/deactivate", {})
    assert "You cannot deactivate yourself." in _flash(admin)


def test_new_users_from_the_mis_list_and_not(admin, platform):
    page = _text(admin.get("/admin/users/new"))
    assert "Mia Staff" in page
    created = _post(admin, "/admin/users/new", {
        "source": "mis", "mis_id": "mis-7", "email": "mia@demo.haven.test",
        "user_group_id": TEACHER_GROUP, "send_password_email": "1"}, page="/admin/users/new")
    assert created.status_code == 302
    assert "Mia Staff is now a user and has been sent a password email." in _text(
        admin.get(created.headers["Location"]))
    sent = platform.identity.called("CreateUser")[-1].request
    assert sent.mis_id == "mis-7" and not sent.display_name and sent.send_password_email

    other = _post(admin, "/admin/users/new", {
        "source": "other", "mis_id": "mis-7", "display_name": "Nora Nurse",
        "email": "nora@demo.haven.test", "user_group_id": TEACHER_GROUP},
        page="/admin/users/new")
    assert other.status_code == 302
    sent = platform.identity.called("CreateUser")[-1].request
    assert sent.display_name == "Nora Nurse" and not sent.mis_id
    assert not sent.send_password_email

    refused = _post(admin, "/admin/users/new", {
        "source": "other", "display_name": "", "email": "x@demo.haven.test",
        "user_group_id": TEACHER_GROUP}, page="/admin/users/new")
    assert refused.status_code == 200 and "Enter the person&#39;s name." in _text(refused)
    assert 'value="x@demo.haven.test"' in _text(refused)  # the form keeps what was typed


def test_a_users_profile_changes(admin, platform):
    path = f"/admin/users/{TEACHER.account_id}"
    page = _text(admin.get(path))
    assert "Personal Details" in page and "Security log" in page and "Permissions" in page
    # The user's automatic alerts and audits (records' pages) are one click away.
    assert f'href="{path}/alerts"' in page and f'href="{path}/audits"' in page
    _post(admin, f"{path}/email", {"email": "new@demo.haven.test"}, page=path)
    assert "The email address is saved." in _flash(admin, path)
    _post(admin, f"{path}/email", {"email": "nope"}, page=path)
    assert "Enter a valid email address." in _flash(admin, path)
    _post(admin, f"{path}/group", {"user_group_id": DSL_GROUP}, page=path)
    assert f"{TEACHER.name} is now in DSL." in _flash(admin, path)
    _post(admin, f"{path}/password-email", {}, page=path)
    assert "A password email is on its way." in _flash(admin, path)
    assert platform.identity.called("SendPasswordEmail")


def test_removing_a_users_keys_needs_the_tick(admin, platform):
    from haven.identity.v1 import identity_pb2

    platform.identity.factors[TEACHER.account_id] = [identity_pb2.SecondFactor(
        id="f-t", kind="security_key", name="Tom's key", verified=True)]
    path = f"/admin/users/{TEACHER.account_id}"
    page = _text(admin.get(path))
    assert "I confirm that I have read and understand this notice" in page
    _post(admin, f"{path}/remove-keys", {}, page=path)
    assert "Tick the box" in _flash(admin, path)
    assert platform.identity.factors[TEACHER.account_id]
    _post(admin, f"{path}/remove-keys", {"confirm": "1"}, page=path)
    assert "1 two-factor device(s) removed." in _flash(admin, path)
    assert not platform.identity.factors.get(TEACHER.account_id)
    sso = _text(admin.get(f"/admin/users/{DSL.account_id}"))  # an SSO account's keys are its own
    assert "SSO account" in sso and "Remove this user" not in sso


def test_the_security_log_is_shown(admin, platform):
    platform.identity._record("elevate_ok", TEACHER.account_id, "security_key")
    page = _text(admin.get(f"/admin/users/{TEACHER.account_id}"))
    assert "elevate ok" in page and "security key" in page and "127.0.0.1" in page


def test_an_unknown_user_is_not_found(admin):
    assert admin.get("/admin/users/nobody").status_code == 404


def test_user_groups_with_permissions_and_category_grid(admin, platform):
    page = _text(admin.get("/admin/user-groups/new"))
    assert "View student list" in page and "Administration" in page
    assert "Bullying" in page and "Child protection" in page  # the category grid
    created = _post(admin, "/admin/user-groups/new", {
        "name": "Pastoral", "key_holder": "1",
        "permissions": ["view_student_list", "run_reports"], "category_grid": "1",
        "category_id": [CAT_BULLYING, CAT_CP], f"view_incidents:{CAT_CP}": "1",
        f"add_incidents:{CAT_BULLYING}": "1"}, page="/admin/user-groups/new")
    assert created.status_code == 302
    group_id = created.headers["Location"].rsplit("/", 1)[1]
    saved = platform.identity.groups[group_id]
    assert saved["key_holder"] and saved["permissions"] == ["view_student_list", "run_reports"]
    lines = platform.records.called("SetCategoryPermissions")[-1].request.permissions
    rights = {(p.category_id, p.view_incidents, p.add_incidents) for p in lines}
    assert rights == {(CAT_CP, True, False), (CAT_BULLYING, False, True)}
    page = _text(admin.get(f"/admin/user-groups/{group_id}"))
    assert "This user group has no users." in page and 'value="Pastoral"' in page
    assert re.search(rf'name="view_incidents:{CAT_CP}" value="1"[^>]*checked', page)

    _post(admin, f"/admin/user-groups/{group_id}/delete", {})
    assert "The user group is deleted." in _flash(admin)


def test_a_group_with_users_cannot_be_deleted_and_says_why(admin, platform):
    path = f"/admin/user-groups/{TEACHER_GROUP}"
    assert "A group with users cannot be deleted" in _text(admin.get(path))
    _post(admin, f"{path}/delete", {}, page=path)
    assert "Move them to another group first." in _flash(admin, path)
    assert TEACHER_GROUP in platform.identity.groups


def test_group_page_without_records_grid_says_so(admin, platform):
    import grpc

    platform.records.fail("ListCategoryPermissions", (grpc.StatusCode.UNAVAILABLE, "down"))
    page = _text(admin.get(f"/admin/user-groups/{TEACHER_GROUP}"))
    assert "Category permissions cannot be shown right now." in page


def test_alert_groups(admin, platform):
    created = _post(admin, "/admin/alert-groups/new", {
        "name": "Safeguarding team", "members": [DSL.account_id],
        "add_groups": [TEACHER_GROUP]}, page="/admin/alert-groups/new")
    assert created.status_code == 302
    page = _text(admin.get("/admin/alert-groups"))
    assert "Safeguarding team" in page and "is saved with 3 member(s)" in page
    assert "Tess Tutor" in page
    agid = next(iter(platform.identity.alert_groups))[1]
    edit = _text(admin.get(f"/admin/alert-groups/{agid}"))
    assert re.search(rf'value="{DSL.account_id}" selected', edit)
    _post(admin, f"/admin/alert-groups/{agid}", {"name": "DSLs", "members": [DSL.account_id]},
          page="/admin/alert-groups")
    assert "is saved with 1 member(s)" in _flash(admin, "/admin/alert-groups")
    _post(admin, f"/admin/alert-groups/{agid}/delete", {}, page="/admin/alert-groups")
    assert "No alert groups yet." in _flash(admin, "/admin/alert-groups")
    refused = _post(admin, "/admin/alert-groups/new", {"name": ""},
                    page="/admin/alert-groups/new")
    assert "Give the alert group a name." in _text(refused)


def test_school_settings(admin, platform):
    page = _text(admin.get("/admin/settings"))
    assert "Idle timeout" in page and 'value="15"' in page
    _post(admin, "/admin/settings", {
        "email_domains": "demo.haven.test\n@Other.org, demo.haven.test",
        "disable_missing_from_mis": "1", "idle_timeout_minutes": "20"}, page="/admin/settings")
    saved = platform.identity.called("UpdateSchoolSettings")[-1].request
    assert list(saved.email_domains) == ["demo.haven.test", "other.org"]
    assert saved.disable_missing_from_mis and not saved.use_legal_names
    assert saved.idle_timeout_minutes == 20
    refused = _post(admin, "/admin/settings", {"idle_timeout_minutes": "abc"},
                    page="/admin/settings")
    assert refused.status_code == 200 and "1 to 240 minutes" in _text(refused)


def test_integrations_show_the_secret_once(admin, platform):
    created = _post(admin, "/admin/integrations", {"name": "Behaviour app",
                                                   "scope": "incidents:add"},
                    page="/admin/integrations")
    html = _text(created)
    secret = re.search(r'id="client-secret">([^<]+)<', html).group(1)
    assert "not shown again" in html and "/oauth/token" in html
    listed = _text(admin.get("/admin/integrations"))
    assert "Behaviour app" in listed and secret not in listed
    client_id = next(iter(platform.identity.clients))
    _post(admin, f"/admin/integrations/{client_id}/revoke", {}, page="/admin/integrations")
    assert "Revoked" in _flash(admin, "/admin/integrations")


def test_admin_forms_need_the_csrf_token(admin, platform):
    response = admin.post(f"/admin/users/{TEACHER.account_id}/deactivate")
    assert response.status_code == 400
    assert not platform.identity.called("DeactivateUser")
