"""Composition root of the transfers service."""

from __future__ import annotations

from pathlib import Path

from haven.transfers.v1 import transfers_pb2, transfers_pb2_grpc
from services.transfers.grpc_api import TransfersServicer
from services.transfers.models import EVENTS
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.events import Outbox
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = transfers_pb2.DESCRIPTOR.services_by_name["TransfersService"].full_name


def build(settings: ServiceSettings, *, verifier: TokenVerifier | None = None) -> ServiceSpec:
    db = Database(settings.database_url)
    servicer = TransfersServicer(db)
    return ServiceSpec(
        name="transfers",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: transfers_pb2_grpc.add_TransfersServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        outbox=Outbox(EVENTS.outbox),
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
