"""What an import does (on SQLite, worker driven synchronously): upserts keyed by MIS id and
UPN, events only for real changes, archiving, staff, groups, contacts, attendance, CSV."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from datagen import (
    STAFF_CSV_HEADERS,
    STUDENT_CSV_HEADERS,
    corrupt_upn,
    ctf_bytes,
    feed_bytes,
    feed_document,
    generate_school,
)
from datagen.writers import staff_csv_text, students_csv_text
from services.mis_import import import_runs
from services.mis_import.events import (
    ATTENDANCE_RECORDED,
    CONTACTS_UPSERTED,
    GROUP_UPSERTED,
    STAFF_UPSERTED,
    STUDENT_ARCHIVED,
    STUDENT_UPSERTED,
)
from services.mis_import.tests.support import Harness, new_school, of
from shared.context import acting_as
from shared.errors import FailedPrecondition, InvalidArgument


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    harness = Harness(f"sqlite:///{tmp_path_factory.mktemp('mis')}/mis_import.db")
    yield harness
    harness.dispose()


def small(seed=21, pupils=24, **kw):
    return generate_school(seed=seed, pupils=pupils, **kw)


def test_a_ctf_import_creates_pupils_and_announces_them(h):
    school_id, school = new_school(), small()
    run = h.import_file(school_id, ctf_bytes(school), full_extract=True)
    assert (run.status, run.phase, run.cursor, run.total) == ("succeeded", "done", 24, 24)
    assert run.counts["created"] == 24 and run.counts.get("rejected", 0) == 0
    events = h.events(school_id, new=True)
    students = of(events, STUDENT_UPSERTED)
    assert len(students) == 24 and len(of(events, CONTACTS_UPSERTED)) == 24
    pupil = school.pupils[0]
    first = next(s for s in students if s.upn == pupil.upn)
    assert first.mis_id == pupil.upn  # a CTF has no MIS id: its key is the UPN
    assert (first.legal_last_name, first.date_of_birth, first.year_group) == (
        pupil.legal_last_name, pupil.date_of_birth.isoformat(), pupil.year_group)
    assert first.address.postcode == pupil.address.postcode
    assert first.import_run_id == run.id and first.as_of.ToDatetime() == school.generated_at
    attendance = {a.student_mis_id: a for a in of(events, ATTENDANCE_RECORDED)}
    marks = attendance[pupil.upn]
    assert len(marks.marks) == len(pupil.marks)
    codes = list(pupil.marks.values())
    summary = marks.summary
    assert summary.academic_year == "2025/26"
    assert summary.possible_sessions == sum(c not in "#XYZD" for c in codes)
    assert summary.present == sum(c in "/\\L" for c in codes)
    assert summary.lates_before_registers_closed == codes.count("L")
    assert summary.unexplained_absences == codes.count("N")
    years = of(events, GROUP_UPSERTED)
    assert sorted(g.name for g in years) == [f"Year {n}" for n in (10, 11, 7, 8, 9)]
    assert sum(len(g.student_mis_ids) for g in years) == 24


def test_importing_the_same_file_again_announces_nothing(h):
    school_id, data = new_school(), ctf_bytes(small())
    h.import_file(school_id, data, full_extract=True)
    h.mark_seen()
    again = h.import_file(school_id, data, full_extract=True)
    assert again.status == "succeeded"
    assert again.counts == {"unchanged": 24, "students_unchanged": 24}
    assert h.events(school_id, new=True) == []


def test_only_real_changes_are_announced(h):
    school_id, school = new_school(), small()
    h.import_file(school_id, ctf_bytes(school))
    h.mark_seen()
    school = school.copy()
    renamed = school.pupils[3]
    renamed.legal_last_name = "Okonkwo-Smith"
    marked = school.pupils[5]
    day = next(d for (d, s), c in sorted(marked.marks.items()) if c == "/" and s == "AM")
    marked.marks[(day, "AM")] = "M"
    later = school.generated_at + dt.timedelta(days=1)
    run = h.import_file(school_id, ctf_bytes(school, generated_at=later))
    events = h.events(school_id, new=True)
    assert [e.upn for e in of(events, STUDENT_UPSERTED)] == [renamed.upn]
    (recorded,) = of(events, ATTENDANCE_RECORDED)
    assert recorded.student_mis_id == marked.upn
    assert [(m.date, m.session, m.code) for m in recorded.marks] == [(day.isoformat(), "AM",
                                                                      "M")]
    assert recorded.summary.authorised_absences == sum(
        c in "CEHIMRST" for c in marked.marks.values())
    assert of(events, CONTACTS_UPSERTED) == [] and of(events, GROUP_UPSERTED) == []
    assert run.counts["updated"] == 1 and run.counts["unchanged"] == 23
    assert run.counts["attendance_marks"] == 1


def test_a_leaver_is_archived_never_deleted(h):
    school_id, school = new_school(), small(leavers=2)
    run = h.import_file(school_id, ctf_bytes(school))
    events = h.events(school_id, new=True)
    archived = of(events, STUDENT_ARCHIVED)
    assert sorted(a.upn for a in archived) == sorted(p.upn for p in school.pupils[-2:])
    assert {a.reason for a in archived} == {"left"}
    assert archived[0].leaving_date
    upserted = {s.upn: s for s in of(events, STUDENT_UPSERTED)}
    assert upserted[school.pupils[-1].upn].archived is True
    assert upserted[school.pupils[0].upn].archived is False
    assert run.counts["archived"] == 2
    h.import_file(school_id, ctf_bytes(school))
    assert h.events(school_id, new=True) == []


def test_a_full_extract_archives_pupils_it_no_longer_lists(h):
    school_id, school = new_school(), small()
    h.import_file(school_id, ctf_bytes(school), full_extract=True)
    h.mark_seen()
    gone = school.pupils[:3]
    later = school.generated_at + dt.timedelta(days=1)
    partial = ctf_bytes(school, pupils=school.pupils[3:], generated_at=later)
    h.import_file(school_id, partial, full_extract=False)  # not a full extract: no archiving
    assert of(h.events(school_id, new=True), STUDENT_ARCHIVED) == []
    run = h.import_file(school_id, partial, full_extract=True)
    events = h.events(school_id, new=True)
    archived = of(events, STUDENT_ARCHIVED)
    assert sorted(a.mis_id for a in archived) == sorted(p.upn for p in gone)
    assert {a.reason for a in archived} == {"missing_from_full_extract"}
    assert run.counts["archived"] == 3
    assert of(events, GROUP_UPSERTED)  # their year groups lost members
    # Back on roll: announced again, as on roll.
    h.import_file(school_id, ctf_bytes(school, generated_at=later), full_extract=True)
    back = of(h.events(school_id, new=True), STUDENT_UPSERTED)
    assert sorted(s.upn for s in back) == sorted(p.upn for p in gone)
    assert not any(s.archived for s in back)


def test_a_truncated_full_extract_archives_nobody(h):
    school_id, school = new_school(), small(pupils=40)
    h.import_file(school_id, ctf_bytes(school), full_extract=True)
    h.mark_seen()
    run = h.import_file(school_id, ctf_bytes(school, pupils=school.pupils[:5]),
                        full_extract=True)
    assert of(h.events(school_id, new=True), STUDENT_ARCHIVED) == []
    assert run.status == "succeeded"
    assert "35 of 40 pupils" in run.warnings[0]


def test_bad_rows_are_listed_good_ones_imported_and_rejected_pupils_kept(h):
    school_id, school = new_school(), small()
    h.import_file(school_id, ctf_bytes(school), full_extract=True)
    h.mark_seen()
    school = school.copy()
    bad_upn = school.pupils[2]
    bad_upn.upn = corrupt_upn(bad_upn.upn)
    bad_dob = school.pupils[7]
    bad_dob.date_of_birth = dt.date(1951, 5, 1)
    school.pupils[9].legal_first_name = "Renamed"
    later = school.generated_at + dt.timedelta(hours=1)
    run = h.import_file(school_id, ctf_bytes(school, generated_at=later), full_extract=True)
    assert run.status == "succeeded" and run.rejected == 2
    rejections = h.rejections(school_id, run.id)
    assert [(r.seq, r.location) for r in rejections] == [
        (2, "/CTfile/CTFpupilData/Pupil[3]/UPN"), (7, "/CTfile/CTFpupilData/Pupil[8]/DOB")]
    assert "wrong check letter" in rejections[0].reason
    assert "75 years old" in rejections[1].reason
    assert rejections[1].label == f"{bad_dob.legal_first_name} {bad_dob.legal_last_name}"
    events = h.events(school_id, new=True)
    assert [s.legal_first_name for s in of(events, STUDENT_UPSERTED)] == ["Renamed"]
    # The pupil with the bad DOB is still on roll: not archived by the full extract.
    assert of(events, STUDENT_ARCHIVED) == []


def test_a_temporary_upn_is_imported_and_flagged(h):
    school_id, school = new_school(), small(temporary_upn_share=1.0, pupils=3)
    h.import_file(school_id, ctf_bytes(school))
    assert all(s.upn_temporary for s in of(h.events(school_id, new=True), STUDENT_UPSERTED))


def test_the_upn_links_a_ctf_pupil_to_the_feeds_mis_id(h):
    school_id, school = new_school(), small()
    h.import_file(school_id, ctf_bytes(school), full_extract=True)
    h.mark_seen()
    later = school.generated_at + dt.timedelta(days=1)
    run = h.feed(school_id, feed_bytes(school, school_id=school_id, generated_at=later))
    assert run.status == "succeeded", run.error
    assert run.counts.get("students_created", 0) == 0
    events = h.events(school_id, new=True)
    # Same pupils, same published keys (their UPNs), now with the feed's extra fields.
    upserted = of(events, STUDENT_UPSERTED)
    assert sorted(s.mis_id for s in upserted) == sorted(p.upn for p in school.pupils)
    assert {s.tutor_group for s in upserted} == {p.tutor_group for p in school.pupils}
    assert of(events, STUDENT_ARCHIVED) == []
    # And the next feed finds them by their MIS id.
    h.feed(school_id, feed_bytes(school, school_id=school_id,
                                 generated_at=later + dt.timedelta(days=1)))
    assert of(h.events(school_id, new=True), STUDENT_UPSERTED) == []


def test_one_upn_claimed_by_two_pupils_is_refused(h):
    school_id, school = new_school(), small(pupils=3)
    doc = feed_document(school, school_id=school_id, staff=False, groups=False,
                        contacts=False, attendance=False)
    h.feed(school_id, json.dumps(doc).encode())
    doc["students"][1]["upn"] = doc["students"][0]["upn"]
    doc["students"][1]["id"] = "S-NEW"
    doc["students"] = doc["students"][1:2]
    run = h.feed(school_id, json.dumps(doc).encode())
    (rejection,) = h.rejections(school_id, run.id)
    assert "belongs to another pupil on roll" in rejection.reason


def test_an_older_file_does_not_undo_a_newer_one(h):
    school_id, school = new_school(), small(pupils=4)
    h.import_file(school_id, ctf_bytes(school))
    h.mark_seen()
    old = school.copy()
    old.pupils[0].legal_last_name = "Before"
    run = h.import_file(school_id, ctf_bytes(old, generated_at=school.generated_at
                                             - dt.timedelta(days=7)))
    assert run.counts["stale"] == 4
    assert h.events(school_id, new=True) == []


def test_staff_and_who_left_the_extract(h):
    school_id, school = new_school(), small()
    run = h.feed(school_id, feed_bytes(school, school_id=school_id))
    events = h.events(school_id, new=True)
    staff = {s.mis_id: s for s in of(events, STAFF_UPSERTED)}
    member = school.staff[0]
    assert staff[member.mis_id].permanent == member.permanent
    assert staff[member.mis_id].full_time == member.full_time
    assert staff[member.mis_id].start_date == member.start_date.isoformat()
    assert all(s.present_in_extract for s in staff.values())
    assert run.counts["staff_created"] == len(school.staff)
    # A delta without them changes nothing; a full feed without them marks them gone.
    later = school.generated_at + dt.timedelta(days=1)
    doc = feed_document(school, school_id=school_id, generated_at=later)
    doc["employees"] = doc["employees"][2:]
    h.feed(school_id, json.dumps({**doc, "mode": "delta"}).encode())
    assert of(h.events(school_id, new=True), STAFF_UPSERTED) == []
    h.feed(school_id, json.dumps(doc).encode())
    gone = of(h.events(school_id, new=True), STAFF_UPSERTED)
    assert sorted(s.mis_id for s in gone) == sorted(m.mis_id for m in school.staff[:2])
    assert not any(s.present_in_extract for s in gone)


def test_a_feed_without_a_section_never_archives_from_it(h):
    school_id, school = new_school(), small()
    h.feed(school_id, feed_bytes(school, school_id=school_id))
    h.mark_seen()
    later = school.generated_at + dt.timedelta(days=1)
    h.feed(school_id, feed_bytes(school, school_id=school_id, generated_at=later, staff=False,
                                 pupils=school.pupils[:20]))
    events = h.events(school_id, new=True)
    assert len(of(events, STUDENT_ARCHIVED)) == 4
    assert of(events, STAFF_UPSERTED) == []


def test_tutor_groups_follow_their_pupils(h):
    school_id, school = new_school(), small()
    h.feed(school_id, feed_bytes(school, school_id=school_id))
    groups = {g.name: g for g in of(h.events(school_id, new=True), GROUP_UPSERTED)}
    tutor = next(g for g in school.groups if g.kind == "tutor")
    assert groups[tutor.name].kind == "tutor"
    assert groups[tutor.name].mis_id == tutor.mis_id  # the MIS's own group id
    assert list(groups[tutor.name].staff_mis_ids) == tutor.staff_mis_ids
    assert sorted(groups[tutor.name].student_mis_ids) == sorted(
        p.mis_id for p in school.pupils if p.tutor_group == tutor.name)
    school = school.copy()
    mover = next(p for p in school.pupils if p.tutor_group == "7A")
    mover.tutor_group = "7B"
    h.feed(school_id, feed_bytes(school, school_id=school_id,
                                 generated_at=school.generated_at + dt.timedelta(days=1)))
    events = h.events(school_id, new=True)
    assert [s.mis_id for s in of(events, STUDENT_UPSERTED)] == [mover.mis_id]
    changed = {g.name: g for g in of(events, GROUP_UPSERTED)}
    assert set(changed) == {"7A", "7B"}
    assert mover.mis_id in changed["7B"].student_mis_ids
    assert mover.mis_id not in changed["7A"].student_mis_ids


def test_contacts_full_replace_and_delta_merge(h):
    school_id, school = new_school(), small(pupils=3)
    h.feed(school_id, feed_bytes(school, school_id=school_id))
    h.mark_seen()
    pupil = school.pupils[0]
    later = school.generated_at + dt.timedelta(days=1)
    doc = feed_document(school, school_id=school_id, pupils=[pupil], mode="delta",
                        updated_after=school.generated_at, generated_at=later,
                        staff=False, groups=False, attendance=False)
    doc["contacts"] = doc["contacts"][:1]
    doc["contacts"][0]["phones"] = ["07700 900999"]
    h.feed(school_id, json.dumps(doc).encode())
    (contacts,) = of(h.events(school_id, new=True), CONTACTS_UPSERTED)
    assert len(contacts.contacts) == len(pupil.contacts)  # merged into the whole list
    assert contacts.contacts[0].phones == ["07700 900999"]
    doc["mode"] = "full"
    del doc["updated_after"]
    doc["students"] = [dict(doc["students"][0])]
    h.feed(school_id, json.dumps(doc).encode())
    replaced = of(h.events(school_id, new=True), CONTACTS_UPSERTED)
    assert [len(c.contacts) for c in replaced] == [1]  # a full feed's list replaces it


def test_attendance_from_a_feed_merges_by_session(h):
    school_id, school = new_school(), small(pupils=2)
    h.feed(school_id, feed_bytes(school, school_id=school_id))
    h.mark_seen()
    pupil = school.pupils[0]
    doc = {"school_id": school_id, "mode": "delta",
           "updated_after": "2026-07-21T00:00:00Z", "generated_at": "2026-07-22T02:00:00Z",
           "attendance": [
               {"student_id": pupil.mis_id, "date": "2026-07-21", "session": "PM",
                "code": "l", "minutes_late": 12},
               {"student_id": "NOBODY", "date": "2026-07-21", "session": "AM", "code": "/"},
           ]}
    run = h.feed(school_id, json.dumps(doc).encode())
    (recorded,) = of(h.events(school_id, new=True), ATTENDANCE_RECORDED)
    assert [(m.date, m.session, m.code, m.minutes_late) for m in recorded.marks] == [
        ("2026-07-21", "PM", "L", 12)]
    assert recorded.summary.last_date == "2026-07-21"
    (rejection,) = h.rejections(school_id, run.id)
    assert "no pupil with MIS id NOBODY" in rejection.reason


def test_csv_needs_a_saved_mapping_and_the_columns_it_names(h):
    school_id, school = new_school(), small()
    got = h.upload(school_id, students_csv_text(school).encode("utf-8-sig"), "pupils.csv")
    assert got.csv_columns[:3] == ["Admission No", "UPN", "Legal Forename"]
    with pytest.raises(FailedPrecondition, match="Save a CSV column mapping"):
        h.start(school_id, got.file.id)
    h.save_mapping(school_id, "students", dict(STUDENT_CSV_HEADERS, ethnicity="Ethnic Code"),
                   "dmy")
    with pytest.raises(InvalidArgument, match="'Ethnic Code'"):
        h.start(school_id, got.file.id)
    h.save_mapping(school_id, "students", STUDENT_CSV_HEADERS, "dmy")
    run_id = h.start(school_id, got.file.id, full_extract=True)
    h.drain()
    run = h.run(school_id, run_id)
    assert run.status == "succeeded" and run.counts["students_created"] == 24
    students = of(h.events(school_id, new=True), STUDENT_UPSERTED)
    assert {s.mis_id for s in students} == {p.admission_number for p in school.pupils}
    assert {s.tutor_group for s in students} == {p.tutor_group for p in school.pupils}


def test_staff_from_csv(h):
    school_id, school = new_school(), small()
    h.save_mapping(school_id, "staff", STAFF_CSV_HEADERS, "dmy")
    run = h.import_file(school_id, staff_csv_text(school).encode(), "staff.csv",
                        full_extract=True, csv_entity="staff")
    assert run.status == "succeeded" and run.counts["staff_created"] == len(school.staff)


def test_a_ctf_from_another_school_is_refused(h):
    school_id, school = new_school(), small(pupils=3)
    h.import_file(school_id, ctf_bytes(school))
    other = generate_school(seed=2, pupils=3, lea="380", estab="2002", name="Elsewhere High")
    run = h.import_file(school_id, ctf_bytes(other))
    assert run.status == "failed"
    assert "Elsewhere High (LA 380, establishment 2002)" in run.error


def test_a_file_broken_half_way_is_refused_before_anything_is_imported(h):
    school_id, school = new_school(), small()
    data = ctf_bytes(school)
    cut = data.index(b"<Pupil>", len(data) // 2)
    broken = data[:cut] + b"<Pupil><UPN>oops</Pupil>" + data[cut:]
    run = h.import_file(school_id, broken, full_extract=True)
    assert (run.status, run.cursor) == ("failed", 0)
    assert "not well-formed XML" in run.error and run.error_location.startswith("line ")
    assert h.events(school_id, new=True) == []


def test_one_schools_long_import_does_not_hold_up_anothers(tmp_path):
    h2 = Harness(f"sqlite:///{tmp_path}/fair.db")
    h2.config = h2.worker.config = type(h2.config)(worker_threads=1, slice_seconds=0.001,
                                                   batch_size=5)
    big_school, small_school = new_school(), new_school()
    big = h2.upload(big_school, ctf_bytes(small(pupils=60)))
    little = h2.upload(small_school, ctf_bytes(small(seed=3, pupils=4)))
    big_run = h2.start(big_school, big.file.id)
    small_run = h2.start(small_school, little.file.id)
    finished = []
    for _ in range(200):
        if not h2.worker.run_once():
            break
        for school, run_id in ((big_school, big_run), (small_school, small_run)):
            if run_id not in finished and h2.run(school, run_id).status == "succeeded":
                finished.append(run_id)
    assert finished == [small_run, big_run]
    h2.dispose()


def test_a_failing_record_is_rejected_and_the_rest_imported(h, monkeypatch):
    school_id, school = new_school(), small(pupils=10)
    poisoned = school.pupils[4].upn
    original = h.worker.importer._students

    def explode(session, ctx, group):
        if any(item.mis_id == poisoned for _, item in group):
            raise RuntimeError("boom")
        return original(session, ctx, group)

    monkeypatch.setattr(h.worker.importer, "_students", explode)
    run = h.import_file(school_id, ctf_bytes(school))
    assert run.status == "succeeded" and run.counts["created"] == 9
    (rejection,) = h.rejections(school_id, run.id)
    assert "internal error" in rejection.reason and rejection.seq == 4
    assert len(of(h.events(school_id, new=True), STUDENT_UPSERTED)) == 9


def test_an_interrupted_run_can_be_resumed(h, monkeypatch):
    school_id, school = new_school(), small(pupils=10)
    got = h.upload(school_id, ctf_bytes(school))
    run_id = h.start(school_id, got.file.id)
    monkeypatch.setattr(h.worker, "_import", lambda *a, **k: 1 / 0)
    h.drain()
    assert h.run(school_id, run_id).status == "interrupted"
    monkeypatch.undo()
    claims = h.admin(school_id)
    with acting_as(claims), h.db.transaction() as s:
        import_runs.resume_run(s, claims, run_id)
    h.drain()
    run = h.run(school_id, run_id)
    assert (run.status, run.counts["created"]) == ("succeeded", 10)
    with acting_as(claims), h.db.transaction() as s, pytest.raises(FailedPrecondition):
        import_runs.resume_run(s, claims, run_id)


def test_housekeeping_fails_abandoned_feeds_and_deletes_old_files(h):
    from sqlalchemy import update

    from services.mis_import.models import ImportFile, ImportRun

    school_id, school = new_school(), small(pupils=2)
    body = feed_bytes(school, school_id=school_id, attendance=False)
    abandoned = h.feed(school_id, body, more_to_follow=True)
    done = h.import_file(school_id, ctf_bytes(school))
    long_ago = dt.datetime(2020, 1, 1)
    with h.db.transaction() as s:
        s.execute(update(ImportRun.__table__).where(ImportRun.id == abandoned.id)
                  .values(updated_at=long_ago))
        s.execute(update(ImportRun.__table__).where(ImportRun.id == done.id)
                  .values(finished_at=long_ago))
        s.execute(update(ImportFile.__table__).where(ImportFile.id == done.file_id)
                  .values(created_at=long_ago))
    h.worker.housekeeping(force=True)
    failed = h.run(school_id, abandoned.id)
    assert (failed.status, failed.error) == ("failed", "The rest of the feed never arrived.")
    with pytest.raises(FailedPrecondition, match="no longer stored"):
        h.start(school_id, done.file_id)


def test_an_unchanged_newer_file_still_outdates_older_ones(h):
    school_id, school = new_school(), small(pupils=3)
    h.import_file(school_id, ctf_bytes(school))
    newer = school.generated_at + dt.timedelta(days=2)
    h.import_file(school_id, ctf_bytes(school, generated_at=newer))  # no change, but newer
    h.mark_seen()
    old = school.copy()
    old.pupils[0].legal_last_name = "Before"
    run = h.import_file(school_id, ctf_bytes(old, generated_at=newer - dt.timedelta(days=1)))
    assert run.counts["stale"] == 3 and h.events(school_id, new=True) == []


def test_a_full_feed_in_parts_keeps_every_part_of_a_pupils_unchanged_contacts(tmp_path):
    from sqlalchemy import select

    from services.mis_import.config import ImportConfig
    from services.mis_import.models import Student

    h1 = Harness(f"sqlite:///{tmp_path}/parts.db", config=ImportConfig(
        worker_threads=1, slice_seconds=60, batch_size=1))
    try:
        school_id, school = new_school(), small(pupils=1)
        doc = feed_document(school, school_id=school_id, staff=False, groups=False,
                            attendance=False)
        first = dict(doc["contacts"][0], id="C1000000")
        second = dict(first, id="C1000001", first_name="Second")
        h1.feed(school_id, json.dumps({**doc, "contacts": [first]}).encode())
        h1.mark_seen()
        later = school.generated_at + dt.timedelta(days=1)
        part1 = {**doc, "generated_at": later.isoformat() + "Z", "contacts": [first]}
        part2 = {**part1, "students": [], "contacts": [second]}
        feeder = h1.tokens.claims(school_id=school_id, access="restricted", permissions=(),
                                  scope="mis.import")
        run = h1.feed(school_id, json.dumps(part1).encode(), more_to_follow=True,
                      claims=feeder)
        run = h1.feed(school_id, json.dumps(part2).encode(), feed_run_id=run.id,
                      claims=feeder)
        assert run.status == "succeeded"
        with h1.db.read() as s:
            stored = json.loads(s.scalars(select(Student.contacts).where(
                Student.school_id == school_id)).one())
        assert sorted(c["mis_id"] for c in stored) == ["C1000000", "C1000001"]
        (event,) = of(h1.events(school_id, new=True), CONTACTS_UPSERTED)
        assert sorted(c.mis_id for c in event.contacts) == ["C1000000", "C1000001"]
    finally:
        h1.dispose()
