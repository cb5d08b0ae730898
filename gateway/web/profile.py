"""A student's profile tabs beside the Incidents tab: Overview (with its charts), "Edit
information", Contact Details (+ add contact), Attendance (the statistics and a calendar of
marks), Audit Report, Monitoring History (spans, a timeline, CSV); and "Unlink from MIS"."""

from __future__ import annotations

from datetime import date

import grpc
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from gateway.backends import call
from gateway.present_records import (
    ATTENDANCE_ROWS,
    MEANINGS,
    add_months,
    attendance_calendar,
    audit_label,
    duration_text,
    monitoring_timeline,
    month_bars,
    pie_chart,
)
from gateway.web.admin import is_admin
from gateway.web.records_common import (
    agencies,
    attempt,
    checked,
    find_students,
    form_ids,
    form_text,
    parse_iso_date,
    staff,
    today,
    tolerant,
    valid_id,
    whole_number,
)
from gateway.web.session import load_claims, login_required
from gateway.web.students import monitorable_categories
from haven.records.v1 import records_pb2

bp = Blueprint("profile", __name__)

TIMESCALES = ((3, "Past 3 months"), (6, "Past 6 months"), (12, "Past 12 months"),
              (24, "Past 2 years"), (60, "Past 5 years"))
MAX_KEYWORDS = 30
AUDIT_LIMIT = 500


def _student(student_id: str) -> records_pb2.Student:
    return call("records", "GetStudent", records_pb2.GetStudentRequest(student_id=student_id))


def _period(default_months: int = 6) -> tuple[date, date, int]:
    """The chosen period: ?months=N (a timescale) or ?from=&to= (ISO dates)."""
    end = parse_iso_date(request.args.get("to", "")) or today()
    start = parse_iso_date(request.args.get("from", ""))
    try:
        months = int(request.args.get("months", "") or 0)
    except ValueError:
        months = 0
    if months not in dict(TIMESCALES):
        months = 0
    if start is None or start > end:
        months = months or default_months
        start = add_months(end.replace(day=1), -(months - 1))
    return start, end, months


# ---- Overview -----------------------------------------------------------------------------

@bp.get("/students/<student_id>/overview")
@login_required
def overview(student_id: str):
    start, end, months = _period(6)
    p = call("records", "GetStudentProfile", records_pb2.GetStudentProfileRequest(
        student_id=student_id, timeline_from=start.isoformat(), timeline_to=end.isoformat()))
    return render_template(
        "records/overview.html", p=p, student=p.student, tab="overview",
        pie=pie_chart(p.incidents_by_category), bars=month_bars(p.incidents_by_month),
        timescales=TIMESCALES, months=months, start=start, end=end)


# ---- Edit information ---------------------------------------------------------------------

def _keywords(raw: str) -> list[str]:
    words = []
    for part in raw.replace(";", ",").replace("\n", ",").split(","):
        word = part.strip()[:60]
        if word and word.lower() not in (w.lower() for w in words):
            words.append(word)
    return words[:MAX_KEYWORDS]


def _links_from_form() -> list[records_pb2.LinkInput]:
    """The manual links as they should be: the kept ones and the newly ticked ones."""
    removed = set(request.form.getlist("remove_link"))
    ids = request.form.getlist("link_student_id")[:100]
    labels = request.form.getlist("link_label")[:100]
    links = [records_pb2.LinkInput(student_id=sid, label=label.strip()[:40])
             for sid, label in zip(ids, labels, strict=False)
             if valid_id(sid) and sid not in removed]
    new_label = form_text("new_link_label", 40)
    for sid in form_ids("new_link_ids", 20):
        if all(link.student_id != sid for link in links):
            links.append(records_pb2.LinkInput(student_id=sid, label=new_label or "linked"))
    return links


