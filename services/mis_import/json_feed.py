"""The JSON feed an MIS connector pushes (through the gateway's ``/api/v1/mis/...``).

One feed is one JSON document, or several parts sent one after another (each a complete
document with the same header) when it is too big for one request::

    {"school_id": "...", "mode": "full" | "delta",
     "generated_at": "2026-01-13T02:00:00Z",      # when the MIS data was taken
     "updated_after": "2026-01-12T02:00:00Z",     # delta: changes since then
     "students": [...], "employees": [...], "groups": [...],
     "contacts": [...], "attendance": [...]}

Every section is optional; a full feed archives the pupils (or staff) missing from a section
it contains, never from one it leaves out. Record shapes are in the service README.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

from services.mis_import import attendance
from services.mis_import.extract import (
    AttendanceBatch,
    Checked,
    ContactList,
    FileRefused,
    GroupRecord,
    Item,
    Rejected,
    RowError,
    SourceDetails,
    build_contact,
    build_mark,
    build_staff,
    build_student,
    match_key,
    text,
)

MODES = ("full", "delta")
SECTIONS = ("students", "employees", "groups", "contacts", "attendance")
GROUP_KINDS = ("tutor", "year")


class InvalidFeed(ValueError):
    """The document cannot be a feed part (the message says why; safe to show)."""


class FeedForAnotherSchool(InvalidFeed):
    pass


def _instant(value, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidFeed(f"{name} must be an ISO 8601 date and time")
    raw = value.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidFeed(f"{name} {value!r} is not an ISO 8601 date and time") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def load_part(body: bytes) -> dict:
    if not body:
        raise InvalidFeed("The feed is empty.")
    try:
        doc = json.loads(body)
    except UnicodeDecodeError as exc:
        raise InvalidFeed("The feed is not UTF-8 text.") from exc
    except json.JSONDecodeError as exc:
        raise InvalidFeed(
            f"The feed is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from exc
    if not isinstance(doc, dict):
        raise InvalidFeed("The feed must be a JSON object.")
    return doc


def read_header(doc: dict, *, school_id: str, now: dt.datetime | None = None) -> SourceDetails:
    """Check a part's header against the school the caller may feed."""
    claimed = doc.get("school_id")
    if claimed not in (None, "") and str(claimed) != school_id:
        raise FeedForAnotherSchool(
            "The feed names another school; an integration can only feed its own school.")
    mode = doc.get("mode")
    if mode not in MODES:
        raise InvalidFeed('The feed\'s "mode" must be "full" or "delta".')
    generated = _instant(doc.get("generated_at"), "generated_at")
    updated_after = _instant(doc.get("updated_after"), "updated_after")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if generated and generated > now + dt.timedelta(hours=1):
        raise InvalidFeed("generated_at is in the future.")
    if mode == "full" and updated_after is not None:
        raise InvalidFeed("A full feed has no updated_after (that is for delta feeds).")
    present = []
    for section in SECTIONS:
        value = doc.get(section)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InvalidFeed(f'"{section}" must be a list.')
        present.append(section)
    return SourceDetails(
        kind="json",
        document_name="MIS feed",
        generated_at=generated or now,
        qualifier=mode,
        updated_after=updated_after.isoformat() if updated_after else "",
        full_extract=mode == "full",
        sections=tuple(present),
    )


