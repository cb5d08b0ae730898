"""A tiny producing + consuming service for the event tests (outbox, relay, consumer)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from shared.db import Database
from shared.events import Consumer, Outbox, OutboxRelay, event_tables, open_transport
from shared.events.transport import Transport

KEY = "tests.thing.happened"

metadata = MetaData()
EVENTS = event_tables(metadata)
effects = Table(
    "test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("value", String(100), nullable=False),
)


def wait_for(condition: Callable[[], object], timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class _Rollback(Exception):
    pass


class Harness:
    """One service: an outbox and a relay on the producer side, a consumer whose handler
    writes a row per event (``values()``), and knobs to make the handler fail or block."""

    def __init__(self, db_url: str, events_url: str) -> None:
        self.db = Database(db_url)
        metadata.create_all(self.db.engine)
        self.events_url = events_url
        self.service = f"t{uuid.uuid4().hex[:8]}"
        self.outbox = Outbox(EVENTS.outbox)
        self.consumer = Consumer(
            service=self.service, name="effects", db=self.db, inbox=EVENTS.inbox
        )
        self.queue = self.consumer.queue
        self.fail_next = 0  # fail this many more handler runs
        self.always_fail = False
        self.gate: threading.Event | None = None  # when set, the handler waits for it
        self.entered = threading.Event()  # the handler started (with a gate)
        self.runs = 0  # handler runs (first deliveries and retries, not duplicates)
        self.handled = 0  # callback returns or raises (every delivery)
        self._lock = threading.Lock()
        self.transport: Transport | None = None
        self.thread: threading.Thread | None = None
        self.relay: OutboxRelay | None = None

        @self.consumer.on(KEY, StringValue)
        def record(session, env, message) -> None:
            with self._lock:
                self.runs += 1
                fail = self.always_fail or self.fail_next > 0
                if self.fail_next > 0:
                    self.fail_next -= 1
            session.execute(insert(effects).values(event_id=env.id, value=message.value))
            if self.gate is not None:
                self.entered.set()
                self.gate.wait(10)
            if fail:
                raise RuntimeError("handler failed on purpose")

    # producer side
    def add(self, value: str, *, commit: bool = True) -> str | None:
        try:
            with self.db.transaction() as session:
                event_id = self.outbox.add(
                    session, KEY, StringValue(value=value), school_id="", actor="tests"
                )
                if not commit:
                    raise _Rollback
        except _Rollback:
            return None
        return event_id

    def start_relay(self, factory: Callable[[], Transport] | None = None) -> OutboxRelay:
        self.relay = OutboxRelay(
            service=self.service,
            db=self.db,
            outbox=self.outbox,
            transport_factory=factory
            or (lambda: open_transport(self.events_url, name=f"{self.service}.relay")),
            poll_interval=0.2,
        )
        self.relay.start()
        return self.relay

    def outbox_rows(self):
        t = EVENTS.outbox
        with self.db.read() as session:
            return session.execute(
                select(t.c.event_id, t.c.published_at, t.c.attempts).order_by(t.c.seq)
            ).all()

    # consumer side
    def deliver(self, body: bytes) -> None:
        try:
            self.consumer.handle(body)
        finally:
            with self._lock:
                self.handled += 1

    def start_consumer(self, name: str | None = None) -> Transport:
        self.transport = open_transport(self.events_url, name=name or f"{self.queue}.consumer")
        self.transport.subscribe(self.queue, self.consumer.bindings, self.deliver)
        self.thread = threading.Thread(
            target=self.transport.start_consuming, name=self.queue, daemon=True
        )
        self.thread.start()
        connected = getattr(self.transport, "connected", None)
        if connected is not None:
            wait_for(connected.is_set, what="the consumer to connect")
        return self.transport

    def values(self) -> list[str]:
        with self.db.read() as session:
            return list(session.execute(select(effects.c.value).order_by(effects.c.id)).scalars())

    def inbox_count(self) -> int:
        with self.db.read() as session:
            return len(session.execute(select(EVENTS.inbox.c.event_id)).all())

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        if self.relay is not None:
            self.relay.stop()
        if self.transport is not None:
            self.transport.close()
        if self.thread is not None:
            self.thread.join(10)
            assert not self.thread.is_alive(), "start_consuming did not return after close()"
        self.db.dispose()


@contextmanager
def harness(db_url: str, events_url: str) -> Iterator[Harness]:
    h = Harness(db_url, events_url)
    try:
        yield h
    finally:
        h.stop()


# -- backends: where the events travel, how to look at dead letters, how to clean up --------


class MemoryBackend:
    name = "memory"

    def __init__(self, directory) -> None:
        from shared.events.memory import reset_broker

        reset_broker()
        self.db_url = f"sqlite:///{directory}/events.db"
        self.events_url = "memory://?retry_delay_ms=20&max_attempts=3"
        self.max_attempts = 3

    def dead_count(self, queue: str) -> int:
        from shared.events.memory import dead_letters

        return sum(1 for d in dead_letters() if d.queue == queue)

    def replay(self, queue: str) -> int:
        from shared.events.transport import replay_dead_letters

        return replay_dead_letters(self.events_url, queue)

    def cleanup(self) -> None:
        from shared.events.memory import reset_broker

        reset_broker()


class AmqpBackend:
    """RabbitMQ with the test's own exchange; every queue a harness made is deleted after."""

    name = "amqp"

    def __init__(self, db_url: str, amqp_url: str) -> None:
        self.db_url = db_url
        self.events_url = f"{amqp_url}&retry_delay_ms=50&max_attempts=3"
        self.max_attempts = 3
        self.queues: list[str] = []

    def _channel(self):
        from shared.events.amqp import connect, parse_url

        conn = connect(parse_url(self.events_url), "haven.tests.admin")
        return conn, conn.channel()

    def queue_depth(self, queue: str) -> int:
        conn, channel = self._channel()
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        finally:
            conn.close()

    def dead_count(self, queue: str) -> int:
        return self.queue_depth(f"{queue}.dlq")

    def dead_letter(self, queue: str):
        """(properties, body) of the first dead letter, left in place."""
        conn, channel = self._channel()
        try:
            method, properties, body = channel.basic_get(f"{queue}.dlq", auto_ack=False)
            assert method is not None, "no dead letter"
            channel.basic_nack(method.delivery_tag, requeue=True)
            return properties, body
        finally:
            conn.close()

    def replay(self, queue: str) -> int:
        from shared.events.amqp import replay_dead_letters

        return replay_dead_letters(self.events_url, queue)

    def cleanup(self) -> None:
        from shared.events.amqp import parse_url

        conn, channel = self._channel()
        try:
            for queue in self.queues:
                for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                    channel.queue_delete(name)
            channel.exchange_delete(parse_url(self.events_url).exchange)
        finally:
            conn.close()


@contextmanager
def backend_harness(backend) -> Iterator[Harness]:
    with harness(backend.db_url, backend.events_url) as h:
        if isinstance(backend, AmqpBackend):
            backend.queues.append(h.queue)
        yield h


@contextmanager
def amqp_backend() -> Iterator[AmqpBackend]:
    from shared.testing import amqp_url_for_test, postgres_database

    amqp_url = amqp_url_for_test()
    with postgres_database() as db_url:
        backend = AmqpBackend(db_url, amqp_url)
        try:
            yield backend
        finally:
            backend.cleanup()
