"""Composition root of the mis_import service."""

from __future__ import annotations

from pathlib import Path

from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc
from services.mis_import.grpc_api import MisImportServicer
from services.mis_import.handlers import build_consumers
from services.mis_import.models import EVENTS
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.events import Outbox
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = mis_import_pb2.DESCRIPTOR.services_by_name["MisImportService"].full_name


def build(settings: ServiceSettings, *, verifier: TokenVerifier | None = None) -> ServiceSpec:
    db = Database(settings.database_url)
    servicer = MisImportServicer(db)
    return ServiceSpec(
        name="mis_import",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: mis_import_pb2_grpc.add_MisImportServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        outbox=Outbox(EVENTS.outbox),
        consumers=build_consumers(db),
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
