"""Events: envelope, transactional outbox + relay, idempotent consumers, transports.

Producer side: in the same transaction as the data, ``outbox.add(session, key, message,
school_id=..., actor=...)``. A relay thread (``OutboxRelay``) publishes committed rows with
publisher confirms and marks them published.

Consumer side: ``Consumer`` decodes the envelope, and in one transaction records the event id
in the inbox and runs the handler; the transport acks only after that commit. Redelivery is
harmless. A handler that fails is retried (retry queue with a delay), then dead-lettered.

Transports by URL: ``memory://`` (in-process, all-in-one) and ``amqp://`` (RabbitMQ via pika).
"""

from shared.events.envelope import decode_envelope, make_envelope
from shared.events.outbox import Consumer, Outbox, OutboxRelay, event_tables
from shared.events.transport import Transport, open_transport

__all__ = [
    "Consumer",
    "Outbox",
    "OutboxRelay",
    "Transport",
    "decode_envelope",
    "event_tables",
    "make_envelope",
    "open_transport",
]
