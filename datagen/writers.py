"""Writers: a synthetic school as a CTF XML file, an MIS JSON feed, or CSV files.

- ``write_ctf``: the DfE Common Transfer File layout (root ``CTfile``, ``Header``,
  ``CTFpupilData/Pupil``), versions 20 to 25. Attendance is one ``YearData`` per pupil with
  the session totals and ``AttendanceMarks``: one character per session, two per calendar day
  (AM then PM) from ``AttendanceStartDate``, ``-`` where no mark applies.
- ``feed_document``: the JSON feed an MIS connector pushes to Haven (see
  ``services/mis_import/README.md``), full or delta.
- ``write_students_csv`` / ``write_staff_csv``: CSV files with the given column headers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

from datagen.school import Address, Phone, Pupil, School

# ---- CTF --------------------------------------------------------------------------------


def _el(name: str, value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, dt.date):
        value = value.isoformat()
    return f"<{name}>{escape(str(value))}</{name}>"


def _ctf_address(address: Address) -> str:
    number, _, street = address.line1.partition(" ")
    return (
        "<Address><BS7666Address>"
        + _el("PAON", number) + _el("Street", street) + _el("Locality", address.line2)
        + _el("Town", address.town) + _el("AdministrativeArea", address.county)
        + _el("PostTown", address.town)
        + "</BS7666Address>" + _el("PostCode", address.postcode) + "</Address>"
    )


def _ctf_phones(phones: list[Phone]) -> str:
    if not phones:
        return ""
    return "<Phones>" + "".join(
        "<Phone>" + _el("TelephoneType", p.kind) + _el("PhoneNo", p.number) + "</Phone>"
        for p in phones
    ) + "</Phones>"


def attendance_marks_string(marks: dict[tuple[dt.date, str], str], start: dt.date,
                            end: dt.date) -> str:
    out = []
    day = start
    while day <= end:
        out.append(marks.get((day, "AM"), "-"))
        out.append(marks.get((day, "PM"), "-"))
        day += dt.timedelta(days=1)
    return "".join(out)


_AUTHORISED = set("CEHIMRST")
_UNAUTHORISED = set("GNOU")
_NOT_POSSIBLE = set("#XYZD")


def _ctf_attendance(school: School, pupil: Pupil) -> str:
    if not pupil.marks:
        return ""
    start = min(d for d, _ in pupil.marks)
    end = max(d for d, _ in pupil.marks)
    codes = list(pupil.marks.values())
    possible = sum(1 for c in codes if c not in _NOT_POSSIBLE)
    authorised = sum(1 for c in codes if c in _AUTHORISED)
    unauthorised = sum(1 for c in codes if c in _UNAUTHORISED)
    return (
        "<Attendance><YearData>"
        + _el("Year", school.year.start_year) + _el("LEA", school.lea)
        + _el("Estab", school.estab) + _el("SchoolName", school.name)
        + _el("SessionsPossible", possible) + _el("SessionsAuthorised", authorised)
        + _el("SessionsUnauthorised", unauthorised)
        + _el("AttendanceStartDate", start)
        + _el("AttendanceMarks", attendance_marks_string(pupil.marks, start, end))
        + "</YearData></Attendance>"
    )


def ctf_pupil(school: School, pupil: Pupil, *, contacts: bool = True,
              attendance: bool = True, version: int = 25) -> str:
    """One ``<Pupil>`` element."""
    basic = (
        "<BasicDetails>"
        + _el("Ethnicity", pupil.ethnicity) + _el("EthnicitySource", "P")
        + "<Languages><Type>" + _el("LanguageType", "F") + _el("Language", pupil.first_language)
        + "</Type></Languages>"
        + _el("MedicalFlag", bool(pupil.medical_conditions))
        + _el("NCyearActual", pupil.nc_year) + _el("Religion", pupil.religion)
        + _el("EnrolStatus", "C")
        + "</BasicDetails>"
    )
    fsm = ""
    if pupil.fsm_start:
        fsm = ("<FSMhistory><FSMinstance>" + _el("FSMstartDate", pupil.fsm_start)
               + _el("UKcountry", "ENG") + "</FSMinstance></FSMhistory>")
    sen = ""
    if pupil.sen_start:
        sen = ("<SENhistory><SEN>" + _el("StartDate", pupil.sen_start)
               + _el("SENprovision", pupil.sen_status) + "</SEN></SENhistory>")
    contact_xml = ""
    if contacts and pupil.contacts:
        parts = []
        for c in pupil.contacts:
            parts.append(
                "<Contact>" + _el("Order", c.priority) + _el("Title", c.title)
                + _el("Surname", c.last_name) + _el("Forename", c.first_name)
                + _el("Relationship", c.relationship_code)
                + _el("Responsibility", c.parental_responsibility)
                + _ctf_phones(c.phones) + _el("Email", c.email)
                + (_ctf_address(c.address) if c.address else _el("AddressAsPupil", True))
                + "</Contact>"
            )
        contact_xml = "<Contacts>" + "".join(parts) + "</Contacts>"
    history = (
        "<SchoolHistory><School>" + _el("LEA", school.lea) + _el("Estab", school.estab)
        + _el("SchoolName", school.name) + _el("EntryDate", pupil.admission_date)
        + _el("LeavingDate", pupil.leaving_date)
        + (_el("LeavingReason", "TRANSFER") if pupil.leaving_date else "")
        + "</School></SchoolHistory>"
    )
    sex = _el("Sex" if version >= 22 else "Gender", pupil.gender)
    return (
        "<Pupil>"
        + _el("UPN", pupil.upn)
        + _el("Surname", pupil.legal_last_name) + _el("Forename", pupil.legal_first_name)
        + _el("MiddleNames", pupil.middle_names)
        + _el("PreferredSurname", pupil.preferred_last_name)
        + _el("PreferredForename", pupil.preferred_first_name)
        + _el("DOB", pupil.date_of_birth) + sex
        + basic
        + "<LookedAfter>" + _el("InCare", pupil.looked_after) + "</LookedAfter>"
        + fsm + sen
        + _ctf_address(pupil.address) + _ctf_phones(pupil.phones) + _el("Email", pupil.email)
        + contact_xml
        + (_ctf_attendance(school, pupil) if attendance else "")
        + history
        + "</Pupil>"
    )


def ctf_header(school: School, *, version: int = 25, generated_at: dt.datetime | None = None,
               qualifier: str = "full") -> str:
    stamp = (generated_at or school.generated_at).replace(microsecond=0).isoformat()
    return (
        "<Header>" + _el("DocumentName", "Common Transfer File")
        + _el("CTFversion", f"{version}.0") + _el("DateTime", stamp)
        + _el("DocumentQualifier", qualifier) + _el("SupplierID", "Haven datagen")
        + "<SourceSchool>" + _el("LEA", school.lea) + _el("Estab", school.estab)
        + _el("URN", school.urn) + _el("SchoolName", school.name)
        + _el("AcademicYear", school.year.start_year) + "</SourceSchool>"
        + "<DestSchool>" + _el("LEA", school.lea) + _el("Estab", school.estab)
        + "</DestSchool>"
        + "</Header>"
    )


def write_ctf(school: School, out: IO[bytes] | str | Path, *, version: int = 25,
              pupils: Iterable[Pupil] | None = None, contacts: bool = True,
              attendance: bool = True, generated_at: dt.datetime | None = None) -> None:
    """Write a CTF (UTF-8) to a binary stream or a path."""
    if isinstance(out, str | Path):
        with open(out, "wb") as fh:
            write_ctf(school, fh, version=version, pupils=pupils, contacts=contacts,
                      attendance=attendance, generated_at=generated_at)
        return
    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<CTfile>')
    out.write(ctf_header(school, version=version, generated_at=generated_at).encode())
    out.write(b"<CTFpupilData>\n")
    for pupil in school.pupils if pupils is None else pupils:
        out.write(ctf_pupil(school, pupil, contacts=contacts, attendance=attendance,
                            version=version).encode())
        out.write(b"\n")
    out.write(b"</CTFpupilData></CTfile>\n")


def ctf_bytes(school: School, **kwargs) -> bytes:
    buf = io.BytesIO()
    write_ctf(school, buf, **kwargs)
    return buf.getvalue()


# ---- JSON feed ----------------------------------------------------------------------------


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _address(a: Address) -> dict:
    return {"line1": a.line1, "line2": a.line2, "town": a.town, "county": a.county,
            "postcode": a.postcode}


def student_json(p: Pupil) -> dict:
    return {
        "id": p.mis_id,
        "upn": p.upn,
        "admission_number": p.admission_number,
        "legal_first_name": p.legal_first_name,
        "legal_last_name": p.legal_last_name,
        "preferred_first_name": p.preferred_first_name,
        "preferred_last_name": p.preferred_last_name,
        "middle_names": p.middle_names,
        "date_of_birth": _iso(p.date_of_birth),
        "gender": p.gender,
        "ethnicity": p.ethnicity,
        "religion": p.religion,
        "first_language": p.first_language,
        "sen_status": p.sen_status,
        "pupil_premium": p.pupil_premium,
        "fsm": p.fsm,
        "eal": p.eal,
        "looked_after": p.looked_after,
        "year_group": p.year_group,
        "tutor_group": p.tutor_group,
        "admission_date": _iso(p.admission_date),
        "date_of_arrival": _iso(p.date_of_arrival),
        "leaving_date": _iso(p.leaving_date),
        "address": _address(p.address),
        "phones": [ph.number for ph in p.phones],
        "email": p.email,
        "medical_conditions": list(p.medical_conditions),
    }


def feed_document(
    school: School,
    *,
    school_id: str,
    mode: str = "full",
    updated_after: dt.datetime | None = None,
    generated_at: dt.datetime | None = None,
    pupils: Iterable[Pupil] | None = None,
    staff: bool = True,
    groups: bool = True,
    contacts: bool = True,
    attendance: bool = True,
    attendance_since: dt.date | None = None,
) -> dict:
    """The JSON feed as a dict (``json.dumps`` it to send)."""
    chosen = list(school.pupils if pupils is None else pupils)
    doc: dict = {
        "school_id": school_id,
        "mode": mode,
        "generated_at": (generated_at or school.generated_at).replace(microsecond=0)
        .isoformat() + "Z",
        "students": [student_json(p) for p in chosen],
    }
    if updated_after is not None:
        doc["updated_after"] = updated_after.replace(microsecond=0).isoformat() + "Z"
    if staff:
        doc["employees"] = [{
            "id": s.mis_id, "title": s.title, "first_name": s.first_name,
            "last_name": s.last_name, "legal_first_name": s.legal_first_name,
            "legal_last_name": s.legal_last_name, "email": s.email, "job_title": s.job_title,
            "permanent": s.permanent, "full_time": s.full_time,
            "start_date": _iso(s.start_date), "end_date": _iso(s.end_date),
        } for s in school.staff]
    if groups:
        doc["groups"] = [{"id": g.mis_id, "name": g.name, "kind": g.kind,
                          "staff_ids": list(g.staff_mis_ids)} for g in school.groups]
    if contacts:
        # One entry per person: a parent of siblings lists each of them under "students".
        people: dict[str, dict] = {}
        for p in chosen:
            for c in p.contacts:
                person = people.setdefault(c.mis_id, {
                    "id": c.mis_id, "title": c.title, "first_name": c.first_name,
                    "last_name": c.last_name, "phones": [ph.number for ph in c.phones],
                    "email": c.email, "address": _address(c.address or p.address),
                    "students": []})
                person["students"].append({
                    "student_id": p.mis_id, "relationship": c.relationship,
                    "parental_responsibility": c.parental_responsibility,
                    "priority": c.priority})
        doc["contacts"] = list(people.values())
    if attendance:
        doc["attendance"] = [
            {"student_id": p.mis_id, "date": day.isoformat(), "session": session, "code": code}
            for p in chosen
            for (day, session), code in sorted(p.marks.items())
            if attendance_since is None or day >= attendance_since
        ]
    return doc


def feed_bytes(school: School, **kwargs) -> bytes:
    return json.dumps(feed_document(school, **kwargs)).encode()


# ---- CSV ----------------------------------------------------------------------------------

STUDENT_CSV_HEADERS = {
    "mis_id": "Admission No",
    "upn": "UPN",
    "legal_first_name": "Legal Forename",
    "legal_last_name": "Legal Surname",
    "preferred_first_name": "Preferred Forename",
    "middle_names": "Middle Name(s)",
    "date_of_birth": "DOB",
    "gender": "Gender",
    "ethnicity": "Ethnicity",
    "religion": "Religion",
    "first_language": "First Language",
    "sen_status": "SEN Status",
    "pupil_premium": "Pupil Premium",
    "fsm": "FSM",
    "eal": "EAL",
    "looked_after": "In Care",
    "year_group": "Year",
    "tutor_group": "Reg Group",
    "admission_date": "Admission Date",
    "leaving_date": "Leaving Date",
    "address_line1": "Address 1",
    "town": "Town",
    "postcode": "Postcode",
    "medical_conditions": "Medical Conditions",
}

STAFF_CSV_HEADERS = {
    "mis_id": "Staff Code",
    "title": "Title",
    "first_name": "Forename",
    "last_name": "Surname",
    "email": "Work Email",
    "job_title": "Role",
    "permanent": "Permanent",
    "full_time": "Full Time",
    "start_date": "Start Date",
    "end_date": "End Date",
}


def _fmt_date(value: dt.date | None, date_format: str) -> str:
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y") if date_format == "dmy" else value.isoformat()


def _yn(value: bool) -> str:
    return "Y" if value else "N"


def students_csv_text(school: School, *, headers: dict[str, str] | None = None,
                      pupils: Iterable[Pupil] | None = None, date_format: str = "dmy") -> str:
    headers = headers or STUDENT_CSV_HEADERS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(list(headers.values()))
    for p in school.pupils if pupils is None else pupils:
        values = {
            "mis_id": p.admission_number, "upn": p.upn, "legal_first_name": p.legal_first_name,
            "legal_last_name": p.legal_last_name, "preferred_first_name": p.preferred_first_name,
            "preferred_last_name": p.preferred_last_name, "middle_names": p.middle_names,
            "date_of_birth": _fmt_date(p.date_of_birth, date_format), "gender": p.gender,
            "ethnicity": p.ethnicity, "religion": p.religion,
            "first_language": p.first_language, "sen_status": p.sen_status,
            "pupil_premium": _yn(p.pupil_premium), "fsm": _yn(p.fsm), "eal": _yn(p.eal),
            "looked_after": _yn(p.looked_after), "year_group": p.year_group,
            "tutor_group": p.tutor_group,
            "admission_date": _fmt_date(p.admission_date, date_format),
            "date_of_arrival": _fmt_date(p.date_of_arrival, date_format),
            "leaving_date": _fmt_date(p.leaving_date, date_format),
            "address_line1": p.address.line1, "address_line2": p.address.line2,
            "town": p.address.town, "county": p.address.county,
            "postcode": p.address.postcode,
            "medical_conditions": "; ".join(p.medical_conditions),
            "phones": "; ".join(ph.number for ph in p.phones), "email": p.email,
            "admission_number": p.admission_number,
        }
        writer.writerow([values.get(field, "") for field in headers])
    return buf.getvalue()


def staff_csv_text(school: School, *, headers: dict[str, str] | None = None,
                   date_format: str = "dmy") -> str:
    headers = headers or STAFF_CSV_HEADERS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(list(headers.values()))
    for s in school.staff:
        values = {
            "mis_id": s.mis_id, "title": s.title, "first_name": s.first_name,
            "last_name": s.last_name, "legal_first_name": s.legal_first_name,
            "legal_last_name": s.legal_last_name, "email": s.email, "job_title": s.job_title,
            "permanent": _yn(s.permanent), "full_time": _yn(s.full_time),
            "start_date": _fmt_date(s.start_date, date_format),
            "end_date": _fmt_date(s.end_date, date_format),
        }
        writer.writerow([values.get(field, "") for field in headers])
    return buf.getvalue()


def write_students_csv(school: School, out: str | Path, *, encoding: str = "utf-8-sig",
                       **kwargs) -> None:
    Path(out).write_bytes(students_csv_text(school, **kwargs).encode(encoding))


def write_staff_csv(school: School, out: str | Path, *, encoding: str = "utf-8-sig",
                    **kwargs) -> None:
    Path(out).write_bytes(staff_csv_text(school, **kwargs).encode(encoding))
