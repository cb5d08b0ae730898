"""Composition root of the mis_import service."""

from __future__ import annotations

from pathlib import Path

from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc
from services.mis_import.config import ImportConfig, load_config
from services.mis_import.events import OutboxEvents
from services.mis_import.grpc_api import MisImportServicer
from services.mis_import.handlers import build_consumers
from services.mis_import.importer import Importer
from services.mis_import.models import EVENTS
from services.mis_import.worker import ImportWorker
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.events import Outbox
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = mis_import_pb2.DESCRIPTOR.services_by_name["MisImportService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: ServiceSettings, *, verifier: TokenVerifier | None = None,
          config: ImportConfig | None = None) -> ServiceSpec:
    config = config or load_config()
    db = Database(settings.database_url)
    outbox = Outbox(EVENTS.outbox)
    importer = Importer(OutboxEvents(outbox), max_archive_share=config.max_archive_share)
    worker = ImportWorker(db, importer, config)
    servicer = MisImportServicer(db, config, wake=worker.wake.set)
    return ServiceSpec(
        name="mis_import",
        settings=settings,
        db=db,
        migrations=MIGRATIONS,
        register=[lambda server: mis_import_pb2_grpc.add_MisImportServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        outbox=outbox,
        consumers=build_consumers(db),
        background=[worker],
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
