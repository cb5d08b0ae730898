"""MisImportService servicer: proto <-> domain."""

from __future__ import annotations

from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc
from services.mis_import import import_runs
from shared.db import Database


class MisImportServicer(mis_import_pb2_grpc.MisImportServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def ListImportRuns(self, request, context):
        with self.db.read() as session:
            rows = import_runs.list_import_runs(session, limit=request.limit)
            out = mis_import_pb2.ListImportRunsResponse()
            for row in rows:
                item = out.runs.add(id=row.id, source=row.source, status=row.status)
                item.started_at.FromDatetime(row.started_at)
                if row.finished_at is not None:
                    item.finished_at.FromDatetime(row.finished_at)
                for name, value in (row.counts or {}).items():
                    item.counts[str(name)] = int(value)
            return out
