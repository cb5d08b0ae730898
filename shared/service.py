"""Run a service: ``python -m services.<svc> api|worker|migrate|makemigrations``.

A service's ``app.py`` builds a ``ServiceSpec`` (composition root); this module runs it the
same way in every mode. The all-in-one launcher (``haven``) uses the same pieces.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from shared.auth import TokenVerifier
from shared.config import ServiceSettings
from shared.db import Database, make_revision, run_migrations
from shared.events import Consumer, Outbox, OutboxRelay, open_transport
from shared.telemetry.logs import setup_logging
from shared.telemetry.metrics import start_metrics_server
from shared.telemetry.tracing import setup_tracing

log = logging.getLogger(__name__)


class Background:
    """Something a worker runs beside its consumers (a sender, a scheduler)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class ServiceSpec:
    name: str
    settings: ServiceSettings
    db: Database
    migrations: Path
    register: list[Callable[[grpc.Server], None]] = field(default_factory=list)
    service_names: list[str] = field(default_factory=list)
    public_methods: list[str] = field(default_factory=list)
    outbox: Outbox | None = None
    consumers: list[Consumer] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)
    verifier: TokenVerifier | None = None


def declare_event_topology(spec: ServiceSpec) -> None:
    """Declare this service's consumer queues on the broker (no-op for memory://)."""
    url = spec.settings.platform.events_url
    if not url.startswith(("amqp://", "amqps://")) or not spec.consumers:
        return
    from shared.events.amqp import declare_topology

    declare_topology(url, {c.queue: c.bindings for c in spec.consumers})
    log.info("%s: declared queues %s", spec.name, ", ".join(c.queue for c in spec.consumers))


def identity_jwks_fetcher(addr: str, timeout: float = 5.0) -> Callable[[], str]:
    """JWKS from the identity service over gRPC (public keys; no token needed)."""
    from haven.identity.v1 import identity_pb2, identity_pb2_grpc
    from shared.grpc.client import make_channel

    channel = make_channel(addr, identity_pb2.DESCRIPTOR.services_by_name["IdentityService"])
    stub = identity_pb2_grpc.IdentityServiceStub(channel)

    def fetch() -> str:
        return stub.GetJwks(identity_pb2.GetJwksRequest(), timeout=timeout).jwks_json

    return fetch


class Running:
    """Handles to what ``start_api`` / ``start_worker`` started, to stop it cleanly."""

    def __init__(self) -> None:
        self.servers: list[grpc.Server] = []
        self.relays: list[OutboxRelay] = []
        self.transports: list = []
        self.threads: list[threading.Thread] = []
        self.background: list[Background] = []
        self.ports: dict[str, int] = {}

    def stop(self) -> None:
        for b in self.background:
            b.stop()
        for r in self.relays:
            r.stop()
        for t in self.transports:
            try:
                t.close()
            except Exception:
                log.debug("transport close failed", exc_info=True)
        for s in self.servers:
            s.stop(grace=2).wait(3)


def start_api(spec: ServiceSpec, running: Running | None = None, *, port: int | None = None,
              host: str = "0.0.0.0") -> Running:
    from shared.grpc.server import build_server

    running = running or Running()
    server, bound, _health = build_server(
        service=spec.name,
        port=spec.settings.grpc_port if port is None else port,
        host=host,
        register=spec.register,
        service_names=spec.service_names,
        verifier=spec.verifier,
        public_methods=spec.public_methods,
    )
    running.servers.append(server)
    running.ports[spec.name] = bound
    log.info("%s gRPC serving on %s", spec.name, bound)
    return running


def start_worker(spec: ServiceSpec, running: Running | None = None) -> Running:
    """Consumers first (so the in-memory transport has its subscriptions), then relays."""
    running = running or Running()
    url = spec.settings.platform.events_url
    for consumer in spec.consumers:
        transport = open_transport(url, name=consumer.queue)
        transport.subscribe(consumer.queue, consumer.bindings, consumer.handle)
        running.transports.append(transport)
        t = threading.Thread(target=transport.start_consuming, name=consumer.queue, daemon=True)
        t.start()
        running.threads.append(t)
    if spec.outbox is not None:
        relay = OutboxRelay(
            service=spec.name,
            db=spec.db,
            outbox=spec.outbox,
            transport_factory=lambda: open_transport(url, name=f"{spec.name}.relay"),
        )
        relay.start()
        running.relays.append(relay)
    for b in spec.background:
        b.start()
        running.background.append(b)
    return running


def _wait_for_signal(running: Running) -> None:
    stop = threading.Event()

    def handler(_sig, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    stop.wait()
    running.stop()


def main(build: Callable[[ServiceSettings], ServiceSpec], name: str,
         argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help="serve gRPC (health, reflection, metrics)")
    sub.add_parser("worker", help="outbox relay, event consumers, background jobs")
    sub.add_parser("migrate", help="upgrade this service's database to the newest revision")
    mk = sub.add_parser("makemigrations", help="autogenerate a migration (developers)")
    mk.add_argument("message")
    args = parser.parse_args(argv)

    settings = ServiceSettings.from_env(name)
    setup_logging(name, settings.platform.log_level)
    setup_tracing(f"haven-{name.replace('_', '-')}")
    spec = build(settings)
    if args.command == "migrate":
        run_migrations(settings.database_url, spec.migrations)
        declare_event_topology(spec)
        log.info("%s migrated", name)
        return 0
    if args.command == "makemigrations":
        make_revision(settings.database_url, spec.migrations, args.message)
        return 0
    start_metrics_server(settings.metrics_port)
    running = start_api(spec) if args.command == "api" else start_worker(spec)
    _wait_for_signal(running)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a service: python -m services.<name> api|worker|migrate")