@bp.route("/students/<student_id>/edit", methods=["GET", "POST"])
@login_required
def edit(student_id: str):
    p = call("records", "GetStudentProfile",
             records_pb2.GetStudentProfileRequest(student_id=student_id))
    manual_links = [link for link in p.links if link.source == "manual"]
    form = {
        "summary": p.summary, "keywords": ", ".join(p.keywords),
        "agency_ids": [a.id for a in p.agencies if a.manual],
        "alert_account_ids": [a.account_id for a in p.alert_staff],
        "monitored": [c.id for c in p.monitored_categories],
        "links": [(link.student_id, link.label, link.name, link.tutor_group)
                  for link in manual_links],
        "new_link_label": "", "link_query": "",
        "group_ids": [g.id for g in p.student.groups],
    }
    # An admin sets the groups of a student the MIS does not manage (added by hand, or
    # unlinked); the MIS's own students get theirs from each import.
    edit_groups = is_admin(load_claims()) and not p.student.mis_linked
    found = None
    if request.method == "POST":
        links = _links_from_form()
        names = {link.student_id: (link.name, link.tutor_group) for link in p.links}
        form = {
            "summary": form_text("summary", 500), "keywords": form_text("keywords", 2000),
            "agency_ids": form_ids("agency_ids"),
            "alert_account_ids": form_ids("alert_account_ids"),
            "monitored": form_ids("monitored_category_ids"),
            "links": [(link.student_id, link.label, *names.get(link.student_id, ("", "")))
                      for link in links],
            "new_link_label": form_text("new_link_label", 40),
            "link_query": form_text("link_query", 100),
            "group_ids": form_ids("group_ids") if edit_groups else form["group_ids"],
        }
        if request.form.get("intent") == "find_link":
            exclude = (student_id, *(link.student_id for link in p.links))
            found = find_students(form["link_query"], exclude=exclude)
        else:
            parts = ["summary", "keywords", "agencies", "alert_staff", "links",
                     "monitored_categories"] + (["groups"] if edit_groups else [])
            req = records_pb2.UpdateStudentInformationRequest(
                student_id=student_id, update=parts,
                summary=form["summary"], keywords=_keywords(form["keywords"]),
                agency_ids=form["agency_ids"], alert_account_ids=form["alert_account_ids"],
                links=links, monitored_category_ids=form["monitored"],
                group_ids=form["group_ids"] if edit_groups else [])
            if attempt(lambda: call("records", "UpdateStudentInformation", req),
                       "The student's information is updated.") is not None:
                return redirect(url_for("profile.overview", student_id=student_id))
    link_names = {}
    missing = [sid for sid, _label, name, _tg in form["links"] if not name]
    for sid in missing[:20]:
        try:
            s = _student(sid)
            link_names[sid] = (f"{s.preferred_name or s.first_name} {s.last_name}",
                               s.tutor_group)
        except grpc.RpcError:  # no longer visible to the caller: shown without a name
            link_names[sid] = ("", "")
    from_incidents = [a for a in p.agencies if not a.manual]
    return render_template(
        "records/edit_information.html", p=p, student=p.student, tab="overview", form=form,
        found=found, staff=staff(), agencies=[a for a in agencies(include_disabled=True)
                                              if a.enabled or a.id in form["agency_ids"]],
        categories=monitorable_categories(), mis_links=[lk for lk in p.links
                                                        if lk.source != "manual"],
        link_names=link_names, from_incidents=from_incidents,
        groups=_school_groups() if edit_groups else None)


def _school_groups() -> list:
    reply = tolerant("records", "ListGroups", records_pb2.ListGroupsRequest(),
                     records_pb2.ListGroupsResponse())
    return sorted(reply.groups, key=lambda g: (g.kind != "year", g.name))


@bp.post("/students/<student_id>/unlink")
@login_required
def unlink(student_id: str):
    if not checked("confirm"):
        flash("Tick the box to confirm first.", "warning")
    else:
        attempt(lambda: call("records", "UnlinkStudentFromMis",
                             records_pb2.UnlinkStudentFromMisRequest(student_id=student_id)),
                "The student is unlinked from the MIS: imports will no longer change them.")
    return redirect(url_for("profile.edit", student_id=student_id))


# ---- Contact Details ----------------------------------------------------------------------

@bp.get("/students/<student_id>/contacts")
@login_required
def contacts(student_id: str):
    student = _student(student_id)
    found = call("records", "ListContacts",
                 records_pb2.ListContactsRequest(student_id=student_id)).contacts
    return render_template("records/contacts.html", student=student, tab="contacts",
                           contacts=sorted(found, key=lambda c: (c.priority or 99,
                                                                 c.last_name)))


CONTACT_FIELDS = ("title", "first_name", "last_name", "relationship", "email", "notes",
                  "priority", "phones", "line1", "line2", "town", "county", "postcode")


