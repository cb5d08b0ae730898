"""Events mis_import publishes, built from the protos, written to the transactional outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert
from sqlalchemy.orm import Session

from haven.mis_import.v1 import mis_import_pb2 as pb
from services.mis_import.attendance import academic_year_label, split_code
from shared.db import utcnow
from shared.events import Outbox, make_envelope

STUDENT_UPSERTED = "mis.student.upserted"
STUDENT_ARCHIVED = "mis.student.archived"
GROUP_UPSERTED = "mis.group.upserted"
STAFF_UPSERTED = "mis.staff.upserted"
CONTACTS_UPSERTED = "mis.contact.upserted"
ATTENDANCE_RECORDED = "mis.attendance.recorded"

MESSAGES = {
    STUDENT_UPSERTED: pb.StudentUpserted,
    STUDENT_ARCHIVED: pb.StudentArchived,
    GROUP_UPSERTED: pb.GroupUpserted,
    STAFF_UPSERTED: pb.StaffUpserted,
    CONTACTS_UPSERTED: pb.ContactsUpserted,
    ATTENDANCE_RECORDED: pb.AttendanceRecorded,
}

_STUDENT_FIELDS = (
    "upn", "upn_temporary", "admission_number", "legal_first_name", "legal_last_name",
    "preferred_first_name", "preferred_last_name", "middle_names", "date_of_birth", "gender",
    "ethnicity", "religion", "first_language", "sen_status", "pupil_premium", "fsm", "eal",
    "looked_after", "year_group", "tutor_group", "admission_date", "date_of_arrival",
    "leaving_date", "email", "archived",
)
_STAFF_FIELDS = ("title", "first_name", "last_name", "legal_first_name", "legal_last_name",
                 "email", "job_title", "permanent", "full_time", "start_date", "end_date")


def _address(value: dict | None) -> pb.Address | None:
    if not value:
        return None
    return pb.Address(**{k: value.get(k) or "" for k in ("line1", "line2", "town", "county",
                                                         "postcode")})


def student_upserted(*, school_id: str, mis_id: str, data: dict, run_id: str,
                     as_of: dt.datetime) -> pb.StudentUpserted:
    msg = pb.StudentUpserted(
        school_id=school_id,
        mis_id=mis_id,
        import_run_id=run_id,
        medical_conditions=data.get("medical_conditions") or [],
        phones=data.get("phones") or [],
        **{k: data[k] for k in _STUDENT_FIELDS if data.get(k) not in (None, "")},
    )
    address = _address(data.get("address"))
    if address is not None:
        msg.address.CopyFrom(address)
    msg.as_of.FromDatetime(as_of)
    return msg


def contact_message(contact: dict) -> pb.Contact:
    msg = pb.Contact(
        mis_id=contact.get("mis_id") or "",
        title=contact.get("title") or "",
        first_name=contact.get("first_name") or "",
        last_name=contact.get("last_name") or "",
        relationship=contact.get("relationship") or "",
        parental_responsibility=bool(contact.get("parental_responsibility")),
        priority=int(contact.get("priority") or 0),
        phones=contact.get("phones") or [],
        email=contact.get("email") or "",
    )
    address = _address(contact.get("address"))
    if address is not None:
        msg.address.CopyFrom(address)
    return msg


class OutboxEvents:
    """``ports.ImportEvents`` over the transactional outbox.

    Events are buffered on the session and written by ``flush`` in one multi-row INSERT
    (an import announces thousands at a time), in the order they were raised; the last row
    goes through ``Outbox.add`` so the relay is woken after the commit as usual.
    """

    _KEY = "mis_import_events"

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def _add(self, session: Session, key: str, msg, *, school_id: str, actor: str) -> None:
        session.info.setdefault(self._KEY, []).append((key, msg, school_id, actor))

    def flush(self, session: Session) -> None:
        pending = session.info.pop(self._KEY, None)
        if not pending:
            return
        *head, (key, msg, school_id, actor) = pending
        if head:
            now = utcnow()
            rows = []
            for k, m, school, who in head:
                env = make_envelope(k, m, school_id=school, actor=who)
                rows.append({"event_id": env.id, "routing_key": k, "school_id": school or "",
                             "body": env.SerializeToString(), "created_at": now,
                             "attempts": 0})
            session.execute(insert(self.outbox.table), rows)
        self.outbox.add(session, key, msg, school_id=school_id, actor=actor)

    def student_upserted(self, session, *, school_id, mis_id, data, run_id, as_of, actor):
        self._add(session, STUDENT_UPSERTED,
                  student_upserted(school_id=school_id, mis_id=mis_id, data=data,
                                   run_id=run_id, as_of=as_of),
                  school_id=school_id, actor=actor)

    def student_archived(self, session, *, school_id, mis_id, upn, reason, leaving_date,
                         run_id, as_of, actor):
        msg = pb.StudentArchived(school_id=school_id, mis_id=mis_id, upn=upn, reason=reason,
                                 leaving_date=leaving_date or "", import_run_id=run_id)
        msg.as_of.FromDatetime(as_of)
        self._add(session, STUDENT_ARCHIVED, msg, school_id=school_id, actor=actor)

    def group_upserted(self, session, *, school_id, mis_id, name, kind, student_mis_ids,
                       staff_mis_ids, active, run_id, as_of, actor):
        msg = pb.GroupUpserted(school_id=school_id, mis_id=mis_id, name=name, kind=kind,
                               student_mis_ids=student_mis_ids, staff_mis_ids=staff_mis_ids,
                               active=active, import_run_id=run_id)
        msg.as_of.FromDatetime(as_of)
        self._add(session, GROUP_UPSERTED, msg, school_id=school_id, actor=actor)

    def staff_upserted(self, session, *, school_id, mis_id, data, present, run_id, as_of,
                       actor):
        msg = pb.StaffUpserted(
            school_id=school_id, mis_id=mis_id, present_in_extract=present,
            import_run_id=run_id,
            **{k: data[k] for k in _STAFF_FIELDS if data.get(k) not in (None, "")})
        msg.as_of.FromDatetime(as_of)
        self._add(session, STAFF_UPSERTED, msg, school_id=school_id, actor=actor)

    def contacts_upserted(self, session, *, school_id, student_mis_id, contacts, run_id,
                          as_of, actor):
        msg = pb.ContactsUpserted(school_id=school_id, student_mis_id=student_mis_id,
                                  contacts=[contact_message(c) for c in contacts],
                                  import_run_id=run_id)
        msg.as_of.FromDatetime(as_of)
        self._add(session, CONTACTS_UPSERTED, msg, school_id=school_id, actor=actor)

    def attendance_recorded(self, session, *, school_id, student_mis_id, marks, summary,
                            academic_year, run_id, as_of, actor):
        msg = pb.AttendanceRecorded(
            school_id=school_id, student_mis_id=student_mis_id, import_run_id=run_id,
            summary=pb.AttendanceSummary(academic_year=academic_year_label(academic_year),
                                         **summary))
        msg.MergeFromString(encode_marks(marks))
        msg.as_of.FromDatetime(as_of)
        self._add(session, ATTENDANCE_RECORDED, msg, school_id=school_id, actor=actor)


# Serialized ``AttendanceRecorded.marks`` entries by (date, (AM code, PM code)): repeated
# fields of serialized messages concatenate, so a pupil's marks are encoded by joining cached
# entries (a year of marks for 2,000 pupils is ~380,000 school days but a few thousand
# distinct days-with-codes), without a Python-level loop over the days.
_MARK_CACHE: dict[tuple[str, tuple[str, str]], bytes] = {}
_MARK_CACHE_LIMIT = 100_000


def _day_entry(day: str, am: str, pm: str) -> bytes:
    marks = []
    for session_name, value in (("AM", am), ("PM", pm)):
        if value:
            code, minutes = split_code(value)
            marks.append(pb.AttendanceMark(date=day, session=session_name, code=code,
                                           minutes_late=minutes))
    return pb.AttendanceRecorded(marks=marks).SerializeToString()


def encode_marks(marks: dict[str, tuple[str, str]]) -> bytes:
    """``AttendanceRecorded.marks`` (serialized) for {date: (AM, PM)}, in date order."""
    cache = _MARK_CACHE
    days = list(marks)
    if days != sorted(days):
        marks = {day: marks[day] for day in sorted(days)}
    entries = list(marks.items())
    try:
        return b"".join(map(cache.__getitem__, entries))
    except KeyError:
        if len(cache) > _MARK_CACHE_LIMIT:
            cache.clear()
        for day, (am, pm) in entries:
            key = (day, (am, pm))
            if key not in cache:
                cache[key] = _day_entry(day, am, pm)
        return b"".join(map(cache.__getitem__, entries))
