"""Asks records what the caller may see (gRPC ``GetAccessScope``, with the caller's token)."""

from __future__ import annotations

import grpc

from haven.records.v1 import records_pb2, records_pb2_grpc
from services.reporting.overview import AccessScope, AccessScopeUnavailable
from shared.errors import PermissionDenied, Unauthenticated
from shared.grpc.client import ServiceClient
from shared.grpc.errors import domain_error_from

RECORDS_SERVICE = records_pb2.DESCRIPTOR.services_by_name["RecordsService"]


def records_client(addr: str, *, timeout: float = 5.0) -> ServiceClient:
    return ServiceClient(addr, records_pb2_grpc.RecordsServiceStub, RECORDS_SERVICE,
                         timeout=timeout)


class RecordsAccessScope:
    """An ``AccessScopeSource`` over any client with ``call(method, request)``."""

    def __init__(self, client) -> None:
        self.client = client

    def access_scope(self) -> AccessScope:
        try:
            reply = self.client.call("GetAccessScope", records_pb2.GetAccessScopeRequest())
        except grpc.RpcError as exc:
            error = domain_error_from(exc)
            if isinstance(error, PermissionDenied | Unauthenticated):
                raise error from exc
            code = exc.code() if hasattr(exc, "code") else exc
            raise AccessScopeUnavailable(f"records did not answer GetAccessScope: {code}") from exc
        return AccessScope(
            full_access=reply.full_access,
            viewable_category_ids=frozenset(reply.viewable_category_ids),
        )
