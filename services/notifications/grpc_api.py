"""NotificationsService servicer: proto <-> domain."""

from __future__ import annotations

from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.notifications import deliveries, links
from shared.db import Database


class NotificationsServicer(notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def ListDeliveries(self, request, context):
        """Subject, recipient, status and outcome of each delivery; never a body, and no link
        (a password link is a secret)."""
        with self.db.read() as session:
            rows = deliveries.list_deliveries(session, limit=request.limit, status=request.status)
            out = notifications_pb2.ListDeliveriesResponse()
            for row in rows:
                item = out.deliveries.add(
                    id=row.id,
                    recipient=row.recipient,
                    subject=row.subject,
                    status=row.status,
                    event_id=row.event_id,
                    kind=row.kind,
                    recipient_account_id=row.recipient_account_id,
                    attempts=row.attempts,
                    reason=links.hide_links(row.reason),
                )
                item.created_at.FromDatetime(row.created_at)
                if row.sent_at is not None:
                    item.sent_at.FromDatetime(row.sent_at)
            return out
