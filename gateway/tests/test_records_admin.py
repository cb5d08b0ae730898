"""Records' admin pages: Categories (with the permission grid, delete-or-disable, enable,
merge), Agencies, Groups (class restrictions and access), Add Student, records settings,
and a user's automatic Alerts (with clearing dashboard alerts) and Audits."""

from __future__ import annotations

import pytest

from gateway.tests.conftest import csrf, csrf_from
from gateway.tests.fakes import (
    AVA,
    CAT_BULLYING,
    CAT_CP,
    CAT_CYBER,
    DSL,
    DSL_GROUP,
    TEACHER,
    TEACHER_GROUP,
)
from gateway.tests.fakes_records import AG_OLD, AG_POLICE, G_7A, G_NEW

ADMIN_PAGES = ("/admin/categories", "/admin/categories/new", "/admin/agencies", "/admin/groups",
               f"/admin/groups/{G_7A}", "/admin/add-student", "/admin/records-settings",
               f"/admin/users/{TEACHER.account_id}/alerts",
               f"/admin/users/{TEACHER.account_id}/audits")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_are_for_administrators_only(teacher, path):
    assert teacher.get(path).status_code == 403


def test_admin_tabs_link_the_records_pages(dsl):
    html = dsl.get("/admin/categories").get_data(as_text=True)
    for href in ("/admin/categories", "/admin/agencies", "/admin/groups", "/admin/add-student",
                 "/admin/records-settings", "/admin/users"):
        assert f'href="{href}"' in html


def test_categories_list_tree_with_delete_disable_and_enable(dsl, platform):
    html = dsl.get("/admin/categories").get_data(as_text=True)
    assert html.index("Bullying") < html.index("Online bullying") < html.index(
        "Child protection")
    assert 'class="subcategory"' in html and "Retired category" in html
    assert "Delete/Disable" in html and "Enable Retired category" in html
    token = csrf_from(html)
    platform.records.add_incident(student_id=AVA, text="x", category_ids=[CAT_CP],
                                  author=DSL)
    response = dsl.post(f"/admin/categories/{CAT_CP}/delete", data={"csrf_token": token})
    page = dsl.get(response.headers["Location"]).get_data(as_text=True)
    assert "in use, so it is disabled instead" in page
    dsl.post(f"/admin/categories/{CAT_CYBER}/delete", data={"csrf_token": token})
    assert all(c.id != CAT_CYBER for c in platform.records.categories)
    dsl.post(f"/admin/categories/{CAT_CP}/enabled", data={"csrf_token": token, "enabled": "1"})
    assert platform.records.called("SetCategoryEnabled")[-1].request.enabled


def test_new_sub_category_with_permission_grid(dsl, platform):
    html = dsl.get(f"/admin/categories/new?parent={CAT_BULLYING}").get_data(as_text=True)
    assert f'<option value="{CAT_BULLYING}" selected>Bullying</option>' in html
    assert "View students" in html and "Add incidents" in html and "Teachers" in html
    assert "Copy a category colour" in html
    response = dsl.post("/admin/categories/new", data={
        "csrf_token": csrf_from(html), "name": "Name calling", "colour": "#AA3300",
        "parent_id": CAT_BULLYING, "user_group_id": [DSL_GROUP, TEACHER_GROUP],
        f"view_students:{DSL_GROUP}": "1", f"view_incidents:{DSL_GROUP}": "1",
        f"add_incidents:{DSL_GROUP}": "1", f"add_incidents:{TEACHER_GROUP}": "1"})
    assert response.status_code == 302
    req = platform.records.called("CreateCategory")[-1].request
    assert (req.name, req.colour, req.parent_id) == ("Name calling", "aa3300", CAT_BULLYING)
    rights = {p.user_group_id: (p.view_students, p.view_incidents, p.add_incidents)
              for p in req.permissions}
    assert rights == {DSL_GROUP: (True, True, True), TEACHER_GROUP: (False, False, True)}
    again = dsl.post("/admin/categories/new", data={
        "csrf_token": csrf_from(html), "name": "Name calling", "colour": "#aa3300"})
    assert "already a category with that name" in again.get_data(as_text=True)


