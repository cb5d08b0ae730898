"""Import health: green, amber or red (user guide 29.5), per school.

From the time since the last successful import and the outcome of the latest runs:
- red: no import has ever succeeded, the last success is older than the red threshold, or
  the last few runs (MIS_IMPORT_HEALTH_RED_FAILURES) all failed;
- amber: the last success is older than the amber threshold, the latest run failed or was
  interrupted, or it rejected some rows;
- green otherwise. A run in progress changes nothing until it ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mis_import.config import ImportConfig
from services.mis_import.models import ImportRun
from services.mis_import.settings import Thresholds, thresholds
from shared.context import Claims

FINISHED = ("succeeded", "failed", "interrupted")
IN_PROGRESS = ("receiving", "queued", "running")


@dataclass
class Health:
    colour: str
    reasons: list[str] = field(default_factory=list)
    last_success_at: dt.datetime | None = None
    last_run: ImportRun | None = None
    running: bool = False
    amber_after_hours: int = 0
    red_after_hours: int = 0
    checked_at: dt.datetime | None = None


def _age(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def assess(*, finished: list[ImportRun], last_success_at: dt.datetime | None, running: bool,
           limits: Thresholds, red_failures: int, now: dt.datetime) -> Health:
    """``finished``: the newest finished runs, newest first (at least ``red_failures``)."""
    reasons_red: list[str] = []
    reasons_amber: list[str] = []
    if last_success_at is None:
        reasons_red.append("No MIS import has succeeded yet.")
    else:
        age = now - last_success_at
        if age > dt.timedelta(hours=limits.red_after_hours):
            reasons_red.append(f"The last successful import was {_age(age)} ago.")
        elif age > dt.timedelta(hours=limits.amber_after_hours):
            reasons_amber.append(f"The last successful import was {_age(age)} ago.")
    recent = finished[:red_failures]
    if len(recent) == red_failures and all(r.status != "succeeded" for r in recent):
        reasons_red.append(f"The last {red_failures} imports failed.")
    elif finished and finished[0].status != "succeeded":
        reasons_amber.append("The latest import failed." if finished[0].status == "failed"
                             else "The latest import was interrupted.")
    elif finished and finished[0].rejected:
        reasons_amber.append(f"The latest import rejected {finished[0].rejected} "
                             f"row{'s' if finished[0].rejected != 1 else ''}.")
    colour = "red" if reasons_red else "amber" if reasons_amber else "green"
    return Health(
        colour=colour,
        reasons=reasons_red + reasons_amber,
        last_success_at=last_success_at,
        last_run=finished[0] if finished else None,
        running=running,
        amber_after_hours=limits.amber_after_hours,
        red_after_hours=limits.red_after_hours,
        checked_at=now,
    )


def import_health(session: Session, claims: Claims, config: ImportConfig, *,
                  now: dt.datetime) -> Health:
    """Any signed-in member of the school may see it (the dashboard's traffic light)."""
    school = claims.school_id
    finished = list(session.scalars(
        select(ImportRun).where(ImportRun.school_id == school, ImportRun.status.in_(FINISHED))
        .order_by(ImportRun.finished_at.desc(), ImportRun.id)
        .limit(max(config.health_red_failures, 1))))
    last_success = session.execute(
        select(ImportRun.finished_at).where(ImportRun.school_id == school,
                                            ImportRun.status == "succeeded")
        .order_by(ImportRun.finished_at.desc()).limit(1)).scalar()
    running = session.execute(
        select(ImportRun.id).where(ImportRun.school_id == school,
                                   ImportRun.status.in_(IN_PROGRESS)).limit(1)).first()
    return assess(finished=finished, last_success_at=last_success, running=running is not None,
                  limits=thresholds(session, school, config),
                  red_failures=config.health_red_failures, now=now)
