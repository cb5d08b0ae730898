"""Monitoring: spans during which a student is monitored under a category.

A span starts automatically when an incident (or an action adding categories) is filed under a
category the student is not monitored for, by hand from "Edit information", or in bulk
("Update Categories" on students of a class or category list). Ending one closes the span:
every start and end stays as history (Monitoring History tab, with durations and CSV).
Callers only ever see or change monitoring in categories their group may see students for.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import Viewer, viewer
from services.records.categories import CategoryBook, CategoryView
from services.records.models import Category, Monitoring, Student
from services.records.ports import RecordsEvents
from services.records.students import visible_student
from shared.context import current_claims
from shared.db import new_id, utcnow
from shared.errors import InvalidArgument, PermissionDenied

OPERATIONS = ("add", "remove", "wipe_all")
MAX_BULK = 1000


def start_monitoring(
    session: Session, events: RecordsEvents, *, school_id: str, student_id: str,
    category_ids: Iterable[str], at: dt.datetime, by: str, source: str,
) -> list[Monitoring]:
    """Open a span per category the student is not monitored under yet."""
    ids = list(dict.fromkeys(category_ids))
    if not ids:
        return []
    already = set(session.scalars(select(Monitoring.category_id).where(
        Monitoring.school_id == school_id, Monitoring.student_id == student_id,
        Monitoring.category_id.in_(ids), Monitoring.ended_at.is_(None))))
    started = []
    for category_id in ids:
        if category_id in already:
            continue
        span = Monitoring(id=new_id(), school_id=school_id, student_id=student_id,
                          category_id=category_id, started_at=at, started_by=by, source=source)
        session.add(span)
        started.append(span)
    if started:
        session.flush()
        for span in started:
            events.monitoring_changed(session, span)
    return started


def end_monitoring(
    session: Session, events: RecordsEvents, *, school_id: str, student_id: str,
    category_ids: Iterable[str], at: dt.datetime, by: str,
) -> list[Monitoring]:
    ids = list(dict.fromkeys(category_ids))
    if not ids:
        return []
    spans = list(session.scalars(select(Monitoring).where(
        Monitoring.school_id == school_id, Monitoring.student_id == student_id,
        Monitoring.category_id.in_(ids), Monitoring.ended_at.is_(None))))
    for span in spans:
        span.ended_at = max(at, span.started_at)
        span.ended_by = by
    if spans:
        session.flush()
        for span in spans:
            events.monitoring_changed(session, span)
    return spans


def open_category_ids(session: Session, school_id: str, student_id: str) -> list[str]:
    return list(session.scalars(select(Monitoring.category_id).where(
        Monitoring.school_id == school_id, Monitoring.student_id == student_id,
        Monitoring.ended_at.is_(None)).order_by(Monitoring.started_at, Monitoring.id)))


def set_monitored(
    session: Session, events: RecordsEvents, v: Viewer, student: Student,
    category_ids: Iterable[str],
) -> tuple[int, int]:
    """"Edit information" ticks: the student is monitored under exactly these categories,
    among those the caller may see students for (others are left alone)."""
    wanted = list(dict.fromkeys(c.strip() for c in category_ids if c and c.strip()))
    known = set(session.scalars(select(Category.id).where(
        Category.school_id == v.school_id, Category.id.in_(wanted)))) if wanted else set()
    if any(c not in known for c in wanted):
        raise InvalidArgument("Unknown category.", field="monitored_category_ids")
    hidden = [c for c in wanted if c not in v.rights.view_students]
    if hidden:
        raise audit.refuse(PermissionDenied(
            "Your user group may not monitor students under that category."),
            student_id=student.id)
    current = set(open_category_ids(session, v.school_id, student.id)) & v.rights.view_students
    now = utcnow()
    started = start_monitoring(session, events, school_id=v.school_id, student_id=student.id,
                               category_ids=[c for c in wanted if c not in current], at=now,
                               by=v.account_id, source="manual")
    ended = end_monitoring(session, events, school_id=v.school_id, student_id=student.id,
                           category_ids=sorted(current - set(wanted)), at=now, by=v.account_id)
    return len(started), len(ended)


def _start_date(value: str) -> dt.datetime:
    value = (value or "").strip()
    now = utcnow()
    if not value:
        return now
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument("Dates look like 2026-09-01.", field="start_date") from None
    if day > now.date():
        raise InvalidArgument("Monitoring cannot start in the future.", field="start_date")
    if day.year < 1990:
        raise InvalidArgument("That start date is too far in the past.", field="start_date")
    return dt.datetime.combine(day, dt.time())


def update_monitoring(
    session: Session, events: RecordsEvents, *, student_ids: Iterable[str], category_id: str = "",
    operation: str, start_date: str = "",
) -> tuple[int, int]:
    """Bulk "Update Categories": add or remove one category for the selected students (from a
    start date), or wipe every category the caller may see students for. Returns (started,
    ended)."""
    claims = current_claims()
    if not (claims.full_access and claims.has("view_student_list")):
        raise audit.refuse(PermissionDenied("Updating categories in bulk needs elevated access "
                                            "and the student list permission."))
    operation = (operation or "").strip().lower()
    if operation not in OPERATIONS:
        raise InvalidArgument("The operation is add, remove or wipe_all.", field="operation")
    ids = list(dict.fromkeys(s.strip() for s in student_ids if s and s.strip()))
    if not ids:
        raise InvalidArgument("Select at least one student.", field="student_ids")
    if len(ids) > MAX_BULK:
        raise InvalidArgument(f"At most {MAX_BULK} students at once.", field="student_ids")
    v = viewer(session, claims)
    category_id = (category_id or "").strip()
    if operation != "wipe_all":
        category = session.get(Category, category_id) if category_id else None
        if category is None or category.school_id != claims.school_id:
            raise InvalidArgument("Choose a category.", field="category_id")
        if category.id not in v.rights.view_students:
            raise audit.refuse(PermissionDenied(
                f"Your user group may not monitor students under {category.name}."))
        if operation == "add" and not category.enabled:
            raise InvalidArgument(f"{category.name} is disabled.", field="category_id")
    at = _start_date(start_date) if operation == "add" else utcnow()
    students = [visible_student(session, v, sid) for sid in ids]
    started = ended = 0
    for student in students:
        if operation == "add":
            started += len(start_monitoring(
                session, events, school_id=v.school_id, student_id=student.id,
                category_ids=[category_id], at=at, by=v.account_id, source="bulk"))
        else:
            cats = [category_id] if operation == "remove" else sorted(v.rights.view_students)
            ended += len(end_monitoring(session, events, school_id=v.school_id,
                                        student_id=student.id, category_ids=cats, at=at,
                                        by=v.account_id))
        audit.record(session, f"monitoring.bulk.{operation}", student_id=student.id,
                     detail=f"category {category_id}" if category_id else "")
    return started, ended


@dataclass(frozen=True)
class Span:
    span: Monitoring
    category: CategoryView
    duration: dt.timedelta


@dataclass(frozen=True)
class History:
    spans: list[Span]
    csv: str


def monitoring_history(session: Session, student_id: str) -> History:
    """Every span of the student's monitoring the caller may see, newest start first."""
    claims = current_claims()
    if not (claims.full_access and claims.has("view_student_details")):
        raise audit.refuse(PermissionDenied("Monitoring history needs elevated access."),
                           detail=f"student {student_id[:40]}")
    v = viewer(session, claims)
    student = visible_student(session, v, student_id)
    book = CategoryBook(session, claims.school_id, v.rights)
    now = utcnow()
    rows = session.scalars(select(Monitoring).where(
        Monitoring.school_id == claims.school_id, Monitoring.student_id == student.id,
    ).order_by(Monitoring.started_at.desc(), Monitoring.id))
    spans = []
    for row in rows:
        if row.category_id not in v.rights.view_students:
            continue
        view = book.view(row.category_id)
        if view is None:  # pragma: no cover - categories are never deleted while in use
            continue
        spans.append(Span(span=row, category=view,
                          duration=(row.ended_at or now) - row.started_at))
    audit.record(session, "monitoring.history.viewed", student_id=student.id)
    return History(spans=spans, csv=history_csv(spans))


def history_csv(spans: list[Span]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Category", "Parent category", "Started", "Ended", "Duration (days)"])
    for s in spans:
        writer.writerow([
            s.category.category.name, s.category.parent_name,
            s.span.started_at.strftime("%Y-%m-%d %H:%M"),
            s.span.ended_at.strftime("%Y-%m-%d %H:%M") if s.span.ended_at else "",
            f"{s.duration.total_seconds() / 86400:.1f}",
        ])
    return out.getvalue()
