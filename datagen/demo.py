"""The demo school's pupils, as its MIS would send them (``python -m haven run`` imports them).

``demo_school(today)`` is Haven Demo Academy's roll: 40 pupils in each of Years 7 to 11, ten
in each tutor group 7A to 11D, plus two Year 11 leavers who left last summer. Each pupil has
an address, contacts (parents, carers, relatives) and the session marks of the last 13 weeks
up to yesterday; some brothers and sisters share their family's contacts and address, which
is how the MIS shows siblings. Everything is a function of ``today``'s date only: the roll
(names, dates of birth, UPNs, MIS ids) of the academic year ``today`` falls in, and the marks
of a given day are the same whenever they are generated, so a later roll differs from an
earlier one only by the days that have passed since.

    python -m datagen --demo --json var/demo-feed.json
"""

from __future__ import annotations

import datetime as dt
import random

from datagen import names
from datagen.calendar import SchoolYear, academic_year_of, school_year
from datagen.school import (
    Address,
    Group,
    Phone,
    Pupil,
    School,
    _attendance,
    _contacts,
    _postcode,
    _weighted,
    make_upn,
)

ROLL_SEED = 20260901  # names, dates of birth and UPNs
DETAILS_SEED = 20260902  # families, contacts, addresses, the MIS's other fields
YEARS = (7, 8, 9, 10, 11)
FORMS = ("A", "B", "C", "D")
PER_FORM = 10
LEAVERS = 2
ATTENDANCE_WEEKS = 13  # about a term
SIBLING_CHANCE = 0.4  # that a pupil joins a family of their surname with no one in their year
SCHOOL_NAME = "Haven Demo Academy"
# UPNs were issued by the feeder primaries of one local authority.
UPN_LA = "873"
UPN_ESTAB = "4127"
TOWN = names.TOWNS[0]

GIRLS = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Freya", "Willow", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie", "Charlotte",
    "Evelyn", "Sienna", "Daisy", "Phoebe", "Sophie", "Harper", "Alice", "Matilda", "Ruby",
    "Aisha", "Zara", "Maryam", "Hannah", "Chloe", "Jessica", "Katherine", "Elizabeth", "Niamh",
    "Priya", "Amara", "Leah", "Megan", "Abigail", "Imogen", "Erin",
]
BOYS = [
    "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo", "Harry", "Oscar", "Archie",
    "Henry", "Theodore", "Freddie", "Jack", "Charlie", "Theo", "Alfie", "Jacob", "Thomas",
    "William", "Lucas", "Alexander", "Joshua", "Samuel", "Daniel", "Isaac", "Max", "Ethan",
    "Reuben", "Finley", "Mohammed", "Yusuf", "Ibrahim", "Kai", "Rory", "Callum", "Dylan",
    "Benjamin", "Matthew", "Nathan", "Owen", "Ryan", "Adam", "Arjun", "Kwame", "Tobias",
]
SURNAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw",
    "Bell", "Collins", "Morgan", "Kelly", "Begum", "Miller", "Cox", "Hussain", "Marshall",
    "Simpson", "Price", "Anderson", "Adams", "Wilkinson", "Ali", "Ahmed", "Foster", "Ellis",
    "Murphy", "Chapman", "Mason", "Gray", "Richards", "Webb", "Griffiths", "Hunt", "Palmer",
    "Campbell", "Holmes", "Mills", "Rogers", "Barnes", "Knight", "Matthews", "Barker", "Okafor",
    "Nowak", "Kowalski", "O'Brien", "Greenwood", "Bradshaw", "Fletcher", "Lloyd", "Kaur",
]
NICKNAMES = {
    "Alexander": "Alex", "William": "Will", "Thomas": "Tom", "Katherine": "Kate",
    "Elizabeth": "Libby", "Benjamin": "Ben", "Matthew": "Matt", "Samuel": "Sam",
    "Jessica": "Jess", "Theodore": "Teddy", "Joshua": "Josh", "Daniel": "Dan",
    "Isabella": "Bella", "Abigail": "Abi",
}


