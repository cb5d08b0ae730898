"""The synthetic school generator shared by tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from stdnum.gb import upn

from datagen import birth_window, ctf_bytes, feed_bytes, generate_school
from datagen.calendar import school_year


def test_the_same_seed_gives_the_same_school():
    a, b = generate_school(seed=9, pupils=40), generate_school(seed=9, pupils=40)
    assert ctf_bytes(a) == ctf_bytes(b)
    assert feed_bytes(a, school_id="s") == feed_bytes(b, school_id="s")
    assert ctf_bytes(generate_school(seed=10, pupils=40)) != ctf_bytes(a)


def test_pupils_are_plausible():
    school = generate_school(seed=2, pupils=300, temporary_upn_share=0.05)
    upns = [p.upn for p in school.pupils]
    assert len(set(upns)) == len(upns)
    assert all(upn.is_valid(u) for u in upns)
    assert 0 < sum(p.upn_temporary for p in school.pupils) < 40
    for p in school.pupils:
        lo, hi = birth_window(p.nc_year, 2025)
        assert lo <= p.date_of_birth <= hi
        assert p.tutor_group.startswith(p.nc_year)
        assert p.contacts and all(c.phones for c in p.contacts)
    assert {p.year_group for p in school.pupils} == {f"Year {n}" for n in range(7, 12)}
    assert len({p.legal_last_name for p in school.pupils}) > 60


def test_a_year_of_attendance_looks_like_a_school_year():
    year = school_year(2025)
    assert 185 <= len(year.school_days) <= 200
    assert all(d.weekday() < 5 for d in year.school_days)
    assert dt.date(2025, 12, 25) not in year.school_days
    school = generate_school(seed=5, pupils=200)
    codes = Counter(c for p in school.pupils for c in p.marks.values())
    total = sum(codes.values())
    present = (codes["/"] + codes["\\"] + codes["L"]) / total
    assert 0.85 < present < 0.97
    assert codes["I"] > codes["M"] > 0 and codes["#"] > 0 and codes["U"] > 0
