"""What the records pages and API show, computed from service replies: chart geometry (drawn
as SVG by the templates, no script), the attendance calendar, durations, and the JSON shapes
of the records API (documented in gateway/openapi_records.py). No I/O here."""

from __future__ import annotations

import calendar
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.present import category_json, colour, iso, student_json, to_datetime

MONTH_LABEL = "%b %y"


# ---- durations and months ----

def duration_text(seconds: int) -> str:
    """'3 hours', '2 days', '5 months', '1 year 2 months' (rounded down)."""
    seconds = max(0, int(seconds))
    days = seconds // 86400
    if days < 1:
        hours = seconds // 3600
        if hours < 1:
            minutes = max(1, seconds // 60) if seconds else 0
            return f"{minutes} minute{'s' if minutes != 1 else ''}"
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if days < 62:
        return f"{days} day{'s' if days != 1 else ''}"
    months = int(days / 30.44)
    years, months = divmod(months, 12)
    parts = []
    if years:
        parts.append(f"{years} year{'s' if years != 1 else ''}")
    if months:
        parts.append(f"{months} month{'s' if months != 1 else ''}")
    return " ".join(parts) or "2 months"


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_label(month: str) -> str:
    """'2026-11' -> 'Nov 26'."""
    try:
        year, mon = (int(p) for p in month.split("-")[:2])
        return date(year, mon, 1).strftime(MONTH_LABEL)
    except (ValueError, TypeError):
        return month


# ---- the pie chart of incidents by category ----

def pie_chart(counts: Sequence[Any], *, radius: int = 90) -> dict[str, Any]:
    """Slices of a pie (SVG paths) for CategoryCount-like items (name, colour, count)."""
    items = [c for c in counts if int(c.count) > 0]
    total = sum(int(c.count) for c in items)
    size = radius * 2 + 4
    centre = radius + 2
    slices = []
    angle = -math.pi / 2  # start at twelve o'clock
    for c in items:
        share = int(c.count) / total
        sweep = share * 2 * math.pi
        x1, y1 = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        end = angle + sweep
        x2, y2 = centre + radius * math.cos(end), centre + radius * math.sin(end)
        large = 1 if sweep > math.pi else 0
        path = (f"M {centre} {centre} L {x1:.2f} {y1:.2f} "
                f"A {radius} {radius} 0 {large} 1 {x2:.2f} {y2:.2f} Z")
        slices.append({"name": c.name, "count": int(c.count), "colour": colour(c.colour),
                       "percent": round(100 * share), "path": path,
                       "whole": len(items) == 1})
        angle = end
    return {"size": size, "centre": centre, "radius": radius, "slices": slices,
            "total": total}


# ---- the timeline: incidents per month ----

def month_bars(months: Sequence[Any], *, height: int = 140, bar: int = 32,
               gap: int = 16) -> dict[str, Any]:
    """Vertical bars for MonthCount-like items (month 'YYYY-MM', count)."""
    top = max((int(m.count) for m in months), default=0)
    plot = height - 34  # room for the labels under the bars and the counts above
    bars = []
    for i, m in enumerate(months):
        count = int(m.count)
        length = 0 if top == 0 else max(2 if count else 0, round(plot * count / top))
        x = 8 + i * (bar + gap)
        bars.append({"label": month_label(m.month), "count": count, "x": x,
                     "y": height - 20 - length, "length": length,
                     "mid": x + bar / 2, "count_y": height - 24 - length})
    width = max(8 + len(months) * (bar + gap), 120)
    return {"width": width, "height": height, "bar": bar, "bars": bars,
            "baseline": height - 20, "label_y": height - 5, "top": top}


# ---- the monitoring timeline ----

@dataclass
class TimelineRow:
    name: str
    colour: str
    y: int
    bars: list[dict[str, Any]] = field(default_factory=list)


def monitoring_timeline(spans: Iterable[Any], *, start: date, end: date, width: int = 760,
                        label_width: int = 170, row: int = 24, gap: int = 8,
                        now: datetime | None = None) -> dict[str, Any]:
    """A Gantt chart of monitoring spans (MonitoringSpan-like) between two dates: one row per
    category, a bar per span clipped to the window, a line per month."""
    now = now or datetime.now(UTC)
    window_start = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    window_end = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    span_seconds = max((window_end - window_start).total_seconds(), 1)
    plot = width - label_width - 10

    def x_of(at: datetime) -> float:
        clipped = min(max(at, window_start), window_end)
        return label_width + plot * (clipped - window_start).total_seconds() / span_seconds

    rows: OrderedDict[str, TimelineRow] = OrderedDict()
    for s in spans:
        started = to_datetime(s.started_at)
        if started is None:
            continue
        ended = to_datetime(s.ended_at) or now
        cid = s.category.id
        if cid not in rows:
            name = s.category.name
            if s.category.parent_name:
                name = f"{s.category.parent_name}: {name}"
            rows[cid] = TimelineRow(name=name, colour=colour(s.category.colour),
                                    y=len(rows) * (row + gap) + 22)
        if ended < window_start or started > window_end:
            continue
        x1, x2 = x_of(started), x_of(ended)
        rows[cid].bars.append({"x": round(x1, 1), "length": round(max(x2 - x1, 2), 1),
                               "open": not s.HasField("ended_at")})
    months = []
    cursor = month_start(start)
    while cursor <= end:
        at = datetime.combine(max(cursor, start), datetime.min.time(), tzinfo=UTC)
        months.append({"label": cursor.strftime(MONTH_LABEL), "x": round(x_of(at), 1)})
        cursor = add_months(cursor, 1)
    height = max(len(rows), 1) * (row + gap) + 26
    return {"width": width, "height": height, "row": row, "label_width": label_width,
            "rows": list(rows.values()), "months": months, "plot_end": label_width + plot}


# ---- the attendance calendar ----

MEANINGS = (
    ("present", "Present"), ("late", "Late"), ("approved", "Approved educational activity"),
    ("authorised", "Authorised absence"), ("unauthorised", "Unauthorised absence"),
    ("not_counted", "Not counted"), ("unknown", "No reason yet"),
)


def attendance_calendar(marks: Iterable[Any]) -> list[dict[str, Any]]:
    """Months (oldest first), each a list of Monday-first weeks of days; a day holds its AM
    and PM marks. Only months with marks are shown."""
    by_day: dict[date, dict[str, Any]] = {}
    for m in marks:
        try:
            day = date.fromisoformat(m.date)
        except ValueError:
            continue
        by_day.setdefault(day, {})[m.session.upper() or "AM"] = m
    months: OrderedDict[tuple[int, int], None] = OrderedDict()
    for day in sorted(by_day):
        months[(day.year, day.month)] = None
    out = []
    cal = calendar.Calendar(firstweekday=0)
    for year, month in months:
        weeks = []
        for week in cal.monthdatescalendar(year, month):
            days = []
            for day in week:
                if day.month != month:
                    days.append(None)
                    continue
                marks_of = by_day.get(day, {})
                days.append({"day": day.day, "iso": day.isoformat(),
                             "am": marks_of.get("AM"), "pm": marks_of.get("PM")})
            weeks.append(days)
        out.append({"label": date(year, month, 1).strftime("%B %Y"), "weeks": weeks})
    return out


ATTENDANCE_ROWS = (
    ("overall", "Overall attendance"), ("present", "Present"),
    ("approved_educational_activity", "Approved educational activity"),
    ("authorised_absences", "Authorised absences"),
    ("unauthorised_absences", "Unauthorised absences"),
    ("possible", "Possible attendances"),
    ("lates_before_registers_closed", "Lates before registers closed"),
    ("lates_after_registers_closed", "Lates after registers closed"),
    ("unexplained_absences", "Unexplained absences"),
)


# ---- category names ----

def category_label(c, with_parent: bool) -> str:
    if with_parent and c.parent_name:
        return f"{c.parent_name}: {c.name}"
    return c.name


# ---- JSON shapes of the records API ----

def agency_json(a) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "enabled": a.enabled}


