"""Admin pages for what records keeps: Categories (parent and sub-categories, colour, the
per-user-group permission grid, rename, delete-or-disable, enable, merge), Agencies, Groups
(class restrictions and who may see each class), Add Student, the records settings (at least
one alert, the academic year), and two tabs of a user's admin page: their automatic Alerts
(and clearing their dashboard alerts between two dates) and their Audits.

Records refuses every admin call of anyone else; these pages also answer 403 themselves."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway.backends import call
from gateway.present import category_tree, colour
from gateway.present_records import audit_label
from gateway.web.admin import admin_required
from gateway.web.records_common import (
    attempt,
    categories,
    checked,
    find_students,
    form_ids,
    form_text,
    parse_iso_date,
    students_by_id,
    tolerant,
    whole_number,
)
from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2

bp = Blueprint("records_admin", __name__, url_prefix="/admin")

RIGHTS = (("view_students", "View students"), ("view_incidents", "View incidents"),
          ("add_incidents", "Add incidents"))
RESTRICTIONS = (("", "No: every key holder sees every class"),
                ("tutor", "Yes, by tutor group"), ("year", "Yes, by year group"))
GROUP_KINDS = (("tutor", "Tutor group"), ("year", "Year group"))
AUDIT_LIMIT = 500


def _user_groups() -> list:
    return list(tolerant("identity", "ListUserGroups", identity_pb2.ListUserGroupsRequest(),
                         identity_pb2.ListUserGroupsResponse()).user_groups)


def _users() -> list:
    return list(tolerant("identity", "ListUsers", identity_pb2.ListUsersRequest(),
                         identity_pb2.ListUsersResponse()).users)


def _category(category_id: str, include_disabled: bool = True):
    for c in categories(include_disabled=include_disabled):
        if c.id == category_id:
            return c
    return None


# ---- Categories ---------------------------------------------------------------------------

def _grid_from_form(category_id: str) -> list[records_pb2.CategoryPermission]:
    return [records_pb2.CategoryPermission(
        user_group_id=gid, category_id=category_id,
        **{right: f"{right}:{gid}" in request.form for right, _label in RIGHTS})
        for gid in form_ids("user_group_id", 200)]


def _grid(category_id: str) -> dict[str, records_pb2.CategoryPermission]:
    if not category_id:
        return {}
    lines = tolerant("records", "ListCategoryPermissions",
                     records_pb2.ListCategoryPermissionsRequest(category_id=category_id),
                     records_pb2.ListCategoryPermissionsResponse()).permissions
    return {p.user_group_id: p for p in lines}


@bp.get("/categories")
@admin_required
def categories_index():
    all_categories = categories(include_disabled=True)
    return render_template("records/admin/categories.html", tab="categories",
                           tree=category_tree(all_categories))


def _category_form(existing=None) -> dict:
    if request.method == "POST":
        return {"name": form_text("name", 100), "colour": colour(form_text("colour", 7)),
                "parent_id": form_text("parent_id", 100),
                "position": form_text("position", 5)}
    if existing is None:
        return {"name": "", "colour": "607d8b", "parent_id": request.args.get("parent", ""),
                "position": ""}
    return {"name": existing.name, "colour": colour(existing.colour),
            "parent_id": existing.parent_id, "position": str(existing.position or "")}


@bp.route("/categories/new", methods=["GET", "POST"])
@admin_required
def new_category():
    form = _category_form()
    groups = _user_groups()
    grid: dict = {g.user_group_id: records_pb2.CategoryPermission(
        user_group_id=g.user_group_id, view_students=g.key_holder, view_incidents=g.key_holder,
        add_incidents=True) for g in groups}
    if request.method == "POST":
        lines = _grid_from_form("")
        grid = {p.user_group_id: p for p in lines}
        made = attempt(lambda: call("records", "CreateCategory", records_pb2.CreateCategoryRequest(
            name=form["name"], colour=form["colour"], parent_id=form["parent_id"],
            permissions=lines)), lambda c: f"Category “{c.name}” is saved.")
        if made is not None:
            return redirect(url_for("records_admin.categories_index"))
    parents = [c for c in categories(include_disabled=True) if not c.parent_id]
    return render_template("records/admin/category.html", tab="categories", category=None,
                           form=form, parents=parents, groups=groups, grid=grid, rights=RIGHTS,
                           palette=_palette(), others=[])


def _palette() -> list[tuple[str, str]]:
    """Colours already used, to copy one (useful for sub-categories)."""
    seen: dict[str, str] = {}
    for c in categories(include_disabled=True):
        seen.setdefault(colour(c.colour), c.name)
    return sorted(seen.items(), key=lambda kv: kv[1].lower())


@bp.route("/categories/<category_id>", methods=["GET", "POST"])
@admin_required
def edit_category(category_id: str):
    existing = _category(category_id)
    if existing is None:
        flash("There is no such category.", "warning")
        return redirect(url_for("records_admin.categories_index"))
    form = _category_form(existing)
    groups = _user_groups()
    grid = _grid(category_id)
    if request.method == "POST":
        lines = _grid_from_form(category_id)
        grid = {p.user_group_id: p for p in lines}
        update = ["name", "colour", "permissions"]
        position = whole_number(form["position"])
        if position:
            update.append("position")
        saved = attempt(lambda: call("records", "UpdateCategory", records_pb2.UpdateCategoryRequest(
            category_id=category_id, name=form["name"], colour=form["colour"],
            permissions=lines, update=update, position=position)),
            lambda c: f"Category “{c.name}” is saved.")
        if saved is not None:
            return redirect(url_for("records_admin.categories_index"))
    others = [c for c in categories(include_disabled=True) if c.id != category_id]
    return render_template("records/admin/category.html", tab="categories", category=existing,
                           form=form, parents=[], groups=groups, grid=grid, rights=RIGHTS,
                           palette=_palette(), others=others)


@bp.post("/categories/<category_id>/delete")
@admin_required
def delete_category(category_id: str):
    attempt(lambda: call("records", "DeleteCategory",
                         records_pb2.DeleteCategoryRequest(category_id=category_id)),
            lambda r: "The category is deleted." if r.deleted else
            "The category is in use, so it is disabled instead: no new incidents can be added "
            "to it, and its incidents are still reported.")
    return redirect(url_for("records_admin.categories_index"))


@bp.post("/categories/<category_id>/enabled")
@admin_required
def enable_category(category_id: str):
    enabled = request.form.get("enabled") == "1"
    attempt(lambda: call("records", "SetCategoryEnabled", records_pb2.SetCategoryEnabledRequest(
        category_id=category_id, enabled=enabled)),
        lambda c: f"“{c.name}” is {'enabled' if enabled else 'disabled'}.")
    return redirect(url_for("records_admin.categories_index"))


@bp.post("/categories/<category_id>/merge")
@admin_required
def merge_category(category_id: str):
    target = form_text("target_category_id", 100)
    if not target:
        flash("Choose the category to merge into.", "warning")
    elif not checked("confirm"):
        flash("Tick the box to confirm: merging cannot be undone.", "warning")
    else:
        done = attempt(lambda: call("records", "MergeCategory", records_pb2.MergeCategoryRequest(
            source_category_id=category_id, target_category_id=target)),
            lambda r: f"Merged into “{r.target.name}”: {r.incidents_moved} incident(s) and "
                      f"{r.monitoring_moved} monitoring record(s) moved.")
        if done is not None:
            return redirect(url_for("records_admin.categories_index"))
    return redirect(url_for("records_admin.edit_category", category_id=category_id))


# ---- Agencies -----------------------------------------------------------------------------

@bp.route("/agencies", methods=["GET", "POST"])
@admin_required
def agencies_index():
    if request.method == "POST":
        name = form_text("name", 100)
        if attempt(lambda: call("records", "CreateAgency", records_pb2.CreateAgencyRequest(
                name=name)), lambda a: f"Agency “{a.name}” is saved.") is not None:
            return redirect(url_for("records_admin.agencies_index"))
    found = tolerant("records", "ListAgencies", records_pb2.ListAgenciesRequest(
        include_disabled=True), records_pb2.ListAgenciesResponse()).agencies
    editing = request.args.get("edit", "")
    return render_template("records/admin/agencies.html", tab="agencies",
                           agencies=sorted(found, key=lambda a: a.name.lower()),
                           editing=editing)


@bp.post("/agencies/<agency_id>")
@admin_required
def rename_agency(agency_id: str):
    name = form_text("name", 100)
    attempt(lambda: call("records", "UpdateAgency", records_pb2.UpdateAgencyRequest(
        agency_id=agency_id, name=name)), lambda a: f"Agency renamed to “{a.name}”.")
    return redirect(url_for("records_admin.agencies_index"))


@bp.post("/agencies/<agency_id>/enabled")
@admin_required
def enable_agency(agency_id: str):
    enabled = request.form.get("enabled") == "1"
    attempt(lambda: call("records", "SetAgencyEnabled", records_pb2.SetAgencyEnabledRequest(
        agency_id=agency_id, enabled=enabled)),
        lambda a: f"“{a.name}” is {'enabled' if enabled else 'disabled'}.")
    return redirect(url_for("records_admin.agencies_index"))


# ---- Groups (class restrictions) ----------------------------------------------------------

def _settings() -> records_pb2.SchoolSettings:
    return call("records", "GetSchoolSettings", records_pb2.GetSchoolSettingsRequest())


@bp.route("/groups", methods=["GET", "POST"])
@admin_required
def groups():
    if request.method == "POST":
        if request.form.get("form") == "restrict":
            value = form_text("restrict_access_by", 10)
            attempt(lambda: call("records", "UpdateSchoolSettings",
                                 records_pb2.UpdateSchoolSettingsRequest(
                                     settings=records_pb2.SchoolSettings(restrict_access_by=value),
                                     update=["restrict_access_by"])),
                    "Class restrictions are saved.")
        else:
            attempt(lambda: call("records", "CreateGroup", records_pb2.CreateGroupRequest(
                name=form_text("name", 100), kind=form_text("kind", 10))),
                lambda g: f"Group “{g.name}” is created.")
        return redirect(url_for("records_admin.groups"))
    settings = _settings()
    reply = call("records", "ListGroups", records_pb2.ListGroupsRequest(include_inactive=True))
    kind = settings.restrict_access_by
    shown = sorted(reply.groups, key=lambda g: (g.kind != (kind or "tutor"), g.kind,
                                                not g.active, g.name))
    return render_template("records/admin/groups.html", tab="groups", settings=settings,
                           groups=shown, new_count=reply.new_group_count,
                           restrictions=RESTRICTIONS, kinds=GROUP_KINDS)


@bp.route("/groups/<group_id>", methods=["GET", "POST"])
@admin_required
def group_access(group_id: str):
    reply = call("records", "ListGroups", records_pb2.ListGroupsRequest(include_inactive=True))
    group = next((g for g in reply.groups if g.id == group_id), None)
    if group is None:
        flash("There is no such group.", "warning")
        return redirect(url_for("records_admin.groups"))
    if request.method == "POST" and attempt(
            lambda: call("records", "SetGroupAccess", records_pb2.SetGroupAccessRequest(
                group_id=group_id, account_ids=form_ids("account_ids", 2000),
                user_group_ids=form_ids("user_group_ids"))),
            f"Who may see {group.name}'s students is saved.") is not None:
        return redirect(url_for("records_admin.groups"))
    return render_template("records/admin/group.html", tab="groups", group=group,
                           users=[u for u in _users() if u.active], user_groups=_user_groups())


# ---- Add Student --------------------------------------------------------------------------

STUDENT_FIELDS = ("first_name", "last_name", "preferred_name", "date_of_birth", "gender", "upn",
                  "year_group", "tutor_group")


@bp.route("/add-student", methods=["GET", "POST"])
@admin_required
def add_student():
    form = dict.fromkeys(STUDENT_FIELDS, "")
    form["request_id"] = str(uuid.uuid4())
    form["group_ids"] = []
    if request.method == "POST":
        form = {k: form_text(k, 100) for k in STUDENT_FIELDS}
        form["request_id"] = form_text("request_id", 40) or str(uuid.uuid4())
        form["group_ids"] = form_ids("group_ids")
        made = attempt(lambda: call("records", "AddStudent", records_pb2.AddStudentRequest(
            **{k: form[k] for k in STUDENT_FIELDS}, group_ids=form["group_ids"],
            request_id=form["request_id"])),
            lambda s: f"{s.first_name} {s.last_name} is added.")
        if made is not None:
            return redirect(url_for("profile.overview", student_id=made.id))
    groups_reply = tolerant("records", "ListGroups", records_pb2.ListGroupsRequest(),
                            records_pb2.ListGroupsResponse())
    return render_template("records/admin/add_student.html", tab="add_student", form=form,
                           groups=sorted(groups_reply.groups, key=lambda g: (g.kind, g.name)))


# ---- Records settings ---------------------------------------------------------------------

@bp.route("/records-settings", methods=["GET", "POST"])
@admin_required
def records_settings():
    if request.method == "POST":
        start, end = form_text("academic_year_start", 10), form_text("academic_year_end", 10)
        problems = [f"“{v}” is not a date." for v in (start, end) if v and not parse_iso_date(v)]
        if problems:
            for p in problems:
                flash(p, "warning")
        elif attempt(lambda: call("records", "UpdateSchoolSettings",
                                  records_pb2.UpdateSchoolSettingsRequest(
                                      settings=records_pb2.SchoolSettings(
                                          enforce_alert=checked("enforce_alert"),
                                          academic_year_start=start, academic_year_end=end),
                                      update=["enforce_alert", "academic_year_start",
                                              "academic_year_end"])),
                     "The settings are saved.") is not None:
            return redirect(url_for("records_admin.records_settings"))
    return render_template("records/admin/settings.html", tab="records_settings",
                           settings=_settings())


# ---- Admin > Users > a user > Alerts and Audits -------------------------------------------

def _user(account_id: str):
    return call("identity", "GetUser", identity_pb2.GetUserRequest(account_id=account_id)).user


@bp.route("/users/<account_id>/alerts", methods=["GET", "POST"])
@admin_required
def user_alerts(account_id: str):
    user = _user(account_id)
    current = call("records", "GetAutomaticAlerts",
                   records_pb2.GetAutomaticAlertsRequest(account_id=account_id))
    chosen = {"category_ids": list(current.category_ids),
              "student_ids": list(current.student_ids), "group_ids": list(current.group_ids)}
    query = (request.values.get("q") or "").strip()[:100]
    found = None
    if request.method == "POST":
        chosen = {"category_ids": form_ids("category_ids"),
                  "student_ids": form_ids("student_ids"), "group_ids": form_ids("group_ids")}
        if request.form.get("intent") == "find":
            found = find_students(query, exclude=tuple(chosen["student_ids"]))
        elif attempt(lambda: call("records", "SetAutomaticAlerts",
                                  records_pb2.SetAutomaticAlertsRequest(
                                      alerts=records_pb2.AutomaticAlerts(
                                          account_id=account_id, **chosen))),
                     f"{user.display_name}'s automatic alerts are saved.") is not None:
            return redirect(url_for("records_admin.user_alerts", account_id=account_id))
    groups_reply = tolerant("records", "ListGroups", records_pb2.ListGroupsRequest(),
                            records_pb2.ListGroupsResponse())
    return render_template(
        "records/admin/user_alerts.html", tab="users", user=user, chosen=chosen,
        tree=category_tree(categories(include_disabled=True)),
        groups=sorted(groups_reply.groups, key=lambda g: (g.kind, g.name)),
        students=students_by_id(chosen["student_ids"]), found=found, q=query)


@bp.post("/users/<account_id>/alerts/clear")
@admin_required
def clear_user_alerts(account_id: str):
    start, end = form_text("from_date", 10), form_text("to_date", 10)
    if not (parse_iso_date(start) and parse_iso_date(end)):
        flash("Enter both dates (for example 2026-01-01 and 2026-01-31).", "warning")
    elif not checked("confirm"):
        flash("Tick the box to confirm: the alerts cannot be brought back.", "warning")
    else:
        attempt(lambda: call("records", "ClearUserAlerts", records_pb2.ClearUserAlertsRequest(
            account_id=account_id, from_date=start, to_date=end)),
            lambda r: f"{r.cleared} dashboard alert(s) removed.")
    return redirect(url_for("records_admin.user_alerts", account_id=account_id))


@bp.get("/users/<account_id>/audits")
@admin_required
def user_audits(account_id: str):
    user = _user(account_id)
    start = parse_iso_date(request.args.get("from", ""))
    end = parse_iso_date(request.args.get("to", ""))
    entries = call("records", "ListAuditEntries", records_pb2.ListAuditEntriesRequest(
        account_id=account_id, from_date=start.isoformat() if start else "",
        to_date=end.isoformat() if end else "", limit=AUDIT_LIMIT)).entries
    return render_template("records/admin/user_audits.html", tab="users", user=user,
                           entries=entries, label=audit_label, start=start, end=end,
                           limit=AUDIT_LIMIT)
