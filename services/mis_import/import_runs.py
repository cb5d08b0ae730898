"""Import runs: queueing an import, resuming one, and the history of a school's imports."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.mis_import import csv_source, uploads
from services.mis_import.access import (
    is_integration,
    require_admin,
    require_admin_or_integration,
    require_integration,
)
from services.mis_import.json_feed import FeedForAnotherSchool, InvalidFeed, load_part, read_header
from services.mis_import.models import ImportFile, ImportRejection, ImportRun
from services.mis_import.settings import find_mapping
from shared.context import Claims, current_claims
from shared.db import utcnow
from shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

SOURCES = {"ctf": "ctf-xml", "csv": "csv", "json": "json"}
KIND_OF_SOURCE = {v: k for k, v in SOURCES.items()}
ACTIVE = ("receiving", "queued", "running")


def list_import_runs(session: Session, *, limit: int = 100) -> list[ImportRun]:
    claims = current_claims()
    require_admin(claims)
    limit = max(1, min(limit or 100, 500))
    return list(
        session.scalars(
            select(ImportRun)
            .where(ImportRun.school_id == claims.school_id)
            .order_by(ImportRun.started_at.desc(), ImportRun.id)
            .limit(limit)
        )
    )


def get_run(session: Session, claims: Claims, run_id: str) -> ImportRun:
    """Admins see every run of their school; an integration only the feeds it sent."""
    require_admin_or_integration(claims)
    query = select(ImportRun).where(ImportRun.id == run_id,
                                    ImportRun.school_id == claims.school_id)
    if is_integration(claims):
        query = query.where(ImportRun.created_by == claims.account_id)
    run = session.scalars(query).first()
    if run is None:
        raise NotFound("No such import.")
    return run


def rejections(session: Session, claims: Claims, run_id: str, *, start_seq: int = 0,
               limit: int = 100) -> tuple[list[ImportRejection], bool]:
    run = get_run(session, claims, run_id)
    rows = list(session.scalars(
        select(ImportRejection).where(ImportRejection.school_id == claims.school_id,
                                      ImportRejection.run_id == run.id,
                                      ImportRejection.seq >= max(0, start_seq))
        .order_by(ImportRejection.seq).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def rejection_count(session: Session, claims: Claims, run_id: str) -> int:
    return session.execute(select(func.count()).select_from(ImportRejection).where(
        ImportRejection.school_id == claims.school_id,
        ImportRejection.run_id == run_id)).scalar_one()


def create_run(session: Session, claims: Claims, *, upload_id: str, full_extract: bool,
               csv_entity: str = "") -> ImportRun:
    require_admin(claims)
    file = session.scalars(select(ImportFile).where(
        ImportFile.id == upload_id, ImportFile.school_id == claims.school_id,
        ImportFile.kind.in_(("ctf", "csv")))).first()
    if file is None:
        raise NotFound("No such upload.")
    if not file.complete:
        raise FailedPrecondition("The file has not finished uploading.")
    if file.purged_at is not None:
        raise FailedPrecondition("That file is no longer stored; upload it again.")
    started = session.scalars(select(ImportRun).where(
        ImportRun.school_id == claims.school_id, ImportRun.file_id == file.id)).first()
    if started is not None:  # "Start" sent twice: one upload is imported once
        return started
    entity = ""
    if file.kind == "csv":
        entity = (csv_entity or "students").strip()
        if entity not in csv_source.ENTITIES:
            raise InvalidArgument("A CSV file holds students or staff.", field="csv_entity")
        mapping = find_mapping(session, claims.school_id, entity)
        if mapping is None:
            raise FailedPrecondition(
                f"Save a CSV column mapping for {entity} before importing a CSV file.")
        columns = (file.details or {}).get("columns") or []
        missing = csv_source.missing_columns(
            csv_source.Mapping(entity, dict(mapping.columns), mapping.date_format), columns)
        if missing:
            raise InvalidArgument(
                "The file lacks columns the saved mapping needs: "
                + ", ".join(repr(m) for m in missing) + ".", field="upload_id")
    run = ImportRun(
        school_id=claims.school_id, source=SOURCES[file.kind], status="queued",
        started_at=utcnow(), counts={}, file_id=file.id, file_name=file.filename,
        full_extract=bool(full_extract), csv_entity=entity, phase="checking",
        created_by=claims.account_id, updated_at=utcnow(), warnings=[], details={},
    )
    session.add(run)
    session.flush()
    return run


def resume_run(session: Session, claims: Claims, run_id: str) -> ImportRun:
    require_admin(claims)
    run = get_run(session, claims, run_id)
    now = utcnow()
    stalled = run.status == "running" and (run.lease_expires_at is None
                                           or run.lease_expires_at < now)
    if run.status != "interrupted" and not stalled:
        raise FailedPrecondition(
            "Only an interrupted (or stalled) import can be resumed; this one is "
            f"{run.status}.")
    run.status = "queued"
    run.lease_owner = None
    run.lease_expires_at = None
    run.error = ""
    run.error_location = ""
    run.attempts = 0
    run.updated_at = now
    session.flush()
    return run


def submit_feed(session: Session, claims: Claims, *, school_id: str, body: bytes,
                feed_run_id: str, more_to_follow: bool, max_bytes: int,
                ) -> tuple[ImportRun, int]:
    """Store one part of a JSON feed; the last part queues the run."""
    require_integration(claims, school_id)
    if len(body) > max_bytes:
        raise InvalidArgument(
            f"The feed part is too big ({len(body)} bytes; the limit is {max_bytes}). Send "
            "the feed in several parts.", field="body")
    try:
        doc = load_part(body)
        details = read_header(doc, school_id=claims.school_id)
    except FeedForAnotherSchool as exc:
        raise PermissionDenied(str(exc)) from exc
    except InvalidFeed as exc:
        raise InvalidArgument(str(exc), field="body") from exc
    del doc
    now = utcnow()
    if feed_run_id:
        run = session.scalars(select(ImportRun).where(
            ImportRun.id == feed_run_id, ImportRun.school_id == claims.school_id)).first()
        if run is None or run.source != "json" or run.created_by != claims.account_id:
            raise NotFound("No such feed.")
        if run.status != "receiving":
            raise FailedPrecondition("That feed is complete; start a new one.")
        if (run.details or {}).get("qualifier") != details.qualifier:
            raise InvalidArgument("The parts of a feed must have the same mode.", field="body")
        file = session.get(ImportFile, run.file_id)
    else:
        file = ImportFile(school_id=claims.school_id, kind="json", filename="feed.json",
                          uploaded_by=claims.account_id, complete=False)
        session.add(file)
        session.flush()
        run = ImportRun(
            school_id=claims.school_id, source="json", status="receiving", started_at=now,
            counts={}, file_id=file.id, file_name="MIS feed",
            full_extract=details.qualifier == "full", phase="checking",
            created_by=claims.account_id, updated_at=now, warnings=[],
            details=details.as_dict(),
        )
        session.add(run)
    uploads.add_part(session, file, body)
    if not more_to_follow:
        file.complete = True
        file.completed_at = now
        run.status = "queued"
    run.updated_at = now
    session.flush()
    return run, file.parts
