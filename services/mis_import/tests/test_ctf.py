"""CTF parsing: header checks, every pupil attribute, malformed elements, hostile XML."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import re
import threading

import pytest

from datagen import corrupt_upn, ctf_bytes, generate_school
from datagen.writers import ctf_header, ctf_pupil
from services.mis_import.ctf import CtfSource, peek_header
from services.mis_import.extract import FileRefused, Rejected, StudentRecord

SCHOOL = generate_school(seed=3, pupils=12, leavers=1)


def source(data: bytes) -> CtfSource:
    return CtfSource(lambda: io.BytesIO(data))


def parse(data: bytes):
    src = source(data)
    checked = src.check()
    return checked, list(src.items())


def document(*pupils: str, header: str | None = None, version: int = 25) -> bytes:
    head = header if header is not None else ctf_header(SCHOOL, version=version)
    return (f'<?xml version="1.0" encoding="UTF-8"?><CTfile>{head}<CTFpupilData>'
            + "".join(pupils) + "</CTFpupilData></CTfile>").encode()


def pupil_xml(index: int = 0, **replace: str) -> str:
    xml = ctf_pupil(SCHOOL, SCHOOL.pupils[index])
    for old, new in replace.items():
        assert old in xml, old
        xml = xml.replace(old, new, 1)
    return xml


# ---- header ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [20, 21, 22, 23, 24, 25])
def test_versions_20_to_25_are_read(version):
    checked, items = parse(ctf_bytes(SCHOOL, version=version))
    assert checked.details.version == f"{version}.0"
    assert checked.total == len(SCHOOL.pupils) == len(items)
    assert all(isinstance(i, StudentRecord) for i in items)
    assert {i.data["gender"] for i in items} <= {"M", "F"}  # <Gender> before 22, <Sex> after


@pytest.mark.parametrize("version", [19, 26])
def test_other_versions_are_refused(version):
    with pytest.raises(FileRefused, match=f"CTF version '{version}.0' is not supported") as e:
        source(ctf_bytes(SCHOOL, version=version)).check()
    assert e.value.location == "/CTfile/Header/CTFversion"


def test_the_header_is_read():
    details = peek_header(ctf_bytes(SCHOOL)[:4096])
    assert (details.lea, details.estab, details.urn, details.school_name) == (
        "823", "4001", "140123", "Haven Demo Academy")
    assert details.academic_year == "2025"
    assert details.qualifier == "full"
    assert details.generated_at == dt.datetime(2026, 7, 21, 18, 30)


@pytest.mark.parametrize(("old", "new", "location"), [
    ("<DocumentName>Common Transfer File</DocumentName>", "", "/CTfile/Header/DocumentName"),
    ("Common Transfer File", "Pupil Census", "/CTfile/Header/DocumentName"),
    ("<DateTime>2026-07-21T18:30:00</DateTime>", "<DateTime>yesterday</DateTime>",
     "/CTfile/Header/DateTime"),
    ("<DateTime>2026-07-21T18:30:00</DateTime>", "<DateTime>2099-01-01T00:00:00</DateTime>",
     "/CTfile/Header/DateTime"),
    ("<LEA>823</LEA><Estab>4001</Estab><URN>", "<LEA>82</LEA><Estab>4001</Estab><URN>",
     "/CTfile/Header/SourceSchool/LEA"),
    ("<Estab>4001</Estab><URN>", "<URN>", "/CTfile/Header/SourceSchool/Estab"),
    ("<SchoolName>Haven Demo Academy</SchoolName><AcademicYear>", "<AcademicYear>",
     "/CTfile/Header/SourceSchool/SchoolName"),
    ("<AcademicYear>2025</AcademicYear>", "<AcademicYear>1999</AcademicYear>",
     "/CTfile/Header/SourceSchool/AcademicYear"),
])
def test_a_bad_header_refuses_the_file(old, new, location):
    header = ctf_header(SCHOOL)
    assert old in header
    with pytest.raises(FileRefused) as refused:
        source(document(pupil_xml(), header=header.replace(old, new, 1))).check()
    assert refused.value.location == location


def test_not_a_ctf_is_refused():
    with pytest.raises(FileRefused, match="root element is <Pupils>"):
        source(b"<?xml version='1.0'?><Pupils/>").check()
    with pytest.raises(FileRefused, match="no <Header> before its pupils"):
        source(b"<CTfile><CTFpupilData/></CTfile>").check()


# ---- pupils ---------------------------------------------------------------------------------

def test_every_attribute_of_a_pupil():
    pupil = next(p for p in SCHOOL.pupils if p.contacts and len(p.marks) > 50)
    _, items = parse(ctf_bytes(SCHOOL, pupils=[pupil]))
    (record,) = items
    d = record.data
    assert record.mis_id == record.upn == pupil.upn
    assert d["legal_first_name"] == pupil.legal_first_name
    assert d["legal_last_name"] == pupil.legal_last_name
    assert d["preferred_first_name"] == pupil.preferred_first_name
    assert d["middle_names"] == pupil.middle_names
    assert d["date_of_birth"] == pupil.date_of_birth.isoformat()
    assert d["gender"] == pupil.gender
    assert d["ethnicity"] == pupil.ethnicity
    assert d["religion"] == pupil.religion
    assert d["first_language"] == pupil.first_language
    assert d["eal"] == pupil.eal
    assert d["sen_status"] == pupil.sen_status
    assert d["fsm"] == pupil.fsm
    assert d["looked_after"] == pupil.looked_after
    assert d["year_group"] == pupil.year_group
    assert d["admission_date"] == pupil.admission_date.isoformat()
    assert d["leaving_date"] == ""
    assert d["address"]["postcode"] == pupil.address.postcode
    assert d["address"]["line1"] == pupil.address.line1
    assert d["phones"] == [p.number for p in pupil.phones]
    assert d["email"] == pupil.email
    assert [(c["first_name"], c["relationship"], c["parental_responsibility"], c["phones"])
            for c in record.contacts] == [
        (c.first_name, c.relationship, c.parental_responsibility, [p.number for p in c.phones])
        for c in pupil.contacts]
    marks = {(day, s): code for days in record.marks.values() for day, pair in days.items()
             for s, code in zip(("AM", "PM"), pair, strict=True) if code}
    assert marks == {(d.isoformat(), s): code for (d, s), code in pupil.marks.items()}


def test_a_leaver_has_a_leaving_date():
    leaver = SCHOOL.pupils[-1]
    _, (record,) = parse(ctf_bytes(SCHOOL, pupils=[leaver]))
    assert record.data["leaving_date"] == leaver.leaving_date.isoformat()


def test_optional_elements_may_be_missing():
    bare = (f"<Pupil><UPN>{SCHOOL.pupils[0].upn}</UPN><Surname>Ng</Surname>"
            "<Forename>Ada</Forename><DOB>2013-10-02</DOB></Pupil>")
    _, (record,) = parse(document(bare))
    assert record.data["legal_last_name"] == "Ng"
    assert record.contacts is None and record.marks is None  # "not provided", not "none"
    assert record.data["sen_status"] == "N" and record.data["year_group"] == ""


def test_a_temporary_upn_is_imported_and_flagged():
    temp = generate_school(seed=3, pupils=12, temporary_upn_share=1.0).pupils[0].upn
    _, (record,) = parse(document(pupil_xml(0, **{SCHOOL.pupils[0].upn: temp})))
    assert record.upn_temporary and record.data["upn_temporary"]


def set_element(xml: str, tag: str, value: str) -> str:
    out, n = re.subn(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", xml, count=1)
    assert n == 1, tag
    return out


@pytest.mark.parametrize(("tag", "value", "path", "words"), [
    ("DOB", "2010-02-30", "/DOB", "not a real date"),
    ("DOB", "2031-01-01", "/DOB", "in the future"),
    ("DOB", "1950-01-01", "/DOB", "76 years old"),
    ("UPN", "BAD", "/UPN", "3 characters long, not 13"),
    ("Surname", "", "/Surname", "legal last name is missing"),
    ("Responsibility", "maybe", "/Contacts/Contact[1]/Responsibility", "yes or no"),
    ("AttendanceMarks", "/A", "/Attendance/YearData[1]/AttendanceMarks",
     "unknown attendance code 'A'"),
    ("SessionsPossible", "many", "/Attendance/YearData[1]/SessionsPossible",
     "not a number of sessions"),
    ("NCyearActual", "42", "/BasicDetails/NCyearActual", "national curriculum year"),
    ("NCyearActual", "\u00b2", "/BasicDetails/NCyearActual", "national curriculum year"),
    ("SessionsPossible", "\u00b2", "/Attendance/YearData[1]/SessionsPossible",
     "not a number of sessions"),
    ("EntryDate", "03/09/2025", "/SchoolHistory/School[1]/EntryDate", "is not a date"),
])
def test_a_malformed_value_rejects_that_pupil_with_its_path(tag, value, path, words):
    bad = set_element(pupil_xml(0), tag, value)
    _, items = parse(document(bad, pupil_xml(1)))
    rejected, imported = items
    assert isinstance(rejected, Rejected) and isinstance(imported, StudentRecord)
    assert rejected.location == f"/CTfile/CTFpupilData/Pupil[1]{path}"
    assert words in rejected.reason
    assert rejected.label or tag == "Surname"  # the pupil's name, to find them


def test_an_invalid_upn_check_letter_rejects_the_pupil():
    upn = SCHOOL.pupils[0].upn
    _, (rejected,) = parse(document(pupil_xml(0, **{upn: corrupt_upn(upn)})))
    assert "wrong check letter" in rejected.reason
    assert rejected.location.endswith("Pupil[1]/UPN")


# ---- hostile or broken XML ------------------------------------------------------------------

def test_malformed_xml_is_refused_with_where():
    data = document(pupil_xml(0), pupil_xml(1)).replace(b"</Surname>", b"</Surnme>", 1)
    with pytest.raises(FileRefused, match="not well-formed XML") as refused:
        source(data).check()
    assert refused.value.location.startswith("line ")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE CTfile [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<CTfile><Header><DocumentName>&lol9;</DocumentName></Header></CTfile>"""


