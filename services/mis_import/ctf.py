"""CTF XML (the DfE Common Transfer File, versions 20 to 25): safe, streaming parsing.

Safety: a CTF never needs a DTD or entities, so none are allowed. The first pass runs expat
with the handlers defusedxml uses, stricter: any document type declaration, any entity
declaration (internal, external or unparsed) and any external reference is refused before
anything is expanded or fetched; nothing is loaded from disk or the network. The second pass
re-checks the prolog the same way and then reads the pupils with the standard library's C
parser (defusedxml's parser runs its handlers in Python and is three times slower), clearing
each ``Pupil`` once read, so memory stays flat whatever the file size.

The first pass (``check``) also reads and validates the header and counts the pupils, so a
file that is not well-formed XML, or not a CTF we can read, is refused before any of it is
imported. The second pass (``items``) yields one item per pupil; a pupil with a malformed or
impossible value is a ``Rejected`` item whose location is an XPath-like path.

What a CTF carries: UPN (the key: a CTF has no MIS id), names, date of birth, sex, ethnicity,
first language, religion, looked after, FSM history, SEN history, NC year (the year group),
address, phones, email, contacts, attendance (``AttendanceMarks`` per ``YearData``) and the
school history (the admission and leaving dates at the source school). Pupil premium is
derived (free school meals in the last six years, or looked after); EAL from the first
language. There is no tutor group or admission number in a CTF.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.etree.ElementTree import (  # noqa: S405 - only after the hardened scan (see items)
    Element,
    ParseError,
    XMLPullParser,
)
from xml.parsers import expat  # noqa: S408 - hardened below (no DTD, no entities)

from services.mis_import import attendance
from services.mis_import.extract import (
    Checked,
    FileRefused,
    Item,
    Rejected,
    RowError,
    SourceDetails,
    StudentRecord,
    build_contact,
    build_student,
    date_value,
    flag,
    match_key,
    sort_contacts,
    text,
)

SUPPORTED_VERSIONS = range(20, 26)
ROOT = "CTfile"
PUPILS = "CTFpupilData"
READ_SIZE = 64 * 1024

# CBDS contact relationship codes -> words.
RELATIONSHIPS = {
    "PAM": "Mother", "PAF": "Father", "STM": "Step-mother", "STF": "Step-father",
    "FOM": "Foster mother", "FOF": "Foster father", "CAR": "Carer", "REL": "Other relative",
    "FAM": "Other family member", "SWR": "Social worker", "DOC": "Doctor",
    "CHM": "Childminder", "OTH": "Other contact", "HTC": "Head teacher",
    "RLG": "Religious or community leader", "AGN": "Agency",
}
ENGLISH = {"ENG", "ENB"}


# ---- pass 1: hardened expat scan ------------------------------------------------------------

class _Scan:
    """Counts pupils and collects the header's text, refusing DTDs and entities."""

    def __init__(self, *, header_only: bool = False, stop_at_root: bool = False) -> None:
        self.stop_at_root = stop_at_root
        self.stack: list[str] = []
        self.pupils = 0
        self.header: dict[str, str] = {}
        self.chars: list[str] = []
        self.in_header = False
        self.header_done = False
        self.header_only = header_only
        self.parser = expat.ParserCreate()
        p = self.parser
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EndDoctypeDeclHandler = self._end_doctype
        p.EntityDeclHandler = self._entity
        p.UnparsedEntityDeclHandler = self._unparsed_entity
        p.ExternalEntityRefHandler = self._external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text

    # refusals
    def _doctype(self, name, system_id, public_id, _has_internal_subset):
        if system_id or public_id:
            raise FileRefused(
                "The file refers to an external DTD; CTF files never do, and Haven loads "
                "nothing a file points to. It was refused unread.", "line 1")
        self.doctype = name

    def _end_doctype(self):
        raise FileRefused(
            "The file contains a DTD (document type declaration); CTF files never do. It was "
            "refused without reading it.", self._where())

    def _entity(self, name, is_parameter, value, base, system_id, public_id, notation):
        if system_id or public_id:
            raise FileRefused(
                f"The file declares an external entity ({name!r}); Haven never loads what an "
                "XML file points to. It was refused without resolving anything.",
                self._where())
        raise FileRefused(
            f"The file declares an entity ({name!r}); entities can expand without limit and "
            "CTF files never need them. It was refused without expanding anything.",
            self._where())

    def _unparsed_entity(self, name, *_args):
        raise FileRefused(f"The file declares an external entity ({name!r}); refused unread.",
                          self._where())

    def _external(self, *_args):
        raise FileRefused("The file refers to an external resource; refused unread.",
                          self._where())

    def _where(self) -> str:
        return f"line {self.parser.CurrentLineNumber}"

    # structure
    def _start(self, name, _attrs):
        stack = self.stack
        stack.append(name)
        depth = len(stack)
        if depth == 1:
            if self.stop_at_root:
                raise _RootSeen()
            if name != ROOT:
                raise FileRefused(
                    f"This is not a CTF: the root element is <{name}>, not <{ROOT}>.",
                    f"/{name}")
        elif depth == 2:
            if name == "Header":
                self.in_header = True
            elif name == PUPILS and not self.header_done:
                raise FileRefused("The CTF has no <Header> before its pupils.",
                                  f"/{ROOT}/Header")
        elif depth == 3 and name == "Pupil" and stack[1] == PUPILS:
            self.pupils += 1
        if self.in_header:
            self.chars = []

    def _end(self, name):
        stack = self.stack
        if self.in_header and len(stack) > 2:
            key = "/".join(stack[2:])
            self.header.setdefault(key, "".join(self.chars).strip())
            self.chars = []
        if len(stack) == 2 and name == "Header":
            self.in_header = False
            self.header_done = True
            self.details = header_details(self.header)
            if self.header_only:
                raise _HeaderRead()
            # The rest only needs counting: cheaper handlers from here on.
            self.parser.StartElementHandler = self._body_start
            self.parser.EndElementHandler = self._body_end
            self.parser.CharacterDataHandler = None
            self.depth = 1
            return
        stack.pop()

    def _body_start(self, name, _attrs):
        self.depth += 1
        if self.depth == 3 and name == "Pupil":
            self.pupils += 1
        elif self.depth == 2 and name != PUPILS:
            self.other = name

    def _body_end(self, _name):
        self.depth -= 1

    def _text(self, data):
        if self.in_header:
            self.chars.append(data)

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            code = expat.ErrorString(exc.code) if exc.code else str(exc)
            raise FileRefused(
                f"The file is not well-formed XML ({code}).",
                f"line {exc.lineno}, column {exc.offset + 1}") from exc


