"""A synthetic school: pupils, contacts, staff, groups and a year of attendance.

Deterministic by seed: ``generate_school(seed=7, pupils=300)`` always returns the same school,
so tests and benchmarks can share fixtures without storing them. Nothing here is real: names
come from common-name pools, phone numbers from Ofcom's drama ranges, email addresses from
reserved example domains, and UPNs are well formed (check letter via python-stdnum) but
issued by no one.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import dataclass, field

from stdnum.gb import upn as stdnum_upn

from datagen import names
from datagen.calendar import SchoolYear, school_year

# Session marks: DfE codes with rough shares of all absences / present marks.
ABSENCE_CODES = (("I", 0.50), ("M", 0.06), ("C", 0.05), ("R", 0.01), ("E", 0.01),
                 ("G", 0.07), ("O", 0.14), ("N", 0.06), ("U", 0.02), ("T", 0.005),
                 ("H", 0.005), ("S", 0.0))
AEA_CODES = (("B", 0.35), ("V", 0.4), ("P", 0.25))
PRESENT = {"AM": "/", "PM": "\\"}


@dataclass
class Address:
    line1: str
    line2: str
    town: str
    county: str
    postcode: str


@dataclass
class Phone:
    kind: str  # CTF telephone type: H home, M mobile, W work
    number: str


@dataclass
class Contact:
    mis_id: str
    title: str
    first_name: str
    last_name: str
    relationship_code: str  # CBDS code as in CTF (PAM, PAF, CAR ...)
    parental_responsibility: bool
    priority: int
    phones: list[Phone]
    email: str
    address: Address | None  # None: lives at the pupil's address

    @property
    def relationship(self) -> str:
        return names.RELATIONSHIPS.get(self.relationship_code, "Other contact")


@dataclass
class Pupil:
    mis_id: str
    upn: str
    admission_number: str
    legal_first_name: str
    legal_last_name: str
    preferred_first_name: str
    preferred_last_name: str
    middle_names: str
    date_of_birth: dt.date
    gender: str  # M / F
    ethnicity: str
    religion: str
    first_language: str
    sen_status: str  # N, K, E
    sen_start: dt.date | None
    fsm: bool
    fsm_start: dt.date | None
    pupil_premium: bool
    looked_after: bool
    nc_year: str  # "R", "1".."13"
    year_group: str  # "Year 7", "Reception"
    tutor_group: str
    admission_date: dt.date
    date_of_arrival: dt.date
    leaving_date: dt.date | None
    address: Address
    phones: list[Phone]
    email: str
    medical_conditions: list[str]
    contacts: list[Contact]
    # (date, "AM"/"PM") -> DfE code, only sessions the pupil was expected at
    marks: dict[tuple[dt.date, str], str] = field(default_factory=dict)

    @property
    def upn_temporary(self) -> bool:
        return self.upn[-1:].isalpha()

    @property
    def eal(self) -> bool:
        return self.first_language not in ("ENG", "ENB")


@dataclass
class StaffMember:
    mis_id: str
    title: str
    first_name: str
    last_name: str
    legal_first_name: str
    legal_last_name: str
    email: str
    job_title: str
    permanent: bool
    full_time: bool
    start_date: dt.date
    end_date: dt.date | None


@dataclass
class Group:
    mis_id: str
    name: str
    kind: str  # "tutor" or "year"
    staff_mis_ids: list[str]


@dataclass
class School:
    name: str
    lea: str
    estab: str
    urn: str
    year: SchoolYear
    town: str
    pupils: list[Pupil]
    staff: list[StaffMember]
    groups: list[Group]
    generated_at: dt.datetime

    @property
    def laestab(self) -> str:
        return f"{self.lea}{self.estab}"

    def copy(self) -> School:
        return copy.deepcopy(self)

    def pupil(self, mis_id: str) -> Pupil:
        return next(p for p in self.pupils if p.mis_id == mis_id)


# ---- UPNs -----------------------------------------------------------------------------

def make_upn(la: int | str, estab: int | str, year: int, serial: int, *,
             temporary: bool = False) -> str:
    """A UPN with a correct check letter. Temporary UPNs end in a letter (2-digit serial)."""
    body = f"{int(la):03d}{int(estab):04d}{year % 100:02d}"
    if temporary:
        body += f"{serial % 100:02d}" + "ABCDEFGHJKLMNPQRTUVWXYZ"[serial % 23]
    else:
        body += f"{serial % 1000:03d}"
    return stdnum_upn.calc_check_digit(body) + body


def corrupt_upn(upn: str) -> str:
    """The same UPN with a wrong check letter (for bad-input tests)."""
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
    wrong = letters[(letters.index(upn[0]) + 1) % len(letters)]
    return wrong + upn[1:]


# ---- generation -----------------------------------------------------------------------

def _weighted(rng: random.Random, pairs) -> str:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def _year_groups(phase: str) -> list[str]:
    if phase == "primary":
        return ["R", "1", "2", "3", "4", "5", "6"]
    if phase == "secondary":
        return ["7", "8", "9", "10", "11"]
    if phase == "secondary_sixth":
        return ["7", "8", "9", "10", "11", "12", "13"]
    raise ValueError(f"unknown phase {phase!r}")


def year_group_name(nc_year: str) -> str:
    return "Reception" if nc_year == "R" else f"Year {nc_year}"


def birth_window(nc_year: str, start_year: int) -> tuple[dt.date, dt.date]:
    """Pupils in NC year N in the academic year starting ``start_year`` were born between
    1 September (start_year - N - 5) and 31 August of the next year (Reception is N = 0)."""
    n = 0 if nc_year == "R" else int(nc_year)
    born = start_year - n - 5
    return dt.date(born, 9, 1), dt.date(born + 1, 8, 31)


def _phone(rng: random.Random, kind: str, landline_prefix: str) -> Phone:
    if kind == "M":
        return Phone("M", f"07700 900{rng.randrange(1000):03d}")
    return Phone(kind, f"{landline_prefix}{rng.randrange(1000):03d}")


def _email(rng: random.Random, first: str, last: str) -> str:
    clean = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
    domain = rng.choice(("example.com", "example.org", "example.net"))
    return f"{clean}{rng.randrange(10, 99)}@{domain}"


def _postcode(rng: random.Random, area: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return (f"{area}{rng.randrange(1, 20)} {rng.randrange(1, 10)}"
            f"{rng.choice(letters)}{rng.choice(letters)}")


def generate_school(
    *,
    seed: int = 1,
    pupils: int = 200,
    phase: str = "secondary",
    start_year: int = 2025,
    attendance_through: dt.date | None = None,
    attendance: bool = True,
    temporary_upn_share: float = 0.01,
    leavers: int = 0,
    lea: str = "823",
    estab: str = "4001",
    urn: str = "140123",
    name: str = "Haven Demo Academy",
) -> School:
    """A school with ``pupils`` pupils on roll (plus ``leavers`` who left this year)."""
    rng = random.Random(seed)
    year = school_year(start_year)
    town, county, area, landline = names.TOWNS[seed % len(names.TOWNS)]
    years = _year_groups(phase)
    generated_at = dt.datetime.combine(
        attendance_through or year.last_day, dt.time(18, 30)
    )
    pool_weights = [h.weight for h in names.HERITAGES]

    # Staff first: tutors are staff.
    staff: list[StaffMember] = []
    n_teachers = max(len(years) * 2, pupils // 15)
    n_support = max(3, pupils // 40)
    for i in range(n_teachers + n_support):
        female = rng.random() < 0.68
        first = rng.choice(names.ADULT_WOMEN if female else names.ADULT_MEN)
        heritage = rng.choices(names.HERITAGES, weights=pool_weights)[0]
        last = rng.choice(heritage.surnames)
        teacher = i < n_teachers
        job = (f"Teacher of {rng.choice(names.SUBJECTS)}" if teacher
               else rng.choice(names.SUPPORT_ROLES))
        start = dt.date(start_year - rng.randrange(0, 20), 9, 1)
        permanent = rng.random() < (0.9 if teacher else 0.75)
        end = None
        if rng.random() < 0.04:
            end = year.first_day + dt.timedelta(days=rng.randrange(30, 250))
        staff.append(StaffMember(
            mis_id=f"E{1000 + i}",
            title=rng.choice(names.STAFF_TITLES_F if female else names.STAFF_TITLES_M),
            first_name=first,
            last_name=last,
            legal_first_name=first,
            legal_last_name=last,
            email=f"{first[0].lower()}.{last.lower().replace(chr(39), '')}"
                  f"{i}@staff.example.org",
            job_title=job,
            permanent=permanent,
            full_time=rng.random() < (0.8 if teacher else 0.55),
            start_date=start,
            end_date=end,
        ))

    # Tutor groups: about 28 pupils each, named 7A, 7B ... (R/1 at primary: RA, 1A).
    per_year = [pupils // len(years) + (1 if i < pupils % len(years) else 0)
                for i in range(len(years))]
    groups: list[Group] = []
    tutors = iter([s for s in staff if s.job_title.startswith("Teacher")] * 4)
    roll: list[tuple[str, str]] = []  # (nc_year, tutor group) per pupil
    for nc, count in zip(years, per_year, strict=True):
        n_groups = min(23, max(1, round(count / 28)))
        names_ = [f"{nc}{'ABCDEFGHJKLMNPRSTUVWXYZ'[g]}" for g in range(n_groups)]
        groups.append(Group(mis_id=f"Y{nc}", name=year_group_name(nc), kind="year",
                            staff_mis_ids=[]))
        for g in names_:
            groups.append(Group(mis_id=f"T{g}", name=g, kind="tutor",
                                staff_mis_ids=[next(tutors).mis_id]))
        for k in range(count):
            roll.append((nc, names_[k % n_groups]))

    pupils_out: list[Pupil] = []
    serials: dict[tuple[str, str, int], int] = {}
    issued: set[str] = set()
    days = year.days_until(attendance_through) if attendance else []
    total = pupils + leavers
    snow_day = days[len(days) // 3] if days and rng.random() < 0.5 else None
    for i in range(total):
        if i < pupils:
            nc, tutor = roll[i]
        else:
            nc, tutor = rng.choice(roll)
        heritage = rng.choices(names.HERITAGES, weights=pool_weights)[0]
        female = rng.random() < 0.49
        first = rng.choice(heritage.girls if female else heritage.boys)
        last = rng.choice(heritage.surnames)
        middle = rng.choice(heritage.girls if female else heritage.boys) \
            if rng.random() < 0.55 else ""
        preferred_first = first
        if rng.random() < 0.05:
            preferred_first = {"Alexander": "Alex", "William": "Will", "Samuel": "Sam",
                               "Charlotte": "Lottie", "Elizabeth": "Beth",
                               "Theodore": "Theo", "Muhammad": "Mo", "Isabella": "Bella",
                               }.get(first, first[:3] if len(first) > 4 else first)
        lo, hi = birth_window(nc, start_year)
        dob = lo + dt.timedelta(days=rng.randrange((hi - lo).days + 1))
        # Most pupils joined at the start of their phase; some arrived later.
        n = 0 if nc == "R" else int(nc)
        first_nc = 0 if years[0] == "R" else int(years[0])
        joined_year = start_year - (n - first_nc)
        admission = dt.date(joined_year, 9, 3)
        if rng.random() < 0.12 and n > first_nc:
            joined_year = start_year - rng.randrange(0, n - first_nc + 1)
            admission = dt.date(joined_year, rng.choice((9, 10, 11, 1, 2, 4, 5, 6)), 10)
            if admission.month < 9:
                admission = admission.replace(year=joined_year + 1)
            if admission > year.last_day:
                admission = dt.date(start_year, 9, 3)
        arrival = admission
        if rng.random() < 0.03 and admission > year.first_day:
            arrival = admission - dt.timedelta(days=rng.randrange(1, 20))
        leaving = None
        if i >= pupils:
            leaving = year.first_day + dt.timedelta(days=rng.randrange(20, 200))
            if leaving <= admission:
                leaving = admission + dt.timedelta(days=30)
        # A UPN is issued when a pupil first enters school (Reception), by that school: this
        # one for a primary pupil who started here, else one of a few feeder primaries.
        # A pupil still waiting for theirs has a temporary UPN issued by this school.
        temporary = rng.random() < temporary_upn_share
        if temporary:
            key = (lea, estab, start_year)
        elif phase == "primary" and joined_year == start_year - n:
            key = (lea, estab, start_year - n)
        else:
            key = (lea if rng.random() < 0.8 else rng.choice(("802", "380", "383", "352")),
                   f"{2001 + rng.randrange(12):04d}", start_year - n)
        while True:
            serials[key] = serials.get(key, 0) + 1
            upn = make_upn(key[0], key[1], key[2], serials[key], temporary=temporary)
            if upn not in issued:
                issued.add(upn)
                break
        fsm = rng.random() < 0.24
        looked_after = rng.random() < 0.006
        sen = _weighted(rng, (("N", 0.85), ("K", 0.12), ("E", 0.03)))
        street_no = rng.randrange(1, 180)
        address = Address(
            line1=f"{street_no} {rng.choice(names.STREETS)}",
            line2="",
            town=town,
            county=county,
            postcode=_postcode(rng, area),
        )
        contacts = _contacts(rng, i, last, heritage, looked_after, landline, area, town, county)
        pupil = Pupil(
            mis_id=f"S{100000 + i}",
            upn=upn,
            admission_number=f"{200000 + i:06d}",
            legal_first_name=first,
            legal_last_name=last,
            preferred_first_name=preferred_first,
            preferred_last_name=last,
            middle_names=middle,
            date_of_birth=dob,
            gender="F" if female else "M",
            ethnicity=_weighted(rng, heritage.ethnicities),
            religion=_weighted(rng, heritage.religions),
            first_language=_weighted(rng, heritage.languages),
            sen_status=sen,
            sen_start=(admission if sen != "N" else None),
            fsm=fsm,
            fsm_start=(dt.date(start_year - rng.randrange(0, 4), 9, 15) if fsm else None),
            pupil_premium=fsm or looked_after or rng.random() < 0.04,
            looked_after=looked_after,
            nc_year=nc,
            year_group=year_group_name(nc),
            tutor_group=tutor,
            admission_date=admission,
            date_of_arrival=arrival,
            leaving_date=leaving,
            address=address,
            phones=[_phone(rng, "H", landline)] if rng.random() < 0.3 else [],
            email=_email(rng, first, last) if n >= 10 and rng.random() < 0.4 else "",
            medical_conditions=sorted(rng.sample(names.MEDICAL_CONDITIONS, k=rng.choice(
                (1, 1, 2))) if rng.random() < 0.12 else []),
            contacts=contacts,
        )
        if attendance:
            pupil.marks = _attendance(rng, pupil, days, year, snow_day)
        pupils_out.append(pupil)
    return School(
        name=name,
        lea=lea,
        estab=estab,
        urn=urn,
        year=year,
        town=town,
        pupils=pupils_out,
        staff=staff,
        groups=groups,
        generated_at=generated_at,
    )


def _contacts(rng, i, pupil_last, heritage, looked_after, landline, area, town, county):
    out: list[Contact] = []
    if looked_after:
        plan = [("FOM", True), ("FOF", False), ("SWR", False)]
    else:
        plan = rng.choice([
            [("PAM", True), ("PAF", True)],
            [("PAM", True), ("PAF", True)],
            [("PAM", True), ("PAF", True), ("REL", False)],
            [("PAM", True)],
            [("PAM", True), ("STF", False)],
            [("PAF", True)],
            [("PAM", True), ("PAF", True), ("CHM", False)],
            [("CAR", True), ("REL", False)],
        ])
    for k, (code, responsibility) in enumerate(plan):
        female = code in ("PAM", "STM", "FOM") or (code in ("REL", "CAR", "CHM", "SWR")
                                                   and rng.random() < 0.6)
        first = rng.choice(heritage.girls + names.ADULT_WOMEN if female
                           else heritage.boys + names.ADULT_MEN)
        last = pupil_last if code in ("PAM", "PAF") and rng.random() < 0.8 else \
            rng.choice(heritage.surnames)
        phones = [_phone(rng, "M", landline)]
        if rng.random() < 0.35:
            phones.append(_phone(rng, "W", landline))
        elsewhere = code not in ("PAM", "PAF", "FOM", "FOF", "CAR") or rng.random() < 0.15
        out.append(Contact(
            mis_id=f"C{100000 + i}{k}",
            title=("Mrs" if rng.random() < 0.7 else "Ms") if female else "Mr",
            first_name=first,
            last_name=last,
            relationship_code=code,
            parental_responsibility=responsibility,
            priority=k + 1,
            phones=phones,
            email=_email(rng, first, last) if rng.random() < 0.8 else "",
            address=Address(f"{rng.randrange(1, 200)} {rng.choice(names.STREETS)}", "", town,
                            county, _postcode(rng, area)) if elsewhere else None,
        ))
    return out


def _attendance(rng: random.Random, pupil: Pupil, days: list[dt.date], year: SchoolYear,
                snow_day: dt.date | None) -> dict[tuple[dt.date, str], str]:
    """A year of session marks: most pupils attend ~95%, a tail are persistently absent."""
    marks: dict[tuple[dt.date, str], str] = {}
    band = rng.random()
    if band < 0.03:
        absence = rng.uniform(0.3, 0.6)  # severely absent
    elif band < 0.2:
        absence = rng.uniform(0.1, 0.2)  # persistently absent
    else:
        absence = rng.betavariate(1.2, 30)  # typically 2-6 %
    lateness = rng.betavariate(1.1, 40)
    inset = set(year.inset_days)
    ill_days = 0
    for day in days:
        if day < pupil.admission_date or (pupil.leaving_date and day > pupil.leaving_date):
            continue
        if day in inset:
            marks[(day, "AM")] = marks[(day, "PM")] = "#"
            continue
        if day == snow_day:
            marks[(day, "AM")] = marks[(day, "PM")] = "Y"
            continue
        if ill_days == 0 and rng.random() < absence * 0.45:
            ill_days = rng.choice((1, 1, 1, 2, 2, 3, 5))
        if ill_days:
            ill_days -= 1
            code = _weighted(rng, ABSENCE_CODES)
            marks[(day, "AM")] = code
            marks[(day, "PM")] = code if rng.random() < 0.9 else PRESENT["PM"]
            continue
        for session in ("AM", "PM"):
            r = rng.random()
            if r < absence * 0.1:
                marks[(day, session)] = _weighted(rng, ABSENCE_CODES)
            elif r < absence * 0.1 + 0.004:
                marks[(day, session)] = _weighted(rng, AEA_CODES)
            elif session == "AM" and r < absence * 0.1 + 0.004 + lateness:
                marks[(day, session)] = "U" if rng.random() < 0.12 else "L"
            else:
                marks[(day, session)] = PRESENT[session]
    return marks
