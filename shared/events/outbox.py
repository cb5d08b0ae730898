"""Transactional outbox, its relay, and the idempotent consumer (inbox)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry import propagate, trace
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.context import school_scope
from shared.db import Database, utcnow
from shared.events.envelope import (
    BadEnvelope,
    decode_envelope,
    make_envelope,
    open_payload,
    trace_carrier,
)
from shared.events.transport import Transport
from shared.telemetry import metrics

log = logging.getLogger(__name__)
tracer = trace.get_tracer("haven.events")


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    inbox: Table


def event_tables(metadata: MetaData) -> EventTables:
    """The outbox and inbox tables, added to a service's own metadata (and migrations)."""
    outbox = Table(
        "event_outbox",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        Column("school_id", String(36), nullable=False, default=""),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("published_at", DateTime, nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
    )
    inbox = Table(
        "event_inbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("consumer", String(100), primary_key=True),
        Column("routing_key", String(200), nullable=False),
        Column("processed_at", DateTime, nullable=False),
    )
    return EventTables(outbox=outbox, inbox=inbox)


class Outbox:
    """Adds events to the outbox inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._listeners: list[threading.Event] = []

    def add(
        self, session: Session, routing_key: str, message: Message, *, school_id: str, actor: str
    ) -> str:
        env = make_envelope(routing_key, message, school_id=school_id, actor=actor)
        session.execute(
            insert(self.table).values(
                event_id=env.id,
                routing_key=routing_key,
                school_id=school_id or "",
                body=env.SerializeToString(),
                created_at=utcnow(),
                attempts=0,
            )
        )
        if self._listeners:
            sa_event.listen(session, "after_commit", self._notify, once=True)
        return env.id

    def _notify(self, _session) -> None:
        for ev in self._listeners:
            ev.set()

    def wakeup_event(self) -> threading.Event:
        ev = threading.Event()
        self._listeners.append(ev)
        return ev


class OutboxRelay:
    """Publishes committed outbox rows in order, with confirms; runs in its own thread."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        outbox: Outbox,
        transport_factory: Callable[[], Transport],
        batch_size: int = 100,
        poll_interval: float = 0.5,
    ) -> None:
        self.service = service
        self.db = db
        self.outbox = outbox
        self.table = outbox.table
        self.transport_factory = transport_factory
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = outbox.wakeup_event()
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self._last_backlog = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"{self.service}-outbox-relay", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        if self._wake in self.outbox._listeners:
            self.outbox._listeners.remove(self._wake)
        if self._transport:
            self._transport.close()
            self._transport = None

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._transport is None:
                    self._transport = self.transport_factory()
                # Clear before reading, so a commit that lands during the batch wakes us again.
                self._wake.clear()
                sent = self.publish_batch()
                backoff = 0.5
                if sent < self.batch_size:
                    self._wake.wait(self.poll_interval)
                    keepalive = getattr(self._transport, "keepalive", None)
                    if keepalive is not None:
                        keepalive()  # heartbeats of an idle broker connection
            except Exception:
                log.exception("outbox relay of %s failed; retrying in %.1fs", self.service, backoff)
                if self._transport is not None:
                    try:
                        self._transport.close()
                    except Exception:
                        log.debug("closing a broken transport failed", exc_info=True)
                    self._transport = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)

    def publish_batch(self) -> int:
        """Publish up to ``batch_size`` pending rows in order; returns how many were published.

        Rows published before a failure are still marked published; the failing row (and
        everything after it) stays pending and the error is raised, so order is kept.
        On PostgreSQL the rows stay locked (``FOR UPDATE SKIP LOCKED``) while they are
        published, so two relays never send the same row. SQLite has one writer at a time:
        the lock is not held while publishing (a synchronous in-memory consumer may need to
        write, possibly to this very database), then the rows are marked in a second
        transaction.
        """
        transport = self._transport or self.transport_factory()
        self._transport = transport
        t = self.table
        query = (
            select(t.c.seq, t.c.event_id, t.c.routing_key, t.c.body)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.seq)
            .limit(self.batch_size)
        )
        if self.db.is_sqlite:
            with self.db.transaction() as session:
                rows = session.execute(query).all()
            published, failed, error = self._publish_rows(transport, rows)
            if published or failed is not None:
                with self.db.transaction() as session:
                    self._mark(session, published, failed)
        else:
            with self.db.transaction() as session:
                rows = session.execute(query.with_for_update(skip_locked=True)).all()
                published, failed, error = self._publish_rows(transport, rows)
                self._mark(session, published, failed)
        for row in published:
            metrics.EVENTS_PUBLISHED.labels(self.service, row.routing_key).inc()
        now = time.monotonic()
        if now - self._last_backlog > 5 or rows:
            self._last_backlog = now
            with self.db.read() as session:
                backlog = session.execute(
                    select(func.count()).select_from(t).where(t.c.published_at.is_(None))
                ).scalar_one()
            metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        if error is not None:
            raise error
        return len(published)

    @staticmethod
    def _publish_rows(transport: Transport, rows) -> tuple[list, object, Exception | None]:
        published = []
        for row in rows:
            try:
                transport.publish(row.routing_key, row.body, message_id=row.event_id)
            except Exception as exc:
                return published, row, exc
            published.append(row)
        return published, None, None

    def _mark(self, session: Session, published: list, failed) -> None:
        t = self.table
        if published:
            session.execute(
                update(t)
                .where(t.c.seq.in_([row.seq for row in published]))
                .values(published_at=utcnow(), attempts=t.c.attempts + 1)
            )
        if failed is not None:
            session.execute(
                update(t).where(t.c.seq == failed.seq).values(attempts=t.c.attempts + 1)
            )


