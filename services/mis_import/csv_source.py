"""CSV files, read through the column mapping a school's admin saved.

The mapping says which column holds each Haven field (``{"date_of_birth": "DOB", ...}``).
The file must be UTF-8 (with or without a byte order mark, as Excel's "CSV UTF-8" writes):
anything else is refused with the line where it stops being UTF-8, before any row is
imported, as is a file that lacks a column the mapping needs. Rows that fail a check are
rejected with their line number; the rest are imported.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from services.mis_import.extract import (
    Checked,
    FileRefused,
    Item,
    Rejected,
    RowError,
    SourceDetails,
    build_staff,
    build_student,
    match_key,
)

READ_SIZE = 64 * 1024
ENTITIES = ("students", "staff")
DATE_FORMATS = ("auto", "iso", "dmy", "mdy")

# (field, required, description) per entity, in the order an admin sees them.
FIELDS: dict[str, tuple[tuple[str, bool, str], ...]] = {
    "students": (
        ("mis_id", True, "The pupil's id in your MIS (e.g. admission number); never changes"),
        ("legal_first_name", True, "Legal first name"),
        ("legal_last_name", True, "Legal last name"),
        ("date_of_birth", True, "Date of birth"),
        ("upn", False, "Unique Pupil Number"),
        ("admission_number", False, "Admission number"),
        ("preferred_first_name", False, "Preferred first name"),
        ("preferred_last_name", False, "Preferred last name"),
        ("middle_names", False, "Middle names"),
        ("gender", False, "Gender (M, F, X, U)"),
        ("ethnicity", False, "Ethnicity (DfE code)"),
        ("religion", False, "Religion"),
        ("first_language", False, "First language (DfE code)"),
        ("sen_status", False, "SEN status (N, K, E)"),
        ("pupil_premium", False, "Pupil premium (Y/N)"),
        ("fsm", False, "Free school meals (Y/N)"),
        ("eal", False, "English as an additional language (Y/N)"),
        ("looked_after", False, "Looked after (Y/N)"),
        ("year_group", False, "Year group"),
        ("tutor_group", False, "Tutor (registration) group"),
        ("admission_date", False, "Admission date"),
        ("date_of_arrival", False, "Date of arrival"),
        ("leaving_date", False, "Leaving date"),
        ("address_line1", False, "Address line 1"),
        ("address_line2", False, "Address line 2"),
        ("town", False, "Town"),
        ("county", False, "County"),
        ("postcode", False, "Postcode"),
        ("medical_conditions", False, "Medical conditions (separated by ;)"),
        ("phones", False, "Phone numbers (separated by ;)"),
        ("email", False, "Email"),
    ),
    "staff": (
        ("mis_id", True, "The member of staff's id in your MIS; never changes"),
        ("first_name", True, "First name"),
        ("last_name", True, "Last name"),
        ("title", False, "Title"),
        ("legal_first_name", False, "Legal first name"),
        ("legal_last_name", False, "Legal last name"),
        ("email", False, "Work email"),
        ("job_title", False, "Role"),
        ("permanent", False, "Permanent contract (Y/N)"),
        ("full_time", False, "Full time (Y/N)"),
        ("start_date", False, "Start date"),
        ("end_date", False, "End date"),
    ),
}


def required_fields(entity: str) -> list[str]:
    return [name for name, required, _ in FIELDS[entity] if required]


def known_fields(entity: str) -> set[str]:
    return {name for name, _, _ in FIELDS[entity]}


@dataclass(frozen=True)
class Mapping:
    entity: str
    columns: dict[str, str]  # field -> column header
    date_format: str = "auto"


def _norm(header: str) -> str:
    return " ".join(header.split()).casefold()


def check_encoding_start(data: bytes) -> None:
    """Refuse byte order marks of encodings other than UTF-8 (UTF-16/32 from Excel)."""
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise FileRefused(
                f"The file is {name} text; Haven reads CSV files in UTF-8. In Excel, save it "
                "as \"CSV UTF-8 (Comma delimited)\" and upload it again.", "line 1")
    if b"\x00" in data[:4096]:
        raise FileRefused("The file is not a text file (it contains NUL bytes).", "line 1")


def header_row(first_bytes: bytes) -> list[str]:
    """The header row from the start of a file (encoding checked as far as it goes)."""
    check_encoding_start(first_bytes)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(first_bytes, final=False)
    except UnicodeDecodeError as exc:
        line = first_bytes[: exc.start].count(b"\n") + 1
        raise _not_utf8(line) from exc
    reader = csv.reader(io.StringIO(text))
    try:
        return [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise FileRefused("The file is empty.", "line 1") from exc
    except csv.Error as exc:
        raise FileRefused(f"The header row is not valid CSV ({exc}).", "line 1") from exc


def missing_columns(mapping: Mapping, headers: list[str]) -> list[str]:
    """Mapped columns the file lacks: required fields' columns first."""
    have = {_norm(h) for h in headers}
    order = [name for name, _, _ in FIELDS[mapping.entity]]
    missing = [mapping.columns[f] for f in order
               if f in mapping.columns and _norm(mapping.columns[f]) not in have]
    return missing


