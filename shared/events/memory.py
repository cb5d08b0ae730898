"""In-process transport for the all-in-one mode and fast tests.

Publishing delivers synchronously to every matching subscription before it returns, so the
relay marks an outbox row published only after each consumer has committed (or failed).
A failed delivery is retried on a timer thread (``retry_delay`` seconds, ``max_attempts``
times), then kept as a dead letter (logged, and listed by ``dead_letters``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from shared.events.transport import Callback, topic_matches

log = logging.getLogger(__name__)


@dataclass
class _Subscription:
    queue: str
    bindings: list[str]
    callback: Callback


@dataclass
class DeadLetter:
    queue: str
    routing_key: str
    body: bytes
    error: str


@dataclass
class _Broker:
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


_BROKER = _Broker()


def reset_broker() -> None:
    """Forget every subscription (tests)."""
    with _BROKER.lock:
        _BROKER.subscriptions.clear()
        _BROKER.dead.clear()


def dead_letters() -> list[DeadLetter]:
    with _BROKER.lock:
        return list(_BROKER.dead)


class MemoryTransport:
    retry_delay = 0.5
    max_attempts = 5

    def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        with _BROKER.lock:
            targets = [
                s
                for s in _BROKER.subscriptions.values()
                if any(topic_matches(b, routing_key) for b in s.bindings)
            ]
        for sub in targets:
            self._deliver(sub, routing_key, body, attempt=1)

    def _deliver(self, sub: _Subscription, routing_key: str, body: bytes, attempt: int) -> None:
        try:
            sub.callback(body)
        except Exception as exc:  # the consumer logs its own details
            if attempt >= self.max_attempts:
                log.error("dead-lettered %s on %s after %d attempts: %s",
                          routing_key, sub.queue, attempt, exc)
                with _BROKER.lock:
                    _BROKER.dead.append(DeadLetter(sub.queue, routing_key, body, repr(exc)))
                return
            timer = threading.Timer(
                self.retry_delay * attempt,
                self._deliver,
                args=(sub, routing_key, body, attempt + 1),
            )
            timer.daemon = True
            timer.start()

    def subscribe(self, queue: str, binding_keys: list[str], callback: Callback) -> None:
        with _BROKER.lock:
            _BROKER.subscriptions[queue] = _Subscription(queue, list(binding_keys), callback)

    def start_consuming(self) -> None:
        """Deliveries happen on publish; nothing to start."""

    def replay_dead_letters(self, queue: str) -> int:
        with _BROKER.lock:
            mine = [d for d in _BROKER.dead if d.queue == queue]
            _BROKER.dead[:] = [d for d in _BROKER.dead if d.queue != queue]
            sub = _BROKER.subscriptions.get(queue)
        for d in mine:
            if sub:
                self._deliver(sub, d.routing_key, d.body, attempt=1)
        return len(mine)

    def close(self) -> None:
        time.sleep(0)
