"""Composition root of the identity service."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.config import IdentityConfig, load_config
from services.identity.grpc_api import PUBLIC_METHODS, IdentityServicer
from services.identity.login import Authenticator, Clock
from services.identity.models import EVENTS
from services.identity.operations import passwords_for
from services.identity.secretbox import SecretBox
from services.identity.tokens import TokenIssuer
from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database, utcnow
from shared.events import Outbox
from shared.service import ServiceSpec

log = logging.getLogger(__name__)

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def build_authenticator(
    db: Database, config: IdentityConfig, *, clock: Clock = utcnow
) -> Authenticator:
    box = SecretBox(config.key_secret)
    return Authenticator(
        db,
        config=config,
        box=box,
        passwords=passwords_for(config),
        issuer=TokenIssuer(
            box,
            ttl=config.token_ttl,
            key_max_age=dt.timedelta(days=config.signing_key_max_age_days),
        ),
        clock=clock,
    )


def build(
    settings: ServiceSettings,
    *,
    verifier: TokenVerifier | None = None,
    config: IdentityConfig | None = None,
    clock: Clock | None = None,
) -> ServiceSpec:
    config = config or load_config()
    if config.uses_dev_key_secret:
        log.warning("IDENTITY_KEY_SECRET is not set: using the development-only default")
    db = Database(settings.database_url)
    auth = build_authenticator(db, config, clock=clock or utcnow)
    servicer = IdentityServicer(db, auth)
    return ServiceSpec(
        name="identity",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        public_methods=list(PUBLIC_METHODS),
        outbox=Outbox(EVENTS.outbox),
        # Identity trusts its own keys straight from its database (no call to itself); an
        # unknown kid (a key rotated in by another replica) re-reads them at once.
        verifier=verifier or TokenVerifier(auth.jwks_json, min_refetch_interval=0.0),
    )
