"""RabbitMQ specifics: URL parameters, message properties, dead-letter headers, connection
loss (broker-side close and a lost stream), close() from another thread."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pika
import pytest
from pika.exceptions import AMQPConnectionError

from shared.events import open_transport
from shared.events.amqp import (
    DEFAULT_HEARTBEAT,
    AmqpTransport,
    connect,
    declare_exchange,
    parse_url,
    replay_dead_letters,
)
from shared.tests.events_support import KEY, amqp_backend, backend_harness, wait_for


def test_url_parameters_are_ours_or_pikas():
    opts = parse_url(
        "amqp://u:p@rabbit:5672/%2F?exchange=haven.test.x&retry_delay_ms=50&max_attempts=2"
        "&heartbeat=10&prefetch=5"
    )
    assert opts.exchange == "haven.test.x"
    assert (opts.retry_delay_ms, opts.max_attempts, opts.prefetch) == (50, 2, 5)
    assert opts.pika_url == "amqp://u:p@rabbit:5672/%2F?heartbeat=10"
    assert opts.heartbeat_set
    params = pika.URLParameters(opts.pika_url)
    assert params.host == "rabbit" and params.virtual_host == "/"

    defaults = parse_url("amqp://rabbit/")
    assert (defaults.exchange, defaults.retry_delay_ms, defaults.max_attempts,
            defaults.prefetch) == ("haven.events", 2000, 5, 20)
    assert defaults.pika_url == "amqp://rabbit/"
    assert not defaults.heartbeat_set
    assert DEFAULT_HEARTBEAT == 30


@pytest.fixture
def backend():
    with amqp_backend() as b:
        yield b


def _raw_tap(backend, binding="#"):
    """A connection and an exclusive queue bound to the test exchange, to look at messages."""
    options = parse_url(backend.events_url)
    conn = connect(options, "haven.tests.tap")
    channel = conn.channel()
    declare_exchange(channel, options)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, options.exchange, routing_key=binding)
    return conn, channel, queue


@pytest.mark.integration
def test_published_messages_are_persistent_protobuf_with_the_event_id(backend):
    publisher = open_transport(backend.events_url, name="haven.tests.publisher")
    assert isinstance(publisher, AmqpTransport)
    try:
        publisher.publish("nobody.listens.yet", b"x", message_id="m-0")  # unroutable is fine
        conn, channel, queue = _raw_tap(backend)
        try:
            publisher.publish("records.incident.created", b"\x01\x02", message_id="m-1")
            method, props, body = channel.basic_get(queue, auto_ack=True)
        finally:
            conn.close()
    finally:
        publisher.close()
    assert method is not None and method.routing_key == "records.incident.created"
    assert body == b"\x01\x02"
    assert props.delivery_mode == 2
    assert props.message_id == "m-1"
    assert props.content_type == "application/x-protobuf"


@pytest.mark.integration
def test_publish_raises_when_the_broker_is_unreachable():
    url = "amqp://guest:guest@127.0.0.1:1/%2F?exchange=haven.test.none&connection_attempts=1"
    transport = open_transport(url, name="haven.tests.unreachable")
    with pytest.raises(AMQPConnectionError):
        transport.publish(KEY, b"x", message_id="m")
    transport.close()


@pytest.mark.integration
def test_a_dead_letter_says_why_and_how_often(backend):
    with backend_harness(backend) as h:
        h.always_fail = True
        h.start_consumer()
        h.start_relay()
        event_id = h.add("doomed")
        wait_for(lambda: backend.dead_count(h.queue) == 1, what="a dead letter")
        props, _body = backend.dead_letter(h.queue)
    assert props.message_id == event_id
    assert props.delivery_mode == 2
    assert props.content_type == "application/x-protobuf"
    assert props.headers["x-attempts"] == backend.max_attempts
    assert props.headers["x-routing-key"] == KEY
    assert "handler failed on purpose" in props.headers["x-error"]
    assert backend.queue_depth(f"{h.queue}.retry") == 0


@pytest.mark.integration
def test_replaying_an_unknown_queue_says_so(backend):
    with pytest.raises(LookupError):
        replay_dead_letters(backend.events_url, "haven.tests.no-such-queue")


@pytest.mark.integration
def test_close_from_another_thread_stops_consuming_promptly(backend):
    with backend_harness(backend) as h:
        h.start_consumer()
        started = time.monotonic()
        closer = threading.Thread(target=h.transport.close)
        closer.start()
        closer.join(5)
        h.thread.join(5)
        assert not h.thread.is_alive()
        assert time.monotonic() - started < 2
        h.transport = None  # already closed


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=30, check=False)


def _broker_connection_pid(name: str) -> str | None:
    """The broker's pid of the connection whose client-provided name is ``name`` (unique)."""
    out = _rabbitmqctl("list_connections", "pid", "client_properties")
    if out.returncode != 0:
        return None
    for line in out.stdout.splitlines():
        if f'"{name}"' in line:
            return line.split("\t", 1)[0]
    return None


