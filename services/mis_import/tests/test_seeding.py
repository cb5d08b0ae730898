"""The operator's imports (seeding the demo school): a real run of a feed, and nothing more
on the same day's second run."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from datagen.demo import demo_feed, demo_school, siblings
from services.mis_import.models import ImportFile, ImportRun
from services.mis_import.seeding import SEEDER, queue_feed, run_to_end
from services.mis_import.tests.support import Harness, new_school, of

TODAY = dt.date(2026, 11, 25)  # a Wednesday in term (feeds may not come from the future)


@pytest.fixture()
def harness(tmp_path):
    h = Harness(f"sqlite:///{tmp_path}/mis_import.db")
    yield h
    h.dispose()


def seed(h: Harness, school: str, today: dt.date = TODAY) -> ImportRun:
    run_id = queue_feed(h.db, school_id=school, body=demo_feed(today, school_id=school))
    return run_to_end(h.worker, h.db, school, run_id, timeout=120)


def test_the_demo_feed_is_imported_like_any_feed_and_again_changes_nothing(harness):
    school = new_school()
    run = seed(harness, school)
    assert (run.status, run.source, run.rejected, run.created_by) == (
        "succeeded", "json", 0, SEEDER)
    assert run.full_extract and run.counts["students_created"] == 202
    assert run.counts["students_archived"] == 2  # last summer's leavers
    assert run.counts["contacts_updated"] == 202
    assert run.counts["attendance_updated"] == 200 and run.counts["attendance_marks"] > 20_000
    assert run.counts["groups_updated"] == 25  # 7A..11D and Years 7..11
    events = harness.events(school, new=True)
    upserted = of(events, "mis.student.upserted")
    assert len(upserted) == 202
    dan = next(s for s in upserted if (s.preferred_first_name, s.legal_last_name)
               == ("Dan", "Carter"))
    assert (dan.year_group, dan.tutor_group) == ("Year 11", "11B")
    # brothers and sisters: one contact list names the same people (MIS contact ids)
    lists = {c.student_mis_id: {p.mis_id for p in c.contacts}
             for c in of(events, "mis.contact.upserted")}
    family = siblings(demo_school(TODAY))
    assert family
    for pupil, others in family.items():
        assert all(lists[pupil] & lists[other] for other in others)

    again = seed(harness, school)
    assert again.status == "succeeded" and again.counts["students_unchanged"] == 202
    assert again.counts.get("students_created", 0) == again.counts.get("students_updated", 0) \
        == again.counts.get("attendance_updated", 0) == again.counts.get("groups_updated", 0) == 0
    assert harness.events(school, new=True) == []


def test_the_next_days_feed_brings_only_that_days_marks(harness):
    school = new_school()
    seed(harness, school, TODAY)
    harness.mark_seen()
    run = seed(harness, school, TODAY + dt.timedelta(days=2))
    events = harness.events(school, new=True)
    assert {e.key for e in events} == {"mis.attendance.recorded"}
    assert len(events) == 200  # everyone on roll
    assert {m.date for e in events for m in e.message.marks} == {"2026-11-25", "2026-11-26"}
    assert run.counts["students_unchanged"] == 202


def test_a_document_that_is_not_a_feed_for_the_school_is_refused_and_nothing_stored(harness):
    school = new_school()
    with pytest.raises(ValueError, match="names another school"):
        queue_feed(harness.db, school_id=school, body=demo_feed(TODAY, school_id=new_school()))
    with pytest.raises(ValueError, match="not valid JSON"):
        queue_feed(harness.db, school_id=school, body=b"<CTfile/>")
    with harness.db.read() as s:
        assert s.execute(select(func.count()).select_from(ImportRun)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(ImportFile)).scalar_one() == 0