def demo_upn(issue_year: int, serial: int) -> str:
    """A UPN issued in ``issue_year`` by the demo's feeder primaries."""
    return make_upn(UPN_LA, UPN_ESTAB, issue_year, serial)


def _heritage(surname: str) -> names.Heritage:
    for heritage in names.HERITAGES:
        if surname in heritage.surnames:
            return heritage
    return names.BRITISH


def _roll(start: int) -> list[Pupil]:
    """Names, dates of birth, UPNs and groups (the demo's roll since its first version)."""
    rng = random.Random(ROLL_SEED)
    used: set[tuple[str, str]] = set()
    slots = [(y, f, False) for y in YEARS for f in FORMS for _ in range(PER_FORM)]
    slots += [(11, "A", True)] * LEAVERS
    last_year = school_year(start - 1)
    out: list[Pupil] = []
    for index, (year, form, left) in enumerate(slots):
        while True:
            gender = rng.choice("FM")
            first = rng.choice(GIRLS if gender == "F" else BOYS)
            last = rng.choice(SURNAMES)
            if (first, last) not in used:
                used.add((first, last))
                break
        preferred = NICKNAMES.get(first, "") if rng.random() < 0.4 else ""
        # In England a pupil in year N was born between 1 Sep and 31 Aug, N + 5 years back;
        # a leaver finished Year 11 last summer.
        born_from = dt.date(start - year - 5 - (1 if left else 0), 9, 1)
        dob = born_from + dt.timedelta(days=rng.randrange(365))
        joined = start - (year - 7) - (1 if left else 0)
        out.append(Pupil(
            mis_id=str(100_000 + index), upn=demo_upn(dob.year + 4, index),
            admission_number=f"{joined % 100:02d}{index:04d}",
            legal_first_name=first, legal_last_name=last,
            preferred_first_name=preferred or first, preferred_last_name=last, middle_names="",
            date_of_birth=dob, gender=gender, ethnicity="", religion="", first_language="ENG",
            sen_status="N", sen_start=None, fsm=False, fsm_start=None, pupil_premium=False,
            looked_after=False, nc_year=str(year), year_group=f"Year {year}",
            tutor_group=f"{year}{form}", admission_date=dt.date(joined, 9, 3),
            date_of_arrival=dt.date(joined, 9, 3),
            leaving_date=last_year.last_day if left else None,
            address=Address("", "", "", "", ""), phones=[], email="", medical_conditions=[],
            contacts=[],
        ))
    return out


def _details(pupils: list[Pupil]) -> None:
    """Families (siblings share contacts and an address), contacts and the MIS's fields."""
    rng = random.Random(DETAILS_SEED)
    town, county, area, landline = TOWN
    families: dict[str, list[list[Pupil]]] = {}  # surname -> families (their pupils), in order
    for index, pupil in enumerate(pupils):
        heritage = _heritage(pupil.legal_last_name)
        pupil.ethnicity = _weighted(rng, heritage.ethnicities)
        pupil.religion = _weighted(rng, heritage.religions)
        pupil.first_language = _weighted(rng, heritage.languages)
        pupil.sen_status = _weighted(rng, (("N", 0.85), ("K", 0.12), ("E", 0.03)))
        pupil.sen_start = pupil.admission_date if pupil.sen_status != "N" else None
        pupil.fsm = rng.random() < 0.2
        pupil.fsm_start = pupil.admission_date if pupil.fsm else None
        pupil.looked_after = rng.random() < 0.01
        pupil.pupil_premium = pupil.fsm or pupil.looked_after
        pupil.medical_conditions = sorted(rng.sample(names.MEDICAL_CONDITIONS, k=1)) \
            if rng.random() < 0.12 else []
        open_to = [f for f in families.get(pupil.legal_last_name, [])
                   if not f[0].looked_after and all(p.year_group != pupil.year_group for p in f)]
        if open_to and not pupil.looked_after and rng.random() < SIBLING_CHANCE:
            family = rng.choice(open_to)
            pupil.address = family[0].address
            pupil.phones = list(family[0].phones)
            pupil.contacts = family[0].contacts  # the same people, the same MIS contact ids
            family.append(pupil)
            continue
        pupil.address = Address(f"{rng.randrange(1, 180)} {rng.choice(names.STREETS)}", "",
                                town, county, _postcode(rng, area))
        pupil.phones = [Phone("H", f"{landline}{rng.randrange(1000):03d}")] \
            if rng.random() < 0.3 else []
        pupil.contacts = _contacts(rng, index, pupil.legal_last_name, heritage,
                                   pupil.looked_after, landline, area, town, county)
        families.setdefault(pupil.legal_last_name, []).append([pupil])


