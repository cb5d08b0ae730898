"""RabbitMQ transport (pika ``BlockingConnection``).

Topology, per event exchange (one durable topic exchange, ``haven.events`` unless the URL says
``?exchange=NAME``) and per consumer queue ``Q``:

- ``Q``        durable, bound to the consumer's routing keys;
- ``Q.retry``  durable, ``x-message-ttl`` = retry delay; expired messages are dead-lettered
               through the default exchange back to ``Q``;
- ``Q.dlq``    durable; messages that failed ``max_attempts`` times, or were poison.

Rules (DESIGN.md §9): a ``BlockingConnection`` is used by one thread only, so each
transport instance keeps its publishing connection for the thread that publishes (the
relay) and ``start_consuming`` opens its own in the consuming thread. Publishes are
persistent and wait for the broker's confirm. A delivery is acked only after the callback
returned (``Consumer.handle`` commits before it returns); a failure is republished (with
confirm) to ``Q.retry`` with ``x-attempts`` incremented and then acked, or to ``Q.dlq`` once
attempts are exhausted or the callback raised ``PoisonMessage``. Handlers run in the
consuming thread, so they must be short (heartbeat 30 s). ``start_consuming`` reconnects
with backoff until ``close`` (callable from any thread) stops it.

URL parameters we read and strip before pika sees the URL: ``exchange``, ``retry_delay_ms``
(default 2000), ``max_attempts`` (default 5), ``prefetch`` (default 20). Other parameters
are pika's (``heartbeat``, ``blocked_connection_timeout``, ``socket_timeout``...).

Note: ``Q.retry``'s TTL is fixed when the queue is first declared; to change the retry
delay of an existing queue, delete ``Q.retry`` (when empty) and restart the consumer.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPConnectionError, AMQPError, ChannelClosedByBroker

from shared.events.outbox import PoisonMessage
from shared.events.transport import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_DELAY_MS,
    EXCHANGE,
    Callback,
)

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-protobuf"
DEFAULT_HEARTBEAT = 30
DEFAULT_BLOCKED_TIMEOUT = 60
DEFAULT_PREFETCH = 20
_OUR_PARAMS = {"exchange", "retry_delay_ms", "max_attempts", "prefetch"}
# Headers the broker adds when it dead-letters; not carried over when we republish.
_BROKER_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue",
                   "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                   "x-last-death-reason")
_RECONNECT_MIN, _RECONNECT_MAX = 0.2, 10.0


@dataclass(frozen=True)
class AmqpOptions:
    pika_url: str
    exchange: str = EXCHANGE
    retry_delay_ms: int = DEFAULT_RETRY_DELAY_MS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    prefetch: int = DEFAULT_PREFETCH
    heartbeat_set: bool = False
    blocked_timeout_set: bool = False


def parse_url(url: str) -> AmqpOptions:
    """Split our parameters off an ``amqp://`` URL; the rest is pika's."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OUR_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OUR_PARAMS]
    keys = {k for k, _ in rest}
    return AmqpOptions(
        pika_url=urlunsplit(parts._replace(query=urlencode(rest))),
        exchange=ours.get("exchange") or EXCHANGE,
        retry_delay_ms=int(ours.get("retry_delay_ms", DEFAULT_RETRY_DELAY_MS)),
        max_attempts=max(1, int(ours.get("max_attempts", DEFAULT_MAX_ATTEMPTS))),
        prefetch=int(ours.get("prefetch", DEFAULT_PREFETCH)),
        heartbeat_set="heartbeat" in keys,
        blocked_timeout_set="blocked_connection_timeout" in keys,
    )


def connect(options: AmqpOptions, name: str) -> BlockingConnection:
    params = pika.URLParameters(options.pika_url)
    if not options.heartbeat_set:
        params.heartbeat = DEFAULT_HEARTBEAT
    if not options.blocked_timeout_set:
        params.blocked_connection_timeout = DEFAULT_BLOCKED_TIMEOUT
    params.client_properties = {"connection_name": name}
    return BlockingConnection(params)