class JsonFeedSource:
    kind = "json"

    def __init__(self, parts: Callable[[], Iterator[bytes]], *, school_id: str,
                 as_of: dt.date) -> None:
        self.parts = parts
        self.school_id = school_id
        self.as_of = as_of

    def _documents(self) -> Iterator[tuple[int, dict]]:
        for number, body in enumerate(self.parts(), 1):
            try:
                doc = load_part(body)
                read_header(doc, school_id=self.school_id)
            except InvalidFeed as exc:
                raise FileRefused(str(exc), f"part {number}") from exc
            yield number, doc

    def check(self) -> Checked:
        total = 0
        details = None
        sections: set[str] = set()
        for number, doc in self._documents():
            part_details = read_header(doc, school_id=self.school_id)
            if details is None:
                details = part_details
            elif part_details.qualifier != details.qualifier:
                raise FileRefused("The parts of the feed disagree on its mode.", f"part {number}")
            sections.update(part_details.sections)
            total += sum(1 for _ in self._part_items(number, doc))
        if details is None:
            raise FileRefused("The feed has no parts.")
        details.sections = tuple(s for s in SECTIONS if s in sections)
        return Checked(details=details, total=total)

    def items(self) -> Iterator[Item]:
        for number, doc in self._documents():
            yield from self._part_items(number, doc)

    def _part_items(self, number: int, doc: dict) -> Iterator[Item]:
        prefix = f"part {number} " if number > 1 else ""
        for i, raw in enumerate(doc.get("students") or []):
            where = f"{prefix}/students/{i}"
            if not isinstance(raw, dict):
                yield Rejected(where, "a student must be an object")
                continue
            values = dict(raw)
            values["mis_id"] = raw.get("id")
            key = str(raw.get("id") or raw.get("upn") or "")
            try:
                yield build_student(values, as_of=self.as_of, location=where,
                                    field_names={"mis_id": "id"})
            except RowError as exc:
                yield Rejected(f"{where}/{exc.field}" if exc.field else where, exc.reason,
                               key=key, label=_name(raw, "legal_first_name", "legal_last_name"),
                               student_key=key, match_key=match_key(
                                   raw.get("legal_first_name"), raw.get("legal_last_name"),
                                   raw.get("date_of_birth")))
        for i, raw in enumerate(doc.get("employees") or []):
            where = f"{prefix}/employees/{i}"
            if not isinstance(raw, dict):
                yield Rejected(where, "an employee must be an object")
                continue
            values = dict(raw)
            values["mis_id"] = raw.get("id")
            try:
                yield build_staff(values, location=where, field_names={"mis_id": "id"})
            except RowError as exc:
                yield Rejected(f"{where}/{exc.field}" if exc.field else where, exc.reason,
                               key=str(raw.get("id") or ""),
                               label=_name(raw, "first_name", "last_name"),
                               staff_key=str(raw.get("id") or ""))
        for i, raw in enumerate(doc.get("groups") or []):
            where = f"{prefix}/groups/{i}"
            try:
                yield _group(raw, where)
            except RowError as exc:
                yield Rejected(f"{where}/{exc.field}" if exc.field else where, exc.reason,
                               key=str(raw.get("id", "")) if isinstance(raw, dict) else "")
        yield from self._contacts(doc.get("contacts") or [], prefix)
        yield from self._attendance(doc.get("attendance") or [], prefix)

    def _contacts(self, contacts: list, prefix: str) -> Iterator[Item]:
        per_student: dict[str, list[dict]] = {}
        errors: dict[str, tuple[str, str]] = {}
        first_seen: dict[str, str] = {}
        for i, raw in enumerate(contacts):
            where = f"{prefix}/contacts/{i}"
            links = raw.get("students") if isinstance(raw, dict) else None
            if not isinstance(raw, dict) or not isinstance(links, list) or not links:
                yield Rejected(where, "a contact must be an object with a list of students")
                continue
            try:
                base = build_contact({**raw, "mis_id": raw.get("id")})
                error = None
            except RowError as exc:
                base, error = None, (f"{where}/{exc.field}", exc.reason)
            for j, link in enumerate(links):
                link_where = f"{where}/students/{j}"
                student = _key(link.get("student_id")) if isinstance(link, dict) else ""
                if not student:
                    yield Rejected(link_where, "a contact's student link has no student_id")
                    continue
                first_seen.setdefault(student, link_where)
                per_student.setdefault(student, [])
                if error is not None:
                    errors.setdefault(student, error)
                    continue
                try:
                    linked = build_contact({**raw, "mis_id": raw.get("id"), **link},
                                           field_prefix="")
                except RowError as exc:
                    errors.setdefault(student, (f"{link_where}/{exc.field}", exc.reason))
                    continue
                per_student[student].append({**base, **{
                    k: linked[k] for k in ("relationship", "parental_responsibility",
                                           "priority")}})
        for student, items in per_student.items():
            if student in errors:
                where, reason = errors[student]
                yield Rejected(where, f"{reason}; this pupil's contacts were left as they were",
                               key=student, student_key=student)
            else:
                yield ContactList(student_key=student, contacts=items,
                                  location=first_seen[student])

    def _attendance(self, marks: list, prefix: str) -> Iterator[Item]:
        per_student: dict[str, attendance.YearMarks] = {}
        errors: dict[str, tuple[str, str]] = {}
        first_seen: dict[str, str] = {}
        for i, raw in enumerate(marks):
            where = f"{prefix}/attendance/{i}"
            student = _key(raw.get("student_id")) if isinstance(raw, dict) else ""
            if not student:
                yield Rejected(where, "an attendance mark must be an object with a student_id")
                continue
            first_seen.setdefault(student, where)
            batch = per_student.setdefault(student, {})
            if student in errors:
                continue
            try:
                day, session_name, code = build_mark(
                    raw.get("date"), raw.get("session"), raw.get("code"),
                    raw.get("minutes_late"), field_prefix="")
            except RowError as exc:
                errors[student] = (f"{where}/{exc.field}", exc.reason)
                continue
            attendance.add_mark(batch, day, session_name, code)
        for student, batch in per_student.items():
            if student in errors:
                where, reason = errors[student]
                yield Rejected(where, f"{reason}; this pupil's attendance was not imported",
                               key=student, student_key=student)
            else:
                yield AttendanceBatch(student_key=student, marks=batch,
                                      location=first_seen[student])


def _key(value) -> str:
    try:
        return text(value, limit=100)
    except RowError:
        return ""


def _name(raw: dict, first: str, last: str) -> str:
    return f"{raw.get(first) or ''} {raw.get(last) or ''}".strip()[:200]


def _group(raw, where: str) -> GroupRecord:
    if not isinstance(raw, dict):
        raise RowError("a group must be an object")
    mis_id = text(raw.get("id"), field_name="id", limit=100)
    name = text(raw.get("name"), field_name="name", limit=60)
    kind = text(raw.get("kind"), field_name="kind", limit=10).lower()
    if not mis_id:
        raise RowError("the group has no id", "id")
    if not name:
        raise RowError("the group has no name", "name")
    if kind not in GROUP_KINDS:
        raise RowError(f"group kind {raw.get('kind')!r} is not tutor or year", "kind")
    staff = raw.get("staff_ids") or []
    if not isinstance(staff, list):
        raise RowError("staff_ids must be a list", "staff_ids")
    return GroupRecord(mis_id=mis_id, name=name, kind=kind,
                       staff_mis_ids=sorted({text(s, limit=100) for s in staff if text(s)}),
                       location=where)
