"""MisImportService over real gRPC, on SQLite and PostgreSQL: scoping and access."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from haven.mis_import.v1 import mis_import_pb2, mis_import_pb2_grpc
from services.mis_import.app import SERVICE_NAME, build
from services.mis_import.models import ImportRun
from shared.config import ServiceSettings
from shared.context import school_scope
from shared.db import run_migrations
from shared.service import start_api, start_worker
from shared.testing import FULL_PERMISSIONS, TokenFactory, postgres_database

SCHOOL_A = str(uuid.uuid4())
SCHOOL_B = str(uuid.uuid4())
T0 = dt.datetime(2026, 9, 1, 6, 0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.integration)])
def served(request, tmp_path_factory):
    if request.param == "postgresql":
        cm = postgres_database("haven_mis_import")
        url = cm.__enter__()
    else:
        cm, url = None, f"sqlite:///{tmp_path_factory.mktemp('mis')}/mis_import.db"
    settings = replace(ServiceSettings.from_env("mis_import"), database_url=url)
    tokens = TokenFactory()
    spec = build(settings, verifier=tokens.verifier())
    run_migrations(url, spec.migrations)
    with school_scope(SCHOOL_A), spec.db.transaction() as s:
        s.add(ImportRun(school_id=SCHOOL_A, source="ctf-xml", status="succeeded", started_at=T0,
                        finished_at=T0 + dt.timedelta(minutes=2),
                        counts={"students_created": 12, "errors": 0}))
        s.add(ImportRun(school_id=SCHOOL_A, source="csv", status="running",
                        started_at=T0 + dt.timedelta(days=1)))
    with school_scope(SCHOOL_B), spec.db.transaction() as s:
        s.add(ImportRun(school_id=SCHOOL_B, source="json", status="failed", started_at=T0))
    running = start_api(spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['mis_import']}")
    yield spec, channel, tokens
    channel.close()
    running.stop()
    spec.db.dispose()
    if cm is not None:
        cm.__exit__(None, None, None)


def list_runs(channel, token, **kw):
    stub = mis_import_pb2_grpc.MisImportServiceStub(channel)
    return stub.ListImportRuns(mis_import_pb2.ListImportRunsRequest(**kw),
                               metadata=[("authorization", f"Bearer {token}")])


def test_lists_the_callers_school_newest_first(served):
    _, channel, tokens = served
    runs = list_runs(channel, tokens.token(school_id=SCHOOL_A)).runs
    assert [(r.source, r.status) for r in runs] == [("csv", "running"), ("ctf-xml", "succeeded")]
    assert dict(runs[1].counts) == {"students_created": 12, "errors": 0}
    assert runs[1].finished_at.ToDatetime() == T0 + dt.timedelta(minutes=2)
    assert not runs[0].HasField("finished_at")
    assert [r.source for r in list_runs(channel, tokens.token(school_id=SCHOOL_A), limit=1).runs] \
        == ["csv"]
    assert [r.source for r in list_runs(channel, tokens.token(school_id=SCHOOL_B)).runs] == ["json"]


@pytest.mark.parametrize(
    ("access", "permissions"),
    [
        ("restricted", ("add_incidents",)),
        ("full", tuple(p for p in FULL_PERMISSIONS if p != "administration")),
    ],
)
def test_refuses_restricted_access_and_non_administrators(served, access, permissions):
    _, channel, tokens = served
    with pytest.raises(grpc.RpcError) as denied:
        list_runs(channel, tokens.token(school_id=SCHOOL_A, access=access,
                                        permissions=permissions))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_refuses_anonymous_callers_but_answers_health_checks(served):
    _, channel, _ = served
    with pytest.raises(grpc.RpcError) as anonymous:
        mis_import_pb2_grpc.MisImportServiceStub(channel).ListImportRuns(
            mis_import_pb2.ListImportRunsRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_the_worker_starts_and_stops(served):
    spec, _, _ = served
    running = start_worker(spec)
    assert running.relays  # the outbox relay is ready for the events the import will publish
    running.stop()