class _HeaderRead(Exception):
    pass


class _RootSeen(Exception):
    pass


def _num(values: dict[str, str], key: str, digits: int, label: str, *, required: bool = True,
         ) -> str:
    value = values.get(key, "")
    if not value:
        if required:
            raise FileRefused(f"The CTF header has no {label}.", f"/{ROOT}/Header/{key}")
        return ""
    if not re.fullmatch(rf"\d{{{digits}}}", value):
        raise FileRefused(f"The CTF header's {label} {value!r} is not {digits} digits.",
                          f"/{ROOT}/Header/{key}")
    return value


def header_details(values: dict[str, str]) -> SourceDetails:
    """Validate a CTF header (its leaf elements' text by relative path)."""
    where = f"/{ROOT}/Header"
    name = values.get("DocumentName", "")
    if not name:
        raise FileRefused("The CTF header has no document name.", f"{where}/DocumentName")
    if name.strip().lower() != "common transfer file":
        raise FileRefused(f"The document is a {name!r}, not a Common Transfer File.",
                          f"{where}/DocumentName")
    version = values.get("CTFversion", "")
    match = re.fullmatch(r"(\d{1,2})(?:\.(\d{1,2}))?", version)
    if not version:
        raise FileRefused("The CTF header has no CTF version.", f"{where}/CTFversion")
    if not match or int(match.group(1)) not in SUPPORTED_VERSIONS:
        raise FileRefused(
            f"CTF version {version!r} is not supported: Haven reads CTF versions 20 to 25. "
            "Export the file again from an up-to-date MIS.", f"{where}/CTFversion")
    stamp = values.get("DateTime", "")
    if not stamp:
        raise FileRefused("The CTF header has no date and time.", f"{where}/DateTime")
    try:
        generated = dt.datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise FileRefused(f"The CTF header's date and time {stamp!r} is not a date and time.",
                          f"{where}/DateTime") from exc
    if generated.tzinfo is not None:
        generated = generated.astimezone(dt.UTC).replace(tzinfo=None)
    if generated > dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1):
        raise FileRefused(f"The CTF says it was made on {stamp}, in the future.",
                          f"{where}/DateTime")
    lea = _num(values, "SourceSchool/LEA", 3, "source school LA number")
    estab = _num(values, "SourceSchool/Estab", 4, "source school establishment number")
    urn = _num(values, "SourceSchool/URN", 6, "source school URN", required=False)
    school = values.get("SourceSchool/SchoolName", "")
    if not school:
        raise FileRefused("The CTF header has no source school name.",
                          f"{where}/SourceSchool/SchoolName")
    year = values.get("SourceSchool/AcademicYear") or values.get("AcademicYear", "")
    if not year:
        raise FileRefused("The CTF header has no academic year.",
                          f"{where}/SourceSchool/AcademicYear")
    if not re.fullmatch(r"\d{4}", year) or abs(int(year) - generated.year) > 1:
        raise FileRefused(f"The CTF header's academic year {year!r} does not fit its date "
                          f"{generated.date().isoformat()}.", f"{where}/SourceSchool/AcademicYear")
    qualifier = values.get("DocumentQualifier", "").lower()
    if qualifier and qualifier not in ("full", "partial"):
        raise FileRefused(f"The CTF document qualifier {qualifier!r} is not full or partial.",
                          f"{where}/DocumentQualifier")
    return SourceDetails(
        kind="ctf",
        document_name=name,
        version=version,
        generated_at=generated,
        qualifier=qualifier,
        lea=lea,
        estab=estab,
        urn=urn,
        school_name=text(school),
        academic_year=year,
        supplier=text(values.get("SupplierID", "")),
    )


