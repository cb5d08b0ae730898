"""Admin (administration permission with full access): Users, User Groups (with the category
permissions records keeps), Alert Groups, the school settings identity owns, Integrations.

Identity refuses every admin call of anyone else; these pages also answer 403 themselves so
that nothing of them shows to others (and the header shows no Admin link).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

import grpc
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from gateway.backends import call
from gateway.errors import grpc_code
from gateway.web.session import load_claims, login_required
from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")

# Refusals whose message is meant for the admin: shown on the page, nothing changes.
_REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
             grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED,
             grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OUT_OF_RANGE}
PERMISSION_SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("General", (("view_student_list", "View student list"),
                 ("view_student_details", "View student details"),
                 ("add_incidents", "Add new incidents and actions"),
                 ("edit_incidents", "Edit, delete and restore incidents and actions"),
                 ("view_students_without_group", "View students without a group"))),
    ("Reporting", (("run_reports", "Run reports"),)),
    ("Planner", (("planner", "Planner"),)),
    ("Files", (("files", "Files"),)),
    ("Library", (("library_view", "View the library"), ("library_add", "Add to the library"))),
    ("Administration", (("administration", "Administration (senior staff only)"),)),
)
SCOPES = (("incidents:add", "Add concerns to a named student's chronology (reads nothing)"),
          ("mis.import", "Send MIS extracts (students, staff, groups)"))
CATEGORY_RIGHTS = (("view_students", "View students"), ("view_incidents", "View incidents"),
                   ("add_incidents", "Add incidents"))
MAX_TEXT = 200


def is_admin(claims) -> bool:
    return bool(claims and claims.full_access and claims.has("administration"))


def admin_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not is_admin(load_claims()):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or ""


def attempt(fn: Callable[[], object], success: str | Callable[[object], str] | None):
    """Run an admin call; a refusal is flashed (and None returned), failures propagate."""
    try:
        result = fn()
    except grpc.RpcError as exc:
        if grpc_code(exc) not in _REFUSALS:
            raise
        flash(_details(exc) or "That was not accepted.", "warning")
        return None
    if success:
        flash(success(result) if callable(success) else success, "success")
    return result


def _text(name: str, limit: int = MAX_TEXT) -> str:
    return request.form.get(name, "").strip()[:limit]


def _checked(name: str) -> bool:
    return request.form.get(name, "") in ("1", "on", "true", "yes")


def _groups() -> identity_pb2.ListUserGroupsResponse:
    return call("identity", "ListUserGroups", identity_pb2.ListUserGroupsRequest())


def _users(deactivated: bool = False, query: str = "", group: str = "") -> list:
    return list(call("identity", "ListUsers", identity_pb2.ListUsersRequest(
        deactivated=deactivated, query=query, user_group_id=group)).users)


@bp.app_context_processor
def _admin_helpers():
    return {"is_admin": lambda: is_admin(load_claims()) if _logged_in() else False,
            "permission_sections": PERMISSION_SECTIONS}


def _logged_in() -> bool:
    try:
        return load_claims() is not None
    except Exception:  # a session that has ended shows no admin link
        return False


# ---- Users --------------------------------------------------------------------------------

@bp.get("")
@admin_required
def index():
    return redirect(url_for("admin.users"))


@bp.get("/users")
@admin_required
def users():
    query = request.args.get("q", "").strip()[:100]
    group = request.args.get("group", "").strip()[:100]
    groups = _groups()
    return render_template(
        "admin/users.html", tab="users", users=_users(False, query, group),
        deactivated_count=sum(g.deactivated_users for g in groups.user_groups),
        groups=groups.user_groups, q=query, group=group)


@bp.get("/users/deactivated")
@admin_required
def deactivated_users():
    return render_template("admin/deactivated.html", tab="users", users=_users(True),
                           groups=_groups().user_groups)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    groups = _groups().user_groups
    form = {"source": "mis", "mis_id": "", "display_name": "", "email": "", "group": "",
            "job_title": "", "send": True}
    if request.method == "POST":
        form = {"source": "other" if request.form.get("source") == "other" else "mis",
                "mis_id": _text("mis_id", 100), "display_name": _text("display_name"),
                "email": _text("email", 320), "group": _text("user_group_id", 100),
                "job_title": _text("job_title"), "send": _checked("send_password_email")}
        req = identity_pb2.CreateUserRequest(
            mis_id=form["mis_id"] if form["source"] == "mis" else "",
            display_name=form["display_name"] if form["source"] == "other" else "",
            email=form["email"], user_group_id=form["group"], job_title=form["job_title"],
            send_password_email=form["send"])
        user = attempt(lambda: call("identity", "CreateUser", req),
                       lambda u: f"{u.display_name} is now a user"
                                 + (" and has been sent a password email." if form["send"]
                                    else "."))
        if user is not None:
            return redirect(url_for("admin.user", account_id=user.account_id))
    staff = list(call("identity", "ListMisStaff", identity_pb2.ListMisStaffRequest()).staff)
    return render_template("admin/new_user.html", tab="users", staff=staff, groups=groups,
                           form=form)


@bp.get("/users/<account_id>")
@admin_required
def user(account_id: str):
    detail = call("identity", "GetUser", identity_pb2.GetUserRequest(account_id=account_id))
    entries = call("identity", "ListSecurityLog", identity_pb2.ListSecurityLogRequest(
        account_id=account_id, limit=50)).entries
    return render_template("admin/user.html", tab="users", user=detail.user,
                           factors=detail.factors, log_entries=entries,
                           groups=_groups().user_groups)


def _back_to_user(account_id: str):
    return redirect(url_for("admin.user", account_id=account_id))


@bp.post("/users/<account_id>/email")
@admin_required
def change_email(account_id: str):
    attempt(lambda: call("identity", "ChangeUserEmail", identity_pb2.ChangeUserEmailRequest(
        account_id=account_id, email=_text("email", 320))), "The email address is saved.")
    return _back_to_user(account_id)


@bp.post("/users/<account_id>/group")
@admin_required
def change_group(account_id: str):
    attempt(lambda: call("identity", "ChangeUserGroup", identity_pb2.ChangeUserGroupRequest(
        account_id=account_id, user_group_id=_text("user_group_id", 100))),
        lambda u: f"{u.display_name} is now in {u.user_group_name}.")
    return _back_to_user(account_id)


@bp.post("/users/<account_id>/alert-email")
@admin_required
def alert_email(account_id: str):
    attempt(lambda: call("identity", "SetUserAlertEmail", identity_pb2.SetUserAlertEmailRequest(
        account_id=account_id, alert_email=_text("alert_email", 320))),
        "The alert email address is saved.")
    return _back_to_user(account_id)


@bp.post("/users/<account_id>/password-email")
@admin_required
def password_email(account_id: str):
    attempt(lambda: call("identity", "SendPasswordEmail", identity_pb2.SendPasswordEmailRequest(
        account_id=account_id)), "A password email is on its way. Its link works until "
                                 "midnight today.")
    return _back_to_user(account_id)


@bp.post("/users/<account_id>/remove-keys")
@admin_required
def remove_keys(account_id: str):
    if not _checked("confirm"):
        flash("Tick the box to confirm you have read and understood the notice.", "warning")
        return _back_to_user(account_id)
    attempt(lambda: call("identity", "RemoveUserSecondFactors",
                         identity_pb2.RemoveUserSecondFactorsRequest(
                             account_id=account_id, confirm=True)),
            lambda r: f"{r.removed} two-factor device(s) removed.")
    return _back_to_user(account_id)


@bp.post("/users/<account_id>/deactivate")
@admin_required
def deactivate(account_id: str):
    done = attempt(lambda: call("identity", "DeactivateUser", identity_pb2.DeactivateUserRequest(
        account_id=account_id)), lambda u: f"{u.display_name} is deactivated.")
    return redirect(url_for("admin.users") if done else url_for("admin.user",
                                                                 account_id=account_id))


@bp.route("/users/<account_id>/reactivate", methods=["GET", "POST"])
@admin_required
def reactivate(account_id: str):
    detail = call("identity", "GetUser", identity_pb2.GetUserRequest(account_id=account_id))
    if request.method == "POST":
        done = attempt(lambda: call("identity", "ReactivateUser",
                                    identity_pb2.ReactivateUserRequest(
                                        account_id=account_id, email=_text("email", 320),
                                        user_group_id=_text("user_group_id", 100))),
                       lambda u: f"{u.display_name} is active again.")
        if done is not None:
            return redirect(url_for("admin.users"))
    return render_template("admin/reactivate.html", tab="users", user=detail.user,
                           groups=_groups().user_groups)


# ---- User Groups --------------------------------------------------------------------------

def _category_grid(group_id: str):
    """Categories with this group's rights (stored by records), or None when records cannot
    say (then the page says so instead of showing a grid)."""
    try:
        categories = call("records", "ListCategories",
                          records_pb2.ListCategoriesRequest(include_disabled=True)).categories
        if not group_id:
            return [(c, {}) for c in categories]
        lines = call("records", "ListCategoryPermissions",
                     records_pb2.ListCategoryPermissionsRequest(user_group_id=group_id))
    except grpc.RpcError as exc:
        log.info("category permissions unavailable: %s", grpc_code(exc).name)
        return None
    rights = {p.category_id: p for p in lines.permissions}
    return [(c, rights.get(c.id)) for c in categories]


def _save_category_grid(group_id: str) -> None:
    if request.form.get("category_grid") != "1":
        return
    ids = request.form.getlist("category_id")[:1000]
    entries = [records_pb2.CategoryPermission(
        user_group_id=group_id, category_id=cid,
        **{right: f"{right}:{cid}" in request.form for right, _label in CATEGORY_RIGHTS})
        for cid in ids]
    if entries:
        attempt(lambda: call("records", "SetCategoryPermissions",
                             records_pb2.SetCategoryPermissionsRequest(permissions=entries)),
                None)


def _group_form():
    chosen = [p for p in request.form.getlist("permissions") if len(p) < 64][:50]
    return {"name": _text("name", 100), "key_holder": _checked("key_holder"),
            "permissions": chosen}


@bp.route("/user-groups/new", methods=["GET", "POST"])
@admin_required
def new_group():
    form = {"name": "", "key_holder": False, "permissions": ["add_incidents"]}
    if request.method == "POST":
        form = _group_form()
        group = attempt(lambda: call("identity", "CreateUserGroup",
                                     identity_pb2.SaveUserGroupRequest(**form)),
                        lambda gr: f"User group “{gr.name}” is saved.")
        if group is not None:
            _save_category_grid(group.user_group_id)
            return redirect(url_for("admin.group", group_id=group.user_group_id))
    return render_template("admin/group.html", tab="users", group=None, form=form,
                           grid=_category_grid(""), rights=CATEGORY_RIGHTS)


@bp.route("/user-groups/<group_id>", methods=["GET", "POST"])
@admin_required
def group(group_id: str):
    found = next((gr for gr in _groups().user_groups if gr.user_group_id == group_id), None)
    if found is None:
        abort(404)
    form = {"name": found.name, "key_holder": found.key_holder,
            "permissions": list(found.permissions)}
    if request.method == "POST":
        form = _group_form()
        saved = attempt(lambda: call("identity", "UpdateUserGroup",
                                     identity_pb2.SaveUserGroupRequest(
                                         user_group_id=group_id, **form)),
                        lambda gr: f"User group “{gr.name}” is saved.")
        if saved is not None:
            _save_category_grid(group_id)
            return redirect(url_for("admin.group", group_id=group_id))
    return render_template("admin/group.html", tab="users", group=found, form=form,
                           grid=_category_grid(group_id), rights=CATEGORY_RIGHTS)


@bp.post("/user-groups/<group_id>/delete")
@admin_required
def delete_group(group_id: str):
    done = attempt(lambda: call("identity", "DeleteUserGroup",
                                identity_pb2.DeleteUserGroupRequest(user_group_id=group_id)),
                   "The user group is deleted.")
    if done is None:
        return redirect(url_for("admin.group", group_id=group_id))
    return redirect(url_for("admin.users"))


# ---- Alert Groups -------------------------------------------------------------------------

@bp.get("/alert-groups")
@admin_required
def alert_groups():
    found = call("identity", "ListAlertGroups", identity_pb2.ListAlertGroupsRequest())
    return render_template("admin/alert_groups.html", tab="alerts",
                           alert_groups=found.alert_groups)


def _alert_form():
    return {"name": _text("name", 100),
            "member_account_ids": [m[:100] for m in request.form.getlist("members")][:2000],
            "add_user_group_ids": [m[:100] for m in request.form.getlist("add_groups")][:100]}


def _alert_page(alert_group, form):
    return render_template("admin/alert_group.html", tab="alerts", alert_group=alert_group,
                           form=form, users=_users(), groups=_groups().user_groups)


@bp.route("/alert-groups/new", methods=["GET", "POST"])
@admin_required
def new_alert_group():
    form = {"name": "", "member_account_ids": [], "add_user_group_ids": []}
    if request.method == "POST":
        form = _alert_form()
        saved = attempt(lambda: call("identity", "CreateAlertGroup",
                                     identity_pb2.SaveAlertGroupRequest(**form)),
                        lambda ag: f"Alert group “{ag.name}” is saved with "
                                   f"{len(ag.members)} member(s).")
        if saved is not None:
            return redirect(url_for("admin.alert_groups"))
    return _alert_page(None, form)


@bp.route("/alert-groups/<alert_group_id>", methods=["GET", "POST"])
@admin_required
def alert_group(alert_group_id: str):
    found = next((ag for ag in call("identity", "ListAlertGroups",
                                    identity_pb2.ListAlertGroupsRequest()).alert_groups
                  if ag.alert_group_id == alert_group_id), None)
    if found is None:
        abort(404)
    form = {"name": found.name, "member_account_ids": [m.account_id for m in found.members],
            "add_user_group_ids": []}
    if request.method == "POST":
        form = _alert_form()
        saved = attempt(lambda: call("identity", "UpdateAlertGroup",
                                     identity_pb2.SaveAlertGroupRequest(
                                         alert_group_id=alert_group_id, **form)),
                        lambda ag: f"Alert group “{ag.name}” is saved with "
                                   f"{len(ag.members)} member(s).")
        if saved is not None:
            return redirect(url_for("admin.alert_groups"))
    return _alert_page(found, form)


@bp.post("/alert-groups/<alert_group_id>/delete")
@admin_required
def delete_alert_group(alert_group_id: str):
    attempt(lambda: call("identity", "DeleteAlertGroup", identity_pb2.DeleteAlertGroupRequest(
        alert_group_id=alert_group_id)), "The alert group is deleted.")
    return redirect(url_for("admin.alert_groups"))


# ---- School settings ----------------------------------------------------------------------

def split_domains(text: str) -> list[str]:
    parts = text.replace(",", "\n").replace(";", "\n").split()
    return list(dict.fromkeys(p.strip().lstrip("@").lower() for p in parts if p.strip()))[:100]


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    current = call("identity", "GetSchoolSettings", identity_pb2.GetSchoolSettingsRequest())
    if request.method == "POST":
        raw_timeout = request.form.get("idle_timeout_minutes", "").strip()
        try:
            timeout = int(raw_timeout)
        except ValueError:
            timeout = 0
        wanted = identity_pb2.SchoolSettings(
            email_domains=split_domains(request.form.get("email_domains", "")[:5000]),
            disable_missing_from_mis=_checked("disable_missing_from_mis"),
            use_legal_names=_checked("use_legal_names"), idle_timeout_minutes=timeout)
        if attempt(lambda: call("identity", "UpdateSchoolSettings", wanted),
                   "The settings are saved.") is not None:
            return redirect(url_for("admin.settings"))
        current = wanted
    return render_template("admin/settings.html", tab="settings", settings=current)


# ---- Integrations -------------------------------------------------------------------------

@bp.route("/integrations", methods=["GET", "POST"])
@admin_required
def integrations():
    created = None
    if request.method == "POST":
        created = attempt(lambda: call("identity", "CreateIntegrationClient",
                                       identity_pb2.CreateIntegrationClientRequest(
                                           name=_text("name", 100), scope=_text("scope", 40))),
                          "The integration is created. Copy its secret now: it is not shown "
                          "again.")
    clients = call("identity", "ListIntegrationClients",
                   identity_pb2.ListIntegrationClientsRequest()).clients
    return render_template("admin/integrations.html", tab="integrations", clients=clients,
                           created=created, scopes=SCOPES,
                           token_url=url_for("oauth_proxy.token", _external=True))


@bp.post("/integrations/<client_id>/revoke")
@admin_required
def revoke_integration(client_id: str):
    attempt(lambda: call("identity", "RevokeIntegrationClient",
                         identity_pb2.RevokeIntegrationClientRequest(client_id=client_id)),
            "The integration is revoked: it gets no new tokens, and the ones it holds "
            "expire within minutes.")
    return redirect(url_for("admin.integrations"))