def attendance_days(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day the demo has marks for: the 13 weeks up to yesterday."""
    return today - dt.timedelta(weeks=ATTENDANCE_WEEKS), today - dt.timedelta(days=1)


def _snow_day(year: SchoolYear) -> dt.date | None:
    rng = random.Random(f"demo-snow:{year.start_year}")
    return year.school_days[len(year.school_days) // 3] if rng.random() < 0.5 else None


def _marks(pupils: list[Pupil], today: dt.date) -> None:
    """Each pupil's marks for the window, drawn per pupil and school year (a day's marks do
    not depend on how many days the window holds)."""
    first, last = attendance_days(today)
    years = [school_year(y) for y in range(academic_year_of(first), academic_year_of(last) + 1)]
    for pupil in pupils:
        marks: dict[tuple[dt.date, str], str] = {}
        for year in years:
            rng = random.Random(f"demo-marks:{pupil.mis_id}:{year.start_year}")
            drawn = _attendance(rng, pupil, list(year.school_days), year, _snow_day(year))
            marks.update({k: v for k, v in drawn.items() if first <= k[0] <= last})
        pupil.marks = dict(sorted(marks.items()))


def demo_school(today: dt.date) -> School:
    """Haven Demo Academy as its MIS describes it on ``today`` (data taken last evening)."""
    start = academic_year_of(today)
    pupils = _roll(start)
    _details(pupils)
    _marks(pupils, today)
    groups = []
    for year in YEARS:
        groups.append(Group(mis_id=f"Y{year}", name=f"Year {year}", kind="year",
                            staff_mis_ids=[]))
        groups += [Group(mis_id=f"T{year}{f}", name=f"{year}{f}", kind="tutor",
                         staff_mis_ids=[]) for f in FORMS]
    return School(
        name=SCHOOL_NAME, lea="823", estab="4001", urn="140123", year=school_year(start),
        town=TOWN[0], pupils=pupils, staff=[], groups=groups,
        generated_at=dt.datetime.combine(today - dt.timedelta(days=1), dt.time(18, 30)),
    )


def siblings(school: School) -> dict[str, list[str]]:
    """MIS id -> the MIS ids of the pupils sharing a contact with them."""
    by_contact: dict[str, set[str]] = {}
    for pupil in school.pupils:
        for contact in pupil.contacts:
            by_contact.setdefault(contact.mis_id, set()).add(pupil.mis_id)
    out: dict[str, set[str]] = {}
    for ids in by_contact.values():
        for mis_id in ids:
            out.setdefault(mis_id, set()).update(ids - {mis_id})
    return {k: sorted(v) for k, v in out.items() if v}




def demo_feed(today: dt.date, *, school_id: str) -> bytes:
    """The demo school's full JSON feed (pupils, contacts, attendance) for ``today``: what its
    MIS connector would push. No staff or groups sections: the demo's staff are identity's
    accounts, and tutor and year groups follow from the pupils."""
    from datagen.writers import feed_bytes

    return feed_bytes(demo_school(today), school_id=school_id, staff=False, groups=False)
