"""NotificationsService over real gRPC: the delivery log, per school, for administrators."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shared.service import start_api

from .conftest import account_event, alert_event

SCHOOL_A = str(uuid.uuid4())
SCHOOL_B = str(uuid.uuid4())
TOM = str(uuid.uuid4())


@pytest.fixture()
def served(make_harness):
    h = make_harness(worker=False)
    for school, address in ((SCHOOL_A, "tom@a.test"), (SCHOOL_B, "tom@b.test")):
        h.handle("identity.account.upserted", account_event(school, TOM, email=address),
                 school_id=school)
    for _ in range(3):
        h.handle("records.alert.raised", alert_event(SCHOOL_A, TOM), school_id=SCHOOL_A)
    h.handle("records.alert.raised", alert_event(SCHOOL_A, str(uuid.uuid4())),
             school_id=SCHOOL_A)
    h.handle("records.alert.raised", alert_event(SCHOOL_B, TOM), school_id=SCHOOL_B)
    h.running = start_api(h.spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{h.running.ports['notifications']}")
    yield notifications_pb2_grpc.NotificationsServiceStub(channel), h.tokens
    channel.close()


def call(stub, token, **kw):
    return stub.ListDeliveries(notifications_pb2.ListDeliveriesRequest(**kw),
                               metadata=[("authorization", f"Bearer {token}")])


def test_lists_the_callers_school_only(served):
    stub, tokens = served
    reply = call(stub, tokens.token(school_id=SCHOOL_A))
    assert len(reply.deliveries) == 4
    assert {d.recipient for d in reply.deliveries} == {"tom@a.test", ""}
    assert {d.status for d in reply.deliveries} == {"pending", "skipped"}
    skipped = [d for d in reply.deliveries if d.status == "skipped"]
    assert len(skipped) == 1 and skipped[0].reason
    assert all(d.kind == "alert" and d.created_at.seconds for d in reply.deliveries)
    assert len(call(stub, tokens.token(school_id=SCHOOL_A), status="skipped").deliveries) == 1
    assert len(call(stub, tokens.token(school_id=SCHOOL_A), limit=2).deliveries) == 2
    [b] = call(stub, tokens.token(school_id=SCHOOL_B)).deliveries
    assert b.recipient == "tom@b.test"


@pytest.mark.parametrize(
    ("access", "permissions", "code"),
    [
        ("restricted", ("add_incidents",), grpc.StatusCode.PERMISSION_DENIED),
        ("full", ("run_reports", "add_incidents"), grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_refuses_callers_without_elevated_access_and_administration(served, access, permissions,
                                                                     code):
    stub, tokens = served
    with pytest.raises(grpc.RpcError) as refused:
        call(stub, tokens.token(school_id=SCHOOL_A, access=access, permissions=permissions))
    assert refused.value.code() == code


def test_refuses_bad_status_and_missing_token(served):
    stub, tokens = served
    with pytest.raises(grpc.RpcError) as bad:
        call(stub, tokens.token(school_id=SCHOOL_A), status="lost")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as anonymous:
        stub.ListDeliveries(notifications_pb2.ListDeliveriesRequest())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
