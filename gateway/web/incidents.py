"""Adding an incident (with linked students, assignee, alerts, alert groups and agencies),
viewing one, marking an alert as read, and the form's live check of who would be alerted."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time

import grpc
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from gateway.backends import call
from gateway.errors import map_rpc_error
from gateway.present import category_tree, local_to_utc, timestamp
from gateway.web.records_common import (
    agencies,
    alert_groups,
    arg_ids,
    categories,
    find_students,
    form_ids,
    staff,
    students_by_id,
    tolerant,
    valid_id,
    warning_names,
)
from gateway.web.session import current_claims, login_required, referrer_path, safe_next
from gateway.web.students import MAX_QUERY, search_students
from haven.records.v1 import records_pb2

bp = Blueprint("incidents", __name__)

STATUSES = (("active", "Active"), ("closed", "Closed"))
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")
# Buttons of the form that do not submit it: find students to link, check who is alerted.
INTENTS = ("find_linked", "check_alerts")


@dataclass
class IncidentForm:
    """What the user typed, kept across a failed submit (and the form's own round trips)."""

    student_id: str = ""
    text: str = ""
    category_ids: list[str] = field(default_factory=list)
    occurred_date: str = ""
    occurred_time: str = ""
    status: str = "active"
    alert_account_ids: list[str] = field(default_factory=list)
    request_id: str = ""
    linked_student_ids: list[str] = field(default_factory=list)
    monitor_linked: bool = False
    assigned_to: str = ""
    alert_group_ids: list[str] = field(default_factory=list)
    agency_ids: list[str] = field(default_factory=list)
    link_query: str = ""

    @classmethod
    def blank(cls, student_id: str) -> IncidentForm:
        now = datetime.now(current_app.config["HAVEN_CONFIG"].zone)
        return cls(student_id=student_id, occurred_date=now.strftime("%Y-%m-%d"),
                   occurred_time=now.strftime("%H:%M"), request_id=str(uuid.uuid4()))

    @classmethod
    def from_request(cls, student_id: str) -> IncidentForm:
        f = request.form
        request_id = f.get("request_id", "").strip()
        assigned = f.get("assigned_to", "").strip()
        return cls(
            student_id=student_id,
            text=f.get("text", ""),
            category_ids=[c for c in f.getlist("category_ids") if c],
            occurred_date=f.get("occurred_date", "").strip(),
            occurred_time=f.get("occurred_time", "").strip(),
            status=f.get("status", "active").strip() or "active",
            alert_account_ids=[a for a in f.getlist("alert_account_ids") if a],
            request_id=request_id if _UUID.match(request_id) else str(uuid.uuid4()),
            linked_student_ids=[s for s in form_ids("linked_student_ids", 50)
                                if s != student_id],
            monitor_linked=f.get("monitor_linked") in ("1", "on"),
            assigned_to=assigned if valid_id(assigned) else "",
            alert_group_ids=form_ids("alert_group_ids", 50),
            agency_ids=form_ids("agency_ids", 100),
            link_query=f.get("link_query", "").strip()[:MAX_QUERY],
        )

    def occurred_at(self) -> datetime:
        """UTC instant of the school-time date and time entered (ValueError if unusable)."""
        day = date.fromisoformat(self.occurred_date)
        at = time.fromisoformat(self.occurred_time)
        return local_to_utc(day, at, current_app.config["HAVEN_CONFIG"].zone)

    def problems(self) -> list[str]:
        found = []
        if not self.text.strip():
            found.append("Write what happened in the incident box.")
        if not self.category_ids:
            found.append("Choose at least one category.")
        try:
            self.occurred_at()
        except (ValueError, OverflowError):
            found.append("Enter the date and time the incident happened (for example "
                         "2026-03-02 and 14:30).")
        if self.status not in dict(STATUSES):
            found.append("Choose a status: Active or Closed.")
        return found

    def to_request(self) -> records_pb2.CreateIncidentRequest:
        return records_pb2.CreateIncidentRequest(
            student_id=self.student_id, text=self.text, category_ids=self.category_ids,
            occurred_at=timestamp(self.occurred_at()), status=self.status,
            alert_account_ids=self.alert_account_ids, request_id=self.request_id,
            linked_student_ids=self.linked_student_ids,
            monitor_linked_students=self.monitor_linked and bool(self.linked_student_ids),
            assigned_to=self.assigned_to, alert_group_ids=self.alert_group_ids,
            agency_ids=self.agency_ids,
        )


def check_recipients(*, student_id: str = "", incident_id: str = "", category_ids=(),
                     account_ids=(), alert_group_ids=(), incident_recipients=False) -> list:
    """Who would be alerted, each with whether they could normally view it (empty when
    nobody is chosen or records cannot say)."""
    if not (account_ids or alert_group_ids or incident_recipients):
        return []
    reply = tolerant("records", "CheckAlertRecipients", records_pb2.CheckAlertRecipientsRequest(
        student_id=student_id, incident_id=incident_id, category_ids=list(category_ids),
        account_ids=list(account_ids), alert_group_ids=list(alert_group_ids),
        incident_recipients=incident_recipients), records_pb2.CheckAlertRecipientsResponse())
    return list(reply.recipients)


def _render_form(form: IncidentForm, *, errors: list[str], status: int = 200,
                 found: list | None = None, recipients: list | None = None):
    claims = current_claims()
    student = tolerant("records", "GetStudent",
                       records_pb2.GetStudentRequest(student_id=form.student_id), None)
    addable = [c for c in categories() if c.enabled and c.can_add]
    everyone = staff()
    colleagues = [s for s in everyone if s.account_id != claims.account_id]
    key_holders = [s for s in everyone if s.key_holder]
    linked = students_by_id(form.linked_student_ids)
    return render_template(
        "incident_form.html", form=form, student=student, tree=category_tree(addable),
        staff=colleagues, key_holders=key_holders, statuses=STATUSES, errors=errors,
        alert_groups=alert_groups(), agencies=[a for a in agencies() if a.enabled],
        linked=linked, found=found, recipients=recipients,
    ), status


@bp.route("/incidents/new", methods=["GET", "POST"])
@login_required
def new():
    student_id = (request.form.get("student_id") or request.args.get("student") or "").strip()
    if not student_id:
        query = request.args.get("q", "").strip()[:MAX_QUERY]
        return render_template("incident_pick_student.html", q=query,
                               students=search_students(query), searched=bool(query))
    if request.method == "GET":
        return _render_form(IncidentForm.blank(student_id), errors=[])
    form = IncidentForm.from_request(student_id)
    intent = request.form.get("intent", "")
    if intent == "find_linked":
        exclude = (student_id, *form.linked_student_ids)
        return _render_form(form, errors=[], found=find_students(form.link_query,
                                                                 exclude=exclude))
    if intent == "check_alerts":
        return _render_form(form, errors=[], recipients=check_recipients(
            student_id=student_id, category_ids=form.category_ids,
            account_ids=form.alert_account_ids, alert_group_ids=form.alert_group_ids))
    problems = form.problems()
    if problems:
        return _render_form(form, errors=problems, status=422)
    try:
        incident = call("records", "CreateIncident", form.to_request())
    except grpc.RpcError as exc:
        mapped = map_rpc_error(exc)
        if mapped.http_status == 401:
            raise
        return _render_form(form, errors=[mapped.message], status=mapped.http_status)
    if incident.alert_warnings:
        flash("Alerted, but could not normally view this incident: "
              + ", ".join(warning_names(incident.alert_warnings)) + ".", "warning")
    if current_claims().full_access:
        return redirect(url_for("students.chronology", student_id=incident.student_id or
                                student_id, highlight=incident.id,
                                _anchor=f"incident-{incident.id}"))
    flash("Incident added", "success")
    return redirect(url_for("dashboard.index"))


@bp.get("/incidents/alert-check")
@login_required
def alert_check():
    """JSON for the form's script: who would be alerted and who could not normally view it."""
    student_id = request.args.get("student", "").strip()
    incident_id = request.args.get("incident", "").strip()
    if not (valid_id(student_id) or valid_id(incident_id)):
        return jsonify(recipients=[])
    found = check_recipients(
        student_id=student_id if valid_id(student_id) else "",
        incident_id=incident_id if valid_id(incident_id) else "",
        category_ids=arg_ids("category_ids"), account_ids=arg_ids("account_ids"),
        alert_group_ids=arg_ids("alert_group_ids"),
        incident_recipients=request.args.get("incident_recipients") == "1")
    return jsonify(recipients=[{"account_id": r.account_id, "name": r.name,
                                "can_view": r.can_view, "active": r.active} for r in found])


@bp.get("/incidents/<incident_id>")
@login_required
def show(incident_id: str):
    incident = call("records", "GetIncident",
                    records_pb2.GetIncidentRequest(incident_id=incident_id))
    if current_claims().full_access:
        return redirect(url_for("students.chronology", student_id=incident.student_id,
                                highlight=incident.id, _anchor=f"incident-{incident.id}"))
    alerts = call("records", "ListAlerts", records_pb2.ListAlertsRequest()).alerts
    mine = [a for a in alerts if a.incident_id == incident.id]
    return render_template("incident.html", incident=incident, alerts=mine,
                           highlight=request.args.get("highlight", ""))


@bp.post("/alerts/<alert_id>/read")
@login_required
def mark_read(alert_id: str):
    call("records", "MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id=alert_id))
    flash("Alert marked as read.", "success")
    target = safe_next(request.form.get("next"), default="") or referrer_path()
    return redirect(target)