def test_rename_and_merge_a_category(dsl, platform):
    html = dsl.get(f"/admin/categories/{CAT_CYBER}").get_data(as_text=True)
    assert 'value="Online bullying"' in html and "A sub-category of Bullying." in html
    assert "Merge category" in html and "cannot be undone" in html
    token = csrf_from(html)
    dsl.post(f"/admin/categories/{CAT_CYBER}", data={
        "csrf_token": token, "name": "Cyberbullying", "colour": "#f59e0b",
        "user_group_id": [DSL_GROUP], f"view_incidents:{DSL_GROUP}": "1"})
    req = platform.records.called("UpdateCategory")[-1].request
    assert req.name == "Cyberbullying" and "permissions" in req.update
    assert [p.view_incidents for p in req.permissions] == [True]
    no = dsl.post(f"/admin/categories/{CAT_CYBER}/merge", data={
        "csrf_token": token, "target_category_id": CAT_BULLYING})
    assert no.status_code == 302 and not platform.records.called("MergeCategory")
    dsl.post(f"/admin/categories/{CAT_CYBER}/merge", data={
        "csrf_token": token, "target_category_id": CAT_BULLYING, "confirm": "1"})
    req = platform.records.called("MergeCategory")[-1].request
    assert (req.source_category_id, req.target_category_id) == (CAT_CYBER, CAT_BULLYING)
    assert "Merged into “Bullying”" in dsl.get("/admin/categories").get_data(as_text=True)


def test_agencies_add_rename_disable_enable(dsl, platform):
    html = dsl.get("/admin/agencies").get_data(as_text=True)
    assert "Police" in html and "Old agency" in html and "Enable Old agency" in html
    token = csrf_from(html)
    dsl.post("/admin/agencies", data={"csrf_token": token, "name": "Early Help"})
    assert any(a.name == "Early Help" for a in platform.records.agencies)
    page = dsl.get(f"/admin/agencies?edit={AG_POLICE}").get_data(as_text=True)
    assert f'id="rename-{AG_POLICE}"' in page
    dsl.post(f"/admin/agencies/{AG_POLICE}", data={"csrf_token": token, "name": "Police (CSE)"})
    dsl.post(f"/admin/agencies/{AG_POLICE}/enabled", data={"csrf_token": token, "enabled": "0"})
    dsl.post(f"/admin/agencies/{AG_OLD}/enabled", data={"csrf_token": token, "enabled": "1"})
    by_id = {a.id: a for a in platform.records.agencies}
    assert by_id[AG_POLICE].name == "Police (CSE)" and not by_id[AG_POLICE].enabled
    assert by_id[AG_OLD].enabled
    empty = dsl.post("/admin/agencies", data={"csrf_token": token, "name": ""})
    assert "An agency needs a name." in empty.get_data(as_text=True)


def test_groups_restriction_new_class_and_access(dsl, platform):
    html = dsl.get("/admin/groups").get_data(as_text=True)
    assert "Restrict access by class?" in html and "12Z" in html and ">New<" in html
    token = csrf_from(html)
    dsl.post("/admin/groups", data={"csrf_token": token, "form": "restrict",
                                    "restrict_access_by": "tutor"})
    assert platform.records.settings.restrict_access_by == "tutor"
    html = dsl.get("/admin/groups").get_data(as_text=True)
    assert "marked “New” appeared in an import" in html
    page = dsl.get(f"/admin/groups/{G_NEW}").get_data(as_text=True)
    assert "Who may see the students of 12Z" in page and "Tom Teacher" in page
    dsl.post(f"/admin/groups/{G_NEW}", data={"csrf_token": token,
                                             "account_ids": [TEACHER.account_id],
                                             "user_group_ids": [DSL_GROUP]})
    req = platform.records.called("SetGroupAccess")[-1].request
    assert list(req.account_ids) == [TEACHER.account_id] and list(req.user_group_ids) == [
        DSL_GROUP]
    assert "new class" not in dsl.get("/").get_data(as_text=True)  # access now set
    dsl.post("/admin/groups", data={"csrf_token": token, "name": "Nurture", "kind": "tutor"})
    assert platform.records.called("CreateGroup")[-1].request.name == "Nurture"


