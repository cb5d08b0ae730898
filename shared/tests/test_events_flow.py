"""Outbox → relay → transport → idempotent consumer, on memory:// (SQLite) and on amqp://
(RabbitMQ + PostgreSQL): the same guarantees on both."""

from __future__ import annotations

import threading

import pytest

from shared.events import open_transport
from shared.tests.events_support import (
    EVENTS,
    MemoryBackend,
    amqp_backend,
    backend_harness,
    wait_for,
)


@pytest.fixture(params=["memory", pytest.param("amqp", marks=pytest.mark.integration)])
def backend(request, tmp_path):
    if request.param == "memory":
        b = MemoryBackend(tmp_path)
        yield b
        b.cleanup()
    else:
        with amqp_backend() as b:
            yield b


def test_committed_events_arrive_once_in_order_and_rolled_back_ones_never(backend):
    with backend_harness(backend) as h:
        h.start_consumer()
        h.start_relay()
        expected = []
        for i in range(12):
            if i == 5:
                assert h.add("rolled-back", commit=False) is None
                continue
            h.add(f"event-{i}")
            expected.append(f"event-{i}")
        h.add("sentinel")
        expected.append("sentinel")

        wait_for(lambda: "sentinel" in h.values(), what="the sentinel event")
        # Anything published before the sentinel was consumed before it (one queue, in order).
        assert h.values() == expected
        assert h.inbox_count() == len(expected)
        rows = wait_for(
            lambda: (r := h.outbox_rows()) and all(row.published_at for row in r) and r,
            what="every row marked published",
        )
        assert len(rows) == len(expected)  # the rolled-back event never reached the outbox
        assert {row.attempts for row in rows} == {1}


def test_the_same_envelope_twice_has_one_effect(backend):
    with backend_harness(backend) as h:
        h.start_consumer()
        h.add("once")  # no relay: publish the row's bytes ourselves, twice
        row = h.outbox_rows()[0]
        with h.db.read() as session:
            body = session.execute(
                EVENTS.outbox.select().where(EVENTS.outbox.c.event_id == row.event_id)
            ).one().body
        publisher = open_transport(backend.events_url, name=f"{h.queue}.publisher")
        try:
            publisher.publish("tests.thing.happened", body, message_id=row.event_id)
            publisher.publish("tests.thing.happened", body, message_id=row.event_id)
        finally:
            publisher.close()
        wait_for(lambda: h.handled >= 2, what="two deliveries")
        assert h.values() == ["once"]
        assert h.runs == 1
        assert h.inbox_count() == 1


def test_a_failing_handler_is_retried_and_its_effect_kept_once(backend):
    with backend_harness(backend) as h:
        h.fail_next = 2
        h.start_consumer()
        h.start_relay()
        h.add("flaky")
        wait_for(lambda: h.values() == ["flaky"], what="the third attempt to succeed")
        assert h.runs == 3
        assert h.inbox_count() == 1
        assert backend.dead_count(h.queue) == 0


def test_a_handler_that_always_fails_dead_letters_then_replay_processes_it(backend):
    with backend_harness(backend) as h:
        h.always_fail = True
        h.start_consumer()
        h.start_relay()
        h.add("doomed")
        wait_for(lambda: backend.dead_count(h.queue) == 1, what="a dead letter")
        assert h.runs == backend.max_attempts
        assert h.values() == []  # every failed attempt rolled back
        assert h.inbox_count() == 0

        h.always_fail = False  # the handler is fixed (a new release)
        assert backend.replay(h.queue) == 1
        wait_for(lambda: h.values() == ["doomed"], what="the replayed event")
        assert backend.dead_count(h.queue) == 0
        assert backend.replay(h.queue) == 0


def test_a_poison_message_is_dead_lettered_at_once_and_consumption_goes_on(backend):
    with backend_harness(backend) as h:
        h.start_consumer()
        h.start_relay()
        publisher = open_transport(backend.events_url, name=f"{h.queue}.publisher")
        try:
            publisher.publish("tests.thing.happened", b"\xff\x00 not protobuf",
                              message_id="garbage")
        finally:
            publisher.close()
        wait_for(lambda: backend.dead_count(h.queue) == 1, what="the poison dead letter")
        assert h.handled == 1  # no retries for poison
        h.add("after")
        wait_for(lambda: h.values() == ["after"], what="the next event")


def test_a_relay_that_cannot_publish_keeps_the_row_and_publishes_after_recovery(backend):
    broken = threading.Event()
    broken.set()
    failures = []

    class Unreachable:
        def publish(self, routing_key, body, *, message_id):
            failures.append(message_id)
            raise ConnectionError("broker unreachable")

        def close(self):
            pass

    with backend_harness(backend) as h:
        h.start_consumer()

        def factory():
            if broken.is_set():
                return Unreachable()
            return open_transport(backend.events_url, name=f"{h.queue}.relay")

        relay = h.start_relay(factory)
        h.add("delayed")
        wait_for(lambda: failures, what="a failed publish")
        (row,) = h.outbox_rows()
        assert row.published_at is None
        assert row.attempts >= 1
        assert h.values() == []

        broken.clear()
        relay._wake.set()
        wait_for(lambda: h.values() == ["delayed"], timeout=15, what="the delayed event")
        wait_for(lambda: h.outbox_rows()[0].published_at, what="the row marked published")
        assert h.values() == ["delayed"]


def test_start_worker_runs_consumers_and_relay_and_stop_ends_them(backend):
    import dataclasses
    from pathlib import Path

    from shared.config import PlatformSettings, ServiceSettings
    from shared.service import ServiceSpec, start_worker

    with backend_harness(backend) as h:
        platform = dataclasses.replace(PlatformSettings.from_env(),
                                       events_url=backend.events_url)
        settings = ServiceSettings(name=h.service, database_url=backend.db_url, grpc_port=0,
                                   metrics_port=0, platform=platform)
        spec = ServiceSpec(name=h.service, settings=settings, db=h.db,
                           migrations=Path("unused"), outbox=h.outbox,
                           consumers=[h.consumer])
        running = start_worker(spec)
        try:
            for transport in running.transports:
                if hasattr(transport, "connected"):
                    wait_for(transport.connected.is_set, what="the worker's consumer")
            h.add("via-worker")
            wait_for(lambda: h.values() == ["via-worker"], what="the worker to deliver")
        finally:
            running.stop()
        for thread in running.threads:
            thread.join(5)
            assert not thread.is_alive()