def retry_queue(queue: str) -> str:
    return f"{queue}.retry"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def declare_exchange(channel: BlockingChannel, options: AmqpOptions) -> None:
    channel.exchange_declare(options.exchange, exchange_type="topic", durable=True)


def declare_consumer_queues(
    channel: BlockingChannel, options: AmqpOptions, queue: str, binding_keys: list[str]
) -> None:
    declare_exchange(channel, options)
    channel.queue_declare(queue, durable=True)
    for key in binding_keys:
        channel.queue_bind(queue, options.exchange, routing_key=key)
    channel.queue_declare(
        retry_queue(queue),
        durable=True,
        arguments={
            "x-message-ttl": options.retry_delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue,
        },
    )
    channel.queue_declare(dead_letter_queue(queue), durable=True)


def _close_quietly(conn: BlockingConnection | None) -> None:
    if conn is None:
        return
    try:
        if conn.is_open:
            conn.close()
    except Exception:  # a broken connection may fail to close; it is gone either way
        log.debug("closing an AMQP connection failed", exc_info=True)


def _attempts(headers: dict) -> int:
    try:
        return int(headers.get("x-attempts", 0))
    except (TypeError, ValueError):
        return 0


@dataclass
class _Subscription:
    queue: str
    bindings: list[str]
    callback: Callback


class _ConsumerCancelled(Exception):
    """The broker cancelled our consumer (its queue was deleted): reconnect and redeclare."""