def test_add_student(dsl, platform):
    html = dsl.get("/admin/add-student").get_data(as_text=True)
    token = csrf_from(html)
    bad = dsl.post("/admin/add-student", data={"csrf_token": token, "first_name": "Zed"})
    assert "A student needs a first and a last name." in bad.get_data(as_text=True)
    done = dsl.post("/admin/add-student", data={
        "csrf_token": token, "first_name": "Zed", "last_name": "Newcomer",
        "date_of_birth": "2014-01-02", "group_ids": [G_7A], "request_id": "r-1"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/overview")
    req = platform.records.called("AddStudent")[-1].request
    assert req.last_name == "Newcomer" and list(req.group_ids) == [G_7A]


def test_records_settings(dsl, platform):
    token = csrf(dsl, "/admin/records-settings")
    bad = dsl.post("/admin/records-settings", data={"csrf_token": token,
                                                    "academic_year_start": "soon"})
    assert "is not a date" in bad.get_data(as_text=True)
    dsl.post("/admin/records-settings", data={
        "csrf_token": token, "enforce_alert": "1", "academic_year_start": "2025-09-03",
        "academic_year_end": "2026-07-22"})
    s = platform.records.settings
    assert s.enforce_alert and s.academic_year_start == "2025-09-03"


def test_user_automatic_alerts_and_clearing(dsl, platform):
    platform.records.add_incident(student_id=AVA, text="x", category_ids=[CAT_CP],
                                  author=DSL, alert=[TEACHER.account_id])
    html = dsl.get(f"/admin/users/{TEACHER.account_id}/alerts").get_data(as_text=True)
    assert "Automatic alerts for Tom Teacher" in html and "By student group" in html
    assert f'href="/admin/users/{TEACHER.account_id}"' in html  # back to identity's page
    token = csrf_from(html)
    found = dsl.post(f"/admin/users/{TEACHER.account_id}/alerts", data={
        "csrf_token": token, "intent": "find", "q": "ava", "category_ids": [CAT_CP]})
    page = found.get_data(as_text=True)
    assert "Add Ava Smith" in page and f'value="{CAT_CP}" checked' in page
    dsl.post(f"/admin/users/{TEACHER.account_id}/alerts", data={
        "csrf_token": token, "category_ids": [CAT_CP], "student_ids": [AVA],
        "group_ids": [G_7A]})
    saved = platform.records.auto[TEACHER.account_id]
    assert list(saved.category_ids) == [CAT_CP] and list(saved.student_ids) == [AVA]
    assert list(saved.group_ids) == [G_7A]
    html = dsl.get(f"/admin/users/{TEACHER.account_id}/alerts").get_data(as_text=True)
    assert f'name="student_ids" value="{AVA}" checked' in html
    dsl.post(f"/admin/users/{TEACHER.account_id}/alerts/clear", data={
        "csrf_token": token, "from_date": "2020-01-01", "to_date": "2099-12-31"})
    assert not platform.records.called("ClearUserAlerts")  # not confirmed
    dsl.post(f"/admin/users/{TEACHER.account_id}/alerts/clear", data={
        "csrf_token": token, "from_date": "2020-01-01", "to_date": "2099-12-31",
        "confirm": "1"})
    assert "1 dashboard alert(s) removed." in dsl.get(
        f"/admin/users/{TEACHER.account_id}/alerts").get_data(as_text=True)


def test_user_audits(dsl, platform):
    dsl.get(f"/students/{AVA}")
    html = dsl.get(f"/admin/users/{DSL.account_id}/audits?from=2020-01-01").get_data(
        as_text=True)
    assert "What Dana Lead did in the records" in html and "Viewed the incidents" in html
    req = platform.records.called("ListAuditEntries")[-1].request
    assert req.account_id == DSL.account_id and req.from_date == "2020-01-01"