def test_entity_expansion_is_refused_without_expanding():
    for peek in (True, False):
        with pytest.raises(FileRefused, match="declares an entity") as refused:
            peek_header(BILLION_LAUGHS) if peek else source(BILLION_LAUGHS).check()
        assert "lol" in refused.value.reason


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<!ENTITY leak 'SECRET'>")

    def log_message(self, *_args):
        return


@pytest.fixture()
def listener():
    _Recorder.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder.hits
    server.shutdown()


def test_external_entities_and_dtds_are_refused_without_fetching(listener, tmp_path):
    url, hits = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    attacks = [
        f'<!DOCTYPE CTfile [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<CTfile><Header><DocumentName>&xxe;</DocumentName></Header></CTfile>",
        f'<!DOCTYPE CTfile [<!ENTITY xxe SYSTEM "{url}/entity">]>'
        "<CTfile><Header><DocumentName>&xxe;</DocumentName></Header></CTfile>",
        f'<!DOCTYPE CTfile SYSTEM "{url}/dtd"><CTfile/>',
        f'<!DOCTYPE CTfile [<!ENTITY % p SYSTEM "{url}/param"> %p;]><CTfile/>',
        "<!DOCTYPE CTfile><CTfile/>",
    ]
    for attack in attacks:
        data = b'<?xml version="1.0"?>' + attack.encode()
        for read in (lambda d: peek_header(d), lambda d: source(d).check(),
                     lambda d: list(source(d).items())):
            with pytest.raises(FileRefused) as refused:
                read(data)
            assert "TOP SECRET" not in refused.value.reason
            assert any(w in refused.value.reason for w in ("entity", "DTD", "external"))
    assert hits == []  # nothing was fetched