def _rabbitmqctl_usable() -> bool:
    return shutil.which("rabbitmqctl") is not None and _rabbitmqctl("ping").returncode == 0


@pytest.mark.integration
def test_consumption_resumes_after_the_broker_closes_the_connection(backend):
    """The broker closes our connection while a handler runs: its ack is lost, the message is
    redelivered after reconnection and the inbox keeps the effect single; events published
    meanwhile wait in the durable queue."""
    if not _rabbitmqctl_usable():
        pytest.skip("rabbitmqctl is not usable here (broker-side close needs it)")
    with backend_harness(backend) as h:
        name = f"{h.queue}.consumer"
        transport = h.start_consumer(name)
        h.start_relay()
        for i in range(3):
            h.add(f"before-{i}")
        wait_for(lambda: len(h.values()) == 3, what="the first events")

        h.gate = threading.Event()
        h.entered.clear()
        h.add("in-flight")
        wait_for(h.entered.is_set, what="the handler to start")
        pid = wait_for(lambda: _broker_connection_pid(name), what="the broker's connection")
        assert _rabbitmqctl("close_connection", pid, "test: broker-side close").returncode == 0
        for i in range(3):
            h.add(f"during-{i}")
        h.gate.set()  # the handler commits; its ack goes nowhere

        expected = [f"before-{i}" for i in range(3)] + ["in-flight"] + [
            f"during-{i}" for i in range(3)
        ]
        wait_for(lambda: sorted(h.values()) == sorted(expected), timeout=20,
                 what="every event after reconnection")
        wait_for(lambda: transport.connections >= 2 and transport.connected.is_set(),
                 what="a second connection")
        h.gate = None
        h.add("after")
        wait_for(lambda: "after" in h.values(), what="the event after recovery")
        values = h.values()
        assert sorted(values) == sorted([*expected, "after"])  # nothing lost, nothing twice
        assert h.inbox_count() == len(values)
        # The in-flight event came a second time and the inbox recognised it.
        assert h.handled == h.runs + 1


@pytest.mark.integration
def test_consumption_resumes_after_the_stream_is_lost(backend):
    """The TCP stream dies under the consumer (network cut): it reconnects and goes on."""
    with backend_harness(backend) as h:
        transport = h.start_consumer()
        h.start_relay()
        h.add("first")
        wait_for(lambda: h.values() == ["first"], what="the first event")

        with transport._lock:
            conn = transport._consumer_conn
        conn._impl._transport._sock.shutdown(socket.SHUT_RDWR)
        h.add("second")
        h.add("third")
        wait_for(lambda: h.values() == ["first", "second", "third"], timeout=15,
                 what="the events after the stream was lost")
        assert transport.connections >= 2


@pytest.mark.integration
def test_a_relay_with_no_broker_keeps_rows_and_catches_up(backend):
    """A real connection failure (nothing listens on the port) while the relay starts."""
    broken = threading.Event()
    broken.set()
    attempts = []
    parts = urlsplit(backend.events_url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    bad_url = urlunsplit(parts._replace(netloc=f"{netloc}:1"))
    with backend_harness(backend) as h:
        h.start_consumer()

        def factory():
            attempts.append(broken.is_set())
            url = bad_url if broken.is_set() else backend.events_url
            return open_transport(url, name=f"{h.queue}.relay")

        h.add("one")
        h.add("two")
        h.start_relay(factory)
        wait_for(lambda: len(attempts) >= 2, what="a failed publish and a new transport")
        assert [row.published_at for row in h.outbox_rows()] == [None, None]
        broken.clear()
        wait_for(lambda: h.values() == ["one", "two"], timeout=15, what="the catch-up")
        wait_for(lambda: all(r.published_at for r in h.outbox_rows()), what="rows published")


@pytest.mark.integration
def test_a_publisher_whose_idle_connection_died_reconnects_before_sending(backend):
    publisher = open_transport(backend.events_url, name="haven.tests.publisher")
    conn, channel, queue = _raw_tap(backend, KEY)
    try:
        publisher.publish(KEY, b"1", message_id="1")
        first = publisher._pub_conn
        first._impl._transport._sock.shutdown(socket.SHUT_RDWR)  # dies while idle
        publisher.publish(KEY, b"2", message_id="2")  # no error: the relay need not retry
        assert publisher._pub_conn is not first
        bodies = []
        for _ in range(2):
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            assert method is not None
            bodies.append(body)
        assert bodies == [b"1", b"2"]
    finally:
        conn.close()
        publisher.close()