def category_full_json(c) -> dict[str, Any]:
    return {**category_json(c), "position": int(c.position),
            "parent_name": c.parent_name or None}


def action_json(a) -> dict[str, Any]:
    return {
        "id": a.id, "incident_id": a.incident_id, "student_id": a.student_id,
        "text": a.text,
        "categories": [category_json(c) for c in a.categories],
        "agencies": [agency_json(x) for x in a.agencies],
        "occurred_at": iso(a.occurred_at), "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at), "created_by": a.created_by,
        "created_by_name": a.created_by_name, "version": int(a.version or 1),
        "deleted": a.deleted, "deleted_reason": a.deleted_reason or None,
        "deleted_by_name": a.deleted_by_name or None, "deleted_at": iso(a.deleted_at),
        "merged_from_number": int(a.merged_from_number) or None,
        "alerted_account_ids": list(a.alerted_account_ids),
        "alert_warnings": list(a.alert_warnings),
    }


def incident_detail_json(i) -> dict[str, Any]:
    """An incident with everything the chronology shows (the foundation's shape, extended)."""
    from gateway.present import incident_json

    out = incident_json(i)
    out.update({
        "number": int(i.number) or None, "pinned": i.pinned, "deleted": i.deleted,
        "deleted_reason": i.deleted_reason or None, "deleted_by_name": i.deleted_by_name or None,
        "deleted_at": iso(i.deleted_at), "version": int(i.version or 1),
        "updated_at": iso(i.updated_at), "assigned_to": i.assigned_to or None,
        "assigned_to_name": i.assigned_to_name or None,
        "agencies": [agency_json(a) for a in i.agencies],
        "linked_students": [{"student_id": s.student_id, "name": s.name,
                             "tutor_group": s.tutor_group, "incident_id": s.incident_id or None}
                            for s in i.linked_students],
        "actions": [action_json(a) for a in i.actions],
        "action_count": int(i.action_count), "can_edit": i.can_edit,
        "alert_warnings": list(i.alert_warnings),
    })
    return out


