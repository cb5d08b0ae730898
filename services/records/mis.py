"""The MIS import's facts applied to records: students, groups, contacts, attendance marks.

Called by ``handlers.py`` with the decoded event (each event carries the whole current record,
not a diff). Every function is deterministic (ids derive from the school and the MIS ids) and
ignores a statement older than the one already applied (``as_of``). A student the school has
"unlinked from MIS" (or added by hand) is never changed by an import: not their details,
groups, contacts nor attendance.

Events may arrive in any order: a group or a contact list may name a student the import has
not described yet; those rows keep the student's MIS id and are tied to the student when the
student arrives.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from services.records.models import (
    AttendanceMark,
    Contact,
    GroupMembership,
    Student,
    StudentGroup,
)
from shared.db import utcnow

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("0b6f7d8e-61a4-4c4f-9a53-3c1d2e8f9a70")
GROUP_KINDS = {"tutor": "tutor", "form": "tutor", "reg": "tutor", "year": "year"}
SESSIONS = ("AM", "PM")


def mis_uuid(school_id: str, kind: str, *keys: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join((school_id, kind, *keys))))


def _text(value: str, size: int) -> str:
    return " ".join((value or "").split())[:size]


def _date(value: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _as_of(message, stated_at: dt.datetime | None) -> dt.datetime | None:
    if message.HasField("as_of"):
        return message.as_of.ToDatetime()
    return stated_at


def _stale(known: dt.datetime | None, incoming: dt.datetime | None) -> bool:
    return known is not None and incoming is not None and incoming < known


def _address(a) -> dict | None:
    if a is None:
        return None
    out = {k: _text(getattr(a, k), 100) for k in ("line1", "line2", "town", "county",
                                                  "postcode")}
    return out if any(out.values()) else None


def student_by_mis(session: Session, school_id: str, mis_id: str) -> Student | None:
    return session.scalars(select(Student).where(
        Student.school_id == school_id, Student.mis_id == mis_id)).first()


def _link_pending(session: Session, school_id: str, student: Student) -> None:
    """Tie rows that arrived before the student (by MIS id) to the student."""
    for model in (GroupMembership, Contact, AttendanceMark):
        session.execute(
            update(model)
            .where(model.school_id == school_id, model.student_mis_id == student.mis_id,
                   model.student_id.is_(None))
            .values(student_id=student.id)
            .execution_options(synchronize_session=False)
        )


# ---- students ------------------------------------------------------------------------------------


def apply_student_upserted(session: Session, school_id: str, message,
                           stated_at: dt.datetime | None) -> str:
    """mis.student.upserted: create or update by MIS id (or by a permanent UPN).

    Returns what happened: "created", "updated", "stale", "unlinked" or "ignored".
    """
    mis_id = _text(message.mis_id, 64)
    if not mis_id:
        return "ignored"
    as_of = _as_of(message, stated_at)
    upn = _text(message.upn, 13).upper().replace(" ", "")
    student = student_by_mis(session, school_id, mis_id)
    if student is None and upn and not message.upn_temporary:
        student = session.scalars(select(Student).where(
            Student.school_id == school_id, Student.upn == upn)).first()
    if student is not None and not student.mis_linked:
        return "unlinked"
    if student is not None and _stale(student.mis_as_of, as_of):
        return "stale"
    created = student is None
    now = utcnow()
    if created:
        student = Student(id=mis_uuid(school_id, "student", mis_id), school_id=school_id,
                          created_at=now, source="mis", mis_linked=True, archived=False)
        session.add(student)
    legal_first = _text(message.legal_first_name, 100)
    legal_last = _text(message.legal_last_name, 100)
    preferred_first = _text(message.preferred_first_name, 100)
    preferred_last = _text(message.preferred_last_name, 100)
    student.mis_id = mis_id
    student.first_name = legal_first or preferred_first
    student.last_name = legal_last or preferred_last
    student.preferred_name = preferred_first if preferred_first != student.first_name else ""
    student.preferred_last_name = preferred_last if preferred_last != student.last_name else ""
    student.middle_names = _text(message.middle_names, 200)
    if upn and upn != (student.upn or ""):
        holder = session.scalars(select(Student.id).where(
            Student.school_id == school_id, Student.upn == upn, Student.id != student.id)).first()
        if holder is None:
            student.upn = upn
        else:
            log.warning("school %s: UPN of MIS student %s is held by another student; kept the "
                        "old one", school_id, mis_id)
    student.upn_temporary = bool(message.upn_temporary)
    student.admission_number = _text(message.admission_number, 40)
    student.date_of_birth = _date(message.date_of_birth)
    student.gender = _text(message.gender, 20)
    student.ethnicity = _text(message.ethnicity, 100)
    student.religion = _text(message.religion, 100)
    student.first_language = _text(message.first_language, 100)
    student.sen_status = _text(message.sen_status, 10)
    student.pupil_premium = bool(message.pupil_premium)
    student.fsm = bool(message.fsm)
    student.eal = bool(message.eal)
    student.looked_after = bool(message.looked_after)
    student.year_group = _text(message.year_group, 40)
    student.tutor_group = _text(message.tutor_group, 40)
    student.admission_date = _date(message.admission_date)
    student.date_of_arrival = _date(message.date_of_arrival)
    student.leaving_date = _date(message.leaving_date)
    student.address = _address(message.address if message.HasField("address") else None)
    student.medical_conditions = [_text(m, 200) for m in message.medical_conditions if m.strip()]
    left = bool(getattr(message, "archived", False)) or (
        student.leaving_date is not None
        and (as_of is None or student.leaving_date <= as_of.date()))
    student.archived = left
    student.archive_reason = "left" if left else ""
    student.mis_as_of = as_of
    student.updated_at = now
    session.flush()
    _link_pending(session, school_id, student)
    return "created" if created else "updated"


def apply_student_archived(session: Session, school_id: str, message,
                           stated_at: dt.datetime | None) -> str:
    """mis.student.archived: the pupil left (or vanished from a full extract). Never deleted."""
    mis_id = _text(message.mis_id, 64)
    student = student_by_mis(session, school_id, mis_id) if mis_id else None
    upn = _text(message.upn, 13).upper()
    if student is None and upn:
        student = session.scalars(select(Student).where(
            Student.school_id == school_id, Student.upn == upn)).first()
    if student is None:
        return "ignored"
    if not student.mis_linked:
        return "unlinked"
    as_of = _as_of(message, stated_at)
    if _stale(student.mis_as_of, as_of):
        return "stale"
    student.archived = True
    student.archive_reason = _text(message.reason, 40) or "left"
    student.leaving_date = _date(message.leaving_date) or student.leaving_date
    student.mis_as_of = as_of
    student.updated_at = utcnow()
    return "archived"


# ---- groups --------------------------------------------------------------------------------------


def apply_group_upserted(session: Session, school_id: str, message,
                         stated_at: dt.datetime | None) -> str:
    """mis.group.upserted: the group and its whole membership (unlinked students untouched).

    A group first seen in an import is flagged new, for the admins' notice.
    """
    mis_id = _text(message.mis_id, 64)
    kind = GROUP_KINDS.get((message.kind or "").strip().lower())
    if not mis_id or kind is None:
        return "ignored"
    as_of = _as_of(message, stated_at)
    group = session.scalars(select(StudentGroup).where(
        StudentGroup.school_id == school_id, StudentGroup.mis_id == mis_id)).first()
    if group is not None and _stale(group.mis_as_of, as_of):
        return "stale"
    created = group is None
    if created:
        group = StudentGroup(id=mis_uuid(school_id, "group", mis_id), school_id=school_id,
                             mis_id=mis_id, is_new=True, created_at=utcnow())
        session.add(group)
    group.name = _text(message.name, 100) or mis_id
    group.kind = kind
    group.active = bool(message.active)
    group.mis_as_of = as_of
    session.flush()

    wanted = list(dict.fromkeys(_text(m, 64) for m in message.student_mis_ids if m.strip()))
    students = {
        s.mis_id: s for s in session.scalars(select(Student).where(
            Student.school_id == school_id, Student.mis_id.in_(wanted)))
    } if wanted else {}
    rows = list(session.scalars(select(GroupMembership).where(
        GroupMembership.school_id == school_id, GroupMembership.group_id == group.id)))
    unlinked_ids = _unlinked_ids(session, school_id, [r.student_id for r in rows if r.student_id])
    present = set()
    for row in rows:
        if row.student_id in unlinked_ids:
            continue  # the school took this student out of the import's hands
        if row.source == "mis" and row.student_mis_id not in wanted:
            session.delete(row)
        else:
            present.add(row.student_mis_id)
    for mis in wanted:
        if mis in present:
            continue
        student = students.get(mis)
        if student is not None and not student.mis_linked:
            continue
        session.add(GroupMembership(
            id=mis_uuid(school_id, "membership", group.id, mis), school_id=school_id,
            group_id=group.id, student_id=student.id if student else None,
            student_mis_id=mis, source="mis",
        ))
    return "created" if created else "updated"


def _unlinked_ids(session: Session, school_id: str, student_ids: list[str]) -> set[str]:
    if not student_ids:
        return set()
    return set(session.scalars(select(Student.id).where(
        Student.school_id == school_id, Student.id.in_(student_ids),
        Student.mis_linked.is_(False))))


# ---- contacts ------------------------------------------------------------------------------------


def apply_contacts_upserted(session: Session, school_id: str, message,
                            stated_at: dt.datetime | None) -> str:
    """mis.contact.upserted: the pupil's whole list of MIS contacts (manual ones stay)."""
    mis_id = _text(message.student_mis_id, 64)
    if not mis_id:
        return "ignored"
    student = student_by_mis(session, school_id, mis_id)
    if student is not None and not student.mis_linked:
        return "unlinked"
    as_of = _as_of(message, stated_at)
    if student is not None:
        if _stale(student.contacts_as_of, as_of):
            return "stale"
        student.contacts_as_of = as_of
    session.execute(
        delete(Contact)
        .where(Contact.school_id == school_id, Contact.student_mis_id == mis_id,
               Contact.source == "mis")
        .execution_options(synchronize_session=False)
    )
    for index, c in enumerate(message.contacts):
        key = _text(c.mis_id, 64) or f"#{index}"
        session.add(Contact(
            id=mis_uuid(school_id, "contact", mis_id, key), school_id=school_id,
            student_id=student.id if student else None, student_mis_id=mis_id,
            mis_id=_text(c.mis_id, 64) or None, source="mis", title=_text(c.title, 20),
            first_name=_text(c.first_name, 100), last_name=_text(c.last_name, 100),
            relationship=_text(c.relationship, 60),
            parental_responsibility=bool(c.parental_responsibility), priority=int(c.priority),
            phones=[_text(p, 40) for p in c.phones if p.strip()], email=_text(c.email, 200),
            address=_address(c.address if c.HasField("address") else None), notes="",
            created_at=as_of or utcnow(),
        ))
    return "replaced"


