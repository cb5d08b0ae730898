"""MIS import runs as pages and the API show them: labels, progress, counts, JSON shapes.
No I/O here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.present import iso, to_datetime

ACTIVE = ("receiving", "queued", "running")
FINISHED = ("succeeded", "failed", "interrupted")
STATUS_LABELS = {
    "receiving": "Receiving the feed",
    "queued": "Waiting to start",
    "running": "Importing",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "interrupted": "Interrupted",
}
PHASE_LABELS = {
    "checking": "Checking the file",
    "importing": "Importing records",
    "finishing": "Finishing: groups and leavers",
    "done": "Done",
}
KIND_LABELS = {"ctf": "CTF file", "csv": "CSV file", "json": "MIS feed"}
# A rejection's seq is an int64 in the contract; nothing near this is ever reached.
MAX_START_SEQ = 2**62


def parse_start_seq(raw: str | None) -> int | None:
    """A rejections page's ``start_seq`` from a query string: plain digits from 0 to
    MAX_START_SEQ ("" is 0); None for anything else ("-1", "\u00b2", 10**20)."""
    raw = (raw or "").strip() or "0"
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_START_SEQ else None
# The five counts every run shows, in this order (the service keeps more, per entity).
MAIN_COUNTS = (("created", "Created"), ("updated", "Updated"), ("archived", "Archived"),
               ("unchanged", "Unchanged"), ("rejected", "Rejected"))
DETAIL_LABELS = {
    "students_created": "Pupils created", "students_updated": "Pupils updated",
    "students_unchanged": "Pupils unchanged", "students_archived": "Pupils archived",
    "staff_created": "Staff created", "staff_updated": "Staff updated",
    "staff_unchanged": "Staff unchanged", "staff_missing": "Staff missing from the extract",
    "contacts_updated": "Contact lists updated", "attendance_updated": "Attendance years updated",
    "attendance_marks": "Attendance marks changed", "groups_updated": "Groups updated",
    "stale": "Older than what was already imported",
    "archive_held_back": "Leavers not archived (too many at once)",
}
HEALTH_LABELS = {"green": "Healthy", "amber": "Needs attention", "red": "Failing"}
# A run that has not moved for this long may have lost its worker: offer to resume it.
STALLED_AFTER = timedelta(minutes=5)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.capitalize() or "Unknown")


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.upper() or "Import")


def is_active(run) -> bool:
    return run.status in ACTIVE


def percent(run) -> int | None:
    """0-100 once the number of records is known (None while the file is being checked)."""
    if run.total <= 0:
        return 100 if run.status == "succeeded" else None
    return max(0, min(100, int(run.processed * 100 / run.total)))


def is_stalled(run, now: datetime | None = None) -> bool:
    if run.status not in ("running", "queued"):
        return False
    last = to_datetime(run.updated_at) or to_datetime(run.started_at)
    return last is not None and (now or datetime.now(UTC)) - last > STALLED_AFTER


def can_resume(run, now: datetime | None = None) -> bool:
    return run.status == "interrupted" or is_stalled(run, now)


def main_counts(run) -> list[tuple[str, str, int]]:
    return [(key, label, int(run.counts.get(key, 0))) for key, label in MAIN_COUNTS]


def detail_counts(run) -> list[tuple[str, int]]:
    main = {key for key, _ in MAIN_COUNTS}
    return [(DETAIL_LABELS.get(k, k.replace("_", " ").capitalize()), int(v))
            for k, v in sorted(run.counts.items()) if k not in main and v]


def details_rows(details) -> list[tuple[str, str]]:
    """What the file says about itself, as label/value rows (only what it says)."""
    source_school = " / ".join(x for x in (details.lea, details.estab) if x)
    generated = iso(details.generated_at) if details.HasField("generated_at") else None
    rows = [
        ("Document", details.document_name),
        ("CTF version", details.version),
        ("Produced", generated.replace("T", " ").replace("Z", " UTC") if generated else ""),
        ("Extract", details.qualifier),
        ("Source school", details.school_name),
        ("LA / establishment", source_school),
        ("URN", details.urn),
        ("Academic year", details.academic_year),
        ("Supplier", details.supplier),
        ("Changes after", details.updated_after),
        ("CSV holds", details.csv_entity),
    ]
    return [(label, value) for label, value in rows if value]


def details_json(details) -> dict[str, Any]:
    return {"document_name": details.document_name, "version": details.version,
            "generated_at": iso(details.generated_at), "qualifier": details.qualifier,
            "lea": details.lea, "estab": details.estab, "urn": details.urn,
            "school_name": details.school_name, "academic_year": details.academic_year,
            "supplier": details.supplier, "updated_after": details.updated_after,
            "csv_entity": details.csv_entity}


def run_json(run) -> dict[str, Any]:
    return {
        "id": run.id, "kind": run.kind or run.source, "status": run.status,
        "phase": run.phase, "processed": int(run.processed), "total": int(run.total),
        "percent": percent(run), "finished": run.status in FINISHED,
        "file_name": run.file_name, "full_extract": run.full_extract,
        "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
        "updated_at": iso(run.updated_at),
        "counts": {k: int(v) for k, v in sorted(run.counts.items())},
        "rejected": int(run.rejected), "warnings": list(run.warnings),
        "error": run.error or None, "error_location": run.error_location or None,
        "source_details": details_json(run.source_details),
    }


def progress_json(run) -> dict[str, Any]:
    """What the run page's poller needs."""
    return {"id": run.id, "status": run.status, "status_label": status_label(run.status),
            "phase": run.phase, "phase_label": PHASE_LABELS.get(run.phase, ""),
            "processed": int(run.processed), "total": int(run.total), "percent": percent(run),
            "rejected": int(run.rejected), "finished": run.status in FINISHED}


def rejection_json(r) -> dict[str, Any]:
    return {"seq": int(r.seq), "location": r.location, "record_key": r.record_key,
            "label": r.label, "reason": r.reason}


def health_json(h) -> dict[str, Any]:
    return {"colour": h.colour, "label": HEALTH_LABELS.get(h.colour, h.colour),
            "reasons": list(h.reasons), "last_success_at": iso(h.last_success_at),
            "running": h.running, "amber_after_hours": int(h.amber_after_hours),
            "red_after_hours": int(h.red_after_hours), "checked_at": iso(h.checked_at),
            "last_run": run_json(h.last_run) if h.HasField("last_run") else None}


def megabytes(size: int) -> str:
    """'50 MB', '2.5 MB', '12 KB'."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".") + " MB"