def _not_utf8(line: int) -> FileRefused:
    return FileRefused(
        f"The file is not UTF-8 text (it stops being UTF-8 on line {line}; it was probably "
        "saved as Windows-1252 / \"CSV (Comma delimited)\"). In Excel, save it as \"CSV UTF-8 "
        "(Comma delimited)\" and upload it again.", f"line {line}")


class CsvSource:
    kind = "csv"

    def __init__(self, open_stream: Callable[[], BinaryIO], mapping: Mapping, *,
                 as_of: dt.date | None = None) -> None:
        self.open_stream = open_stream
        self.mapping = mapping
        self.as_of = as_of or dt.date.today()

    def _text(self, stream: BinaryIO) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        lines = 1
        first = True
        while True:
            chunk = stream.read(READ_SIZE)
            if first:
                check_encoding_start(chunk)
                first = False
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise _not_utf8(lines + chunk[: max(exc.start, 0)].count(b"\n")) from exc
            lines += chunk.count(b"\n")
            if text:
                yield text
            if not chunk:
                return

    def check(self) -> Checked:
        rows = 0
        with self.open_stream() as stream:
            reader = csv.reader(_lines(self._text(stream)))
            headers = self._headers(reader)
            try:
                for row in reader:
                    if any(cell.strip() for cell in row):
                        rows += 1
            except csv.Error as exc:
                raise FileRefused(f"The file is not valid CSV ({exc}).",
                                  f"line {reader.line_num}") from exc
        del headers
        return Checked(details=SourceDetails(kind="csv", csv_entity=self.mapping.entity),
                       total=rows)

    def _headers(self, reader) -> dict[str, int]:
        try:
            headers = [h.strip() for h in next(reader)]
        except StopIteration as exc:
            raise FileRefused("The file is empty.", "line 1") from exc
        except csv.Error as exc:
            raise FileRefused(f"The header row is not valid CSV ({exc}).", "line 1") from exc
        missing = missing_columns(self.mapping, headers)
        if missing:
            raise FileRefused(
                "The file lacks columns the saved mapping needs: "
                + ", ".join(repr(m) for m in missing)
                + ". Check the file, or change the column mapping.", "line 1")
        index = {_norm(h): i for i, h in reversed(list(enumerate(headers)))}
        return {field: index[_norm(col)] for field, col in self.mapping.columns.items()}

    def items(self) -> Iterator[Item]:
        entity = self.mapping.entity
        fmt = self.mapping.date_format
        field_names = dict(self.mapping.columns)
        for key in ("address_line1", "address_line2", "town", "county", "postcode"):
            if key in field_names:
                field_names["address"] = field_names[key]
        with self.open_stream() as stream:
            reader = csv.reader(_lines(self._text(stream)))
            columns = self._headers(reader)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                location = f"line {reader.line_num}"
                raw = {field: (row[i] if i < len(row) else "") for field, i in columns.items()}
                try:
                    if entity == "staff":
                        yield build_staff(raw, location=location, date_format=fmt,
                                          field_names=field_names)
                        continue
                    raw = _student_shape(raw)
                    yield build_student(raw, as_of=self.as_of, location=location,
                                        date_format=fmt, field_names=field_names)
                except RowError as exc:
                    key = (raw.get("mis_id") or "").strip()
                    label = " ".join(
                        (raw.get(k) or "").strip() for k in (
                            ("first_name", "last_name") if entity == "staff"
                            else ("legal_first_name", "legal_last_name"))).strip()
                    reason = exc.reason
                    students = entity == "students"
                    yield Rejected(
                        location=location, reason=reason, key=key, label=label,
                        student_key=key if students else "",
                        staff_key="" if students else key,
                        match_key=match_key(raw.get("legal_first_name"),
                                            raw.get("legal_last_name"),
                                            raw.get("date_of_birth")) if students else "")


def _student_shape(raw: dict) -> dict:
    out = dict(raw)
    address = {"line1": raw.get("address_line1"), "line2": raw.get("address_line2"),
               "town": raw.get("town"), "county": raw.get("county"),
               "postcode": raw.get("postcode")}
    if any(v for v in address.values()):
        out["address"] = address
    for key in ("medical_conditions", "phones"):
        value = raw.get(key)
        out[key] = [v.strip() for v in value.split(";") if v.strip()] if value else []
    return out


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    """Lines (split on "\\n" only, endings kept) over a stream of decoded text chunks."""
    carry = ""
    for chunk in chunks:
        parts = (carry + chunk).split("\n")
        carry = parts.pop()
        for part in parts:
            yield part + "\n"
    if carry:
        yield carry
