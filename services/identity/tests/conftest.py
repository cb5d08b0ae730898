"""Fixtures: a migrated, seeded identity database (demo school + a second school) served over
real gRPC on port 0, with a clock the test can move."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

import services.identity
from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity import operations
from services.identity.app import build
from services.identity.config import IdentityConfig
from services.identity.models import EVENTS
from services.identity.seed import DEMO_PASSWORD, DEMO_SCHOOL_ID, seed_demo
from shared.config import ServiceSettings
from shared.db import Database, run_migrations, utcnow
from shared.events import Outbox
from shared.service import start_api

# Cheap argon2 parameters keep the tests fast; one unit test checks the real defaults.
TEST_CONFIG = IdentityConfig(
    key_secret="identity-tests-key-secret-0123456789",
    argon2_time_cost=1,
    argon2_memory_kib=1024,
    argon2_parallelism=1,
)

MIGRATIONS = Path(services.identity.__file__).parent / "migrations"
OTHER_SCHOOL_ID = "00000000-0000-4000-8000-0000000000b1"
OTHER_DSL = "head@oakfield.haven.test"
OTHER_TEACHER = "maths@oakfield.haven.test"
BOTH_SCHOOLS = "supply@haven.test"  # a member of the second school first, then the demo one
OTHER_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class FakeClock:
    """A stopped clock the test moves by hand.

    It starts in the middle of the current 30-second TOTP step (never in the future, so the
    tokens it stamps verify at once), which keeps code-window tests deterministic.
    """

    def __init__(self) -> None:
        real = utcnow()
        start = real.replace(microsecond=0) - dt.timedelta(seconds=real.second % 30) + (
            dt.timedelta(seconds=15)
        )
        if start > real:
            start -= dt.timedelta(seconds=30)
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def seed_second_school(db: Database, outbox: Outbox, config: IdentityConfig = TEST_CONFIG):
    """Oakfield Primary: its own DSL (with an authenticator) and teacher, plus a supply
    teacher who also works at the demo school."""
    t0 = utcnow() - dt.timedelta(days=1)
    operations.create_school(
        db, outbox, name="Oakfield Primary", slug="oakfield", time_zone="Europe/London",
        school_id=OTHER_SCHOOL_ID, with_default_groups=True, now=t0, postcode=" ls1  4ab",
    )
    for email, name, group in (
        (OTHER_DSL, "Olive Head", "DSL"),
        (OTHER_TEACHER, "Mo Maths", "Teachers"),
        (BOTH_SCHOOLS, "Sam Supply", "Teachers"),
    ):
        operations.create_account(
            db, outbox, school_id=OTHER_SCHOOL_ID, email=email, display_name=name,
            user_group=group, password=DEMO_PASSWORD, config=config, now=t0,
        )
    operations.create_account(
        db, outbox, school_id=DEMO_SCHOOL_ID, email=BOTH_SCHOOLS, display_name="Sam Supply",
        user_group="Teachers", now=t0 + dt.timedelta(minutes=1),
    )
    operations.add_totp_device(
        db, email=OTHER_DSL, secret=OTHER_TOTP_SECRET, config=config, verified=True, now=t0
    )


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> str:
    """A migrated SQLite database holding both schools (copied for each test)."""
    path = tmp_path_factory.mktemp("identity-template") / "identity.db"
    url = f"sqlite:///{path}"
    run_migrations(url, MIGRATIONS)
    db = Database(url)
    outbox = Outbox(EVENTS.outbox)
    seed_demo(db, outbox, config=TEST_CONFIG, now=utcnow() - dt.timedelta(days=1))
    seed_second_school(db, outbox)
    db.dispose()
    return str(path)


@dataclasses.dataclass
class Served:
    stub: identity_pb2_grpc.IdentityServiceStub
    spec: object
    clock: FakeClock
    config: IdentityConfig
    addr: str

    @property
    def db(self) -> Database:
        return self.spec.db

    def login(self, email: str, password: str = DEMO_PASSWORD, ip: str = "192.0.2.10",
              ua: str = "pytest") -> identity_pb2.LoginResponse:
        return self.stub.Login(identity_pb2.LoginRequest(
            email=email, password=password, client_ip=ip, user_agent=ua))

    def elevate(self, session_id: str, code: str, ip: str = "192.0.2.10"):
        return self.stub.Elevate(identity_pb2.ElevateRequest(
            session_id=session_id, totp_code=code, client_ip=ip, user_agent="pytest"))

    def refresh(self, session_id: str):
        return self.stub.RefreshSession(identity_pb2.RefreshSessionRequest(session_id=session_id))

    def code(self, email: str, *, steps: int = 0) -> str:
        return operations.current_totp(
            self.db, email, config=self.config,
            now=self.clock() + dt.timedelta(seconds=30 * steps),
        )

    def elevated(self, email: str, *, steps: int = 0, ip: str = "192.0.2.10"):
        """Log in and elevate with the authenticator app: (token, session secret)."""
        reply = self.login(email, ip=ip)
        token = self.elevate(reply.session_id, self.code(email, steps=steps), ip=ip)
        return token.access_token, token.session_id

    def call(self, method: str, request, token: str | None = None, **metadata):
        meta = [("authorization", f"Bearer {token}")] if token else []
        meta += [(k.replace("_", "-"), v) for k, v in metadata.items()]
        return getattr(self.stub, method)(request, metadata=meta)

    def events(self, routing_key: str, message_cls) -> list:
        """Payloads of the outbox rows with this routing key, oldest first."""
        from shared.events.envelope import decode_envelope, open_payload

        with self.db.read() as s:
            bodies = list(s.scalars(select(EVENTS.outbox.c.body)
                                    .where(EVENTS.outbox.c.routing_key == routing_key)
                                    .order_by(EVENTS.outbox.c.seq)))
        return [open_payload(decode_envelope(b), message_cls) for b in bodies]

    def list_staff(self, token: str, query: str = "", limit: int = 0):
        return self.stub.ListStaff(
            identity_pb2.ListStaffRequest(query=query, limit=limit),
            metadata=[("authorization", f"Bearer {token}")],
        )


def serve(url: str, *, config: IdentityConfig = TEST_CONFIG, clock: FakeClock | None = None):
    clock = clock or FakeClock()
    settings = dataclasses.replace(ServiceSettings.from_env("identity"), database_url=url)
    spec = build(settings, config=config, clock=clock)
    running = start_api(spec, port=0, host="127.0.0.1")
    addr = f"127.0.0.1:{running.ports['identity']}"
    channel = grpc.insecure_channel(addr)
    served = Served(identity_pb2_grpc.IdentityServiceStub(channel), spec, clock, config, addr)
    return served, channel, running


@pytest.fixture()
def identity(seeded_template, tmp_path):
    path = tmp_path / "identity.db"
    shutil.copyfile(seeded_template, path)
    served, channel, running = serve(f"sqlite:///{path}")
    yield served
    channel.close()
    running.stop()
    served.db.dispose()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def refused(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value