def version_json(v) -> dict[str, Any]:
    return {
        "version": int(v.version), "change": v.change, "text": v.text,
        "occurred_at": iso(v.occurred_at), "status": v.status or None,
        "categories": [category_json(c) for c in v.categories],
        "agencies": [agency_json(a) for a in v.agencies],
        "assigned_to": v.assigned_to or None, "reason": v.reason or None,
        "changed_by": v.changed_by, "changed_by_name": v.changed_by_name,
        "changed_at": iso(v.changed_at),
    }


def address_json(a) -> dict[str, str]:
    return {k: getattr(a, k) for k in ("line1", "line2", "town", "county", "postcode")}


def student_detail_json(s) -> dict[str, Any]:
    out = student_json(s)
    out.update({
        "gender": s.gender or None, "upn_temporary": s.upn_temporary,
        "admission_number": s.admission_number or None, "middle_names": s.middle_names or None,
        "preferred_last_name": s.preferred_last_name or None,
        "ethnicity": s.ethnicity or None, "religion": s.religion or None,
        "first_language": s.first_language or None, "sen_status": s.sen_status or None,
        "pupil_premium": s.pupil_premium, "fsm": s.fsm, "eal": s.eal,
        "looked_after": s.looked_after, "admission_date": s.admission_date or None,
        "date_of_arrival": s.date_of_arrival or None, "leaving_date": s.leaving_date or None,
        "address": address_json(s.address),
        "medical_conditions": list(s.medical_conditions), "mis_linked": s.mis_linked,
        "groups": [{"id": g.id, "name": g.name, "kind": g.kind} for g in s.groups],
    })
    return out