@bp.route("/students/<student_id>/contacts/new", methods=["GET", "POST"])
@login_required
def new_contact(student_id: str):
    student = _student(student_id)
    form = dict.fromkeys(CONTACT_FIELDS, "")
    form["parental_responsibility"] = False
    errors = []
    if request.method == "POST":
        form = {k: form_text(k, 2000 if k == "notes" else 200) for k in CONTACT_FIELDS}
        form["parental_responsibility"] = checked("parental_responsibility")
        if not (form["first_name"] or form["last_name"]):
            errors.append("Give the contact a name.")
        priority = whole_number(form["priority"])
        if not errors:
            contact = records_pb2.Contact(
                title=form["title"], first_name=form["first_name"],
                last_name=form["last_name"], relationship=form["relationship"],
                parental_responsibility=form["parental_responsibility"], priority=priority,
                phones=[p.strip() for p in form["phones"].replace(",", "\n").splitlines()
                        if p.strip()][:5],
                email=form["email"], notes=form["notes"],
                address=records_pb2.Address(line1=form["line1"], line2=form["line2"],
                                            town=form["town"], county=form["county"],
                                            postcode=form["postcode"]))
            if attempt(lambda: call("records", "AddContact", records_pb2.AddContactRequest(
                    student_id=student_id, contact=contact)), "The contact is added.") is not None:
                return redirect(url_for("profile.contacts", student_id=student_id))
    return render_template("records/contact_form.html", student=student, tab="contacts",
                           form=form, errors=errors), (422 if errors else 200)


# ---- Attendance ---------------------------------------------------------------------------

@bp.get("/students/<student_id>/attendance")
@login_required
def attendance(student_id: str):
    student = _student(student_id)
    start = parse_iso_date(request.args.get("from", ""))
    end = parse_iso_date(request.args.get("to", ""))
    a = call("records", "GetAttendance", records_pb2.GetAttendanceRequest(
        student_id=student_id, from_date=start.isoformat() if start else "",
        to_date=end.isoformat() if end else ""))
    return render_template("records/attendance.html", student=student, tab="attendance", a=a,
                           rows=ATTENDANCE_ROWS, months=attendance_calendar(a.marks),
                           meanings=MEANINGS)


# ---- Audit Report -------------------------------------------------------------------------

@bp.get("/students/<student_id>/audit")
@login_required
def audit(student_id: str):
    student = _student(student_id)
    start = parse_iso_date(request.args.get("from", ""))
    end = parse_iso_date(request.args.get("to", ""))
    entries = call("records", "ListAuditEntries", records_pb2.ListAuditEntriesRequest(
        student_id=student_id, from_date=start.isoformat() if start else "",
        to_date=end.isoformat() if end else "", limit=AUDIT_LIMIT)).entries
    return render_template("records/audit.html", student=student, tab="audit", entries=entries,
                           label=audit_label, start=start, end=end, limit=AUDIT_LIMIT)


# ---- Monitoring History -------------------------------------------------------------------

@bp.get("/students/<student_id>/monitoring")
@login_required
def monitoring(student_id: str):
    student = _student(student_id)
    history = call("records", "GetMonitoringHistory",
                   records_pb2.GetMonitoringHistoryRequest(student_id=student_id))
    start, end, months = _period(12)
    if request.args.get("months") == "all" and history.spans:
        first = min(s.started_at.ToDatetime().date() for s in history.spans)
        start, months = first.replace(day=1), 0
    chart = monitoring_timeline(history.spans, start=start, end=end)
    current = sorted({s.category.name for s in history.spans if not s.HasField("ended_at")})
    return render_template(
        "records/monitoring.html", student=student, tab="monitoring", spans=history.spans,
        chart=chart, duration=duration_text, timescales=TIMESCALES, months=months,
        start=start, end=end, current=current,
        all_selected=request.args.get("months") == "all")


@bp.get("/students/<student_id>/monitoring.csv")
@login_required
def monitoring_csv(student_id: str):
    history = call("records", "GetMonitoringHistory",
                   records_pb2.GetMonitoringHistoryRequest(student_id=student_id))
    name = f"monitoring-history-{today().isoformat()}.csv"
    return Response(history.csv, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})