class AmqpTransport:
    def __init__(self, url: str, *, name: str = "haven") -> None:
        self.options = parse_url(url)
        self.name = name
        self._subs: list[_Subscription] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()
        # Publishing: one connection, used by the thread that publishes.
        self._pub_conn: BlockingConnection | None = None
        self._pub_channel: BlockingChannel | None = None
        self._pub_thread: threading.Thread | None = None
        # Consuming: the connection of the thread inside start_consuming.
        self._consumer_conn: BlockingConnection | None = None
        self._consumer_thread: threading.Thread | None = None
        self._consuming_done = threading.Event()
        self._consuming_done.set()
        self.connected = threading.Event()  # set while consuming (tests, health)
        self.connections = 0  # consumer connections opened so far (first one included)

    # -- publishing ---------------------------------------------------------------------

    def _publisher(self) -> BlockingChannel:
        if self._pub_channel is not None:
            # An idle connection may have been closed by the broker (missed heartbeats):
            # find out now, before sending, and reconnect rather than fail the publish.
            self.keepalive()
        if self._pub_channel is None or not self._pub_channel.is_open:
            self._drop_publisher()
            conn = connect(self.options, self.name)
            try:
                channel = conn.channel()
                channel.confirm_delivery()
                declare_exchange(channel, self.options)
            except BaseException:
                _close_quietly(conn)
                raise
            self._pub_conn, self._pub_channel = conn, channel
            self._pub_thread = threading.current_thread()
        return self._pub_channel

    def keepalive(self) -> None:
        """Serve heartbeats of the publishing connection while idle (the relay calls this
        between polls, from its own thread); a dead connection is dropped, to be reopened
        by the next publish."""
        conn = self._pub_conn
        if conn is None:
            return
        try:
            conn.process_data_events(0)
        except AMQPError as exc:
            log.info("publisher %s lost its connection (%r); will reconnect", self.name, exc)
            self._drop_publisher()

    def _drop_publisher(self) -> None:
        conn, self._pub_conn, self._pub_channel = self._pub_conn, None, None
        _close_quietly(conn)

    def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        """Persistent publish to the exchange; returns once the broker confirmed it.

        Not ``mandatory``: an event nobody subscribes to yet is normal. Raises on a nack
        or a connection problem (the caller retries, with a new transport)."""
        if self._closed.is_set():
            raise RuntimeError(f"transport {self.name} is closed")
        channel = self._publisher()
        try:
            channel.basic_publish(
                self.options.exchange,
                routing_key,
                body,
                properties=pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=message_id,
                    content_type=CONTENT_TYPE,
                ),
                mandatory=False,
            )
        except AMQPError:
            self._drop_publisher()
            raise

    # -- consuming ----------------------------------------------------------------------

    def subscribe(self, queue: str, binding_keys: list[str], callback: Callback) -> None:
        """Register a consumer and declare its queues now, so that events published from
        here on are kept even before ``start_consuming`` runs (it declares them again)."""
        self._subs.append(_Subscription(queue, list(binding_keys), callback))
        conn = None
        try:
            conn = connect(self.options, f"{self.name}.declare")
            declare_consumer_queues(conn.channel(), self.options, queue, list(binding_keys))
        except AMQPConnectionError as exc:
            log.warning("could not declare %s yet (%r); start_consuming will", queue, exc)
        finally:
            _close_quietly(conn)

    def start_consuming(self) -> None:
        """Consume until ``close``; reconnects with backoff when the connection is lost."""
        if self._closed.is_set():
            return
        self._consumer_thread = threading.current_thread()
        self._consuming_done.clear()
        backoff = _RECONNECT_MIN
        try:
            while not self._closed.is_set():
                conn = None
                try:
                    conn = connect(self.options, self.name)
                    with self._lock:
                        self._consumer_conn = conn
                    if self._closed.is_set():
                        break
                    self._consume(conn)
                    backoff = _RECONNECT_MIN
                except Exception as exc:
                    if self._closed.is_set():
                        break
                    if isinstance(exc, AMQPError | _ConsumerCancelled):
                        log.warning("consumer %s lost its connection (%r); reconnecting in %.1fs",
                                    self.name, exc, backoff)
                    else:
                        log.exception("consumer %s failed; reconnecting in %.1fs",
                                      self.name, backoff)
                    self._closed.wait(backoff)
                    backoff = min(backoff * 2, _RECONNECT_MAX)
                finally:
                    self.connected.clear()
                    with self._lock:
                        self._consumer_conn = None
                    _close_quietly(conn)
        finally:
            self._consuming_done.set()

    def _consume(self, conn: BlockingConnection) -> None:
        channel = conn.channel()
        channel.confirm_delivery()  # for the retry / dead-letter republishes
        channel.basic_qos(prefetch_count=self.options.prefetch)
        cancelled: list[object] = []
        channel.add_on_cancel_callback(cancelled.append)
        for sub in self._subs:
            declare_consumer_queues(channel, self.options, sub.queue, sub.bindings)
            channel.basic_consume(
                sub.queue, functools.partial(self._on_message, sub), auto_ack=False
            )
        self.connections += 1
        self.connected.set()
        log.info("consumer %s consuming %s", self.name, [s.queue for s in self._subs])
        while not self._closed.is_set():
            conn.process_data_events(time_limit=1)
            if cancelled:
                raise _ConsumerCancelled(f"broker cancelled consumer {self.name}")

    def _on_message(self, sub: _Subscription, channel: BlockingChannel, method, properties,
                    body: bytes) -> None:
        if self._closed.is_set():
            return  # shutting down: left unacked, the broker requeues it when we disconnect
        try:
            sub.callback(body)
        except Exception as exc:
            headers = {
                k: v for k, v in (properties.headers or {}).items() if k not in _BROKER_HEADERS
            }
            attempts = _attempts(headers) + 1
            headers["x-attempts"] = attempts
            headers.setdefault("x-routing-key", method.routing_key)
            poison = isinstance(exc, PoisonMessage)
            if poison or attempts >= self.options.max_attempts:
                target = dead_letter_queue(sub.queue)
                headers["x-error"] = f"{type(exc).__name__}: {exc}"[:1000]
                log.error("dead-lettered message %s on %s after %d attempt(s): %r",
                          properties.message_id, sub.queue, attempts, exc)
            else:
                target = retry_queue(sub.queue)
                log.warning("message %s failed on %s (attempt %d of %d): %r",
                            properties.message_id, sub.queue, attempts,
                            self.options.max_attempts, exc)
            # A failure here propagates: no ack, the broker redelivers after reconnection.
            channel.basic_publish(
                "",
                target,
                body,
                properties=pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=properties.message_id,
                    content_type=properties.content_type or CONTENT_TYPE,
                    timestamp=properties.timestamp,
                    headers=headers,
                ),
            )
        channel.basic_ack(method.delivery_tag)

    def replay_dead_letters(self, queue: str) -> int:
        return _replay(self.options, queue, f"{self.name}.replay")

    def close(self) -> None:
        """Stop consuming (from any thread) and close the connections."""
        self._closed.set()
        with self._lock:
            conn = self._consumer_conn
        if conn is not None:
            try:
                conn.add_callback_threadsafe(lambda: None)  # wake process_data_events
            except Exception:
                log.debug("waking the consumer of %s failed", self.name, exc_info=True)
        if self._consumer_thread is not threading.current_thread():
            self._consuming_done.wait(30)
        pub_conn, pub_thread = self._pub_conn, self._pub_thread
        if pub_conn is not None and pub_thread is not None and pub_thread.is_alive() \
                and pub_thread is not threading.current_thread():
            # Still in use by its thread (one connection, one thread): let that thread close it.
            try:
                pub_conn.add_callback_threadsafe(self._drop_publisher)
            except AMQPError:
                log.debug("publisher of %s already closed", self.name)
        else:
            self._drop_publisher()