Handler = Callable[[Session, object, Message], None]


class PoisonMessage(Exception):
    """A message that can never be handled (undecodable): dead-letter it at once."""


class Consumer:
    """An idempotent consumer: inbox row + handler in one transaction, ack after commit."""

    def __init__(self, *, service: str, name: str, db: Database, inbox: Table) -> None:
        self.service = service
        self.name = name
        self.queue = f"{service}.{name}"
        self.db = db
        self.inbox = inbox
        self._handlers: dict[str, tuple[type[Message], Handler]] = {}

    def on(self, routing_key: str, message_cls: type[Message]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._handlers[routing_key] = (message_cls, fn)
            return fn

        return register

    @property
    def bindings(self) -> list[str]:
        return sorted(self._handlers)

    def handle(self, body: bytes) -> None:
        try:
            env = decode_envelope(body)
        except BadEnvelope as exc:
            metrics.EVENTS_CONSUMED.labels(self.queue, "?", "poison").inc()
            raise PoisonMessage(str(exc)) from exc
        entry = self._handlers.get(env.type)
        if entry is None:
            metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "ignored").inc()
            return
        message_cls, fn = entry
        try:
            message = open_payload(env, message_cls)
        except BadEnvelope as exc:
            metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "poison").inc()
            raise PoisonMessage(str(exc)) from exc
        ctx = propagate.extract(trace_carrier(env))
        with tracer.start_as_current_span(
            f"consume {env.type}", context=ctx, kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.destination": self.queue, "messaging.message.id": env.id},
        ):
            try:
                with school_scope(env.school_id or None), self.db.transaction() as session:
                    seen = session.execute(
                        select(self.inbox.c.event_id).where(
                            self.inbox.c.event_id == env.id, self.inbox.c.consumer == self.queue
                        )
                    ).first()
                    if seen:
                        metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "duplicate").inc()
                        return
                    session.execute(
                        insert(self.inbox).values(
                            event_id=env.id,
                            consumer=self.queue,
                            routing_key=env.type,
                            processed_at=utcnow(),
                        )
                    )
                    fn(session, env, message)
            except IntegrityError:
                # A concurrent delivery of the same event committed first: nothing to do,
                # unless the conflict was the handler's own; let a retry decide.
                if self._processed(env.id):
                    metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "duplicate").inc()
                    return
                metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "error").inc()
                raise
            except Exception:
                metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "error").inc()
                log.exception("consumer %s failed on %s %s", self.queue, env.type, env.id)
                raise
        metrics.EVENTS_CONSUMED.labels(self.queue, env.type, "ok").inc()

    def _processed(self, event_id: str) -> bool:
        with self.db.read() as session:
            return (
                session.execute(
                    select(self.inbox.c.event_id).where(
                        self.inbox.c.event_id == event_id, self.inbox.c.consumer == self.queue
                    )
                ).first()
                is not None
            )
