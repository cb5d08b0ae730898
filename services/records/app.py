"""Composition root of the records service."""

from __future__ import annotations

from pathlib import Path

from haven.records.v1 import records_pb2, records_pb2_grpc
from services.records import handlers
from services.records.events import OutboxEvents
from services.records.grpc_api import RecordsServicer
from services.records.models import EVENTS
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.events import Consumer, Outbox
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = records_pb2.DESCRIPTOR.services_by_name["RecordsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


def directory_consumer(db: Database) -> Consumer:
    """identity's accounts, user groups and alert groups -> the directory records keeps."""
    return handlers.register(
        Consumer(service="records", name="directory", db=db, inbox=EVENTS.inbox)
    )


def mis_consumer(db: Database) -> Consumer:
    """The MIS import's students, groups, contacts and attendance -> records."""
    return handlers.register_mis(
        Consumer(service="records", name="mis", db=db, inbox=EVENTS.inbox)
    )


def build(settings: ServiceSettings, *, verifier: TokenVerifier | None = None) -> ServiceSpec:
    db = Database(settings.database_url)
    outbox = Outbox(EVENTS.outbox)
    servicer = RecordsServicer(db, OutboxEvents(outbox))
    return ServiceSpec(
        name="records",
        settings=settings,
        db=db,
        migrations=MIGRATIONS,
        register=[lambda server: records_pb2_grpc.add_RecordsServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        outbox=outbox,
        consumers=[directory_consumer(db), mis_consumer(db)],
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
