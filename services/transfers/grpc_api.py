"""TransfersService servicer: proto <-> domain."""

from __future__ import annotations

from haven.transfers.v1 import transfers_pb2, transfers_pb2_grpc
from services.transfers import transfers
from shared.db import Database


class TransfersServicer(transfers_pb2_grpc.TransfersServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def ListTransfers(self, request, context):  # noqa: N802 - gRPC naming
        with self.db.read() as session:
            rows = transfers.list_transfers(session, limit=request.limit)
            out = transfers_pb2.ListTransfersResponse()
            for row in rows:
                item = out.transfers.add(
                    id=row.id, upn=row.upn, status=row.status, direction=row.direction
                )
                item.created_at.FromDatetime(row.created_at)
            return out
