"""A plausible English school year: term dates, half terms, bank holidays, INSET days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _monday_on_or_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _week(monday: dt.date) -> set[dt.date]:
    return {monday + dt.timedelta(days=i) for i in range(5)}


@dataclass(frozen=True)
class SchoolYear:
    start_year: int  # 2025 for 2025/26
    first_day: dt.date
    last_day: dt.date
    school_days: tuple[dt.date, ...]  # days pupils are expected in (both sessions)
    inset_days: tuple[dt.date, ...]  # weekdays in term the school is closed to pupils

    @property
    def label(self) -> str:
        return f"{self.start_year}/{(self.start_year + 1) % 100:02d}"

    def days_until(self, through: dt.date | None) -> list[dt.date]:
        if through is None:
            return list(self.school_days)
        return [d for d in self.school_days if d <= through]


def school_year(start_year: int) -> SchoolYear:
    """Weekdays from early September to late July, less holidays, half terms, bank holidays."""
    y0, y1 = start_year, start_year + 1
    first = dt.date(y0, 9, 2)
    while first.weekday() >= 5:
        first += dt.timedelta(days=1)
    last = dt.date(y1, 7, 21)
    while last.weekday() >= 5:
        last -= dt.timedelta(days=1)
    closed: set[dt.date] = set()
    # Autumn half term: the last full week of October.
    closed |= _week(_monday_on_or_before(dt.date(y0, 10, 27)))
    # Christmas: from the Saturday before 21 December to the first Monday of January.
    day = dt.date(y0, 12, 20)
    while day.weekday() != 5:
        day -= dt.timedelta(days=1)
    back = dt.date(y1, 1, 2)
    while back.weekday() != 0:
        back += dt.timedelta(days=1)
    while day < back:
        closed.add(day)
        day += dt.timedelta(days=1)
    # Spring half term: the week containing 16 February.
    closed |= _week(_monday_on_or_before(dt.date(y1, 2, 16)))
    # Easter: the two weeks around Easter Sunday (Good Friday to Easter Monday included).
    easter = easter_sunday(y1)
    start = _monday_on_or_before(easter - dt.timedelta(days=2))
    for i in range(14):
        closed.add(start + dt.timedelta(days=i))
    closed.add(easter + dt.timedelta(days=1))
    # Early May bank holiday, and the late May half term (week of the last Monday in May).
    may = dt.date(y1, 5, 1)
    while may.weekday() != 0:
        may += dt.timedelta(days=1)
    closed.add(may)
    late_may = dt.date(y1, 5, 31)
    while late_may.weekday() != 0:
        late_may -= dt.timedelta(days=1)
    closed |= _week(late_may)
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += dt.timedelta(days=1)
    # Five INSET days: the first day of term, then the first day back after four holidays.
    inset = {days[0]}
    for prev, cur in zip(days, days[1:], strict=False):
        if (cur - prev).days > 3 and len(inset) < 5:
            inset.add(cur)
    return SchoolYear(
        start_year=start_year,
        first_day=first,
        last_day=last,
        school_days=tuple(days),
        inset_days=tuple(sorted(inset)),
    )


def academic_year_of(day: dt.date) -> int:
    """The start year of the academic year a date falls in (1 September to 31 August)."""
    return day.year if day.month >= 9 else day.year - 1
