"""Composition root of the identity service."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.administration import Administration
from services.identity.config import IdentityConfig, load_config
from services.identity.events import OutboxPublisher
from services.identity.grpc_api import PUBLIC_METHODS, IdentityServicer
from services.identity.handlers import build_consumer
from services.identity.login import Authenticator, Clock
from services.identity.models import EVENTS
from services.identity.oidc_http import build_http_app
from services.identity.operations import passwords_for
from services.identity.password_reset import PasswordResets
from services.identity.second_factors import SecondFactors
from services.identity.secretbox import SecretBox
from services.identity.security_keys import RelyingParty
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


@dataclass
class IdentitySpec(ServiceSpec):
    """The service, plus its OAuth2/OIDC HTTP app (served by the api process)."""

    http_app: Flask | None = None
    config: IdentityConfig | None = None


def build(
    settings: ServiceSettings,
    *,
    verifier: TokenVerifier | None = None,
    config: IdentityConfig | None = None,
    clock: Clock | None = None,
) -> IdentitySpec:
    config = config or load_config()
    if config.uses_dev_key_secret:
        log.warning("IDENTITY_KEY_SECRET is not set: using the development-only default")
    db = Database(settings.database_url)
    outbox = Outbox(EVENTS.outbox)
    publisher = OutboxPublisher(outbox)
    clock = clock or utcnow
    auth = build_authenticator(db, config, clock=clock)
    box = SecretBox(config.key_secret)
    servicer = IdentityServicer(
        db,
        auth,
        admin=Administration(db, publisher, clock=clock),
        resets=PasswordResets(db, config=config, passwords=auth.passwords,
                              publisher=publisher, clock=clock),
        factors=SecondFactors(auth, box=box, rp=RelyingParty(
            rp_id=config.webauthn_rp_id, name=config.webauthn_rp_name,
            origins=config.webauthn_origins)),
        token_endpoint=f"{config.issuer_url}/oauth/token",
    )
    return IdentitySpec(
        name="identity",
        settings=settings,
        db=db,
        migrations=Path(__file__).parent / "migrations",
        register=[lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(
            servicer, server)],
        service_names=[SERVICE_NAME],
        public_methods=list(PUBLIC_METHODS),
        outbox=outbox,
        consumers=[build_consumer(db, outbox)],
        # Identity trusts its own keys straight from its database (no call to itself); an
        # unknown kid (a key rotated in by another replica) re-reads them at once.
        verifier=verifier or TokenVerifier(auth.jwks_json, min_refetch_interval=0.0),
        http_app=build_http_app(db, auth, config),
        config=config,
    )


class HttpServer:
    """The OIDC provider's HTTP server (waitress) on its own thread."""

    def __init__(self, app: Flask, *, host: str, port: int, threads: int = 4,
                 loop_timeout: float = 1.0) -> None:
        from waitress import create_server

        self._map: dict = {}  # waitress's socket map: ours, so stop() can close every channel
        # Only the gateway reaches this port (a network policy on Kubernetes): the address it
        # appends to X-Forwarded-For is the client's, for throttling and the security log.
        self._server = create_server(app, map=self._map, host=host, port=port,
                                     threads=threads, ident="haven-identity",
                                     asyncore_loop_timeout=loop_timeout,
                                     trusted_proxy="*", trusted_proxy_count=1,
                                     trusted_proxy_headers={"x-forwarded-for"})
        self.port = self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="identity-http",
                                        daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        log.info("identity OIDC provider serving HTTP on %s", self.port)
        return self

    def stop(self) -> None:
        # Close the listener and every open (keep-alive) connection from the server's own
        # loop thread, so its select() never sees a socket closed under it; the loop then
        # ends as its map is empty.
        def close_all() -> None:
            for dispatcher in list(self._map.values()):
                dispatcher.close()

        if self._thread.is_alive():
            self._server.trigger.pull_trigger(close_all)
            self._thread.join(timeout=3)
        self._server.task_dispatcher.shutdown()


def start_http(spec: IdentitySpec, *, host: str = "0.0.0.0", port: int | None = None,
               loop_timeout: float = 1.0) -> HttpServer:
    """Serve the OIDC provider (discovery, JWKS, authorize, token) beside the gRPC API.

    A port set with ``IDENTITY_HTTP_PORT`` (or given) must be free. The default one (8101)
    may be taken on a shared machine (tests running side by side): then a free port is used
    and an error logged, so the gRPC API still starts.
    """
    chosen = spec.config.http_port if port is None else port
    try:
        return HttpServer(spec.http_app, host=host, port=chosen,
                          loop_timeout=loop_timeout).start()
    except OSError:
        if port is not None or spec.config.http_port_configured:
            raise
        log.error("identity: HTTP port %s is in use and IDENTITY_HTTP_PORT is not set; "
                  "serving the OIDC provider on a free port instead", chosen)
        return HttpServer(spec.http_app, host=host, port=0, loop_timeout=loop_timeout).start()