def profile_json(p) -> dict[str, Any]:
    return {
        "student": student_detail_json(p.student), "summary": p.summary,
        "monitored_categories": [category_json(c) for c in p.monitored_categories],
        "agencies": [{**agency_json(a), "manual": a.manual} for a in p.agencies],
        "keywords": list(p.keywords),
        "links": [{"id": link.id or None, "student_id": link.student_id, "name": link.name,
                   "tutor_group": link.tutor_group, "label": link.label, "source": link.source}
                  for link in p.links],
        "alert_staff": [{"account_id": a.account_id, "name": a.name} for a in p.alert_staff],
        "incidents_by_category": [{"category_id": c.category_id, "name": c.name,
                                   "colour": colour(c.colour), "count": int(c.count)}
                                  for c in p.incidents_by_category],
        "incidents_by_month": [{"month": m.month, "count": int(m.count)}
                               for m in p.incidents_by_month],
        "incident_count": int(p.incident_count),
    }


def contact_json(c) -> dict[str, Any]:
    return {
        "id": c.id, "student_id": c.student_id, "title": c.title, "first_name": c.first_name,
        "last_name": c.last_name, "relationship": c.relationship,
        "parental_responsibility": c.parental_responsibility, "priority": int(c.priority),
        "phones": list(c.phones), "email": c.email, "address": address_json(c.address),
        "source": c.source, "notes": c.notes,
    }


def attendance_json(a) -> dict[str, Any]:
    out: dict[str, Any] = {"from_date": a.from_date, "to_date": a.to_date}
    for name, _label in ATTENDANCE_ROWS:
        line = getattr(a, name)
        out[name] = {"sessions": int(line.sessions), "percent": round(line.percent, 2)}
    out["marks"] = [{"date": m.date, "session": m.session, "code": m.code,
                     "meaning": m.meaning, "minutes_late": int(m.minutes_late)}
                    for m in a.marks]
    return out


def span_json(s) -> dict[str, Any]:
    return {
        "id": s.id, "category": category_full_json(s.category),
        "started_at": iso(s.started_at), "ended_at": iso(s.ended_at),
        "duration_seconds": int(s.duration_seconds), "source": s.source,
        "started_by": s.started_by, "ended_by": s.ended_by or None,
    }


def group_json(g) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "kind": g.kind, "mis_id": g.mis_id or None,
            "active": g.active, "is_new": g.is_new, "student_count": int(g.student_count),
            "access_account_ids": list(g.access_account_ids),
            "access_user_group_ids": list(g.access_user_group_ids)}


def permission_json(p) -> dict[str, Any]:
    return {"user_group_id": p.user_group_id, "user_group_name": p.user_group_name,
            "category_id": p.category_id, "view_students": p.view_students,
            "view_incidents": p.view_incidents, "add_incidents": p.add_incidents}


def audit_json(e) -> dict[str, Any]:
    return {"id": e.id, "account_id": e.account_id, "account_name": e.account_name,
            "student_id": e.student_id or None, "action": e.action, "detail": e.detail,
            "client_ip": e.client_ip, "at": iso(e.at)}


AUDIT_LABELS = {
    "student.viewed": "Viewed the student", "student.chronology.viewed": "Viewed the incidents",
    "incident.viewed": "Opened an incident", "incident.printed": "Printed an incident",
    "student.contacts.viewed": "Viewed contact details",
    "student.attendance.viewed": "Viewed attendance",
    "monitoring.history.viewed": "Viewed monitoring history",
    "record.history.viewed": "Viewed the history of an entry",
    "audit.viewed": "Viewed the audit report", "students.listed": "Listed students",
    "access.denied": "Refused", "request.rejected": "Rejected request",
}


def audit_label(action: str) -> str:
    return AUDIT_LABELS.get(action) or action.replace(".", " ").replace("_", " ").capitalize()