# ---- attendance ----------------------------------------------------------------------------------


def apply_attendance_recorded(session: Session, school_id: str, message,
                              stated_at: dt.datetime | None) -> int:
    """mis.attendance.recorded: session marks upserted by date and session; returns how many
    changed. A mark older than the one held is ignored."""
    mis_id = _text(message.student_mis_id, 64)
    if not mis_id:
        return 0
    student = student_by_mis(session, school_id, mis_id)
    if student is not None and not student.mis_linked:
        return 0
    as_of = _as_of(message, stated_at)
    marks = {}
    for m in message.marks:
        day = _date(m.date)
        sess = (m.session or "").strip().upper()
        code = (m.code or "").strip()[:4]
        if day is None or sess not in SESSIONS or not code:
            continue
        marks[(day, sess)] = (code, max(0, int(m.minutes_late)))
    if not marks:
        return 0
    days = sorted({d for d, _ in marks})
    # What is held, as plain rows: a day's re-import of a whole year compares hundreds of
    # marks per pupil and usually changes none of them.
    held = {
        (r.date, r.session): r for r in session.execute(select(
            AttendanceMark.id, AttendanceMark.date, AttendanceMark.session,
            AttendanceMark.code, AttendanceMark.minutes_late, AttendanceMark.as_of,
        ).where(
            AttendanceMark.school_id == school_id, AttendanceMark.student_mis_id == mis_id,
            AttendanceMark.date >= days[0], AttendanceMark.date <= days[-1]))
    }
    corrected: dict[str, tuple[str, int]] = {}
    new_marks = []  # inserted in one statement: a term of marks is hundreds of rows
    for (day, sess), (code, late) in sorted(marks.items()):
        row = held.get((day, sess))
        if row is None:
            new_marks.append({
                "id": mis_uuid(school_id, "mark", mis_id, day.isoformat(), sess),
                "school_id": school_id, "student_mis_id": mis_id,
                "student_id": student.id if student else None, "date": day, "session": sess,
                "code": code, "minutes_late": late, "as_of": as_of})
        elif not _stale(row.as_of, as_of) and (row.code, row.minutes_late) != (code, late):
            corrected[row.id] = (code, late)
    if corrected:
        for mark in session.scalars(select(AttendanceMark).where(
                AttendanceMark.school_id == school_id,
                AttendanceMark.id.in_(list(corrected)))):
            mark.code, mark.minutes_late = corrected[mark.id]
            mark.as_of = as_of
    if new_marks:
        session.execute(insert(AttendanceMark), new_marks)
    return len(corrected) + len(new_marks)
