"""Fixtures: a migrated SQLite database per test (copied from one migrated template), and the
test world (two schools, staff, categories, students; see factories.py) built once and copied
per test the same way."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from services.records.app import MIGRATIONS
from services.records.tests.factories import World, build_world
from shared.db import Database, run_migrations
from shared.testing import TokenFactory


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("records-template") / "records.db"
    run_migrations(f"sqlite:///{path}", MIGRATIONS)
    return path


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture()
def db_url(tmp_path, migrated_template) -> str:
    path = tmp_path / "records.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture()
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def world_template(tmp_path_factory, migrated_template, tokens):
    path = tmp_path_factory.mktemp("records-world") / "world.db"
    shutil.copyfile(migrated_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        built = build_world(database, tokens)
    finally:
        database.dispose()
    return path, built.a, built.b


@pytest.fixture()
def world(tmp_path, world_template, tokens) -> World:
    from services.records.app import directory_consumer, mis_consumer
    from services.records.events import OutboxEvents
    from services.records.models import EVENTS
    from shared.events import Outbox

    template, a, b = world_template
    path = tmp_path / "world.db"
    shutil.copyfile(template, path)
    database = Database(f"sqlite:///{path}")
    yield World(db=database, tokens=tokens, consumer=directory_consumer(database),
                a=copy.deepcopy(a), b=copy.deepcopy(b), events=OutboxEvents(Outbox(EVENTS.outbox)),
                mis=mis_consumer(database))
    database.dispose()


class Served:
    """The records gRPC API on port 0 over a test world's database."""

    def __init__(self, world: World, stub) -> None:
        self.world = world
        self.stub = stub

    def call(self, method: str, request, claims, ip: str = "198.51.100.7"):
        return getattr(self.stub, method)(request, metadata=[
            ("authorization", f"Bearer {claims.token}"), ("x-client-ip", ip)], timeout=10)

    def refused(self, method: str, request, claims):
        """The status code and message of a refused call."""
        import grpc

        with pytest.raises(grpc.RpcError) as err:
            self.call(method, request, claims)
        return err.value.code(), err.value.details()


@pytest.fixture()
def served(world, monkeypatch):
    import grpc

    from haven.records.v1 import records_pb2_grpc
    from services.records.app import build
    from shared.config import ServiceSettings
    from shared.service import start_api

    monkeypatch.setenv("RECORDS_DATABASE_URL", world.db.url)
    monkeypatch.setenv("HAVEN_EVENTS_URL", "memory://")
    spec = build(ServiceSettings.from_env("records"), verifier=world.tokens.verifier())
    running = start_api(spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['records']}")
    try:
        yield Served(world, records_pb2_grpc.RecordsServiceStub(channel))
    finally:
        channel.close()
        running.stop()
        spec.db.dispose()
