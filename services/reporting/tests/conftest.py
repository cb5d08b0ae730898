"""Fixtures: reporting on a fresh database, and a fake records service on a real gRPC port."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

import pytest

from haven.records.v1 import records_pb2, records_pb2_grpc
from services.reporting.app import build
from services.reporting.records_client import records_client
from shared.config import ServiceSettings
from shared.context import current_claims
from shared.db import run_migrations
from shared.events import make_envelope
from shared.grpc.server import build_server
from shared.service import ServiceSpec
from shared.testing import TokenFactory


class FakeRecords(records_pb2_grpc.RecordsServiceServicer):
    """Answers GetAccessScope from a table set by the test, keyed by the caller's account."""

    def __init__(self) -> None:
        self.scopes: dict[str, tuple[bool, list[str]]] = {}
        self.callers: list[str] = []

    def allow(self, account_id: str, category_ids, *, full_access: bool = True) -> None:
        self.scopes[account_id] = (full_access, list(category_ids))

    def GetAccessScope(self, request, context):
        claims = current_claims()  # the token was forwarded and verified
        self.callers.append(claims.account_id)
        full, ids = self.scopes.get(claims.account_id, (claims.full_access, []))
        return records_pb2.AccessScope(full_access=full, viewable_category_ids=ids)


@dataclass
class Harness:
    spec: ServiceSpec
    tokens: TokenFactory
    records: FakeRecords
    servers: list = field(default_factory=list)

    def handle(self, routing_key: str, message, *, school_id: str,
               occurred_at: dt.datetime | None = None, event_id: str | None = None) -> bytes:
        env = make_envelope(routing_key, message, school_id=school_id, actor="test")
        if occurred_at is not None:
            env.occurred_at.FromDatetime(occurred_at.replace(tzinfo=dt.UTC))
        if event_id:
            env.id = event_id
        body = env.SerializeToString()
        self.spec.consumers[0].handle(body)
        return body

    def category(self, school_id: str, name: str, *, category_id: str | None = None,
                 enabled: bool = True, parent_id: str = "", colour: str = "aa3355") -> str:
        category_id = category_id or str(uuid.uuid4())
        self.handle("records.category.upserted", records_pb2.CategoryUpserted(
            category_id=category_id, school_id=school_id, name=name, parent_id=parent_id,
            colour=colour, enabled=enabled), school_id=school_id)
        return category_id

    def incident(self, school_id: str, categories: list[str], occurred_at: dt.datetime,
                 *, incident_id: str | None = None, names: dict[str, str] | None = None,
                 created_at: dt.datetime | None = None, created_by: str | None = None,
                 student_id: str | None = None) -> str:
        incident_id = incident_id or str(uuid.uuid4())
        names = names or {}
        msg = records_pb2.IncidentCreated(
            incident_id=incident_id, school_id=school_id,
            student_id=student_id or str(uuid.uuid4()),
            categories=[records_pb2.CategoryRef(id=c, name=names.get(c, "")) for c in categories],
            created_by=created_by or str(uuid.uuid4()), status="active",
        )
        msg.occurred_at.FromDatetime(occurred_at.replace(tzinfo=dt.UTC))
        if created_at is not None:
            msg.created_at.FromDatetime(created_at.replace(tzinfo=dt.UTC))
        self.handle("records.incident.created", msg, school_id=school_id)
        return incident_id


    def update(self, school_id: str, incident_id: str, categories: list[str],
               occurred_at: dt.datetime, *, version: int, updated_at: dt.datetime,
               deleted: bool = False, merged_into: str = "", status: str = "active",
               assigned_to: str = "", student_id: str = "", change: str = "edited") -> None:
        """records.incident.updated: the incident as it now is."""
        msg = records_pb2.IncidentUpdated(
            incident_id=incident_id, school_id=school_id, student_id=student_id,
            categories=[records_pb2.CategoryRef(id=c) for c in categories], status=status,
            assigned_to=assigned_to, deleted=deleted, merged_into_incident_id=merged_into,
            version=version, change=change,
        )
        msg.occurred_at.FromDatetime(occurred_at.replace(tzinfo=dt.UTC))
        msg.updated_at.FromDatetime(updated_at.replace(tzinfo=dt.UTC))
        self.handle("records.incident.updated", msg, school_id=school_id)

    def merge(self, school_id: str, source: str, target: str) -> None:
        self.handle("records.category.merged", records_pb2.CategoryMerged(
            school_id=school_id, source_category_id=source, target_category_id=target),
            school_id=school_id)

    def span(self, school_id: str, span_id: str, student_id: str, category_id: str,
             started_at: dt.datetime, ended_at: dt.datetime | None = None) -> bytes:
        msg = records_pb2.MonitoringChanged(span_id=span_id, school_id=school_id,
                                            student_id=student_id, category_id=category_id)
        msg.started_at.FromDatetime(started_at.replace(tzinfo=dt.UTC))
        if ended_at is not None:
            msg.ended_at.FromDatetime(ended_at.replace(tzinfo=dt.UTC))
        return self.handle("records.monitoring.changed", msg, school_id=school_id)


def start_fake_records(tokens: TokenFactory) -> tuple[FakeRecords, object, int]:
    fake = FakeRecords()
    server, port, _ = build_server(
        service="records-fake",
        port=0,
        host="127.0.0.1",
        register=[lambda s: records_pb2_grpc.add_RecordsServiceServicer_to_server(fake, s)],
        service_names=[records_pb2.DESCRIPTOR.services_by_name["RecordsService"].full_name],
        verifier=tokens.verifier(),
    )
    return fake, server, port


def make_harness(database_url: str) -> Harness:
    settings = replace(ServiceSettings.from_env("reporting"), database_url=database_url)
    tokens = TokenFactory()
    fake, server, port = start_fake_records(tokens)
    spec = build(settings, verifier=tokens.verifier(),
                 records=records_client(f"127.0.0.1:{port}", timeout=5))
    run_migrations(settings.database_url, spec.migrations)
    return Harness(spec=spec, tokens=tokens, records=fake, servers=[server])


def stop_harness(h: Harness) -> None:
    for server in h.servers:
        server.stop(None)
    h.spec.db.dispose()


@pytest.fixture()
def harness(tmp_path):
    h = make_harness(f"sqlite:///{tmp_path}/reporting.db")
    yield h
    stop_harness(h)
