"""Client conventions: idempotent calls are retried on UNAVAILABLE, others never; every
call carries a deadline, the caller's token and client address."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from haven.records.v1 import records_pb2, records_pb2_grpc
from shared.context import Claims, RequestInfo, acting_as
from shared.grpc.client import ServiceClient

DESCRIPTOR = records_pb2.DESCRIPTOR.services_by_name["RecordsService"]


class Flaky(records_pb2_grpc.RecordsServiceServicer):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.metadata: list[dict] = []

    def _count(self, name, context):
        self.calls[name] = self.calls.get(name, 0) + 1
        self.metadata.append(dict(context.invocation_metadata()))
        self.remaining = context.time_remaining()
        return self.calls[name]

    def ListCategories(self, request, context):
        if self._count("ListCategories", context) < 3:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return records_pb2.ListCategoriesResponse()

    def CreateIncident(self, request, context):
        self._count("CreateIncident", context)
        context.abort(grpc.StatusCode.UNAVAILABLE, "try later")


@pytest.fixture()
def flaky():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Flaky()
    records_pb2_grpc.add_RecordsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = ServiceClient(f"127.0.0.1:{port}", records_pb2_grpc.RecordsServiceStub, DESCRIPTOR,
                           timeout=5)
    yield servicer, client
    client.close()
    server.stop(0)


def test_idempotent_calls_are_retried_and_writes_are_not(flaky):
    servicer, client = flaky
    client.call("ListCategories", records_pb2.ListCategoriesRequest(), token="t")
    assert servicer.calls["ListCategories"] == 3
    with pytest.raises(grpc.RpcError) as refused:
        client.call("CreateIncident", records_pb2.CreateIncidentRequest(), token="t")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["CreateIncident"] == 1


def test_the_callers_token_and_address_travel_with_the_call(flaky):
    servicer, client = flaky
    claims = Claims(account_id="u", session_id="s", school_id="S", user_group_id="g",
                    acr="pwd", access="restricted", token="tok-123")
    caller = RequestInfo(client_ip="203.0.113.9", user_agent="pytest")
    with acting_as(claims, caller), pytest.raises(grpc.RpcError):
        client.call("CreateIncident", records_pb2.CreateIncidentRequest())
    meta = servicer.metadata[-1]
    assert meta["authorization"] == "Bearer tok-123"
    assert meta["x-client-ip"] == "203.0.113.9"
    assert meta["x-user-agent"] == "pytest"
    assert servicer.remaining is not None and 0 < servicer.remaining <= 5  # the deadline
