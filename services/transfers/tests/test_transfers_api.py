"""TransfersService over real gRPC: school scoping and elevated access."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.transfers.v1 import transfers_pb2, transfers_pb2_grpc
from services.transfers.app import build
from services.transfers.models import Transfer
from shared.config import ServiceSettings
from shared.context import school_scope
from shared.db import run_migrations
from shared.service import start_api
from shared.testing import TokenFactory

SCHOOL_A = str(uuid.uuid4())
SCHOOL_B = str(uuid.uuid4())


@pytest.fixture()
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERS_DATABASE_URL", f"sqlite:///{tmp_path}/transfers.db")
    settings = ServiceSettings.from_env("transfers")
    tokens = TokenFactory()
    spec = build(settings, verifier=tokens.verifier())
    run_migrations(settings.database_url, spec.migrations)
    for school, upn in ((SCHOOL_A, "A123456789012"), (SCHOOL_B, "B123456789012")):
        with school_scope(school), spec.db.transaction() as s:
            s.add(Transfer(school_id=school, upn=upn, direction="incoming", status="pending"))
    running = start_api(spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['transfers']}")
    yield transfers_pb2_grpc.TransfersServiceStub(channel), tokens
    channel.close()
    running.stop()


def test_lists_only_the_callers_school(served):
    stub, tokens = served
    token = tokens.token(school_id=SCHOOL_A)
    reply = stub.ListTransfers(
        transfers_pb2.ListTransfersRequest(), metadata=[("authorization", f"Bearer {token}")]
    )
    assert [t.upn for t in reply.transfers] == ["A123456789012"]


def test_refuses_restricted_access_and_missing_token(served):
    stub, tokens = served
    token = tokens.token(school_id=SCHOOL_A, access="restricted")
    with pytest.raises(grpc.RpcError) as denied:
        stub.ListTransfers(
            transfers_pb2.ListTransfersRequest(), metadata=[("authorization", f"Bearer {token}")]
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as anonymous:
        stub.ListTransfers(transfers_pb2.ListTransfersRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_refuses_a_token_signed_by_another_key(served):
    stub, _ = served
    forged = TokenFactory().token(school_id=SCHOOL_A)
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListTransfers(
            transfers_pb2.ListTransfersRequest(), metadata=[("authorization", f"Bearer {forged}")]
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
