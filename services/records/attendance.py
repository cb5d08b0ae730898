"""A student's attendance (section 8.5): the statistics table and the marks for a calendar.

Marks are the MIS's session marks (DfE codes). Present: / \\ L. Approved educational activity
(counts as attendance): B J K P V W. Authorised absence: C C1 C2 E H I J1 M Q R S T.
Unauthorised absence: G N O U. Not counted as possible sessions: D (dual registered, at the
other school) X Y Y1-Y7 Z #. "L" is late before the register closed (present), "U" late after
it closed (unauthorised), "N" a reason not yet given (unexplained). An empty code (a session
the import did not change) is skipped. Percentages are of possible sessions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records import audit
from services.records.access import require_full_access, viewer
from services.records.models import AttendanceMark
from services.records.settings import academic_year, parse_date, settings_of
from services.records.students import visible_student
from shared.context import current_claims
from shared.db import utcnow
from shared.errors import InvalidArgument, PermissionDenied

PRESENT = {"/", "\\", "L"}
APPROVED = {"B", "J", "K", "P", "V", "W"}
AUTHORISED = {"C", "C1", "C2", "E", "H", "I", "J1", "M", "Q", "R", "S", "T"}
UNAUTHORISED = {"G", "N", "O", "U"}
NOT_COUNTED = {"D", "X", "Y", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Z", "#"}


def meaning(code: str) -> str:
    if code == "L":
        return "late"
    for name, codes in (("present", PRESENT), ("approved", APPROVED),
                        ("authorised", AUTHORISED), ("unauthorised", UNAUTHORISED),
                        ("not_counted", NOT_COUNTED)):
        if code in codes:
            return name
    return "unknown"


@dataclass(frozen=True)
class Line:
    sessions: int
    percent: float


@dataclass(frozen=True)
class Statistics:
    overall: Line
    present: Line
    approved: Line
    authorised: Line
    unauthorised: Line
    possible: Line
    lates_before: Line
    lates_after: Line
    unexplained: Line


def statistics(codes: Iterable[str]) -> Statistics:
    counts = {"present": 0, "approved": 0, "authorised": 0, "unauthorised": 0,
              "late_before": 0, "late_after": 0, "unexplained": 0}
    for code in codes:
        if code in PRESENT:
            counts["present"] += 1
        elif code in APPROVED:
            counts["approved"] += 1
        elif code in AUTHORISED:
            counts["authorised"] += 1
        elif code in UNAUTHORISED:
            counts["unauthorised"] += 1
        if code == "L":
            counts["late_before"] += 1
        elif code == "U":
            counts["late_after"] += 1
        elif code == "N":
            counts["unexplained"] += 1
    possible = (counts["present"] + counts["approved"] + counts["authorised"]
                + counts["unauthorised"])

    def line(n: int) -> Line:
        return Line(sessions=n, percent=round(100.0 * n / possible, 2) if possible else 0.0)

    return Statistics(
        overall=line(counts["present"] + counts["approved"]), present=line(counts["present"]),
        approved=line(counts["approved"]), authorised=line(counts["authorised"]),
        unauthorised=line(counts["unauthorised"]), possible=line(possible),
        lates_before=line(counts["late_before"]), lates_after=line(counts["late_after"]),
        unexplained=line(counts["unexplained"]),
    )


@dataclass(frozen=True)
class Attendance:
    from_date: dt.date
    to_date: dt.date
    stats: Statistics
    marks: list[AttendanceMark]


def get_attendance(session: Session, student_id: str, *, from_date: str = "",
                   to_date: str = "") -> Attendance:
    """The student's marks between two dates (default: this academic year up to today)."""
    claims = current_claims()
    try:
        require_full_access(claims, "view_student_details", "A student's attendance")
    except PermissionDenied as exc:
        raise audit.refuse(exc, detail=f"student {student_id[:40]}") from None
    v = viewer(session, claims)
    student = visible_student(session, v, student_id)
    today = utcnow().date()
    start_default, _end = academic_year(settings_of(session, claims.school_id), today)
    start = parse_date(from_date, "from_date") or start_default
    end = parse_date(to_date, "to_date") or today
    if end < start:
        raise InvalidArgument("The end date is before the start date.", field="to_date")
    marks = list(session.scalars(select(AttendanceMark).where(
        AttendanceMark.school_id == claims.school_id, AttendanceMark.student_id == student.id,
        AttendanceMark.date >= start, AttendanceMark.date <= end,
    ).order_by(AttendanceMark.date, AttendanceMark.session)))
    audit.record(session, "student.attendance.viewed", student_id=student.id)
    return Attendance(from_date=start, to_date=end, stats=statistics(m.code for m in marks),
                      marks=marks)