def peek_header(first_bytes: bytes) -> SourceDetails | None:
    """The header of a CTF from its first bytes (None if the header is not complete yet).

    Refuses (FileRefused) what the full check would refuse in those bytes: a DTD, entities,
    another root element, a bad header.
    """
    scan = _Scan(header_only=True)
    try:
        scan.feed(first_bytes, final=False)
    except _HeaderRead:
        return scan.details
    return None


# ---- pass 2: the pupils ---------------------------------------------------------------------

class CtfSource:
    kind = "ctf"

    def __init__(self, open_stream: Callable[[], BinaryIO]) -> None:
        self.open_stream = open_stream
        self.details: SourceDetails | None = None

    def check(self) -> Checked:
        scan = _Scan()
        with self.open_stream() as stream:
            while chunk := stream.read(READ_SIZE):
                scan.feed(chunk)
            scan.feed(b"", final=True)
        if not scan.header_done:
            raise FileRefused("The CTF has no <Header>.", f"/{ROOT}/Header")
        self.details = scan.details
        return Checked(details=scan.details, total=scan.pupils)

    def items(self) -> Iterator[Item]:
        """One item per ``CTFpupilData/Pupil`` (the first pass checked the structure, so
        ``Header`` and ``Pupil`` end tags are all this needs to see).

        Parsed with the standard library's C parser for speed, after the prolog has been
        checked again by the hardened scan: with no DTD before the root element, no entity
        can be declared, so nothing can expand or be fetched (and expat >= 2.4 would limit
        amplification anyway).
        """
        details: SourceDetails | None = None
        index = 0
        prolog = _Scan(stop_at_root=True)
        in_prolog = True
        parser = XMLPullParser(events=("end",))
        with self.open_stream() as stream:
            while True:
                chunk = stream.read(READ_SIZE)
                if in_prolog and chunk:
                    try:
                        prolog.feed(chunk)
                    except _RootSeen:
                        in_prolog = False
                try:
                    if chunk:
                        parser.feed(chunk)
                    else:
                        parser.close()
                except ParseError as exc:
                    raise FileRefused(f"The file is not well-formed XML ({exc}).") from exc
                for _event, elem in parser.read_events():
                    tag = elem.tag
                    if tag == "Pupil":
                        index += 1
                        if details is None:
                            raise FileRefused("The CTF has no <Header> before its pupils.",
                                              f"/{ROOT}/Header")
                        yield pupil_item(elem, index, details)
                        elem.clear()  # an empty shell stays in CTFpupilData: ~100 bytes
                    elif tag == "Header" and details is None:
                        details = header_details(_leaf_texts(elem))
                        self.details = details
                    elif tag == PUPILS:
                        elem.clear()
                if not chunk:
                    if in_prolog:
                        raise FileRefused("The file has no root element.", "line 1")
                    return


