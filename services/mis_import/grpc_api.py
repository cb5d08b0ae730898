"""MisImportService servicer: proto <-> domain. No business rules here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from haven.mis_import.v1 import mis_import_pb2 as pb
from haven.mis_import.v1 import mis_import_pb2_grpc
from services.mis_import import csv_source, health, import_runs, settings, uploads
from services.mis_import.config import ImportConfig
from services.mis_import.extract import SourceDetails
from services.mis_import.models import CsvMapping, ImportRejection, ImportRun
from shared.context import current_claims
from shared.db import Database, utcnow


def _ts(target, value: dt.datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value)


def details_pb(details: dict | SourceDetails | None) -> pb.SourceDetails:
    if details is None:
        return pb.SourceDetails()
    if isinstance(details, dict):
        details = SourceDetails.from_dict(details)
    out = pb.SourceDetails(
        document_name=details.document_name, version=details.version,
        qualifier=details.qualifier, lea=details.lea, estab=details.estab, urn=details.urn,
        school_name=details.school_name, academic_year=details.academic_year,
        supplier=details.supplier, updated_after=details.updated_after,
        csv_entity=details.csv_entity)
    _ts(out.generated_at, details.generated_at)
    return out


def run_pb(run: ImportRun) -> pb.ImportRun:
    out = pb.ImportRun(
        id=run.id, source=run.source, status=run.status, processed=run.cursor or 0,
        total=run.total or 0, file_name=run.file_name or "", full_extract=bool(run.full_extract),
        error=run.error or "", error_location=run.error_location or "",
        created_by=run.created_by or "", warnings=list(run.warnings or []),
        phase=run.phase or "", rejected=run.rejected or 0,
        kind=import_runs.KIND_OF_SOURCE.get(run.source, run.source),
        source_details=details_pb(run.details or None),
    )
    _ts(out.started_at, run.started_at)
    _ts(out.finished_at, run.finished_at)
    _ts(out.updated_at, run.updated_at)
    for name, value in (run.counts or {}).items():
        out.counts[str(name)] = int(value)
    if run.csv_entity:
        out.source_details.csv_entity = run.csv_entity
    return out


def rejection_pb(row: ImportRejection) -> pb.ImportRejection:
    return pb.ImportRejection(seq=row.seq, location=row.location, record_key=row.record_key,
                              label=row.label, reason=row.reason)


def mapping_pb(row: CsvMapping | None, entity: str) -> pb.CsvMapping:
    if row is None:
        return pb.CsvMapping(entity=entity, date_format="auto")
    out = pb.CsvMapping(entity=row.entity, columns=dict(row.columns or {}),
                        date_format=row.date_format, updated_by=row.updated_by)
    _ts(out.updated_at, row.updated_at)
    return out


class MisImportServicer(mis_import_pb2_grpc.MisImportServiceServicer):
    def __init__(self, db: Database, config: ImportConfig, *,
                 wake: Callable[[], None] = lambda: None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.config = config
        self.wake = wake
        self.clock = clock

    # ---- runs -----------------------------------------------------------------------------

    def ListImportRuns(self, request, context):
        with self.db.read() as session:
            rows = import_runs.list_import_runs(session, limit=request.limit)
            return pb.ListImportRunsResponse(runs=[run_pb(r) for r in rows])

    def GetImportRun(self, request, context):
        claims = current_claims()
        limit = request.rejections_limit or 50
        limit = max(1, min(limit, 500))
        with self.db.read() as session:
            run = import_runs.get_run(session, claims, request.run_id)
            rows, _more = import_runs.rejections(session, claims, run.id, limit=limit)
            total = import_runs.rejection_count(session, claims, run.id)
            return pb.GetImportRunResponse(run=run_pb(run),
                                           rejections=[rejection_pb(r) for r in rows],
                                           rejections_total=total)

    def ListImportRejections(self, request, context):
        claims = current_claims()
        limit = max(1, min(request.limit or 100, 1000))
        with self.db.read() as session:
            rows, more = import_runs.rejections(session, claims, request.run_id,
                                                start_seq=request.start_seq, limit=limit)
            return pb.ListImportRejectionsResponse(
                rejections=[rejection_pb(r) for r in rows], more=more,
                next_start_seq=(rows[-1].seq + 1) if more and rows else 0)

    def UploadImportFile(self, request, context):
        claims = current_claims()
        received = uploads.receive(
            self.db, claims, upload_id=request.upload_id, filename=request.filename,
            content=request.content, offset=request.offset,
            more_to_follow=request.more_to_follow, kind=request.kind,
            max_bytes=self.config.max_upload_bytes,
            csv_entity=request.csv_entity or "students")
        out = pb.UploadImportFileResponse(
            upload_id=received.file.id, received_bytes=received.file.size,
            complete=bool(received.file.complete), kind=received.file.kind or "",
            csv_columns=received.csv_columns or [],
            missing_columns=received.missing_columns or [],
            estimated_records=received.estimated_records)
        if received.details is not None and received.file.kind == "ctf":
            out.source_details.CopyFrom(details_pb(received.details))
        return out

    def CreateImportRun(self, request, context):
        claims = current_claims()
        with self.db.transaction() as session:
            run = import_runs.create_run(session, claims, upload_id=request.upload_id,
                                         full_extract=request.full_extract,
                                         csv_entity=request.csv_entity)
            out = pb.CreateImportRunResponse(run=run_pb(run))
        self.wake()
        return out

    def ResumeImportRun(self, request, context):
        claims = current_claims()
        with self.db.transaction() as session:
            run = import_runs.resume_run(session, claims, request.run_id)
            out = pb.ResumeImportRunResponse(run=run_pb(run))
        self.wake()
        return out

    # ---- health ---------------------------------------------------------------------------

    def GetImportHealth(self, request, context):
        claims = current_claims()
        with self.db.read() as session:
            result = health.import_health(session, claims, self.config, now=self.clock())
            out = pb.GetImportHealthResponse(
                colour=result.colour, reasons=result.reasons, running=result.running,
                amber_after_hours=result.amber_after_hours,
                red_after_hours=result.red_after_hours)
            _ts(out.last_success_at, result.last_success_at)
            _ts(out.checked_at, result.checked_at)
            if result.last_run is not None:
                run = run_pb(result.last_run)
                if not (claims.full_access and claims.has("administration")):
                    # The light is for everyone; the run's file, errors and counts for admins.
                    run = pb.ImportRun(id=run.id, status=run.status, started_at=run.started_at,
                                       finished_at=run.finished_at)
                out.last_run.CopyFrom(run)
            return out

    # ---- CSV mappings and settings ----------------------------------------------------------

    def GetCsvMapping(self, request, context):
        claims = current_claims()
        with self.db.read() as session:
            row = settings.get_mapping(session, claims, request.entity)
            entity = settings.mapping_entity(request.entity)
            return pb.GetCsvMappingResponse(
                mapping=mapping_pb(row, entity), saved=row is not None,
                fields=[pb.CsvField(name=n, required=r, description=d)
                        for n, r, d in csv_source.FIELDS[entity]])

    def UpdateCsvMapping(self, request, context):
        claims = current_claims()
        m = request.mapping
        with self.db.transaction() as session:
            row = settings.update_mapping(session, claims, entity=m.entity,
                                          columns=dict(m.columns), date_format=m.date_format)
            return pb.UpdateCsvMappingResponse(mapping=mapping_pb(row, row.entity))

    def _settings_pb(self, row) -> pb.ImportSettings:
        out = pb.ImportSettings(amber_after_hours=row.amber_after_hours or 0,
                                red_after_hours=row.red_after_hours or 0,
                                source_lea=row.source_lea or "",
                                source_estab=row.source_estab or "")
        _ts(out.updated_at, row.updated_at)
        return out

    def GetImportSettings(self, request, context):
        claims = current_claims()
        with self.db.read() as session:
            return self._settings_pb(settings.get_settings(session, claims))

    def UpdateImportSettings(self, request, context):
        claims = current_claims()
        s = request.settings
        with self.db.transaction() as session:
            row = settings.update_settings(
                session, claims, amber_after_hours=s.amber_after_hours,
                red_after_hours=s.red_after_hours, source_lea=s.source_lea,
                source_estab=s.source_estab)
            return self._settings_pb(row)

    # ---- the JSON feed ----------------------------------------------------------------------

    def SubmitMisFeed(self, request, context):
        claims = current_claims()
        with self.db.transaction() as session:
            run, part = import_runs.submit_feed(
                session, claims, school_id=request.school_id, body=request.body,
                feed_run_id=request.feed_run_id, more_to_follow=request.more_to_follow,
                max_bytes=self.config.max_upload_bytes)
            out = pb.SubmitMisFeedResponse(run=run_pb(run), part=part)
        if not request.more_to_follow:
            self.wake()
        return out
