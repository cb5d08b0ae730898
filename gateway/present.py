"""Turning service replies into what pages and the API show: school-time dates, names,
category trees, colours, JSON shapes. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from time import gmtime as _gmtime
from time import strftime as _strftime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

_HEX = re.compile(r"^[0-9a-fA-F]{6}$")
DEFAULT_COLOUR = "6b7280"


# ---- time ----

def is_set(ts: Timestamp | None) -> bool:
    return ts is not None and (ts.seconds != 0 or ts.nanos != 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ts: Timestamp | None) -> datetime | None:
    """The instant, in UTC (as ``ts.ToDatetime(tzinfo=UTC)``, in a fifth of its time)."""
    if not is_set(ts):
        return None
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def to_local(ts: Timestamp | None, zone: ZoneInfo) -> datetime | None:
    value = to_datetime(ts)
    return value.astimezone(zone) if value else None


def format_when(value: datetime | None) -> str:
    """'Tue 3 Mar 2026, 14:05' (school time)."""
    if value is None:
        return ""
    return f"{value:%a} {value.day} {value:%b %Y, %H:%M}"


def format_day(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{value:%a} {value.day} {value:%b %Y}"


def format_iso_date(value: str) -> str:
    """'2014-05-01' -> '1 May 2014' (left as it is when it is not an ISO date)."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return value or ""
    return f"{day.day} {day:%b %Y}"


def iso(ts: Timestamp | None) -> str | None:
    """``2026-03-03T14:05:00Z`` (UTC, whole seconds); the API writes thousands of these."""
    if not is_set(ts):
        return None
    return _strftime("%Y-%m-%dT%H:%M:%SZ", _gmtime(ts.seconds))


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def parse_instant(text: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """ISO 8601 date or date-time. A date is the start of that school day (or the start of
    the next one when ``end_of_day``); a date-time without offset is school time."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return local_to_utc(day, time(0, 0), zone)
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. the day after 9999-12-31
        raise ValueError(f"date out of range: {text}") from exc


# ---- people and categories ----

def student_name(student) -> str:
    first = student.preferred_name or student.first_name
    return " ".join(p for p in (first, student.last_name) if p) or "(no name)"


def colour(hex_value: str) -> str:
    """A safe 6-digit hex colour (no '#')."""
    value = (hex_value or "").lstrip("#")
    return value.lower() if _HEX.match(value) else DEFAULT_COLOUR


def text_colour(hex_value: str) -> str:
    """Black or white, whichever reads better on the given background."""
    value = colour(hex_value)
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    luminance = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    return "111111" if luminance > 0.6 else "ffffff"


def category_tree(categories: Iterable[Any]) -> list[tuple[Any, list[Any]]]:
    """[(parent, [children...]), ...] in the given order; a child whose parent is absent is
    shown as a top-level entry."""
    items = list(categories)
    ids = {c.id if hasattr(c, "id") else c.category_id for c in items}
    tree: list[tuple[Any, list[Any]]] = []
    children: dict[str, list[Any]] = {}
    for c in items:
        parent = c.parent_id
        if parent and parent in ids:
            children.setdefault(parent, []).append(c)
    for c in items:
        cid = c.id if hasattr(c, "id") else c.category_id
        if not c.parent_id or c.parent_id not in ids:
            tree.append((c, children.get(cid, [])))
    return tree


def bar_chart(rows: Sequence[tuple[str, int]], *, width: int = 640, bar: int = 22,
              gap: int = 8, label_width: int = 220) -> dict[str, Any]:
    """Geometry of a horizontal bar chart drawn as inline SVG by the template."""
    top = max((count for _label, count in rows), default=0)
    plot = width - label_width - 60
    bars = []
    for i, (label, count) in enumerate(rows):
        length = 0 if top == 0 else max(1 if count else 0, round(plot * count / top))
        y = i * (bar + gap)
        bars.append({"label": label, "count": count, "y": y, "text_y": round(y + bar * 0.7, 1),
                     "x": label_width, "length": length,
                     "count_x": label_width + length + 6})
    height = max(len(rows) * (bar + gap) - gap, bar)
    return {"width": width, "height": height, "bar": bar, "label_width": label_width,
            "bars": bars, "label_x": label_width - 8}


# ---- JSON shapes of the API (documented in gateway/openapi.py) ----

def student_json(s) -> dict[str, Any]:
    return {
        "id": s.id, "upn": s.upn, "first_name": s.first_name, "last_name": s.last_name,
        "preferred_name": s.preferred_name, "display_name": student_name(s),
        "year_group": s.year_group, "tutor_group": s.tutor_group,
        "date_of_birth": s.date_of_birth or None, "archived": s.archived,
        "monitored_category_ids": list(s.monitored_category_ids),
    }


def category_json(c) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "parent_id": c.parent_id or None,
            "colour": colour(c.colour), "enabled": c.enabled, "can_add": c.can_add,
            "can_view": c.can_view}


def incident_json(i) -> dict[str, Any]:
    return {
        "id": i.id, "student_id": i.student_id, "student_name": i.student_name,
        "text": i.text, "categories": [category_json(c) for c in i.categories],
        "occurred_at": iso(i.occurred_at), "created_at": iso(i.created_at),
        "created_by": i.created_by, "created_by_name": i.created_by_name,
        "status": i.status, "alerted_account_ids": list(i.alerted_account_ids),
    }


def alert_json(a) -> dict[str, Any]:
    return {
        "id": a.id, "incident_id": a.incident_id, "student_id": a.student_id,
        "student_name": a.student_name, "raised_by_name": a.raised_by_name,
        "categories": [category_json(c) for c in a.categories],
        "created_at": iso(a.created_at), "kind": a.kind or "incident",
    }


def staff_json(s) -> dict[str, Any]:
    return {"account_id": s.account_id, "display_name": s.display_name, "email": s.email,
            "user_group_id": s.user_group_id, "user_group_name": s.user_group_name,
            "key_holder": s.key_holder}


def category_count_json(c) -> dict[str, Any]:
    return {"category_id": c.category_id, "name": c.name, "parent_id": c.parent_id or None,
            "incidents": int(c.incidents)}
