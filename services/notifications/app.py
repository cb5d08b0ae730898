"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.notifications.config import NotificationsConfig
from services.notifications.grpc_api import NotificationsServicer
from services.notifications.handlers import build_consumers
from services.notifications.mail import MailTransport, open_mail_transport
from services.notifications.sender import Sender
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database
from shared.service import ServiceSpec, identity_jwks_fetcher

SERVICE_NAME = notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name


def build(
    settings: ServiceSettings,
    *,
    verifier: TokenVerifier | None = None,
    config: NotificationsConfig | None = None,
    mail_transport: MailTransport | None = None,
) -> ServiceSpec:
    config = config or NotificationsConfig.from_env(settings)
    db = Database(settings.database_url)
    servicer = NotificationsServicer(db)
    sender = Sender(
        db,
        mail_transport or open_mail_transport(config.mail_url),
        mail_from=config.mail_from,
        max_attempts=config.max_attempts,
        retry_seconds=config.retry_seconds,
        retry_max_seconds=config.retry_max_seconds,
        poll_seconds=config.poll_seconds,
        send_lease_seconds=config.send_lease_seconds,
    )
    return ServiceSpec(
        name="notifications",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: notifications_pb2_grpc.add_NotificationsServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        consumers=build_consumers(db, public_url=config.public_url, on_delivery=sender.wake),
        background=[sender],
        verifier=verifier or TokenVerifier(identity_jwks_fetcher(settings.platform.identity_addr)),
    )
