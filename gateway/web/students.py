"""Student search and a student's chronology (incidents, newest first)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from gateway.backends import call
from gateway.present import to_datetime
from gateway.web.session import login_required
from haven.records.v1 import records_pb2

bp = Blueprint("students", __name__)

SEARCH_LIMIT = 50
CHRONOLOGY_LIMIT = 500
MAX_QUERY = 100


def search_students(query: str, include_archived: bool = False, limit: int = SEARCH_LIMIT):
    if not query:
        return []
    reply = call("records", "SearchStudents", records_pb2.SearchStudentsRequest(
        query=query, include_archived=include_archived, limit=limit))
    return list(reply.students)


def truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "on", "true", "yes"}


@bp.get("/students")
@login_required
def search():
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    archived = truthy(request.args.get("archived"))
    students = search_students(query, archived)
    return render_template("students.html", q=query, archived=archived, students=students,
                           searched=bool(query))


def _newest_first(incidents):
    def key(i):
        occurred = to_datetime(i.occurred_at)
        created = to_datetime(i.created_at)
        return (occurred.timestamp() if occurred else 0, created.timestamp() if created else 0)

    return sorted(incidents, key=key, reverse=True)


def unread_alerts_by_incident() -> dict[str, list[str]]:
    alerts = call("records", "ListAlerts", records_pb2.ListAlertsRequest()).alerts
    by_incident: dict[str, list[str]] = {}
    for a in alerts:
        by_incident.setdefault(a.incident_id, []).append(a.id)
    return by_incident


@bp.get("/students/<student_id>")
@login_required
def chronology(student_id: str):
    highlight = request.args.get("highlight", "")
    reply = call("records", "GetChronology", records_pb2.GetChronologyRequest(
        student_id=student_id, limit=CHRONOLOGY_LIMIT))
    return render_template(
        "student.html", student=reply.student, incidents=_newest_first(reply.incidents),
        highlight=highlight, alerts=unread_alerts_by_incident(),
    )