def _replay(options: AmqpOptions, queue: str, name: str) -> int:
    conn = connect(options, name)
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        dlq = dead_letter_queue(queue)
        try:
            channel.queue_declare(queue, passive=True)
            waiting = channel.queue_declare(dlq, passive=True).method.message_count
        except ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise LookupError(f"no consumer queue {queue!r} (or {dlq!r})") from exc
            raise
        moved = 0
        # Only what is there now: a message that fails again must not loop here.
        for _ in range(waiting):
            method, properties, body = channel.basic_get(dlq, auto_ack=False)
            if method is None:
                break
            headers = {
                k: v
                for k, v in (properties.headers or {}).items()
                if k not in _BROKER_HEADERS and k not in ("x-attempts", "x-error")
            }
            headers["x-replayed"] = _attempts({"x-attempts": headers.get("x-replayed")}) + 1
            channel.basic_publish(
                "",
                queue,
                body,
                properties=pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=properties.message_id,
                    content_type=properties.content_type or CONTENT_TYPE,
                    timestamp=properties.timestamp,
                    headers=headers,
                ),
                mandatory=True,
            )
            channel.basic_ack(method.delivery_tag)
            moved += 1
        log.info("replayed %d dead letter(s) from %s to %s", moved, dlq, queue)
        return moved
    finally:
        _close_quietly(conn)


def replay_dead_letters(url: str, queue: str) -> int:
    """Move the dead letters of consumer queue ``queue`` (``queue.dlq``) back to ``queue``
    with their attempt count reset; returns how many were moved. Raises ``LookupError`` if
    the queue does not exist. For an operator CLI: the consumer need not be running."""
    return _replay(parse_url(url), queue, "haven.replay")


def declare_topology(url: str, queues: dict[str, list[str]]) -> None:
    """Declare the exchange and every consumer queue with its bindings (deploy time).

    Run by ``migrate`` before any worker starts, so an event published by one service's relay
    is kept for a consumer whose worker has not started yet (otherwise it would be unroutable
    and dropped by the broker).
    """
    options = parse_url(url)
    conn = connect(options, "haven.topology")
    try:
        channel = conn.channel()
        declare_exchange(channel, options)
        for queue, keys in queues.items():
            declare_consumer_queues(channel, options, queue, keys)
    finally:
        _close_quietly(conn)
