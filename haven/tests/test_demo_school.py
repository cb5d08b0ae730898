"""The demo school's roll as its MIS feed describes it (``datagen.demo``): realistic,
deterministic, with families and about a term of attendance."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from stdnum.gb import upn

from datagen.demo import attendance_days, demo_feed, demo_school, siblings

TODAY = dt.date(2026, 11, 29)


def test_a_realistic_roll():
    pupils = demo_school(TODAY).pupils
    assert all(upn.is_valid(p.upn) for p in pupils)
    assert len({p.upn for p in pupils}) == len({p.mis_id for p in pupils}) == len(pupils) == 202
    assert len({(p.legal_first_name, p.legal_last_name) for p in pupils}) == len(pupils)
    leavers = [p for p in pupils if p.leaving_date]
    assert len(leavers) == 2 and all(p.leaving_date < dt.date(2026, 9, 1) for p in leavers)
    current = [p for p in pupils if not p.leaving_date]
    assert Counter(p.year_group for p in current) == {f"Year {y}": 40 for y in range(7, 12)}
    assert Counter(p.tutor_group for p in current) == {
        f"{y}{f}": 10 for y in range(7, 12) for f in "ABCD"}
    for p in current:
        year = int(p.year_group.split()[1])
        age_on_1_sep = 2026 - p.date_of_birth.year - (p.date_of_birth.month >= 9)
        assert age_on_1_sep == year + 4, (p.year_group, p.date_of_birth)
        assert p.contacts and all(c.phones for c in p.contacts) and p.address.postcode
    assert any(p.preferred_first_name != p.legal_first_name for p in pupils)
    assert {p.gender for p in pupils} == {"F", "M"}
    dan = next(p for p in pupils if (p.preferred_first_name, p.legal_last_name)
               == ("Dan", "Carter"))
    assert (dan.legal_first_name, dan.tutor_group) == ("Daniel", "11B")


def test_the_same_feed_for_the_same_day_and_the_same_marks_for_a_day():
    assert demo_feed(TODAY, school_id="s") == demo_feed(TODAY, school_id="s")
    earlier, later = demo_school(TODAY), demo_school(TODAY + dt.timedelta(days=10))
    for a, b in zip(earlier.pupils, later.pupils, strict=True):
        assert (a.mis_id, a.upn, a.date_of_birth, a.contacts) == (
            b.mis_id, b.upn, b.date_of_birth, b.contacts)
        shared = set(a.marks) & set(b.marks)
        assert {k: a.marks[k] for k in shared} == {k: b.marks[k] for k in shared}
    assert max(d for p in later.pupils for d, _ in p.marks) > max(
        d for p in earlier.pupils for d, _ in p.marks)


def test_about_a_term_of_attendance_up_to_yesterday():
    first, last = attendance_days(TODAY)
    school = demo_school(TODAY)
    days = {d for p in school.pupils for d, _ in p.marks}
    assert min(days) >= first and max(days) <= last == TODAY - dt.timedelta(days=1)
    assert 55 <= len(days) <= 66  # school days of 13 weeks, this autumn
    codes = Counter(c for p in school.pupils for c in p.marks.values())
    present = (codes["/"] + codes["\\"] + codes["L"]) / sum(codes.values())
    assert 0.85 < present < 0.98 and codes["I"] > 0 and codes["#"] > 0
    assert not any(p.marks for p in school.pupils if p.leaving_date)


def test_brothers_and_sisters_share_their_familys_contacts_and_address():
    school = demo_school(TODAY)
    family = siblings(school)
    assert 20 <= len(family) <= 80
    by_id = {p.mis_id: p for p in school.pupils}
    for pupil, others in family.items():
        for other in others:
            a, b = by_id[pupil], by_id[other]
            assert a.legal_last_name == b.legal_last_name and a.year_group != b.year_group
            assert a.address == b.address
    # the feed names each person once, with all of their children
    feed = json.loads(demo_feed(TODAY, school_id="s"))
    assert {"students", "contacts", "attendance"} <= set(feed) and "employees" not in feed
    shared = [c for c in feed["contacts"] if len(c["students"]) > 1]
    assert shared and len({c["id"] for c in feed["contacts"]}) == len(feed["contacts"])
    assert all(set(s["student_id"] for s in c["students"]) <= set(family) for c in shared)
