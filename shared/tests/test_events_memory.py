"""The in-memory transport's own rules: subscriptions belong to the transport that made them,
retries use the URL's settings and stop when the consumer is gone."""

from __future__ import annotations

import threading

import pytest

from shared.events import open_transport
from shared.events.memory import MemoryTransport, dead_letters, pending_retries, reset_broker
from shared.events.outbox import PoisonMessage
from shared.tests.events_support import wait_for


@pytest.fixture(autouse=True)
def clean_broker():
    reset_broker()
    yield
    reset_broker()


def test_url_sets_retry_delay_and_attempts():
    t = open_transport("memory://?retry_delay_ms=15&max_attempts=2")
    assert isinstance(t, MemoryTransport)
    assert (t.retry_delay, t.max_attempts) == (0.015, 2)
    plain = open_transport("memory://")
    assert (plain.retry_delay, plain.max_attempts) == (2.0, 5)


def test_delivery_is_synchronous_and_by_topic():
    got = []
    consumer = open_transport("memory://")
    consumer.subscribe("q.records", ["records.#"], lambda body: got.append(("r", body)))
    consumer.subscribe("q.created", ["*.*.created"], lambda body: got.append(("c", body)))
    consumer.start_consuming()  # returns at once
    publisher = open_transport("memory://")
    publisher.publish("nobody.listens.here", b"0", message_id="0")
    publisher.publish("records.incident.created", b"1", message_id="1")
    publisher.publish("identity.account.upserted", b"2", message_id="2")
    assert sorted(got) == [("c", b"1"), ("r", b"1")]


def test_close_removes_only_its_own_subscriptions():
    got = []
    old = open_transport("memory://")
    old.subscribe("q", ["k"], lambda body: got.append(("old", body)))
    new = open_transport("memory://")
    new.subscribe("q", ["k"], lambda body: got.append(("new", body)))  # a restarted consumer
    old.close()
    open_transport("memory://").publish("k", b"1", message_id="1")
    new.close()
    open_transport("memory://").publish("k", b"2", message_id="2")
    assert got == [("new", b"1")]


def test_retries_stop_when_the_consumer_is_closed():
    calls = []
    first_failure = threading.Event()

    def failing(body):
        calls.append(body)
        first_failure.set()
        raise RuntimeError("nope")

    consumer = open_transport("memory://?retry_delay_ms=50&max_attempts=5")
    consumer.subscribe("q", ["k"], failing)
    open_transport("memory://").publish("k", b"1", message_id="1")
    assert first_failure.is_set()  # synchronous first attempt
    assert pending_retries() == 1
    consumer.close()
    wait_for(lambda: pending_retries() == 0, what="the retry to fire")
    assert calls == [b"1"]
    assert dead_letters() == []


def test_poison_is_dead_lettered_without_retries_and_replay_delivers_it_again():
    calls = []
    poison = True

    def handle(body):
        calls.append(body)
        if poison:
            raise PoisonMessage("garbage")

    url = "memory://?retry_delay_ms=10&max_attempts=5"
    consumer = open_transport(url)
    consumer.subscribe("q", ["k"], handle)
    open_transport(url).publish("k", b"junk", message_id="1")
    (dead,) = dead_letters()
    assert (dead.queue, dead.routing_key, dead.body, dead.attempts) == ("q", "k", b"junk", 1)
    assert "garbage" in dead.error
    poison = False
    assert consumer.replay_dead_letters("q") == 1
    wait_for(lambda: len(calls) == 2, what="the replayed delivery")
    assert dead_letters() == []
