"""Composition root of the reporting service."""

from __future__ import annotations

from pathlib import Path

from haven.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.grpc_api import ReportingServicer
from services.reporting.handlers import build_consumers
from services.reporting.records_client import RecordsAccessScope, records_client
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name


def build(
    settings: ServiceSettings,
    *,
    verifier: TokenVerifier | None = None,
    records=None,
) -> ServiceSpec:
    """``records``: a client with ``call(method, request)`` to the records service
    (default: a ``ServiceClient`` to HAVEN_RECORDS_ADDR); tests pass their own."""
    db = Database(settings.database_url)
    records = records or records_client(
        settings.platform.records_addr, timeout=settings.platform.rpc_timeout
    )
    servicer = ReportingServicer(db, RecordsAccessScope(records))
    return ServiceSpec(
        name="reporting",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: reporting_pb2_grpc.add_ReportingServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        consumers=build_consumers(db),
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
