"""An import started by the operator rather than by a caller: seeding the demo school.

``queue_feed`` stores a JSON feed document and queues its run the way ``SubmitMisFeed`` does
for a school's MIS connector; from there the run is like any other (checked, applied in
batches, finished, announced only where something changed, shown in the school's history
and import health). ``run_to_end`` works queued runs with the service's own worker in the
calling thread until that run has finished, so a command run while no worker is up (``python
-m haven seed-demo``) still imports; where workers are running, they may take it instead.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from services.mis_import import uploads
from services.mis_import.health import FINISHED
from services.mis_import.json_feed import InvalidFeed, load_part, read_header
from services.mis_import.models import ImportFile, ImportRun
from services.mis_import.worker import ImportWorker
from shared.context import school_scope
from shared.db import Database, utcnow

SEEDER = "system:seed"


def queue_feed(db: Database, *, school_id: str, body: bytes,
               file_name: str = "MIS feed") -> str:
    """Queue a whole JSON feed for ``school_id``; returns the run's id. ``ValueError`` when
    the document is not a feed for that school (nothing is stored)."""
    try:
        details = read_header(load_part(body), school_id=school_id)
    except InvalidFeed as exc:
        raise ValueError(f"Not a feed for school {school_id}: {exc}") from exc
    now = utcnow()
    with school_scope(school_id), db.transaction() as session:
        file = ImportFile(school_id=school_id, kind="json", filename="feed.json",
                          uploaded_by=SEEDER, complete=True, completed_at=now, details={})
        session.add(file)
        session.flush()
        uploads.add_part(session, file, body)
        run = ImportRun(
            school_id=school_id, source="json", status="queued", started_at=now, counts={},
            file_id=file.id, file_name=file_name, full_extract=details.qualifier == "full",
            phase="checking", created_by=SEEDER, updated_at=now, warnings=[],
            details=details.as_dict(),
        )
        session.add(run)
        session.flush()
        return run.id


def run_to_end(worker: ImportWorker, db: Database, school_id: str, run_id: str, *,
               timeout: float = 300.0) -> ImportRun:
    """Work queued imports in this thread until ``run_id`` has finished; returns the run."""
    deadline = time.monotonic() + timeout
    while True:
        with school_scope(school_id), db.read() as session:
            run = session.scalars(select(ImportRun).where(
                ImportRun.id == run_id, ImportRun.school_id == school_id)).one()
            session.expunge(run)
        if run.status in FINISHED:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"import {run_id} is still {run.status} after {timeout:.0f}s")
        if not worker.run_once(owner=f"{worker.name}/seed"):
            time.sleep(0.05)  # another worker holds the school's run: look again soon
