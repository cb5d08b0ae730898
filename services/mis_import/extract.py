"""What a parsed MIS extract is made of, whatever the source (CTF, CSV, JSON feed).

A source yields *items* in a fixed order: each is a record to import (a pupil with their
contacts and attendance, a member of staff, a group, a pupil's contact list, a pupil's
attendance marks) or a ``Rejected`` row that says where and why. One item is the unit of
import: it is applied whole or not at all. ``FileRefused`` stops a whole file (before any of
it is applied: sources check the whole file first).

The ``build_*`` functions turn a source's raw values into normalised records and apply the
rules every source shares (required names, a plausible date of birth, a valid UPN ...).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from services.mis_import import attendance
from services.mis_import.upn import InvalidUpn, check_upn

MAX_TEXT = 200
MIN_AGE, MAX_AGE = 2, 25  # pupils of a school (nursery to post-19 with an EHC plan)


class FileRefused(Exception):
    """The whole file is unusable; nothing of it is imported."""

    def __init__(self, reason: str, location: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location


class RowError(ValueError):
    """One record is unusable; ``field`` names the value at fault (a path suffix)."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass
class SourceDetails:
    kind: str  # "ctf", "csv", "json"
    document_name: str = ""
    version: str = ""
    generated_at: dt.datetime | None = None
    qualifier: str = ""
    lea: str = ""
    estab: str = ""
    urn: str = ""
    school_name: str = ""
    academic_year: str = ""
    supplier: str = ""
    updated_after: str = ""
    csv_entity: str = ""
    full_extract: bool | None = None  # JSON feeds say so themselves ("mode")
    sections: tuple[str, ...] = ()  # JSON: the sections present (students, employees ...)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if v not in ("", None, ())}
        if self.generated_at is not None:
            out["generated_at"] = self.generated_at.isoformat()
        if self.sections:
            out["sections"] = list(self.sections)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SourceDetails:
        values = dict(data or {})
        if values.get("generated_at"):
            values["generated_at"] = dt.datetime.fromisoformat(values["generated_at"])
        if "sections" in values:
            values["sections"] = tuple(values["sections"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class Checked:
    details: SourceDetails
    total: int  # items the file will yield


@dataclass
class Rejected:
    location: str
    reason: str
    key: str = ""
    label: str = ""
    student_key: str = ""  # when known: protects the pupil from archiving
    staff_key: str = ""  # likewise for a member of staff
    match_key: str = ""  # names and date of birth, when the key itself is what is wrong


@dataclass
class StudentRecord:
    mis_id: str
    upn: str
    upn_temporary: bool
    data: dict  # the StudentUpserted fields (normalised), minus run-specific ones
    location: str
    contacts: list[dict] | None = None  # None: the source said nothing about contacts
    marks: attendance.YearMarks | None = None  # {year: {ISO date: [AM, PM]}}

    @property
    def label(self) -> str:
        return f"{self.data.get('legal_first_name', '')} {self.data.get('legal_last_name', '')}"


@dataclass
class StaffRecord:
    mis_id: str
    data: dict
    location: str

    @property
    def label(self) -> str:
        return f"{self.data.get('first_name', '')} {self.data.get('last_name', '')}"


@dataclass
class GroupRecord:
    mis_id: str
    name: str
    kind: str
    staff_mis_ids: list[str]
    location: str


@dataclass
class ContactList:
    student_key: str
    contacts: list[dict]
    location: str


@dataclass
class AttendanceBatch:
    student_key: str
    marks: attendance.YearMarks
    location: str


Item = StudentRecord | StaffRecord | GroupRecord | ContactList | AttendanceBatch | Rejected


class Source(Protocol):
    kind: str

    def check(self) -> Checked:
        """Read the whole file once: FileRefused if it is unusable; the record count."""

    def items(self) -> Iterator[Item]:
        """Every record in file order (the same order every time)."""


# ---- values -------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def text(value, *, field_name: str = "", limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowError(f"{field_name or 'a value'} must be text", field_name)
        value = str(value)
    cleaned = _SPACES.sub(" ", value).strip()
    if len(cleaned) > limit:
        raise RowError(f"{field_name or 'a value'} is longer than {limit} characters",
                       field_name)
    return cleaned


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}


def flag(value, *, field_name: str = "") -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowError(f"{field_name or 'a value'} must be yes or no, not {value!r}", field_name)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$")
_UK_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


def date_value(value, *, field_name: str = "", date_format: str = "iso") -> dt.date | None:
    """An ISO date, or (``date_format`` "auto"/"dmy"/"mdy", for CSV) day/month/year or
    month/day/year with a four-digit year; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise RowError(f"{field_name} must be a date", field_name)
    raw = value.strip()
    try:
        if _ISO_DATE.match(raw):
            return dt.date.fromisoformat(raw[:10])
        match = _UK_DATE.match(raw)
        if match and date_format in ("auto", "dmy", "mdy"):
            a, b, year = (int(g) for g in match.groups())
            day, month = (b, a) if date_format == "mdy" else (a, b)
            return dt.date(year, month, day)
    except ValueError as exc:
        raise RowError(f"{field_name} {raw!r} is not a real date", field_name) from exc
    expected = "YYYY-MM-DD" if date_format == "iso" else "DD/MM/YYYY or YYYY-MM-DD"
    if date_format == "mdy":
        expected = "MM/DD/YYYY or YYYY-MM-DD"
    raise RowError(f"{field_name} {raw!r} is not a date ({expected})", field_name)


def match_key(first, last, dob) -> str:
    """A pupil's legal names and date of birth, to recognise a pupil whose row was rejected
    for a bad key (so a full extract does not archive them). Empty when any is unusable."""
    try:
        first, last = text(first).casefold(), text(last).casefold()
        day = date_value(dob, date_format="auto") if isinstance(dob, str) else None
    except RowError:
        return ""
    if not first or not last or day is None:
        return ""
    return f"{first}|{last}|{day.isoformat()}"[:200]


def _iso(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


SEN_CODES = {"N": "N", "K": "K", "E": "E", "S": "E",  # S: statement (now EHC plan)
             "NONE": "N", "NO SPECIAL EDUCATIONAL NEED": "N", "SEN SUPPORT": "K",
             "EHC PLAN": "E", "EHCP": "E", "": ""}
GENDERS = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F", "X": "X", "U": "U",
           "UNKNOWN": "U", "NOT KNOWN": "U", "": ""}


def check_date_of_birth(dob: dt.date | None, as_of: dt.date, *, field_name: str) -> dt.date:
    if dob is None:
        raise RowError("the date of birth is missing", field_name)
    if dob > as_of:
        raise RowError(f"date of birth {dob.isoformat()} is in the future", field_name)
    age = as_of.year - dob.year - ((as_of.month, as_of.day) < (dob.month, dob.day))
    if age < MIN_AGE or age > MAX_AGE:
        raise RowError(
            f"date of birth {dob.isoformat()} is impossible for a pupil: they would be "
            f"{age} years old", field_name)
    return dob


def build_student(raw: dict, *, as_of: dt.date, location: str, require_upn: bool = False,
                  date_format: str = "iso", field_names: dict[str, str] | None = None,
                  ) -> StudentRecord:
    """Normalise and check one pupil. ``field_names`` maps fields to the source's own names
    (for error messages: the CSV column, the CTF element)."""
    names = field_names or {}

    def fname(key: str) -> str:
        return names.get(key, key)

    def get_text(key: str, limit: int = MAX_TEXT) -> str:
        return text(raw.get(key), field_name=fname(key), limit=limit)

    def get_date(key: str) -> dt.date | None:
        return date_value(raw.get(key), field_name=fname(key), date_format=date_format)

    mis_id = get_text("mis_id", 100)
    upn_raw = get_text("upn", 20)
    upn, temporary = "", False
    if upn_raw:
        try:
            checked = check_upn(upn_raw)
        except InvalidUpn as exc:
            raise RowError(str(exc), fname("upn")) from exc
        upn, temporary = checked.value, checked.temporary
    elif require_upn:
        raise RowError("the UPN is missing", fname("upn"))
    if not mis_id:
        mis_id = upn
    if not mis_id:
        raise RowError("the pupil has no MIS id", fname("mis_id"))
    first = get_text("legal_first_name")
    last = get_text("legal_last_name")
    if not first:
        raise RowError("the legal first name is missing", fname("legal_first_name"))
    if not last:
        raise RowError("the legal last name is missing", fname("legal_last_name"))
    dob = check_date_of_birth(get_date("date_of_birth"), as_of,
                              field_name=fname("date_of_birth"))
    gender_raw = get_text("gender", 20).upper()
    if gender_raw not in GENDERS:
        raise RowError(f"gender {raw.get('gender')!r} is not M, F, X or U", fname("gender"))
    sen_raw = get_text("sen_status", 40).upper()
    if sen_raw not in SEN_CODES:
        raise RowError(f"SEN status {raw.get('sen_status')!r} is not N, K or E",
                       fname("sen_status"))
    admission = get_date("admission_date")
    arrival = get_date("date_of_arrival") or admission
    leaving = get_date("leaving_date")
    if admission and leaving and leaving < admission:
        raise RowError(f"leaving date {leaving.isoformat()} is before the admission date "
                       f"{admission.isoformat()}", fname("leaving_date"))
    for key, day in (("admission_date", admission), ("date_of_arrival", arrival)):
        if day and day < dob:
            raise RowError(f"{fname(key)} {day.isoformat()} is before the date of birth",
                           fname(key))
    address = raw.get("address")
    if address is not None and not isinstance(address, dict):
        raise RowError("the address must be an object", fname("address"))
    address_out = None
    if address:
        address_out = {k: text(address.get(k), field_name=f"{fname('address')}.{k}")
                       for k in ("line1", "line2", "town", "county", "postcode")}
        if not any(address_out.values()):
            address_out = None
    medical = raw.get("medical_conditions") or []
    phones = raw.get("phones") or []
    for key, values in (("medical_conditions", medical), ("phones", phones)):
        if not isinstance(values, list):
            raise RowError(f"{fname(key)} must be a list", fname(key))
    first_language = get_text("first_language", 40).upper()
    eal_raw = raw.get("eal")
    eal = (flag(eal_raw, field_name=fname("eal")) if eal_raw not in (None, "")
           else bool(first_language) and first_language not in ("ENG", "ENB", "ENGLISH"))
    data = {
        "upn": upn,
        "upn_temporary": temporary,
        "admission_number": get_text("admission_number", 40),
        "legal_first_name": first,
        "legal_last_name": last,
        "preferred_first_name": get_text("preferred_first_name") or first,
        "preferred_last_name": get_text("preferred_last_name") or last,
        "middle_names": get_text("middle_names"),
        "date_of_birth": dob.isoformat(),
        "gender": GENDERS[gender_raw],
        "ethnicity": get_text("ethnicity", 40),
        "religion": get_text("religion", 60),
        "first_language": first_language,
        "sen_status": SEN_CODES[sen_raw],
        "pupil_premium": flag(raw.get("pupil_premium"), field_name=fname("pupil_premium")),
        "fsm": flag(raw.get("fsm"), field_name=fname("fsm")),
        "eal": eal,
        "looked_after": flag(raw.get("looked_after"), field_name=fname("looked_after")),
        "year_group": get_text("year_group", 60),
        "tutor_group": get_text("tutor_group", 60),
        "admission_date": _iso(admission),
        "date_of_arrival": _iso(arrival),
        "leaving_date": _iso(leaving),
        "address": address_out,
        "medical_conditions": [text(m, field_name=fname("medical_conditions"))
                               for m in medical if text(m)],
        "phones": [text(p, field_name=fname("phones"), limit=40) for p in phones if text(p)],
        "email": get_text("email", 254),
    }
    return StudentRecord(mis_id=mis_id, upn=upn, upn_temporary=temporary, data=data,
                         location=location)


def build_staff(raw: dict, *, location: str, date_format: str = "iso",
                field_names: dict[str, str] | None = None) -> StaffRecord:
    names = field_names or {}

    def fname(key: str) -> str:
        return names.get(key, key)

    mis_id = text(raw.get("mis_id"), field_name=fname("mis_id"), limit=100)
    if not mis_id:
        raise RowError("the member of staff has no MIS id", fname("mis_id"))
    first = text(raw.get("first_name"), field_name=fname("first_name"))
    last = text(raw.get("last_name"), field_name=fname("last_name"))
    if not first or not last:
        raise RowError("the member of staff's first or last name is missing",
                       fname("first_name" if not first else "last_name"))
    start = date_value(raw.get("start_date"), field_name=fname("start_date"),
                       date_format=date_format)
    end = date_value(raw.get("end_date"), field_name=fname("end_date"),
                     date_format=date_format)
    if start and end and end < start:
        raise RowError(f"end date {end.isoformat()} is before the start date",
                       fname("end_date"))
    email = text(raw.get("email"), field_name=fname("email"), limit=254)
    if email and ("@" not in email or " " in email):
        raise RowError(f"{email!r} is not an email address", fname("email"))
    data = {
        "title": text(raw.get("title"), field_name=fname("title"), limit=20),
        "first_name": first,
        "last_name": last,
        "legal_first_name": text(raw.get("legal_first_name"),
                                 field_name=fname("legal_first_name")) or first,
        "legal_last_name": text(raw.get("legal_last_name"),
                                field_name=fname("legal_last_name")) or last,
        "email": email.lower(),
        "job_title": text(raw.get("job_title"), field_name=fname("job_title")),
        "permanent": flag(raw.get("permanent"), field_name=fname("permanent")),
        "full_time": flag(raw.get("full_time"), field_name=fname("full_time")),
        "start_date": _iso(start),
        "end_date": _iso(end),
    }
    return StaffRecord(mis_id=mis_id, data=data, location=location)


def build_contact(raw: dict, *, field_prefix: str = "",
                  field_names: dict[str, str] | None = None) -> dict:
    names = field_names or {}

    def fname(key: str) -> str:
        return f"{field_prefix}{names.get(key, key)}"

    first = text(raw.get("first_name"), field_name=fname("first_name"))
    last = text(raw.get("last_name"), field_name=fname("last_name"))
    if not first and not last:
        raise RowError("a contact has no name", fname("last_name"))
    priority = raw.get("priority") or 0
    try:
        priority = int(priority)
    except (TypeError, ValueError) as exc:
        raise RowError(f"contact priority {priority!r} is not a number",
                       fname("priority")) from exc
    phones = raw.get("phones") or []
    if not isinstance(phones, list):
        raise RowError("a contact's phones must be a list", fname("phones"))
    address = raw.get("address")
    if address is not None and not isinstance(address, dict):
        raise RowError("a contact's address must be an object", fname("address"))
    address_out = None
    if address:
        address_out = {k: text(address.get(k), field_name=fname(f"address.{k}"))
                       for k in ("line1", "line2", "town", "county", "postcode")}
        if not any(address_out.values()):
            address_out = None
    return {
        "mis_id": text(raw.get("mis_id"), field_name=fname("mis_id"), limit=100),
        "title": text(raw.get("title"), field_name=fname("title"), limit=20),
        "first_name": first,
        "last_name": last,
        "relationship": text(raw.get("relationship"), field_name=fname("relationship"),
                             limit=60),
        "parental_responsibility": flag(raw.get("parental_responsibility"),
                                        field_name=fname("parental_responsibility")),
        "priority": priority,
        "phones": [text(p, field_name=fname("phones"), limit=40) for p in phones if text(p)],
        "email": text(raw.get("email"), field_name=fname("email"), limit=254),
        "address": address_out,
    }


def sort_contacts(contacts: list[dict]) -> list[dict]:
    return sorted(contacts, key=lambda c: (c["priority"] or 999, c["last_name"],
                                           c["first_name"], c["mis_id"]))


def build_mark(day, session, code, minutes_late=0, *, field_prefix: str = "",
               ) -> tuple[str, str, str]:
    parsed = date_value(day, field_name=f"{field_prefix}date")
    if parsed is None:
        raise RowError("an attendance mark has no date", f"{field_prefix}date")
    sess = text(session, field_name=f"{field_prefix}session").upper()
    if sess not in attendance.SESSIONS:
        raise RowError(f"session {session!r} is not AM or PM", f"{field_prefix}session")
    try:
        normalised = attendance.normalise_code(text(code, field_name=f"{field_prefix}code"))
    except ValueError as exc:
        raise RowError(f"{exc} for {parsed.isoformat()} {sess}", f"{field_prefix}code") from exc
    try:
        minutes = int(minutes_late or 0)
    except (TypeError, ValueError) as exc:
        raise RowError(f"minutes late {minutes_late!r} is not a number",
                       f"{field_prefix}minutes_late") from exc
    if minutes < 0 or minutes > 600:
        raise RowError(f"minutes late {minutes} is not plausible", f"{field_prefix}minutes_late")
    return parsed.isoformat(), sess, attendance.join_code(normalised, minutes)


@dataclass
class KeyTracker:
    """Duplicate detection within one run (rebuilt when a run resumes: sources replay).

    ``mark``/``rollback`` undo what a batch added when its transaction fails.
    """

    students: dict[str, str] = field(default_factory=dict)  # key -> location first seen
    upns: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)
    undo: list[tuple[dict, str]] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.undo)

    def rollback(self, mark: int) -> None:
        while len(self.undo) > mark:
            table, key = self.undo.pop()
            table.pop(key, None)

    def _add(self, table: dict, key: str, location: str) -> None:
        table[key] = location
        self.undo.append((table, key))

    def student_duplicate(self, record: StudentRecord) -> str | None:
        seen = self.students.get(record.mis_id)
        if seen is not None:
            return f"the same pupil ({record.mis_id}) appears earlier in the file ({seen})"
        if record.upn:
            seen = self.upns.get(record.upn)
            if seen is not None:
                return f"UPN {record.upn} is used by another pupil earlier in the file ({seen})"
        self._add(self.students, record.mis_id, record.location)
        if record.upn:
            self._add(self.upns, record.upn, record.location)
        return None

    def staff_duplicate(self, record: StaffRecord) -> str | None:
        seen = self.staff.get(record.mis_id)
        if seen is not None:
            return f"the same member of staff ({record.mis_id}) appears earlier ({seen})"
        self._add(self.staff, record.mis_id, record.location)
        return None

    def settle(self) -> None:
        """Forget the undo log (after a commit)."""
        self.undo.clear()
