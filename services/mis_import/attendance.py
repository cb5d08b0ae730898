"""DfE attendance codes and the per-year summary shown on a pupil's Attendance tab.

Marks are kept per pupil per academic year as ``{"2025-09-03": ["/", "\\\\"], ...}``: the AM
and PM code of each day ("" when that session has no mark). A code may carry minutes late as
``"L:12"``. Codes follow the DfE's school attendance guidance (the 2024 set and the older
single-letter set, so files written before and after the change both import).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from itertools import chain

PRESENT = frozenset({"/", "\\", "L"})
APPROVED_EDUCATIONAL_ACTIVITY = frozenset({"B", "J", "K", "P", "V", "W"})
AUTHORISED = frozenset({"C", "C1", "C2", "E", "H", "I", "J1", "M", "Q", "R", "S", "T"})
UNAUTHORISED = frozenset({"G", "N", "O", "U"})
NOT_POSSIBLE = frozenset({"#", "D", "X", "Y", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Z"})
CODES = PRESENT | APPROVED_EDUCATIONAL_ACTIVITY | AUTHORISED | UNAUTHORISED | NOT_POSSIBLE
SINGLE_CHAR_CODES = frozenset(c for c in CODES if len(c) == 1)
NO_MARK = "-"  # in a CTF marks string: no session that day (weekend, holiday, not on roll)
SESSIONS = ("AM", "PM")


def academic_year_of(day: str) -> int:
    """Start year of the academic year (1 September - 31 August) of an ISO date."""
    year, month = int(day[:4]), int(day[5:7])
    return year if month >= 9 else year - 1


def academic_year_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def split_code(value: str) -> tuple[str, int]:
    code, _, minutes = value.partition(":")
    return code, int(minutes) if minutes else 0


def join_code(code: str, minutes_late: int) -> str:
    return f"{code}:{minutes_late}" if minutes_late else code


def normalise_code(raw: str) -> str:
    """The canonical form of a code, or ValueError. Letters are case-insensitive."""
    code = (raw or "").strip()
    if code not in CODES:
        code = code.upper()
    if code not in CODES:
        raise ValueError(f"unknown attendance code {raw!r}")
    return code


_CATEGORY: dict[str, str] = {}
for _codes, _name in ((PRESENT, "present"),
                      (APPROVED_EDUCATIONAL_ACTIVITY, "approved_educational_activity"),
                      (AUTHORISED, "authorised_absences"),
                      (UNAUTHORISED, "unauthorised_absences"), (NOT_POSSIBLE, "not_possible")):
    for _code in _codes:
        _CATEGORY[_code] = _name

Marks = dict[str, tuple[str, str]]  # ISO date -> (AM code, PM code), "" for no mark
YearMarks = dict[int, Marks]  # academic year (start year) -> marks


def summarise(marks: Marks) -> dict[str, int | str]:
    """The figures of user guide section 8.5 for one academic year of marks."""
    out: dict[str, int | str] = {
        "possible_sessions": 0,
        "present": 0,
        "approved_educational_activity": 0,
        "authorised_absences": 0,
        "unauthorised_absences": 0,
        "lates_before_registers_closed": 0,
        "lates_after_registers_closed": 0,
        "unexplained_absences": 0,
        "not_possible": 0,
    }
    counts = Counter(chain.from_iterable(marks.values()))
    for value, n in counts.items():
        if not value:
            continue
        code = value.partition(":")[0]
        category = _CATEGORY.get(code)
        if category is None:
            continue
        out[category] += n
        if category != "not_possible":
            out["possible_sessions"] += n
        if code == "L":
            out["lates_before_registers_closed"] += n
        elif code == "U":
            out["lates_after_registers_closed"] += n
        elif code == "N":
            out["unexplained_absences"] += n
    # Only days with at least one mark are kept (decode_marks_string, add_mark, merging).
    out["first_date"] = min(marks) if marks else ""
    out["last_date"] = max(marks) if marks else ""
    return out


_ISO_CACHE: dict[int, str] = {}
_YEAR_CACHE: dict[str, int] = {}


def iso_day(ordinal: int) -> str:
    day = _ISO_CACHE.get(ordinal)
    if day is None:
        day = _ISO_CACHE[ordinal] = dt.date.fromordinal(ordinal).isoformat()
    return day


def year_of(day: str) -> int:
    year = _YEAR_CACHE.get(day)
    if year is None:
        year = _YEAR_CACHE[day] = academic_year_of(day)
    return year


def decode_marks_string(marks: str, start: dt.date, into: YearMarks | None = None,
                        ) -> YearMarks:
    """A CTF ``AttendanceMarks`` string: two characters a day (AM, PM) from ``start``,
    ``-`` where there is no mark. ValueError (with the date and session) for a character
    that is no attendance code."""
    out: YearMarks = {} if into is None else into
    bad = set(marks) - SINGLE_CHAR_CODES - {NO_MARK}
    if bad:
        index = min(marks.index(ch) for ch in bad)
        day = dt.date.fromordinal(start.toordinal() + index // 2).isoformat()
        raise ValueError(f"unknown attendance code {marks[index]!r} for {day} "
                         f"{SESSIONS[index % 2]}")
    base = start.toordinal()
    iso = _ISO_CACHE
    year = academic_year_of(start.isoformat())
    boundary = dt.date(year + 1, 9, 1).toordinal()  # the next academic year starts here
    days = out.setdefault(year, {})
    for i in range(0, len(marks) - 1, 2):
        am, pm = marks[i], marks[i + 1]
        if am == NO_MARK:
            if pm == NO_MARK:
                continue
            am = ""
        elif pm == NO_MARK:
            pm = ""
        ordinal = base + (i >> 1)
        if ordinal >= boundary:
            year += 1
            boundary = dt.date(year + 1, 9, 1).toordinal()
            days = out.setdefault(year, {})
        day = iso.get(ordinal)
        if day is None:
            day = iso_day(ordinal)
        days[day] = (am, pm)
    if len(marks) % 2 and marks[-1] != NO_MARK:
        day = iso_day(base + len(marks) // 2)
        out.setdefault(year_of(day), {})[day] = (marks[-1], "")
    for key in [k for k, v in out.items() if not v]:
        del out[key]
    return out


def add_mark(into: YearMarks, day: str, session: str, code: str) -> None:
    days = into.setdefault(year_of(day), {})
    am, pm = days.get(day) or ("", "")
    days[day] = (code, pm) if session == "AM" else (am, code)


def dump_marks(marks: Marks) -> str:
    """The stored form of a year of marks, in date order (its hash is the content hash)."""
    days = list(marks)
    if days != sorted(days):
        marks = {day: marks[day] for day in sorted(days)}
    return json.dumps(marks, separators=(",", ":"))


def load_marks(stored: str) -> Marks:
    return {day: tuple(pair) for day, pair in json.loads(stored).items()}


def count_marks(marks: YearMarks) -> int:
    return sum(bool(p[0]) + bool(p[1]) for days in marks.values() for p in days.values())
