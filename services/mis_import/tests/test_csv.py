"""CSV through a saved column mapping: encodings, missing columns, rows with errors."""

from __future__ import annotations

import io

import pytest

from datagen import STAFF_CSV_HEADERS, STUDENT_CSV_HEADERS, generate_school
from datagen.writers import staff_csv_text, students_csv_text
from services.mis_import.csv_source import CsvSource, Mapping, header_row, missing_columns
from services.mis_import.extract import FileRefused, Rejected, StaffRecord, StudentRecord

SCHOOL = generate_school(seed=4, pupils=8, attendance=False)
STUDENTS = Mapping("students", dict(STUDENT_CSV_HEADERS), "dmy")


def source(data: bytes, mapping: Mapping = STUDENTS) -> CsvSource:
    return CsvSource(lambda: io.BytesIO(data), mapping)


def read(data: bytes, mapping: Mapping = STUDENTS):
    src = source(data, mapping)
    checked = src.check()
    return checked, list(src.items())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_utf8_with_or_without_a_byte_order_mark(encoding):
    text = students_csv_text(SCHOOL)
    checked, items = read(text.encode(encoding))
    assert checked.total == len(SCHOOL.pupils) == len(items)
    first = items[0]
    pupil = SCHOOL.pupils[0]
    assert isinstance(first, StudentRecord)
    assert first.mis_id == pupil.admission_number
    assert first.upn == pupil.upn
    assert first.data["date_of_birth"] == pupil.date_of_birth.isoformat()
    assert first.data["tutor_group"] == pupil.tutor_group
    assert first.data["fsm"] is pupil.fsm
    assert first.location == "line 2"


def test_non_ascii_names_survive():
    text = students_csv_text(SCHOOL).replace(SCHOOL.pupils[0].legal_first_name, "Zoë", 1)
    _, items = read(text.encode("utf-8"))
    assert items[0].data["legal_first_name"] == "Zoë"


def test_windows_1252_is_refused_with_the_line():
    text = students_csv_text(SCHOOL)
    lines = text.split("\r\n")
    lines[4] = lines[4].replace(SCHOOL.pupils[3].legal_last_name, "Brontë", 1)
    data = "\r\n".join(lines).encode("cp1252")
    with pytest.raises(FileRefused, match="not UTF-8 text .* line 5") as refused:
        source(data).check()
    assert refused.value.location == "line 5"
    with pytest.raises(FileRefused, match="not UTF-8"):
        list(source(data).items())


def test_utf16_is_refused():
    data = students_csv_text(SCHOOL).encode("utf-16")
    with pytest.raises(FileRefused, match="UTF-16"):
        source(data).check()
    with pytest.raises(FileRefused, match="UTF-16"):
        header_row(data[:100])


def test_missing_columns_are_refused_with_their_names():
    headers = {k: v for k, v in STUDENT_CSV_HEADERS.items()
               if k not in ("date_of_birth", "tutor_group")}
    data = students_csv_text(SCHOOL, headers=headers).encode()
    with pytest.raises(FileRefused) as refused:
        source(data).check()
    assert "'DOB'" in refused.value.reason and "'Reg Group'" in refused.value.reason
    assert missing_columns(STUDENTS, header_row(data)) == ["DOB", "Reg Group"]


def test_headers_match_whatever_their_case_and_spacing():
    text = students_csv_text(SCHOOL).replace("Legal Surname", "  legal   SURNAME ", 1)
    _, items = read(text.encode())
    assert all(isinstance(i, StudentRecord) for i in items)


def test_bad_rows_are_rejected_with_their_line_and_the_rest_imported():
    lines = students_csv_text(SCHOOL).split("\r\n")
    dob = SCHOOL.pupils[1].date_of_birth.strftime("%d/%m/%Y")
    lines[2] = lines[2].replace(dob, "31/02/2012", 1)
    lines[3] = lines[3].replace(SCHOOL.pupils[2].upn, "A123", 1)
    _, items = read("\r\n".join(lines).encode())
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.location, r.key) for r in rejected] == [
        ("line 3", SCHOOL.pupils[1].admission_number),
        ("line 4", SCHOOL.pupils[2].admission_number)]
    assert "'DOB'" in rejected[0].reason or "DOB" in rejected[0].reason
    assert "not a real date" in rejected[0].reason
    assert "not 13" in rejected[1].reason
    assert sum(isinstance(i, StudentRecord) for i in items) == len(SCHOOL.pupils) - 2


def test_quoted_fields_with_commas_and_line_breaks():
    text = students_csv_text(SCHOOL)
    address = SCHOOL.pupils[0].address.line1
    text = text.replace(address, f'"{address},\nFlat 2"', 1)
    _, items = read(text.encode())
    assert items[0].data["address"]["line1"] == f"{address}, Flat 2"
    assert items[1].location == "line 4"  # the physical line, after the embedded break


def test_staff():
    mapping = Mapping("staff", dict(STAFF_CSV_HEADERS), "dmy")
    _, items = read(staff_csv_text(SCHOOL).encode(), mapping)
    assert all(isinstance(i, StaffRecord) for i in items)
    member = SCHOOL.staff[0]
    assert items[0].mis_id == member.mis_id
    assert items[0].data["permanent"] is member.permanent
    assert items[0].data["start_date"] == member.start_date.isoformat()


def test_an_empty_file_is_refused():
    with pytest.raises(FileRefused, match="empty"):
        source(b"").check()