def _leaf_texts(elem: Element, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for child in elem:
        key = f"{prefix}{child.tag}"
        if len(child):
            out.update(_leaf_texts(child, key + "/"))
        else:
            out.setdefault(key, (child.text or "").strip())
    return out


def _t(elem: Element | None, name: str) -> str:
    if elem is None:
        return ""
    child = elem.find(name)
    if child is None or child.text is None:
        return ""
    return child.text.strip()


def _address(elem: Element | None) -> dict | None:
    if elem is None:
        return None
    bs = elem.find("BS7666Address")
    postcode = _t(elem, "PostCode") or _t(bs, "PostCode")
    if bs is not None:
        line1 = " ".join(p for p in (_t(bs, "SAON"), _t(bs, "PAON"), _t(bs, "Street")) if p)
        return {"line1": line1, "line2": _t(bs, "Locality"),
                "town": _t(bs, "Town") or _t(bs, "PostTown"),
                "county": _t(bs, "AdministrativeArea"), "postcode": postcode}
    lines = elem.find("AddressLines")
    if lines is not None:
        values = [_t(lines, f"AddressLine{i}") for i in range(1, 6)]
        values = [v for v in values if v]
        return {"line1": values[0] if values else "", "line2": ", ".join(values[1:-1]),
                "town": values[-1] if len(values) > 1 else "", "county": _t(elem, "County"),
                "postcode": postcode}
    return {"line1": "", "line2": "", "town": "", "county": "", "postcode": postcode}


def _phones(elem: Element | None) -> list[str]:
    if elem is None:
        return []
    phones = elem.find("Phones")
    if phones is None:
        return []
    return [(p.findtext("PhoneNo") or "").strip() for p in phones.findall("Phone")
            if (p.findtext("PhoneNo") or "").strip()]


def _year_group(nc: str) -> str:
    nc = nc.strip().upper()
    if not nc or nc == "X":
        return ""
    if nc == "R":
        return "Reception"
    if nc in ("N1", "N2"):
        return f"Nursery {nc[1]}"
    if nc.isascii() and nc.isdigit() and 1 <= int(nc) <= 14:
        return f"Year {int(nc)}"
    raise RowError(f"NC year {nc!r} is not a national curriculum year", "BasicDetails/NCyearActual")


def pupil_item(elem: Element, index: int, details: SourceDetails) -> Item:
    path = f"/{ROOT}/{PUPILS}/Pupil[{index}]"
    upn = _t(elem, "UPN")
    label = f"{_t(elem, 'Forename')} {_t(elem, 'Surname')}".strip()
    try:
        record = _pupil(elem, path, details)
    except RowError as exc:
        location = f"{path}/{exc.field}" if exc.field else path
        return Rejected(location=location, reason=exc.reason, key=upn, label=label,
                        student_key=upn, match_key=match_key(
                            _t(elem, "Forename"), _t(elem, "Surname"), _t(elem, "DOB")))
    return record


def _pupil(elem: Element, path: str, details: SourceDetails) -> StudentRecord:
    as_of = (details.generated_at or dt.datetime.now()).date()
    basic = elem.find("BasicDetails")
    languages = basic.find("Languages") if basic is not None else None
    first_language = ""
    if languages is not None:
        types = languages.findall("Type")
        chosen = next((t for t in types if _t(t, "LanguageType").upper() == "F"),
                      types[0] if types else None)
        first_language = _t(chosen, "Language")
    looked_after = flag(_t(elem.find("LookedAfter"), "InCare"), field_name="LookedAfter/InCare")
    fsm, fsm_ever6 = _fsm(elem.find("FSMhistory"), as_of)
    sen = _sen(elem, basic)
    admission, leaving = _history(elem.find("SchoolHistory"), details)
    raw = {
        "upn": _t(elem, "UPN"),
        "legal_first_name": _t(elem, "Forename"),
        "legal_last_name": _t(elem, "Surname"),
        "middle_names": _t(elem, "MiddleNames"),
        "preferred_first_name": _t(elem, "PreferredForename"),
        "preferred_last_name": _t(elem, "PreferredSurname"),
        "date_of_birth": _t(elem, "DOB"),
        "gender": _t(elem, "Sex") or _t(elem, "Gender"),
        "ethnicity": _t(basic, "Ethnicity"),
        "religion": _t(basic, "Religion"),
        "first_language": first_language,
        "sen_status": sen,
        "pupil_premium": fsm_ever6 or looked_after,
        "fsm": fsm,
        "looked_after": looked_after,
        "year_group": _year_group(_t(basic, "NCyearActual")),
        "admission_date": admission,
        "leaving_date": leaving,
        "address": _address(elem.find("Address")),
        "phones": _phones(elem),
        "email": _t(elem, "Email"),
    }
    record = build_student(raw, as_of=as_of, location=path, require_upn=True,
                           field_names=_FIELDS)
    record.contacts = _contacts(elem.find("Contacts"), record, raw["address"])
    record.marks = _attendance(elem.find("Attendance"))
    return record


_FIELDS = {
    "upn": "UPN", "mis_id": "UPN", "legal_first_name": "Forename",
    "legal_last_name": "Surname", "date_of_birth": "DOB", "gender": "Sex",
    "ethnicity": "BasicDetails/Ethnicity", "religion": "BasicDetails/Religion",
    "first_language": "BasicDetails/Languages", "sen_status": "SENhistory",
    "admission_date": "SchoolHistory/School/EntryDate",
    "date_of_arrival": "SchoolHistory/School/EntryDate",
    "leaving_date": "SchoolHistory/School/LeavingDate", "email": "Email",
    "address": "Address", "phones": "Phones", "middle_names": "MiddleNames",
    "preferred_first_name": "PreferredForename", "preferred_last_name": "PreferredSurname",
}


_CONTACT_FIELDS = {
    "parental_responsibility": "Responsibility", "first_name": "Forename",
    "last_name": "Surname", "priority": "Order", "email": "Email", "phones": "Phones",
    "title": "Title", "relationship": "Relationship", "address": "Address",
}


def _fsm(history: Element | None, as_of: dt.date) -> tuple[bool, bool]:
    if history is None:
        return False, False
    current = ever6 = False
    six_years_ago = as_of.replace(year=as_of.year - 6) if not (
        as_of.month == 2 and as_of.day == 29) else as_of.replace(year=as_of.year - 6, day=28)
    for i, inst in enumerate(history.findall("FSMinstance"), 1):
        where = f"FSMhistory/FSMinstance[{i}]"
        start = date_value(_t(inst, "FSMstartDate"), field_name=f"{where}/FSMstartDate")
        end = date_value(_t(inst, "FSMendDate"), field_name=f"{where}/FSMendDate")
        if start is None:
            raise RowError("an FSM period has no start date", f"{where}/FSMstartDate")
        if end is not None and end < start:
            raise RowError("an FSM period ends before it starts", f"{where}/FSMendDate")
        if start <= as_of and (end is None or end >= as_of):
            current = True
        if (end or as_of) >= six_years_ago and start <= as_of:
            ever6 = True
    return current, ever6


def _sen(elem: Element, basic: Element | None) -> str:
    history = elem.find("SENhistory")
    latest: tuple[dt.date, str] | None = None
    if history is not None:
        for i, sen in enumerate(history.findall("SEN"), 1):
            where = f"SENhistory/SEN[{i}]"
            start = date_value(_t(sen, "StartDate"), field_name=f"{where}/StartDate")
            provision = _t(sen, "SENprovision")
            if not provision:
                raise RowError("an SEN record has no provision", f"{where}/SENprovision")
            key = (start or dt.date.min, provision)
            if latest is None or key[0] >= latest[0]:
                latest = key
    if latest is not None:
        return latest[1]
    return _t(basic, "SENprovision") or "N"


def _history(history: Element | None, details: SourceDetails) -> tuple[str, str]:
    """EntryDate and LeavingDate of the (latest) spell at the source school."""
    if history is None:
        return "", ""
    best: tuple[str, str] | None = None
    for i, school in enumerate(history.findall("School"), 1):
        if _t(school, "LEA") != details.lea or _t(school, "Estab") != details.estab:
            continue
        where = f"SchoolHistory/School[{i}]"
        entry = date_value(_t(school, "EntryDate"), field_name=f"{where}/EntryDate")
        leaving = date_value(_t(school, "LeavingDate"), field_name=f"{where}/LeavingDate")
        pair = (entry.isoformat() if entry else "", leaving.isoformat() if leaving else "")
        if best is None or pair[0] >= best[0]:
            best = pair
    return best or ("", "")


def _contacts(elem: Element | None, record: StudentRecord, pupil_address: dict | None,
              ) -> list[dict] | None:
    if elem is None:
        return None
    out = []
    for i, contact in enumerate(elem.findall("Contact"), 1):
        where = f"Contacts/Contact[{i}]/"
        code = _t(contact, "Relationship").upper()
        address = None
        if flag(_t(contact, "AddressAsPupil"), field_name=f"{where}AddressAsPupil"):
            address = pupil_address
        elif contact.find("Address") is not None:
            address = _address(contact.find("Address"))
        order = _t(contact, "Order") or str(i)
        raw = {
            "mis_id": f"{record.mis_id}-{order}",
            "title": _t(contact, "Title"),
            "first_name": _t(contact, "Forename"),
            "last_name": _t(contact, "Surname"),
            "relationship": RELATIONSHIPS.get(code, code.title()),
            "parental_responsibility": _t(contact, "Responsibility"),
            "priority": order,
            "phones": _phones(contact),
            "email": _t(contact, "Email"),
            "address": address,
        }
        out.append(build_contact(raw, field_prefix=where, field_names=_CONTACT_FIELDS))
    return sort_contacts(out)


def _attendance(elem: Element | None) -> attendance.YearMarks | None:
    if elem is None:
        return None
    marks: attendance.YearMarks = {}
    for i, year in enumerate(elem.findall("YearData"), 1):
        where = f"Attendance/YearData[{i}]"
        for total in ("SessionsPossible", "SessionsAuthorised", "SessionsUnauthorised"):
            value = _t(year, total)
            if value and not (value.isascii() and value.isdigit()):
                raise RowError(f"{total} {value!r} is not a number of sessions",
                               f"{where}/{total}")
        string = _t(year, "AttendanceMarks")
        if not string:
            continue
        start = date_value(_t(year, "AttendanceStartDate"),
                           field_name=f"{where}/AttendanceStartDate")
        if start is None:
            raise RowError("attendance marks without a start date",
                           f"{where}/AttendanceStartDate")
        if len(string) > 2 * 400:
            raise RowError("attendance marks cover more than a year", f"{where}/AttendanceMarks")
        try:
            attendance.decode_marks_string(string, start, into=marks)
        except ValueError as exc:
            raise RowError(str(exc), f"{where}/AttendanceMarks") from exc
    return marks
