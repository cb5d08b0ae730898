"""The options of each chronology entry: edit (every version kept) and history, delete with a
reason and restore, pin, print view, merge into another incident (with a preview), add
alerts and linked students afterwards; adding an action, and an action's own options (edit,
history, delete, restore, split as an incident, add to linked incidents, add alerts).

Every change is made by records, which decides who may make it; a refusal is shown on the
page and nothing changes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import grpc
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gateway.backends import call
from gateway.errors import map_rpc_error
from gateway.pdf import download_headers, incident_pdf
from gateway.present import category_tree, timestamp, to_local
from gateway.web.account import SCHOOL_NAME
from gateway.web.incidents import STATUSES, check_recipients
from gateway.web.records_common import (
    agencies,
    alert_groups,
    attempt,
    categories,
    checked,
    find_students,
    form_ids,
    form_text,
    local_instant,
    now_local,
    refusal,
    staff,
    valid_id,
    warning_names,
    whole_number,
    zone,
)
from gateway.web.session import current_claims, login_required
from haven.records.v1 import records_pb2

bp = Blueprint("entries", __name__)

MAX_TEXT = 100_000
MAX_REASON = 1000
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


# ---- loading and going back ---------------------------------------------------------------

def _incident(incident_id: str) -> records_pb2.Incident:
    return call("records", "GetIncident", records_pb2.GetIncidentRequest(incident_id=incident_id))


def _action(incident: records_pb2.Incident, action_id: str) -> records_pb2.Action:
    for a in incident.actions:
        if a.id == action_id:
            return a
    abort(404)


def back_to(incident: records_pb2.Incident | None = None, *, incident_id: str = "",
            student_id: str = "", action_id: str = "", open_actions: bool = False):
    """The chronology with the entry highlighted (full access), or the incident's own page
    (restricted access)."""
    incident_id = incident_id or (incident.id if incident else "")
    student_id = student_id or (incident.student_id if incident else "")
    if not current_claims().full_access:
        return redirect(url_for("incidents.show", incident_id=incident_id))
    anchor = f"action-{action_id}" if action_id else f"incident-{incident_id}"
    return redirect(url_for("students.chronology", student_id=student_id,
                            highlight=incident_id, open=incident_id if (open_actions or action_id)
                            else None, action=action_id or None, _anchor=anchor))


def _local_parts(ts) -> tuple[str, str]:
    value = to_local(ts, zone())
    if value is None:
        value = now_local()
    return value.strftime("%Y-%m-%d"), value.strftime("%H:%M")


def _when_from_form(default_date: str = "", default_time: str = "") -> tuple[datetime | None,
                                                                             str, str]:
    day = form_text("occurred_date", 10) or default_date
    at = form_text("occurred_time", 5) or default_time
    try:
        return local_instant(day, at), day, at
    except (ValueError, OverflowError):
        return None, day, at


def _category_choices(current_ids=()) -> list:
    """Categories to choose from: those the caller may add to, plus the ones already there."""
    current = set(current_ids)
    return [c for c in categories(include_disabled=bool(current))
            if (c.enabled and c.can_add) or c.id in current]


def _warn(ids) -> None:
    if ids:
        flash("Alerted, but could not normally view it: " + ", ".join(warning_names(ids))
              + ".", "warning")


# ---- edit and history ---------------------------------------------------------------------

@bp.route("/incidents/<incident_id>/edit", methods=["GET", "POST"])
@login_required
def edit(incident_id: str):
    incident = _incident(incident_id)
    if incident.deleted:
        flash("This incident is deleted; restore it first.", "warning")
        return back_to(incident)
    day, at = _local_parts(incident.occurred_at)
    form = {
        "text": incident.text, "occurred_date": day, "occurred_time": at,
        "category_ids": [c.id for c in incident.categories],
        "agency_ids": [a.id for a in incident.agencies], "status": incident.status or "active",
        "assigned_to": incident.assigned_to,
    }
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        wanted = dict(form)
        wanted["status"] = form_text("status", 20) or form["status"]
        assigned = form_text("assigned_to", 100)
        wanted["assigned_to"] = assigned if valid_id(assigned) or not assigned else ""
        update = []
        if wanted["status"] != form["status"]:
            update.append("status")
        if wanted["assigned_to"] != form["assigned_to"]:
            update.append("assigned_to")
        occurred = None
        if incident.can_edit:
            wanted["text"] = request.form.get("text", "")[:MAX_TEXT]
            wanted["category_ids"] = form_ids("category_ids")
            wanted["agency_ids"] = form_ids("agency_ids")
            occurred, wanted["occurred_date"], wanted["occurred_time"] = _when_from_form()
            if wanted["text"] != form["text"]:
                update.append("text")
            if occurred is None:
                errors.append("Enter the date and time it happened (for example 2026-03-02 "
                              "and 14:30).")
            elif (wanted["occurred_date"], wanted["occurred_time"]) != (day, at):
                update.append("occurred_at")
            if set(wanted["category_ids"]) != set(form["category_ids"]):
                update.append("category_ids")
            if set(wanted["agency_ids"]) != set(form["agency_ids"]):
                update.append("agency_ids")
            if not wanted["text"].strip():
                errors.append("The incident needs its text.")
            if not wanted["category_ids"]:
                errors.append("Choose at least one category.")
        if wanted["status"] not in dict(STATUSES):
            errors.append("Choose a status: Active or Closed.")
        form = wanted
        if not errors and not update:
            flash("Nothing was changed.", "info")
            return back_to(incident)
        if not errors:
            req = records_pb2.UpdateIncidentRequest(
                incident_id=incident.id, update=update, text=wanted["text"],
                category_ids=wanted["category_ids"], agency_ids=wanted["agency_ids"],
                status=wanted["status"], assigned_to=wanted["assigned_to"],
                expected_version=incident.version)
            if occurred is not None:
                req.occurred_at.CopyFrom(timestamp(occurred))
            try:
                call("records", "UpdateIncident", req)
            except grpc.RpcError as exc:
                message = refusal(exc)
                if message is None:
                    raise
                errors.append(message)
                status = map_rpc_error(exc).http_status
            else:
                flash("The incident is saved. Its earlier version is kept in its history.",
                      "success")
                return back_to(incident)
        status = status if status != 200 else 422
    key_holders = [s for s in staff() if s.key_holder]
    return render_template(
        "records/edit_incident.html", incident=incident, form=form, errors=errors,
        tree=category_tree(_category_choices(form["category_ids"])),
        agencies=[a for a in agencies(include_disabled=True)
                  if a.enabled or a.id in form["agency_ids"]],
        statuses=STATUSES, key_holders=key_holders), status


@bp.get("/incidents/<incident_id>/history")
@login_required
def history(incident_id: str):
    incident = _incident(incident_id)
    versions = call("records", "GetRecordHistory",
                    records_pb2.GetRecordHistoryRequest(incident_id=incident_id)).versions
    return render_template("records/history.html", incident=incident, action=None,
                           versions=list(reversed(versions)))


# ---- delete, restore, pin, print ----------------------------------------------------------

@bp.route("/incidents/<incident_id>/delete", methods=["GET", "POST"])
@login_required
def delete(incident_id: str):
    incident = _incident(incident_id)
    reason = ""
    if request.method == "POST":
        reason = form_text("reason", MAX_REASON)
        if not reason:
            flash("Say why it is deleted.", "warning")
        elif attempt(lambda: call("records", "DeleteIncident", records_pb2.DeleteIncidentRequest(
                incident_id=incident_id, reason=reason)),
                "The incident is deleted. Colleagues who may edit incidents can still see "
                "its history and restore it.") is not None:
            return back_to(incident)
    return render_template("records/delete.html", incident=incident, action=None,
                           reason=reason)


@bp.post("/incidents/<incident_id>/restore")
@login_required
def restore(incident_id: str):
    done = attempt(lambda: call("records", "RestoreIncident",
                                records_pb2.RestoreIncidentRequest(incident_id=incident_id)),
                   "The incident is restored.")
    if done is None:
        return redirect(request.referrer or url_for("dashboard.index"))
    return back_to(done)


@bp.post("/incidents/<incident_id>/pin")
@login_required
def pin(incident_id: str):
    pinned = request.form.get("pinned") == "1"
    done = attempt(lambda: call("records", "PinIncident", records_pb2.PinIncidentRequest(
        incident_id=incident_id, pinned=pinned)),
        "Pinned to the top of the chronology." if pinned else "Unpinned.")
    if done is None:
        return redirect(request.referrer or url_for("dashboard.index"))
    return back_to(done)


@bp.get("/incidents/<incident_id>/print")
@login_required
def print_view(incident_id: str):
    printed = call("records", "GetIncidentPrint",
                   records_pb2.GetIncidentPrintRequest(incident_id=incident_id))
    return render_template("records/print.html", p=printed, incident=printed.incident,
                           student=printed.student)


@bp.get("/incidents/<incident_id>/print.pdf")
@login_required
def print_pdf(incident_id: str):
    """The print view as an A4 PDF download (records decides who may print it)."""
    printed = call("records", "GetIncidentPrint",
                   records_pb2.GetIncidentPrintRequest(incident_id=incident_id))
    body = incident_pdf(printed, zone=zone(), school_name=session.get(SCHOOL_NAME, ""))
    return Response(body, mimetype="application/pdf",
                    headers=download_headers(printed, zone()))


# ---- merge --------------------------------------------------------------------------------

def _number(raw: str) -> int:
    return whole_number((raw or "").strip().lstrip("#"), maximum=2**63 - 1)


@bp.route("/incidents/<incident_id>/merge", methods=["GET", "POST"])
@login_required
def merge(incident_id: str):
    incident = _incident(incident_id)
    number = _number(request.values.get("number", ""))
    preview, problem = None, ""
    if request.method == "POST" and number:
        done = attempt(lambda: call("records", "MergeIncident", records_pb2.MergeIncidentRequest(
            incident_id=incident_id, target_number=number)),
            f"Merged: it is now an action of incident #{number}.")
        if done is not None:
            return back_to(done, open_actions=True)
    if number:
        try:
            preview = call("records", "PreviewIncidentMerge",
                           records_pb2.PreviewIncidentMergeRequest(incident_id=incident_id,
                                                                   target_number=number))
        except grpc.RpcError as exc:
            problem = refusal(exc) or ""
            if not problem:
                raise
    elif "number" in request.values:
        problem = "Enter the number of the incident to merge into (shown beside its author)."
    return render_template("records/merge.html", incident=incident, number=number or "",
                           preview=preview, problem=problem)


# ---- alerts and linked students afterwards ------------------------------------------------

@bp.route("/incidents/<incident_id>/alerts", methods=["GET", "POST"])
@login_required
def add_alerts(incident_id: str):
    incident = _incident(incident_id)
    action_id = (request.values.get("action") or "").strip()
    action = _action(incident, action_id) if action_id else None
    chosen = {"account_ids": [], "alert_group_ids": [], "incident_recipients": False}
    recipients = None
    if request.method == "POST":
        chosen = {"account_ids": form_ids("alert_account_ids"),
                  "alert_group_ids": form_ids("alert_group_ids"),
                  "incident_recipients": checked("incident_recipients") and bool(action)}
        if request.form.get("intent") == "check_alerts":
            recipients = check_recipients(
                incident_id=incident.id, account_ids=chosen["account_ids"],
                alert_group_ids=chosen["alert_group_ids"],
                incident_recipients=chosen["incident_recipients"])
        elif not (chosen["account_ids"] or chosen["alert_group_ids"]
                  or chosen["incident_recipients"]):
            flash("Choose who to alert.", "warning")
        else:
            done = attempt(lambda: call("records", "AddAlerts", records_pb2.AddAlertsRequest(
                incident_id="" if action else incident.id, action_id=action.id if action else "",
                account_ids=chosen["account_ids"], alert_group_ids=chosen["alert_group_ids"],
                incident_recipients=chosen["incident_recipients"])),
                lambda r: f"{len(r.alerted_account_ids)} colleague(s) alerted."
                if r.alerted_account_ids else "Everyone chosen had already been alerted.")
            if done is not None:
                _warn(done.alert_warnings)
                return back_to(incident, action_id=action.id if action else "")
    return render_template(
        "records/add_alerts.html", incident=incident, action=action, chosen=chosen,
        staff=staff(exclude=current_claims().account_id), alert_groups=alert_groups(),
        recipients=recipients)


@bp.route("/incidents/<incident_id>/links", methods=["GET", "POST"])
@login_required
def add_links(incident_id: str):
    incident = _incident(incident_id)
    query = (request.values.get("q") or "").strip()[:100]
    already = {incident.student_id, *(s.student_id for s in incident.linked_students)}
    if request.method == "POST" and request.form.get("intent") != "find":
        ids = [s for s in form_ids("student_ids", 50) if s not in already]
        if not ids:
            flash("Tick the students to link.", "warning")
        elif attempt(lambda: call("records", "AddLinkedStudents",
                                  records_pb2.AddLinkedStudentsRequest(
                                      incident_id=incident.id, student_ids=ids,
                                      monitor=checked("monitor"))),
                     f"{len(ids)} student(s) linked: the incident is copied to their "
                     "chronology.") is not None:
            return back_to(incident)
    found = find_students(query, exclude=tuple(already)) if query else None
    return render_template("records/add_links.html", incident=incident, q=query, found=found)


# ---- actions ------------------------------------------------------------------------------

@bp.route("/incidents/<incident_id>/actions/new", methods=["GET", "POST"])
@login_required
def new_action(incident_id: str):
    claims = current_claims()
    incident = _incident(incident_id)
    day, at = now_local().strftime("%Y-%m-%d"), now_local().strftime("%H:%M")
    form = {"text": "", "category_ids": [], "agency_ids": [], "occurred_date": day,
            "occurred_time": at, "alert_account_ids": [], "alert_group_ids": [],
            "incident_recipients": False, "copy_linked": False,
            "request_id": str(uuid.uuid4())}
    errors: list[str] = []
    recipients = None
    status = 200
    if request.method == "POST":
        rid = form_text("request_id", 40)
        occurred, d, t = _when_from_form()
        form = {"text": request.form.get("text", "")[:MAX_TEXT],
                "category_ids": form_ids("category_ids"), "agency_ids": form_ids("agency_ids"),
                "occurred_date": d, "occurred_time": t,
                "alert_account_ids": form_ids("alert_account_ids"),
                "alert_group_ids": form_ids("alert_group_ids"),
                "incident_recipients": checked("incident_recipients"),
                "copy_linked": checked("copy_linked"),
                "request_id": rid if _UUID.match(rid) else str(uuid.uuid4())}
        if request.form.get("intent") == "check_alerts":
            recipients = check_recipients(
                incident_id=incident.id, category_ids=form["category_ids"],
                account_ids=form["alert_account_ids"], alert_group_ids=form["alert_group_ids"],
                incident_recipients=form["incident_recipients"])
        else:
            if not form["text"].strip():
                errors.append("Write what was done in the action box.")
            if occurred is None:
                errors.append("Enter the date and time of the action (for example 2026-03-02 "
                              "and 14:30).")
            if not errors:
                req = records_pb2.CreateActionRequest(
                    incident_id=incident.id, text=form["text"],
                    category_ids=form["category_ids"], agency_ids=form["agency_ids"],
                    occurred_at=timestamp(occurred),
                    alert_account_ids=form["alert_account_ids"],
                    alert_group_ids=form["alert_group_ids"],
                    alert_incident_recipients=form["incident_recipients"],
                    copy_to_linked_students=form["copy_linked"],
                    request_id=form["request_id"])
                try:
                    action = call("records", "CreateAction", req)
                except grpc.RpcError as exc:
                    message = refusal(exc)
                    if message is None:
                        raise
                    errors.append(message)
                else:
                    flash("Action added.", "success")
                    _warn(action.alert_warnings)
                    return back_to(incident, action_id=action.id)
            status = 422
    everyone = staff()
    return render_template(
        "records/action_form.html", incident=incident, form=form, errors=errors,
        tree=category_tree([c for c in categories() if c.enabled and c.can_add]),
        agencies=[a for a in agencies() if a.enabled], alert_groups=alert_groups(),
        staff=[s for s in everyone if s.account_id != claims.account_id],
        recipients=recipients), status


@bp.route("/incidents/<incident_id>/actions/<action_id>/edit", methods=["GET", "POST"])
@login_required
def edit_action(incident_id: str, action_id: str):
    incident = _incident(incident_id)
    action = _action(incident, action_id)
    day, at = _local_parts(action.occurred_at)
    form = {"text": action.text, "occurred_date": day, "occurred_time": at,
            "agency_ids": [a.id for a in action.agencies]}
    errors: list[str] = []
    if request.method == "POST":
        occurred, d, t = _when_from_form()
        wanted = {"text": request.form.get("text", "")[:MAX_TEXT], "occurred_date": d,
                  "occurred_time": t, "agency_ids": form_ids("agency_ids")}
        update = []
        if wanted["text"] != form["text"]:
            update.append("text")
        if occurred is None:
            errors.append("Enter the date and time of the action.")
        elif (d, t) != (day, at):
            update.append("occurred_at")
        if set(wanted["agency_ids"]) != set(form["agency_ids"]):
            update.append("agency_ids")
        if not wanted["text"].strip():
            errors.append("The action needs its text.")
        form = wanted
        if not errors and not update:
            flash("Nothing was changed.", "info")
            return back_to(incident, action_id=action.id)
        if not errors:
            req = records_pb2.UpdateActionRequest(
                action_id=action.id, update=update, text=wanted["text"],
                agency_ids=wanted["agency_ids"], expected_version=action.version)
            if occurred is not None:
                req.occurred_at.CopyFrom(timestamp(occurred))
            if attempt(lambda: call("records", "UpdateAction", req),
                       "The action is saved. Its earlier version is kept in its history."
                       ) is not None:
                return back_to(incident, action_id=action.id)
    return render_template(
        "records/edit_action.html", incident=incident, action=action, form=form,
        errors=errors, agencies=[a for a in agencies(include_disabled=True)
                                 if a.enabled or a.id in form["agency_ids"]]), \
        (422 if errors else 200)


@bp.get("/incidents/<incident_id>/actions/<action_id>/history")
@login_required
def action_history(incident_id: str, action_id: str):
    incident = _incident(incident_id)
    action = _action(incident, action_id)
    versions = call("records", "GetRecordHistory",
                    records_pb2.GetRecordHistoryRequest(action_id=action_id)).versions
    return render_template("records/history.html", incident=incident, action=action,
                           versions=list(reversed(versions)))


@bp.route("/incidents/<incident_id>/actions/<action_id>/delete", methods=["GET", "POST"])
@login_required
def delete_action(incident_id: str, action_id: str):
    incident = _incident(incident_id)
    action = _action(incident, action_id)
    reason = ""
    if request.method == "POST":
        reason = form_text("reason", MAX_REASON)
        if not reason:
            flash("Say why it is deleted.", "warning")
        elif attempt(lambda: call("records", "DeleteAction", records_pb2.DeleteActionRequest(
                action_id=action_id, reason=reason)), "The action is deleted.") is not None:
            return back_to(incident, action_id=action_id)
    return render_template("records/delete.html", incident=incident, action=action,
                           reason=reason)


@bp.post("/incidents/<incident_id>/actions/<action_id>/restore")
@login_required
def restore_action(incident_id: str, action_id: str):
    attempt(lambda: call("records", "RestoreAction",
                         records_pb2.RestoreActionRequest(action_id=action_id)),
            "The action is restored.")
    return back_to(incident_id=incident_id, student_id=_incident(incident_id).student_id,
                   action_id=action_id)


@bp.route("/incidents/<incident_id>/actions/<action_id>/split", methods=["GET", "POST"])
@login_required
def split_action(incident_id: str, action_id: str):
    incident = _incident(incident_id)
    action = _action(incident, action_id)
    chosen = [c.id for c in incident.categories]
    if request.method == "POST":
        chosen = form_ids("category_ids")
        done = attempt(lambda: call("records", "SplitAction", records_pb2.SplitActionRequest(
            action_id=action_id, category_ids=chosen)),
            "The action is now an incident of its own.")
        if done is not None:
            return back_to(done)
    return render_template("records/split.html", incident=incident, action=action,
                           chosen=chosen, tree=category_tree(_category_choices(chosen)))


@bp.post("/incidents/<incident_id>/actions/<action_id>/copy")
@login_required
def copy_action(incident_id: str, action_id: str):
    incident = _incident(incident_id)
    attempt(lambda: call("records", "CopyActionToLinkedIncidents",
                         records_pb2.CopyActionToLinkedIncidentsRequest(action_id=action_id)),
            lambda r: f"Added to {len(r.actions)} linked incident(s)." if r.actions
            else "Every linked incident already has this action.")
    return back_to(incident, action_id=action_id)
