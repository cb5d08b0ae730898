"""Student lists (quick search, monitored students, a class register, students monitored under
a category), bulk "Update Categories", and a student's chronology (the Incidents tab)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway.backends import call
from gateway.web.records_common import (
    attempt,
    categories,
    form_ids,
    form_text,
    parse_iso_date,
    today,
    tolerant,
    valid_id,
)
from gateway.web.session import current_claims, login_required, safe_next
from haven.records.v1 import records_pb2

bp = Blueprint("students", __name__)

SEARCH_LIMIT = 50
LIST_LIMIT = 1000
CHRONOLOGY_LIMIT = 500
MAX_QUERY = 100
MAX_BULK = 500
OPERATIONS = (("add", "Add this category"), ("remove", "Remove this category"),
              ("wipe_all", "Wipe all categories"))


def search_students(query: str, include_archived: bool = False, limit: int = SEARCH_LIMIT):
    if not query:
        return []
    reply = call("records", "SearchStudents", records_pb2.SearchStudentsRequest(
        query=query, include_archived=include_archived, limit=limit))
    return list(reply.students)


def truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "on", "true", "yes"}


def access_scope() -> records_pb2.AccessScope:
    return tolerant("records", "GetAccessScope", records_pb2.GetAccessScopeRequest(),
                    records_pb2.AccessScope())


def monitorable_categories() -> list:
    """Enabled categories the caller may monitor students under (view students)."""
    allowed = set(access_scope().view_student_category_ids)
    return [c for c in categories() if c.id in allowed]


def groups_list() -> list:
    """Classes for the 'filter by group' list (empty when the caller may not list them)."""
    if not current_claims().full_access:
        return []
    return list(tolerant("records", "ListGroups", records_pb2.ListGroupsRequest(),
                         records_pb2.ListGroupsResponse()).groups)


@bp.get("/students")
@login_required
def search():
    claims = current_claims()
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    archived = truthy(request.args.get("archived"))
    monitored = truthy(request.args.get("monitored")) and claims.full_access
    group_id = request.args.get("group", "").strip()
    category_id = request.args.get("category", "").strip()
    group_id = group_id if valid_id(group_id) and claims.full_access else ""
    category_id = category_id if valid_id(category_id) and claims.full_access else ""
    listing = bool(monitored or group_id or category_id)
    students = []
    if listing:
        students = list(call("records", "SearchStudents", records_pb2.SearchStudentsRequest(
            query=query, include_archived=archived, limit=LIST_LIMIT, group_id=group_id,
            category_id=category_id, monitored_only=monitored)).students)
    elif query:
        students = search_students(query, archived)
    known = {c.id: c for c in categories(include_disabled=True)} if claims.full_access else {}
    groups = groups_list()
    group = next((g for g in groups if g.id == group_id), None)
    category = known.get(category_id)
    selecting = truthy(request.args.get("select")) and listing and claims.full_access
    return render_template(
        "students.html", q=query, archived=archived, monitored=monitored, students=students,
        searched=bool(query) or listing, listing=listing, known=known, groups=groups,
        group=group, group_id=group_id, category=category, category_id=category_id,
        selecting=selecting)


@bp.post("/students/update-categories")
@login_required
def update_categories():
    """Bulk "Update Categories": step 1 chose the students; here the category, the operation
    and the start date; then it is applied."""
    back = safe_next(request.form.get("back"), default=url_for("dashboard.index"))
    student_ids = form_ids("student_ids", MAX_BULK)
    if not student_ids:
        flash("Tick at least one student first.", "warning")
        return redirect(back)
    chosen = {
        "category_id": form_text("category_id", 100),
        "operation": form_text("operation", 20) or "add",
        "start_date": form_text("start_date", 10) or today().isoformat(),
    }
    if request.form.get("apply") == "1":
        problem = None
        if chosen["operation"] not in dict(OPERATIONS):
            problem = "Choose whether to add or remove the category, or wipe all."
        elif chosen["operation"] != "wipe_all" and not chosen["category_id"]:
            problem = "Choose a category."
        elif chosen["operation"] == "add" and parse_iso_date(chosen["start_date"]) is None:
            problem = "Enter the start date as a date (for example 2026-03-02)."
        if problem:
            flash(problem, "warning")
        else:
            done = attempt(lambda: call("records", "UpdateMonitoring",
                                        records_pb2.UpdateMonitoringRequest(
                                            student_ids=student_ids,
                                            category_id=chosen["category_id"]
                                            if chosen["operation"] != "wipe_all" else "",
                                            operation=chosen["operation"],
                                            start_date=chosen["start_date"]
                                            if chosen["operation"] == "add" else "")))
            if done is not None:
                flash(f"Categories updated: monitoring started {done.started} time(s), ended "
                      f"{done.ended} time(s), for {len(student_ids)} student(s).", "success")
                return redirect(back)
    names = request.form.getlist("student_names")[:MAX_BULK]
    return render_template("records/update_categories.html", student_ids=student_ids,
                           names=names, back=back, chosen=chosen, operations=OPERATIONS,
                           categories=monitorable_categories())


def unread_alerts_by_incident() -> dict[str, list[str]]:
    alerts = call("records", "ListAlerts", records_pb2.ListAlertsRequest()).alerts
    by_incident: dict[str, list[str]] = {}
    for a in alerts:
        by_incident.setdefault(a.incident_id, []).append(a.id)
    return by_incident


@bp.get("/students/<student_id>")
@login_required
def chronology(student_id: str):
    """The Incidents tab: pinned entries first, then newest by when they happened (the
    service's order), with "show all actions" and "toggle parent categories"."""
    highlight = request.args.get("highlight", "")
    show_all = truthy(request.args.get("actions"))
    parents = truthy(request.args.get("parents"))
    opened = [i for i in request.args.getlist("open") if valid_id(i)][:50]
    if highlight and valid_id(highlight) and truthy(request.args.get("open_highlight")):
        opened.append(highlight)
    # ?page=: the service's opaque token for older entries (the service validates it).
    # Without one, the service serves the page that holds the highlighted entry (the first
    # page when there is none, or the caller may not see it).
    page = request.args.get("page", "").strip()[:1000]
    reply = call("records", "GetChronology", records_pb2.GetChronologyRequest(
        student_id=student_id, limit=CHRONOLOGY_LIMIT, include_actions=show_all or bool(opened),
        page_token=page,
        highlight_incident_id=highlight if highlight and not page and valid_id(highlight)
        else ""))
    page = reply.page_token or page
    incidents = list(reply.incidents)
    return render_template(
        "student.html", student=reply.student, incidents=incidents,
        # Never cut a chronology short silently: link to the older entries.
        page=page, next_page=reply.next_page_token,
        highlight=highlight, alerts=unread_alerts_by_incident(), show_all=show_all,
        parents=parents, opened=set(opened), tab="incidents",
        highlight_action=request.args.get("action", ""),
    )
