"""ReportingService servicer: proto <-> domain."""

from __future__ import annotations

import logging

import grpc

from haven.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import overview
from shared.db import Database

log = logging.getLogger(__name__)


def _optional_time(request, name: str):
    return getattr(request, name).ToDatetime() if request.HasField(name) else None


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(self, db: Database, scope_source: overview.AccessScopeSource) -> None:
        self.db = db
        self.scope_source = scope_source

    def GetOverview(self, request, context):
        try:
            with self.db.read() as session:
                result = overview.get_overview(
                    session,
                    scope_source=self.scope_source,
                    start=_optional_time(request, "from"),
                    end=_optional_time(request, "to"),
                )
        except overview.AccessScopeUnavailable as exc:
            log.warning("overview refused: %s", exc)
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          "Reporting cannot check your access right now; please try again.")
        out = reporting_pb2.GetOverviewResponse(total_incidents=result.total_incidents)
        for row in result.categories:
            out.categories.add(
                category_id=row.category_id,
                name=row.name,
                parent_id=row.parent_id,
                incidents=row.incidents,
                colour=row.colour,
                enabled=row.enabled,
            )
        getattr(out, "from").FromDatetime(result.start)
        out.to.FromDatetime(result.end)
        return out
