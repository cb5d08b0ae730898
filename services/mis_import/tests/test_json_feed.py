"""The JSON feed: header checks (school, mode), records, grouped contacts and attendance."""

from __future__ import annotations

import json

import pytest

from datagen import feed_bytes, feed_document, generate_school
from services.mis_import.extract import (
    AttendanceBatch,
    ContactList,
    GroupRecord,
    Rejected,
    StaffRecord,
    StudentRecord,
)
from services.mis_import.json_feed import (
    FeedForAnotherSchool,
    InvalidFeed,
    JsonFeedSource,
    load_part,
    read_header,
)

SCHOOL_ID = "00000000-0000-4000-8000-000000000001"
SCHOOL = generate_school(seed=6, pupils=5, attendance_through=None)


def source(*parts: bytes) -> JsonFeedSource:
    return JsonFeedSource(lambda: iter(parts), school_id=SCHOOL_ID,
                          as_of=SCHOOL.generated_at.date())


def test_a_full_feed_yields_every_section_in_order():
    src = source(feed_bytes(SCHOOL, school_id=SCHOOL_ID))
    checked = src.check()
    items = list(src.items())
    assert checked.total == len(items)
    assert checked.details.full_extract is True
    assert checked.details.sections == ("students", "employees", "groups", "contacts",
                                        "attendance")
    kinds = [type(i) for i in items]
    n = len(SCHOOL.pupils)
    assert kinds[:n] == [StudentRecord] * n
    assert kinds.count(StaffRecord) == len(SCHOOL.staff)
    assert kinds.count(GroupRecord) == len(SCHOOL.groups)
    assert kinds.count(ContactList) == n and kinds.count(AttendanceBatch) == n
    contacts = next(i for i in items if isinstance(i, ContactList))
    pupil = SCHOOL.pupil(contacts.student_key)
    assert [c["relationship"] for c in contacts.contacts] == [c.relationship
                                                              for c in pupil.contacts]
    batch = next(i for i in items if isinstance(i, AttendanceBatch))
    pupil = SCHOOL.pupil(batch.student_key)
    assert sum(bool(a) + bool(b) for days in batch.marks.values()
               for a, b in days.values()) == len(pupil.marks)


def test_the_header_is_checked():
    doc = feed_document(SCHOOL, school_id=SCHOOL_ID)
    with pytest.raises(FeedForAnotherSchool):
        read_header({**doc, "school_id": "someone-else"}, school_id=SCHOOL_ID)
    with pytest.raises(InvalidFeed, match='"mode"'):
        read_header({**doc, "mode": "everything"}, school_id=SCHOOL_ID)
    with pytest.raises(InvalidFeed, match="updated_after"):
        read_header({**doc, "updated_after": "2026-01-01T00:00:00Z"}, school_id=SCHOOL_ID)
    with pytest.raises(InvalidFeed, match='"students" must be a list'):
        read_header({**doc, "students": {}}, school_id=SCHOOL_ID)
    with pytest.raises(InvalidFeed, match="not valid JSON"):
        load_part(b'{"mode": ')
    with pytest.raises(InvalidFeed, match="JSON object"):
        load_part(b"[]")
    delta = read_header({**doc, "mode": "delta", "updated_after": "2026-01-01T00:00:00Z"},
                        school_id=SCHOOL_ID)
    assert delta.full_extract is False and delta.updated_after == "2026-01-01T00:00:00"


def test_bad_records_are_rejected_with_a_json_path():
    doc = feed_document(SCHOOL, school_id=SCHOOL_ID)
    doc["students"][1]["date_of_birth"] = "2099-01-01"
    doc["students"][2] = "not an object"
    doc["employees"][0]["email"] = "not an email"
    doc["attendance"][3]["code"] = "?"
    doc["contacts"][0]["priority"] = "first"
    items = list(source(json.dumps(doc).encode()).items())
    rejected = {r.location: r.reason for r in items if isinstance(r, Rejected)}
    assert "in the future" in rejected["/students/1/date_of_birth"]
    assert rejected["/students/2"] == "a student must be an object"
    assert "not an email address" in rejected["/employees/0/email"]
    assert "unknown attendance code '?'" in rejected["/attendance/3/code"]
    assert "attendance was not imported" in rejected["/attendance/3/code"]
    assert "contacts were left as they were" in rejected["/contacts/0/priority"]


def test_parts_are_numbered_in_locations():
    first = feed_document(SCHOOL, school_id=SCHOOL_ID, staff=False, groups=False,
                          contacts=False, attendance=False)
    second = dict(first)
    second["students"] = [dict(first["students"][0], date_of_birth="x")]
    items = list(source(json.dumps(first).encode(), json.dumps(second).encode()).items())
    assert items[-1].location == "part 2 /students/0/date_of_birth"
