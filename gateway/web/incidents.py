"""Adding an incident, viewing one, marking an alert as read."""

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
    redirect,
    render_template,
    request,
    url_for,
)

from gateway.backends import call
from gateway.errors import grpc_code, map_rpc_error
from gateway.present import category_tree, local_to_utc, timestamp
from gateway.web.session import current_claims, login_required, referrer_path, safe_next
from gateway.web.students import MAX_QUERY, search_students
from haven.identity.v1 import identity_pb2
from haven.records.v1 import records_pb2

bp = Blueprint("incidents", __name__)

STATUSES = (("active", "Active"), ("closed", "Closed"))
STAFF_LIMIT = 500
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


@dataclass
class IncidentForm:
    """What the user typed, kept across a failed submit."""

    student_id: str = ""
    text: str = ""
    category_ids: list[str] = field(default_factory=list)
    occurred_date: str = ""
    occurred_time: str = ""
    status: str = "active"
    alert_account_ids: list[str] = field(default_factory=list)
    request_id: str = ""

    @classmethod
    def blank(cls, student_id: str) -> IncidentForm:
        now = datetime.now(current_app.config["HAVEN_CONFIG"].zone)
        return cls(student_id=student_id, occurred_date=now.strftime("%Y-%m-%d"),
                   occurred_time=now.strftime("%H:%M"), request_id=str(uuid.uuid4()))

    @classmethod
    def from_request(cls, student_id: str) -> IncidentForm:
        f = request.form
        request_id = f.get("request_id", "").strip()
        return cls(
            student_id=student_id,
            text=f.get("text", ""),
            category_ids=[c for c in f.getlist("category_ids") if c],
            occurred_date=f.get("occurred_date", "").strip(),
            occurred_time=f.get("occurred_time", "").strip(),
            status=f.get("status", "active").strip() or "active",
            alert_account_ids=[a for a in f.getlist("alert_account_ids") if a],
            request_id=request_id if _UUID.match(request_id) else str(uuid.uuid4()),
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
        )


def _tolerant(service: str, method: str, req, default):
    """For filling in a form: a refusal or a missing item leaves that part empty."""
    try:
        return call(service, method, req)
    except grpc.RpcError as exc:
        if grpc_code(exc) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                              grpc.StatusCode.INVALID_ARGUMENT):
            return default
        raise


def _render_form(form: IncidentForm, *, errors: list[str], status: int = 200):
    claims = current_claims()
    student = _tolerant("records", "GetStudent",
                        records_pb2.GetStudentRequest(student_id=form.student_id), None)
    categories = _tolerant("records", "ListCategories", records_pb2.ListCategoriesRequest(),
                           records_pb2.ListCategoriesResponse()).categories
    addable = [c for c in categories if c.enabled and c.can_add]
    staff = _tolerant("identity", "ListStaff", identity_pb2.ListStaffRequest(limit=STAFF_LIMIT),
                      identity_pb2.ListStaffResponse()).staff
    staff = [s for s in staff if s.account_id != claims.account_id]
    return render_template(
        "incident_form.html", form=form, student=student, tree=category_tree(addable),
        staff=staff, statuses=STATUSES, errors=errors,
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
    if current_claims().full_access:
        return redirect(url_for("students.chronology", student_id=incident.student_id or
                                student_id, highlight=incident.id,
                                _anchor=f"incident-{incident.id}"))
    flash("Incident added", "success")
    return redirect(url_for("dashboard.index"))


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
    return render_template("incident.html", incident=incident, alerts=mine)


@bp.post("/alerts/<alert_id>/read")
@login_required
def mark_read(alert_id: str):
    call("records", "MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id=alert_id))
    flash("Alert marked as read.", "success")
    target = safe_next(request.form.get("next"), default="") or referrer_path()
    return redirect(target)
